//! The firmware procedure driven alone, on a manual clock, against a model of a client's
//! Firmware Update object: no socket, no tokio.

use super::*;
use crate::adapter::firmware as snapshot;
use unidm_models::{DeviceId, FirmwareStatus};

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn settings() -> Settings {
    Settings { poll: Duration::from_secs(30), stall: Duration::from_secs(600) }
}

fn update() -> FirmwareUpdate {
    FirmwareUpdate { uri: "http://files.example/fw-2.bin".into(), version: Some("2.0".into()), name: None }
}

/// How a modelled client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The download ends with this Update Result, State back to Idle.
    DownloadFails(i64),
    /// Update ends with this Update Result, State back to Downloaded.
    UpdateFails(i64),
    /// Takes the URI and stays in Downloading forever.
    StuckDownloading,
    /// Answers nothing from the write of the URI on (its link is gone).
    Unreachable,
    /// Reboots to apply the image: the observation is lost and it registers again.
    RebootsToApply,
}

#[derive(Debug)]
enum Due {
    Downloaded,
    Updated,
}

/// A client's Firmware Update object, with its timers on the manual clock.
struct Client {
    fault: Fault,
    state: i64,
    result: i64,
    uri: String,
    observed: bool,
    download: Duration,
    due: Option<(Timestamp, Due)>,
    /// State notifications to deliver.
    notes: Vec<i64>,
    registered: bool,
    /// Package URI writes naming an image, and Update executes, taken.
    uri_writes: u32,
    executes: u32,
    /// Answers a read of the instance /5/0 (else 4.05, as a client that reads resources only).
    instance_reads: bool,
    /// Reads asked, by path.
    reads: Vec<Path>,
}

impl Client {
    fn new(fault: Fault, download: Duration) -> Self {
        Client {
            fault,
            state: 0,
            result: 0,
            uri: String::new(),
            observed: false,
            download,
            due: None,
            notes: Vec::new(),
            registered: false,
            uri_writes: 0,
            executes: 0,
            instance_reads: true,
            reads: Vec::new(),
        }
    }

    fn set(&mut self, state: i64, result: i64) {
        self.state = state;
        self.result = result;
        if self.observed {
            self.notes.push(state);
        }
    }

    fn answer(&mut self, now: Timestamp, request: &Request) -> Result<Json, OperationError> {
        let unreachable = self.fault == Fault::Unreachable && !self.uri.is_empty();
        if unreachable || (self.fault == Fault::Unreachable && matches!(request, Request::WriteUri(u) if !u.is_empty()))
        {
            self.uri = "written".into();
            return Err(OperationError::new(ErrorKind::Timeout, "no answer"));
        }
        Ok(match request {
            Request::Read(p) | Request::Observe(p) => {
                if matches!(request, Request::Observe(_)) {
                    self.observed = true;
                } else {
                    self.reads.push(*p);
                }
                match *p {
                    OBJECT if !self.instance_reads => {
                        return Err(OperationError::new(ErrorKind::DeviceRefused, "4.05 Method Not Allowed"))
                    }
                    OBJECT => json!({
                        "/5/0/1": self.uri, "/5/0/3": self.state, "/5/0/5": self.result,
                        "/5/0/8/0": 0, "/5/0/8/1": 2, "/5/0/9": 0,
                    }),
                    PROTOCOLS => json!({"0": 0, "1": 2}),
                    METHOD => json!(0),
                    STATE => json!(self.state),
                    RESULT => json!(self.result),
                    URI => json!(self.uri),
                    other => panic!("unexpected read of {other}"),
                }
            }
            Request::CancelObserve(_) => {
                self.observed = false;
                Json::Null
            }
            Request::WriteUri(uri) if uri.is_empty() => {
                self.uri.clear();
                self.set(0, 0);
                Json::Null
            }
            Request::WriteUri(uri) => {
                self.uri_writes += 1;
                self.uri = uri.clone();
                self.set(1, 0);
                if self.fault != Fault::StuckDownloading {
                    self.due = Some((now.plus(self.download), Due::Downloaded));
                }
                Json::Null
            }
            Request::ExecuteUpdate => {
                self.executes += 1;
                self.set(3, 0);
                self.due = Some((now.plus(Duration::from_secs(20)), Due::Updated));
                Json::Null
            }
            other => panic!("unexpected {other:?} to a pull-only client"),
        })
    }

    fn tick(&mut self, now: Timestamp) {
        let Some((at, _)) = &self.due else { return };
        if *at > now {
            return;
        }
        match self.due.take().map(|(_, d)| d) {
            Some(Due::Downloaded) => match self.fault {
                Fault::DownloadFails(code) => self.set(0, code),
                _ => self.set(2, 0),
            },
            Some(Due::Updated) => match self.fault {
                Fault::UpdateFails(code) => self.set(2, code),
                Fault::RebootsToApply => {
                    self.observed = false;
                    self.state = 0;
                    self.result = 1;
                    self.registered = true;
                }
                _ => self.set(0, 1),
            },
            None => {}
        }
    }
}

/// One device: its procedure, client and firmware snapshot.
struct Device {
    procedure: FirmwareProcedure,
    client: Client,
    snapshot: Option<Box<FirmwareStatus>>,
    outcome: Option<Result<Json, OperationError>>,
    last_progress: Option<(u8, String)>,
    /// The step last stored with the operation.
    checkpoint: Option<Checkpoint>,
}

impl Device {
    fn new(fault: Fault, download: Duration, now: Timestamp) -> Self {
        Device {
            procedure: FirmwareProcedure::new(update(), settings(), None, now),
            client: Client::new(fault, download),
            snapshot: None,
            outcome: None,
            last_progress: None,
            checkpoint: None,
        }
    }

    /// Runs requests and events until the procedure waits or is done.
    fn step(&mut self, now: Timestamp) {
        let id = DeviceId::lwm2m("dev").unwrap();
        loop {
            while let Some(event) = self.procedure.poll_event() {
                match event {
                    Event::Progress { percent, message } => self.last_progress = Some((percent, message)),
                    Event::Checkpoint { percent, message, checkpoint } => {
                        self.last_progress = Some((percent, message));
                        self.checkpoint = Some(checkpoint);
                    }
                    Event::Snapshot(SnapshotMove::Start(asked)) => snapshot::start(&mut self.snapshot, asked, &id),
                    Event::Snapshot(SnapshotMove::Report(r)) => {
                        snapshot::advance(&mut self.snapshot, r, &id);
                    }
                    Event::Snapshot(SnapshotMove::Succeeded) => snapshot::succeeded(&mut self.snapshot, &id),
                    Event::Done(outcome) => self.outcome = Some(outcome),
                }
            }
            if let Some((rid, request)) = self.procedure.poll_request() {
                let answer = self.client.answer(now, &request);
                self.procedure.handle_response(now, rid, answer);
                continue;
            }
            if std::mem::take(&mut self.client.registered) {
                self.procedure.handle_registration(now);
                continue;
            }
            let notes = std::mem::take(&mut self.client.notes);
            if notes.is_empty() {
                break;
            }
            for state in notes {
                self.procedure.handle_notification(now, Some(state));
            }
        }
    }

    fn next_time(&self) -> Option<Timestamp> {
        let client = self.client.due.as_ref().map(|(at, _)| *at);
        [client, self.procedure.poll_timeout()].into_iter().flatten().min()
    }

    fn advance(&mut self, now: Timestamp) {
        self.client.tick(now);
        if self.procedure.poll_timeout().is_some_and(|t| t <= now) {
            self.procedure.handle_timeout(now);
        }
        self.step(now);
    }
}

/// Runs every device to its outcome on the manual clock, in the order of their timers;
/// returns the time it took.
fn run(devices: &mut [Device]) -> Timestamp {
    use std::cmp::Reverse;
    let mut now = T0;
    let mut timers = std::collections::BinaryHeap::new();
    for (i, d) in devices.iter_mut().enumerate() {
        d.step(now);
        if let Some(t) = d.next_time() {
            timers.push(Reverse((t, i)));
        }
    }
    while let Some(Reverse((at, i))) = timers.pop() {
        let d = &mut devices[i];
        if d.next_time() != Some(at) {
            continue; // a timer that moved meanwhile
        }
        assert!(at >= now, "time runs forward");
        now = at;
        d.advance(now);
        if let Some(t) = d.next_time() {
            timers.push(Reverse((t, i)));
        }
        assert!(now.millis() - T0.millis() < 86_400_000, "no device may wait for the whole deadline");
    }
    assert!(devices.iter().all(|d| d.outcome.is_some()), "a device left without a timer or an outcome");
    now
}

/// CPU time this thread has used (Linux `/proc/thread-self/stat` utime + stime, in USER_HZ
/// ticks of 10 ms); `None` elsewhere.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The thousand devices' updates take well under a second of CPU. CPU time, not wall time:
/// the test suite runs beside other builds on shared cores, where a wall clock measures the
/// machine's load, not this code.
#[test]
fn a_thousand_devices_update_by_pull_on_a_manual_clock_in_well_under_a_second() {
    let started = (std::time::Instant::now(), thread_cpu());
    let mut devices: Vec<Device> =
        (0..1000u64).map(|i| Device::new(Fault::None, Duration::from_millis(5_000 + i * 37), T0)).collect();
    let end = run(&mut devices);
    for (i, d) in devices.iter().enumerate() {
        let outcome = d.outcome.as_ref().unwrap_or_else(|| panic!("device {i} unfinished"));
        assert_eq!(outcome.as_ref().ok(), Some(&json!({"updateResult": 1, "version": "2.0"})), "device {i}");
        let s = d.snapshot.as_ref().expect("a snapshot");
        assert_eq!((s.state, s.version.as_deref()), (FirmwareState::Succeeded, Some("2.0")), "device {i}");
        assert_eq!(s.protocol_result.as_deref(), Some("1"));
        assert!(!d.client.observed, "device {i}: the State observation is cancelled");
        assert_eq!(d.last_progress.as_ref().map(|p| p.0), Some(75));
    }
    // The slowest download (5 s + 999 * 37 ms) plus the 20 s update, no polls needed.
    assert!(end.millis() - T0.millis() < 70_000, "took {} ms of device time", end.millis() - T0.millis());
    let took = match (started.1, thread_cpu()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => started.0.elapsed(),
    };
    assert!(took < Duration::from_secs(1), "a thousand updates took {took:?} of CPU");
}

/// One read of the instance /5/0 starts an update; a client that refuses it is read one
/// resource at a time, and the update goes the same way.
#[test]
fn the_start_reads_the_instance_once_or_each_resource_of_a_client_that_refuses_it() {
    let (d, _) = one(Fault::None);
    assert_eq!(d.client.reads, [OBJECT, RESULT]);
    let mut refusing = Device::new(Fault::None, Duration::from_secs(5), T0);
    refusing.client.instance_reads = false;
    let mut devices = vec![refusing];
    run(&mut devices);
    let d = &devices[0];
    assert_eq!(d.client.reads, [OBJECT, PROTOCOLS, METHOD, STATE, URI, RESULT]);
    assert_eq!(d.outcome.as_ref().and_then(|o| o.as_ref().ok()), Some(&json!({"updateResult": 1, "version": "2.0"})));

    // From the instance alone: a push-only client (Delivery Method 1) is pushed to.
    let mut p = FirmwareProcedure::new(update(), settings(), None, T0);
    let (id, _) = p.poll_request().unwrap();
    p.handle_response(T0, id, Ok(json!({"/5/0/3": 0, "/5/0/8/0": 0, "/5/0/9": 1})));
    assert!(matches!(p.poll_request(), Some((_, Request::FetchImage))), "a push fetches the image first");
}

fn one(fault: Fault) -> (Device, Timestamp) {
    let mut devices = vec![Device::new(fault, Duration::from_secs(5), T0)];
    let end = run(&mut devices);
    (devices.pop().expect("one"), end)
}

#[test]
fn update_result_codes_fail_the_operation_and_the_snapshot() {
    for (fault, code, phase) in [
        (Fault::DownloadFails(7), "7", "download"),
        (Fault::DownloadFails(4), "4", "download"),
        (Fault::UpdateFails(8), "8", "update"),
        (Fault::UpdateFails(5), "5", "update"),
    ] {
        let (d, _) = one(fault);
        let e = d.outcome.expect("done").expect_err("failed");
        assert_eq!(e.protocol_code.as_deref(), Some(code), "{phase}: {e:?}");
        let s = d.snapshot.expect("snapshot");
        assert_eq!(s.state, FirmwareState::Failed, "{phase}");
        assert_eq!((s.failure, s.protocol_result.as_deref()), (Some(e.message), Some(code)));
        assert!(!d.client.observed);
    }
}

#[test]
fn a_download_that_stops_progressing_fails_at_the_stall_limit_not_the_deadline() {
    let (d, end) = one(Fault::StuckDownloading);
    let e = d.outcome.expect("done").expect_err("stalled");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(
        e.message,
        "no progress for 10 min while downloading: /5/0/3 State still 1 (Downloading), /5/0/5 Update Result 0"
    );
    let waited = end.millis() - T0.millis();
    assert!((600_000..=630_000).contains(&waited), "failed after {waited} ms, the limit is 10 min");
    assert_eq!(d.snapshot.map(|s| s.state), Some(FirmwareState::Failed));
}

#[test]
fn a_lost_connection_fails_the_write_and_leaves_the_snapshot_alone() {
    let (d, _) = one(Fault::Unreachable);
    let e = d.outcome.expect("done").expect_err("failed");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(d.snapshot, None, "nothing started");
}

#[test]
fn a_client_that_goes_silent_while_downloading_stalls() {
    let mut d = Device::new(Fault::None, Duration::from_secs(5), T0);
    d.step(T0);
    assert_eq!(d.client.state, 1, "downloading");
    // Its link goes: every read from now on times out, no notification comes.
    d.client.fault = Fault::Unreachable;
    d.client.due = None;
    let mut devices = vec![d];
    let end = run(&mut devices);
    let e = devices[0].outcome.clone().expect("done").expect_err("stalled");
    assert!(e.message.starts_with("no progress for 10 min while downloading"), "{}", e.message);
    assert!(e.message.ends_with("/5/0/5 Update Result unknown"), "it answers no read: {}", e.message);
    assert!(end.millis() - T0.millis() <= 630_000);
}

#[test]
fn a_client_that_reboots_to_apply_is_followed_into_its_new_registration() {
    let (d, end) = one(Fault::RebootsToApply);
    assert_eq!(d.outcome.expect("done").ok(), Some(json!({"updateResult": 1, "version": "2.0"})));
    assert_eq!(d.snapshot.map(|s| s.state), Some(FirmwareState::Succeeded));
    assert!(end.millis() - T0.millis() < 30_000, "no wait for a poll: {} ms", end.millis() - T0.millis());
}

#[test]
fn an_update_of_the_same_image_in_progress_is_resumed_not_restarted() {
    let mut d = Device::new(Fault::None, Duration::from_secs(5), T0);
    d.client.uri = update().uri;
    d.client.state = 2;
    let mut devices = vec![d];
    run(&mut devices);
    let d = &devices[0];
    assert!(d.outcome.as_ref().is_some_and(Result::is_ok));
    assert_eq!(d.client.result, 1);
}

#[test]
fn a_device_that_takes_no_pull_of_this_scheme_and_no_push_is_refused() {
    let mut p = FirmwareProcedure::new(
        FirmwareUpdate { uri: "ftp://x/fw".into(), version: None, name: None },
        settings(),
        None,
        T0,
    );
    let (id, r) = p.poll_request().unwrap();
    assert_eq!(r, Request::Read(OBJECT));
    // A client that lists no State in the instance is asked resource by resource.
    p.handle_response(T0, id, Ok(json!({"/5/0/9": 0})));
    let (id, r) = p.poll_request().unwrap();
    assert_eq!(r, Request::Read(PROTOCOLS));
    p.handle_response(T0, id, Ok(json!({"0": 0})));
    let (id, r) = p.poll_request().unwrap();
    assert_eq!(r, Request::Read(METHOD));
    p.handle_response(T0, id, Ok(json!(0)));
    assert!(matches!(p.poll_event(), Some(Event::Done(Err(e))) if e.kind == ErrorKind::NotSupported));
    assert!(p.is_done() && p.poll_request().is_none() && p.poll_timeout().is_none());
}

#[test]
fn a_step_without_progress_fails_after_the_limit_with_what_the_device_said() {
    let t0 = Timestamp(1_000_000);
    let mut stall = Stall::new(Duration::from_secs(600), t0);
    stall.reported(t0, Some(1), Some(0));
    assert_eq!(stall.check(t0.plus(Duration::from_secs(599))), None);
    assert_eq!(stall.remaining(t0.plus(Duration::from_secs(540))), Duration::from_secs(60));
    stall.reported(t0.plus(Duration::from_secs(500)), Some(1), None);
    let e = stall.check(t0.plus(Duration::from_secs(600))).expect("stalled: the same State is no progress");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(
        e.message,
        "no progress for 10 min while downloading: /5/0/3 State still 1 (Downloading), /5/0/5 Update Result 0"
    );
    stall.reported(t0.plus(Duration::from_secs(601)), Some(2), None);
    assert_eq!(stall.check(t0.plus(Duration::from_secs(1200))), None, "a new State restarts the clock");
    stall.progressed(t0.plus(Duration::from_secs(1300)));
    assert_eq!(stall.deadline(), t0.plus(Duration::from_secs(1900)));
}

/// A restart after Update was executed resumes at that step. The client rebooted to apply the
/// image meanwhile (State Idle, Update Result 1), which a procedure starting over would read
/// as "nothing in progress" and download and update again; resumed, it writes and executes
/// nothing again and succeeds.
#[test]
fn a_procedure_resumed_after_update_writes_and_executes_nothing_again() {
    let mut d = Device::new(Fault::RebootsToApply, Duration::from_secs(60), T0);
    let mut now = T0;
    d.step(now);
    while !d.checkpoint.is_some_and(|c| c.executed) {
        now = d.next_time().expect("a timer until Update is executed");
        d.advance(now);
    }
    let stored = Checkpoint::decode(&d.checkpoint.unwrap().encode()).expect("round trip");
    assert_eq!(stored, Checkpoint { push: false, executed: true });
    // The server is down; the client applies the image and reboots.
    now = d.client.due.as_ref().map(|(at, _)| *at).expect("update due");
    d.client.tick(now);
    d.client.registered = false;
    d.procedure = FirmwareProcedure::resume(update(), settings(), stored, now);
    d.outcome = None;
    run(std::slice::from_mut(&mut d));
    let outcome = d.outcome.expect("an outcome");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!((d.client.uri_writes, d.client.executes), (1, 1));
}

/// Resumed while the client downloads (URI written), the procedure observes State, executes
/// Update once Downloaded, and writes no URI again.
#[test]
fn a_procedure_resumed_while_downloading_writes_no_uri_again() {
    let mut d = Device::new(Fault::None, Duration::from_secs(60), T0);
    d.step(T0);
    let stored = d.checkpoint.expect("URI written: step stored");
    assert_eq!(stored, Checkpoint { push: false, executed: false });
    d.client.observed = false;
    d.procedure = FirmwareProcedure::resume(update(), settings(), stored, T0);
    run(std::slice::from_mut(&mut d));
    assert!(d.outcome.expect("an outcome").is_ok());
    assert_eq!((d.client.uri_writes, d.client.executes), (1, 1));
}

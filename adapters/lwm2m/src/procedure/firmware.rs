//! A firmware update on one device as a sans-I/O state machine (Firmware Update object /5,
//! registry `5.xml`; ETS LightweightM2M-1.0 int-770 to 780).
//!
//! Steps: read the object instance /5/0 once for Protocol Support /5/0/8 and Delivery Method
//! /5/0/9, to choose pull or push ([`crate::adapter::firmware::delivery`]), and for State
//! /5/0/3 and Package URI /5/0/1, to resume an update of the same image after a restart
//! instead of starting again (a client that refuses the instance read, or leaves State out of
//! it, is asked for those resources one at a time);
//! otherwise fetch the image (push), reset a busy object (an empty Package URI or Package), and
//! write the Package URI /5/0/1 or the Package /5/0/0. Then observe State, execute Update /5/0/2
//! once Downloaded, and judge by Update Result /5/0/5. A State that neither moves nor comes with
//! a new Update Result for `Settings::stall` fails the step ([`Stall`]).
//!
//! ```text
//!  ReadObject | (ReadProtocols -> ReadMethod -> ReadState -> (ReadUri)) -> [Fetch] -> [Reset] -> Write
//!      -> Observe -> Waiting <-> PollState / ReadResult / Execute -> Cancel -> done
//! ```
//!
//! The shell executes each [`Request`] and answers with
//! [`FirmwareProcedure::handle_response`]; while the procedure waits it feeds notifications of
//! State, new registrations of the device and timeouts at [`FirmwareProcedure::poll_timeout`].

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value as Json};
use unidm_models::firmware::FirmwareReport;
use unidm_models::{ErrorKind, FirmwareState, FirmwareUpdate, OperationError, Timestamp};

use super::RequestId;
use crate::adapter::firmware::{delivery, update_result, Delivery, UpdateResult};
use crate::path::Path;

/// State /5/0/3.
pub const STATE: Path = Path::Resource(5, 0, 3);
/// Update Result /5/0/5.
pub const RESULT: Path = Path::Resource(5, 0, 5);
/// Package URI /5/0/1.
pub const URI: Path = Path::Resource(5, 0, 1);
/// Firmware Update Protocol Support /5/0/8.
pub const PROTOCOLS: Path = Path::Resource(5, 0, 8);
/// Firmware Update Delivery Method /5/0/9.
pub const METHOD: Path = Path::Resource(5, 0, 9);
/// The Firmware Update object's instance /5/0.
pub const OBJECT: Path = Path::ObjectInstance(5, 0);

/// The procedure's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Read State this long after the last news when no notification came.
    pub poll: Duration,
    /// Fail a step that sees no progress this long (`Lwm2mConfig::firmware_stall`).
    pub stall: Duration,
}

/// What the procedure asks the shell to do with the device. Answers are JSON as the adapter's
/// reads give them (a resource's value; `{"<instance>": value}` for a multiple resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read a resource; answer with its value.
    Read(Path),
    /// Observe a resource (Observe 0); answer with its value.
    Observe(Path),
    /// Cancel the observation of a resource (Observe 1); any answer.
    CancelObserve(Path),
    /// Write Package URI /5/0/1 (an empty text resets the object).
    WriteUri(String),
    /// Fetch the image the update names, to push it; answer with its size in bytes.
    FetchImage,
    /// Write the fetched image to Package /5/0/0 (block-wise).
    WritePackage,
    /// Write an empty Package /5/0/0 (resets the object).
    ResetPackage,
    /// Execute Update /5/0/2.
    ExecuteUpdate,
}

/// How the device's `snapshot.firmware` is to move (applied through the model by
/// [`crate::adapter::firmware`]'s `start`, `advance` and `succeeded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotMove {
    /// A new update starts with what the operation asks for.
    Start(FirmwareReport),
    /// The device reports this.
    Report(FirmwareReport),
    /// Update Result 1.
    Succeeded,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// How far the operation got.
    Progress {
        /// Percent done.
        percent: u8,
        /// In words.
        message: String,
    },
    /// The firmware snapshot moves.
    Snapshot(SnapshotMove),
    /// The outcome; nothing more happens after it.
    Done(Result<Json, OperationError>),
    /// A step worth resuming after a restart was reached: [`Event::Progress`] with the step,
    /// to be stored with the operation in the same commit and handed to
    /// [`FirmwareProcedure::resume`] after a restart.
    Checkpoint {
        /// Percent done.
        percent: u8,
        /// In words.
        message: String,
        /// Where to resume.
        checkpoint: Checkpoint,
    },
}

/// A step of the procedure that a restart resumes at instead of starting over: the package is
/// on its way (Package URI /5/0/1 or Package /5/0/0 written; waiting for Downloaded), or
/// Update /5/0/2 was executed (waiting for the result). Stored as the operation's adapter
/// state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The image was pushed to Package /5/0/0 (else its URI written to /5/0/1).
    pub push: bool,
    /// Update /5/0/2 was executed.
    pub executed: bool,
}

impl Checkpoint {
    /// As stored with the operation.
    pub fn encode(&self) -> Vec<u8> {
        // Two booleans always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// From the operation's stored adapter state; `None` when it is not one.
    pub fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        serde_json::from_slice(bytes).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ReadObject,
    ReadProtocols,
    ReadMethod,
    ReadState,
    ReadUri,
    Fetch,
    Reset,
    Write,
    Observe,
    /// No request out; a notification, a registration or the timer moves on.
    Waiting,
    PollState,
    ReadResult,
    Execute,
    StalledResult,
    Cancel,
    Done,
}

/// A firmware update on one device: see the module docs.
#[derive(Debug)]
pub struct FirmwareProcedure {
    update: FirmwareUpdate,
    settings: Settings,
    /// The Package URI of the device's firmware snapshot: a push of the same image resumes.
    known_url: Option<String>,
    step: Step,
    next_id: u64,
    outstanding: Option<RequestId>,
    requests: VecDeque<(RequestId, Request)>,
    events: VecDeque<Event>,
    supported: Option<Vec<i64>>,
    delivery: Delivery,
    current_state: Option<i64>,
    resume: bool,
    /// The snapshot was moved to the start of this update: an end moves it too.
    started: bool,
    executed: bool,
    stall: Stall,
    poll_at: Timestamp,
    /// A State notification or registration that came while a request was out.
    pending_state: Option<Option<i64>>,
    registered_meanwhile: bool,
    outcome: Option<Result<Json, OperationError>>,
}

impl FirmwareProcedure {
    /// Starts an update of `update` at `now`; `known_url` is the Package URI the device's
    /// firmware snapshot holds (an earlier run of this operation by push).
    pub fn new(update: FirmwareUpdate, settings: Settings, known_url: Option<String>, now: Timestamp) -> Self {
        let mut p = FirmwareProcedure {
            update,
            settings,
            known_url,
            step: Step::ReadObject,
            next_id: 0,
            outstanding: None,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            supported: None,
            delivery: Delivery::Pull,
            current_state: None,
            resume: false,
            started: false,
            executed: false,
            stall: Stall::new(settings.stall, now),
            poll_at: now,
            pending_state: None,
            registered_meanwhile: false,
            outcome: None,
        };
        p.ask(Step::ReadObject, Request::Read(OBJECT));
        p
    }

    /// Resumes an update of `update` at `checkpoint`, stored by an earlier run of the same
    /// operation before a restart: nothing is written or executed again; State is observed
    /// and the update goes on from what the device reports.
    pub fn resume(update: FirmwareUpdate, settings: Settings, checkpoint: Checkpoint, now: Timestamp) -> Self {
        let mut p = FirmwareProcedure::new(update, settings, None, now);
        p.requests.clear();
        p.delivery = if checkpoint.push { Delivery::Push } else { Delivery::Pull };
        p.resume = true;
        p.started = true;
        p.executed = checkpoint.executed;
        if checkpoint.executed {
            p.progress(75, "updating (resumed after a restart)");
        } else {
            p.progress(20, "package on its way (resumed after a restart)");
        }
        p.ask(Step::Observe, Request::Observe(STATE));
        p
    }

    /// The next request to send, if any (one at a time: the next comes after the answer).
    pub fn poll_request(&mut self) -> Option<(RequestId, Request)> {
        self.requests.pop_front()
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`FirmwareProcedure::handle_timeout`] is due: while waiting, the earlier of the
    /// next State poll and the stall limit; `None` while a request is out or once done.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        (self.step == Step::Waiting).then(|| self.poll_at.min(self.stall.deadline()))
    }

    /// Whether the outcome is out.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// The answer to request `id`: its value, or why it failed (an error code of the device,
    /// no answer, a fetch that failed).
    pub fn handle_response(&mut self, now: Timestamp, id: RequestId, answer: Result<Json, OperationError>) {
        if self.outstanding != Some(id) {
            return;
        }
        self.outstanding = None;
        match self.step {
            Step::ReadObject => match answer.ok().as_ref().and_then(InstanceRead::of) {
                Some(read) => {
                    self.supported = read.protocols;
                    match delivery(read.method, self.supported.as_deref(), &self.update.uri) {
                        Ok(d) => {
                            self.delivery = d;
                            self.current_state = read.state;
                            let same = match d {
                                Delivery::Pull => read.uri.as_deref() == Some(self.update.uri.as_str()),
                                Delivery::Push => self.known_url.as_deref() == Some(self.update.uri.as_str()),
                            };
                            self.decide(now, same);
                        }
                        Err(e) => self.finish(Err(e)),
                    }
                }
                None => self.ask(Step::ReadProtocols, Request::Read(PROTOCOLS)),
            },
            Step::ReadProtocols => {
                self.supported = match answer {
                    Ok(Json::Object(listed)) => Some(listed.values().filter_map(Json::as_i64).collect()),
                    _ => None,
                };
                self.ask(Step::ReadMethod, Request::Read(METHOD));
            }
            Step::ReadMethod => {
                let method = answer.ok().as_ref().and_then(integer);
                match delivery(method, self.supported.as_deref(), &self.update.uri) {
                    Ok(d) => {
                        self.delivery = d;
                        self.ask(Step::ReadState, Request::Read(STATE));
                    }
                    Err(e) => self.finish(Err(e)),
                }
            }
            Step::ReadState => {
                self.current_state = answer.ok().as_ref().and_then(integer);
                match self.delivery {
                    Delivery::Pull => self.ask(Step::ReadUri, Request::Read(URI)),
                    Delivery::Push => {
                        let same = self.known_url.as_deref() == Some(self.update.uri.as_str());
                        self.decide(now, same);
                    }
                }
            }
            Step::ReadUri => {
                let same = answer.ok().as_ref().and_then(Json::as_str) == Some(self.update.uri.as_str());
                self.decide(now, same);
            }
            Step::Fetch => match answer {
                Ok(size) => {
                    let size = size.as_u64().unwrap_or_default();
                    self.progress(10, format!("pushing {size} bytes to /5/0/0"));
                    self.reset_or_write();
                }
                Err(e) => self.finish(Err(e)),
            },
            Step::Reset => match answer {
                Ok(_) => self.write(),
                Err(e) => self.finish(Err(e)),
            },
            Step::Write => match answer {
                Ok(_) => self.start(now),
                Err(e) => self.finish(Err(e)),
            },
            Step::Observe => {
                // A client that refuses the observation is polled instead.
                self.stall = Stall::new(self.settings.stall, now);
                self.on_state(now, answer.ok().as_ref().and_then(integer));
            }
            Step::PollState => match answer {
                Ok(v) => self.on_state(now, integer(&v)),
                // A client applying an image is often away for a while: the stall limit ends it.
                Err(e) if e.kind.is_retryable() => self.on_state(now, None),
                Err(e) => self.finish(Err(e)),
            },
            Step::ReadResult => match answer.map(|v| integer(&v)) {
                Ok(Some(code)) => match update_result(code) {
                    UpdateResult::Succeeded => {
                        self.finish(Ok(json!({"updateResult": 1, "version": self.update.version})))
                    }
                    UpdateResult::Failed(e) => self.finish(Err(e)),
                    UpdateResult::Pending => {
                        let state = self.stall.state;
                        self.wait(now, state, Some(code));
                    }
                },
                Ok(None) => {
                    self.finish(Err(OperationError::new(ErrorKind::Internal, format!("{RESULT} is not an integer"))))
                }
                Err(e) => self.finish(Err(e)),
            },
            Step::Execute => match answer {
                Ok(_) => {
                    self.executed = true;
                    self.stall.progressed(now);
                    self.snapshot(SnapshotMove::Report(FirmwareReport::new(FirmwareState::Updating)));
                    self.checkpoint(75, "updating");
                    let state = self.stall.state;
                    self.wait(now, state, None);
                }
                Err(e) => self.finish(Err(e)),
            },
            Step::StalledResult => {
                if let Some(code) = answer.ok().as_ref().and_then(integer) {
                    self.stall.note_result(code);
                }
                let stalled = self.stall.check(self.stall.deadline()).unwrap_or_else(|| self.stall.error());
                self.finish(Err(stalled));
            }
            Step::Cancel => self.done(),
            Step::Waiting | Step::Done => {}
        }
    }

    /// A notification of State /5/0/3 (`None`: not an integer).
    pub fn handle_notification(&mut self, now: Timestamp, state: Option<i64>) {
        match self.step {
            Step::Waiting => self.on_state(now, state),
            Step::PollState | Step::ReadResult | Step::Execute => self.pending_state = Some(state),
            _ => {}
        }
    }

    /// The device registered anew (it rebooted, as to apply an image): it dropped the
    /// observation, which is made again, and the State read.
    pub fn handle_registration(&mut self, now: Timestamp) {
        match self.step {
            Step::Waiting => {
                self.stall.progressed(now);
                self.ask(Step::PollState, Request::Observe(STATE));
            }
            Step::PollState | Step::ReadResult | Step::Execute | Step::Observe => self.registered_meanwhile = true,
            _ => {}
        }
    }

    /// The time [`FirmwareProcedure::poll_timeout`] named has come.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.step != Step::Waiting || self.poll_timeout().is_some_and(|t| now < t) {
            return;
        }
        if self.stall.check(now).is_some() {
            self.ask(Step::StalledResult, Request::Read(RESULT));
        } else {
            self.ask(Step::PollState, Request::Read(STATE));
        }
    }

    fn ask(&mut self, step: Step, request: Request) {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.step = step;
        self.outstanding = Some(id);
        self.requests.push_back((id, request));
    }

    fn progress(&mut self, percent: u8, message: impl Into<String>) {
        self.events.push_back(Event::Progress { percent, message: message.into() });
    }

    fn checkpoint(&mut self, percent: u8, message: impl Into<String>) {
        let checkpoint = Checkpoint { push: self.delivery == Delivery::Push, executed: self.executed };
        self.events.push_back(Event::Checkpoint { percent, message: message.into(), checkpoint });
    }

    fn snapshot(&mut self, change: SnapshotMove) {
        self.events.push_back(Event::Snapshot(change));
    }

    /// Resume an update of the same image in progress, or start one.
    fn decide(&mut self, now: Timestamp, same_image: bool) {
        self.resume = same_image && matches!(self.current_state, Some(1..=3));
        if self.resume {
            self.start(now);
        } else if self.delivery == Delivery::Push {
            // Fetched first: if that fails, the device is left as it was.
            self.progress(5, "fetching the image to push");
            self.ask(Step::Fetch, Request::FetchImage);
        } else {
            self.reset_or_write();
        }
    }

    fn reset_or_write(&mut self) {
        if self.current_state.is_some_and(|s| s != 0) {
            let reset = match self.delivery {
                Delivery::Pull => Request::WriteUri(String::new()),
                Delivery::Push => Request::ResetPackage,
            };
            self.ask(Step::Reset, reset);
        } else {
            self.write();
        }
    }

    fn write(&mut self) {
        let write = match self.delivery {
            Delivery::Pull => Request::WriteUri(self.update.uri.clone()),
            Delivery::Push => Request::WritePackage,
        };
        self.ask(Step::Write, write);
    }

    /// The package is on its way: the snapshot starts the update, and State is observed.
    fn start(&mut self, now: Timestamp) {
        self.started = true;
        self.snapshot(SnapshotMove::Start(FirmwareReport {
            version: self.update.version.clone(),
            name: self.update.name.clone(),
            url: Some(self.update.uri.clone()),
            ..FirmwareReport::default()
        }));
        let written = match self.delivery {
            Delivery::Pull => "package URI written",
            Delivery::Push => "package written",
        };
        self.executed = self.resume && self.current_state == Some(3);
        self.checkpoint(20, written);
        self.stall = Stall::new(self.settings.stall, now);
        self.ask(Step::Observe, Request::Observe(STATE));
    }

    /// What a State value asks for.
    fn on_state(&mut self, now: Timestamp, state: Option<i64>) {
        match state {
            Some(1) => {
                self.progress(25, "downloading");
                self.wait(now, state, None);
            }
            Some(3) => {
                self.snapshot(SnapshotMove::Report(FirmwareReport::new(FirmwareState::Updating)));
                self.progress(75, "updating");
                self.wait(now, state, None);
            }
            Some(2) if !self.executed => {
                self.stall.reported(now, state, None);
                self.snapshot(SnapshotMove::Report(FirmwareReport::new(FirmwareState::Downloaded)));
                self.progress(50, "downloaded");
                self.ask(Step::Execute, Request::ExecuteUpdate);
            }
            Some(0 | 2) => {
                self.stall.reported(now, state, None);
                self.ask(Step::ReadResult, Request::Read(RESULT));
            }
            _ => self.wait(now, state, None),
        }
    }

    /// Waits for the next news, unless the step has stalled or news came meanwhile.
    fn wait(&mut self, now: Timestamp, state: Option<i64>, result: Option<i64>) {
        self.stall.reported(now, state, result);
        if self.stall.check(now).is_some() {
            self.ask(Step::StalledResult, Request::Read(RESULT));
            return;
        }
        self.step = Step::Waiting;
        self.poll_at = now.plus(self.settings.poll);
        if std::mem::take(&mut self.registered_meanwhile) {
            self.handle_registration(now);
        } else if let Some(state) = self.pending_state.take() {
            self.on_state(now, state);
        }
    }

    /// The outcome: the snapshot moves (when this update had started), the observation of
    /// State is cancelled, then [`Event::Done`].
    fn finish(&mut self, outcome: Result<Json, OperationError>) {
        if self.started {
            let change = match &outcome {
                Ok(_) => SnapshotMove::Succeeded,
                Err(e) => SnapshotMove::Report(FirmwareReport::failed(e.message.clone(), e.protocol_code.clone())),
            };
            self.snapshot(change);
            self.outcome = Some(outcome);
            self.ask(Step::Cancel, Request::CancelObserve(STATE));
        } else {
            self.outcome = Some(outcome);
            self.done();
        }
    }

    fn done(&mut self) {
        self.step = Step::Done;
        if let Some(outcome) = self.outcome.take() {
            self.events.push_back(Event::Done(outcome));
        }
    }
}

/// What a read of the instance /5/0 told: the resources the start of an update needs. The
/// adapter gives an instance's read as `{"/5/0/3": 0, "/5/0/8/0": 0, ...}`.
#[derive(Debug, Default)]
struct InstanceRead {
    protocols: Option<Vec<i64>>,
    method: Option<i64>,
    state: Option<i64>,
    uri: Option<String>,
}

impl InstanceRead {
    /// `None` unless the answer is an object with State in it.
    fn of(answer: &Json) -> Option<InstanceRead> {
        let Json::Object(fields) = answer else { return None };
        let mut read = InstanceRead::default();
        for (key, value) in fields {
            match key.strip_prefix("/5/0/") {
                Some("1") => read.uri = value.as_str().map(str::to_owned),
                Some("3") => read.state = integer(value),
                Some("9") => read.method = integer(value),
                Some(r) if r == "8" || r.starts_with("8/") => {
                    let listed = read.protocols.get_or_insert_with(Vec::new);
                    match value {
                        Json::Object(inner) => listed.extend(inner.values().filter_map(Json::as_i64)),
                        other => listed.extend(other.as_i64()),
                    }
                }
                _ => {}
            }
        }
        read.state.is_some().then_some(read)
    }
}

fn integer(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The no-progress limit of a firmware update step (`Lwm2mConfig::firmware_stall`), fed with
/// what the device reports and `now`. A new State, a new Update Result or a new registration of
/// the device is progress; a step that sees none for `limit` fails with the step and what the
/// device last reported.
#[derive(Debug, Clone)]
pub struct Stall {
    limit: Duration,
    since: Timestamp,
    state: Option<i64>,
    result: Option<i64>,
}

impl Stall {
    /// A watch that starts at `now`, knowing nothing of the device yet.
    pub fn new(limit: Duration, now: Timestamp) -> Self {
        Stall { limit, since: now, state: None, result: None }
    }

    /// The device reported State `state` (and Update Result `result`, when read) at `now`.
    pub fn reported(&mut self, now: Timestamp, state: Option<i64>, result: Option<i64>) {
        let new_state = state.is_some() && state != self.state;
        let new_result = result.is_some() && result != self.result;
        if new_state {
            self.state = state;
        }
        if new_result {
            self.result = result;
        }
        if new_state || new_result {
            self.since = now;
        }
    }

    /// The Update Result the device reports, without counting it as progress (as read to say
    /// why a step stalled).
    pub fn note_result(&mut self, result: i64) {
        self.result = Some(result);
    }

    /// Something else showed progress at `now` (the server took a step, the device registered
    /// again).
    pub fn progressed(&mut self, now: Timestamp) {
        self.since = now;
    }

    /// When the step runs out of time.
    pub fn deadline(&self) -> Timestamp {
        self.since.plus(self.limit)
    }

    /// The time left at `now` (zero once stalled).
    pub fn remaining(&self, now: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.deadline().millis() - now.millis()).unwrap_or(0))
    }

    /// The error of a step stalled at `now`, `None` while it has time left.
    pub fn check(&self, now: Timestamp) -> Option<OperationError> {
        (now >= self.deadline()).then(|| self.error())
    }

    /// The error saying the step and what the device last reported.
    pub fn error(&self) -> OperationError {
        let step = match self.state {
            Some(0) | None => "waiting for the device to start",
            Some(1) => "downloading",
            Some(2) => "waiting for the update to start",
            _ => "updating",
        };
        let state = match self.state {
            Some(s) => format!("/5/0/3 State still {s} ({})", state_name(s)),
            None => "/5/0/3 State unknown".to_owned(),
        };
        let result = self.result.map_or("unknown".to_owned(), |r| r.to_string());
        OperationError::new(
            ErrorKind::Timeout,
            format!("no progress for {} while {step}: {state}, /5/0/5 Update Result {result}", human(self.limit)),
        )
    }
}

fn state_name(value: i64) -> &'static str {
    match value {
        0 => "Idle",
        1 => "Downloading",
        2 => "Downloaded",
        3 => "Updating",
        _ => "not a State value",
    }
}

/// `10 min`, `90 s`, `1500 ms`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s % 60 == 0 {
        format!("{} min", s / 60)
    } else if d.subsec_millis() == 0 {
        format!("{s} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests;

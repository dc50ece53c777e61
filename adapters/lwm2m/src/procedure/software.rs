//! Installing a software package by pull on one device as a sans-I/O state machine (Software
//! Management object /9, registry `9.xml`, registry `9.xml`).
//!
//! Steps: find an instance in INITIAL (Update State `/9/x/7` = 0) among those the device
//! registered, else create one; write Package URI `/9/x/3` (or create the instance with it);
//! observe Update State; once DELIVERED (3) execute Install `/9/x/4`; INSTALLED (4) is success,
//! Update Result `/9/x/9` judges the rest ([`crate::adapter::software::update_result`]).
//!
//! Driven like [`super::firmware::FirmwareProcedure`]: requests and events out, answers,
//! notifications of Update State, new registrations and timeouts in, with `now`.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value as Json};
use unidm_models::{ErrorKind, OperationError, Timestamp};

use super::RequestId;
use crate::adapter::software::{update_result, SoftwareResult};
use crate::path::Path;

/// What the procedure asks the shell to do with the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read a resource; answer with its value.
    Read(Path),
    /// Observe a resource (Observe 0); answer with its value.
    Observe(Path),
    /// Cancel the observation of a resource; any answer.
    CancelObserve(Path),
    /// Write this Package URI to `/9/x/3`.
    WriteUri(Path, String),
    /// Create a `/9` instance with this Package URI; answer with the new instance id.
    Create(String),
    /// Execute a resource (Install `/9/x/4`).
    Execute(Path),
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
    /// The outcome; nothing more happens after it.
    Done(Result<Json, OperationError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    FindInitial(usize),
    Write,
    Observe,
    Waiting,
    PollState,
    ReadResult,
    Execute,
    Activate,
    Cancel,
    Done,
}

/// A software install on one device: see the module docs.
#[derive(Debug)]
pub struct SoftwareInstall {
    uri: String,
    instances: Vec<u16>,
    poll: Duration,
    step: Step,
    next_id: u64,
    outstanding: Option<RequestId>,
    requests: VecDeque<(RequestId, Request)>,
    events: VecDeque<Event>,
    module: Option<u16>,
    executed: bool,
    poll_at: Timestamp,
    pending_state: Option<Option<i64>>,
    registered_meanwhile: bool,
    activate: bool,
    outcome: Option<Result<Json, OperationError>>,
}

impl SoftwareInstall {
    /// Installs the package at `uri` on a device that registered the `/9` `instances`.
    pub fn new(uri: impl Into<String>, instances: Vec<u16>, poll: Duration, now: Timestamp) -> Self {
        let mut p = SoftwareInstall {
            uri: uri.into(),
            instances,
            poll,
            step: Step::FindInitial(0),
            next_id: 0,
            outstanding: None,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            module: None,
            executed: false,
            poll_at: now,
            pending_state: None,
            registered_meanwhile: false,
            activate: false,
            outcome: None,
        };
        p.find_initial(0);
        p
    }

    /// Activates the module once installed (Execute Activate `/9/x/10`): the API's
    /// `activate: true`; by default an installed module stays inactive, as LwM2M installs it.
    pub fn activating(mut self, activate: bool) -> Self {
        self.activate = activate;
        self
    }

    /// The next request to send, if any.
    pub fn poll_request(&mut self) -> Option<(RequestId, Request)> {
        self.requests.pop_front()
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`SoftwareInstall::handle_timeout`] is due (while waiting for the device).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        (self.step == Step::Waiting).then_some(self.poll_at)
    }

    /// The `/9` instance the package goes to, once known.
    pub fn module(&self) -> Option<u16> {
        self.module
    }

    /// Update State `/9/x/7` of the module, once known.
    pub fn state_path(&self) -> Option<Path> {
        self.module.map(|m| Path::Resource(9, m, 7))
    }

    /// The answer to request `id`.
    pub fn handle_response(&mut self, now: Timestamp, id: RequestId, answer: Result<Json, OperationError>) {
        if self.outstanding != Some(id) {
            return;
        }
        self.outstanding = None;
        match self.step {
            Step::FindInitial(i) => match answer.ok().as_ref().and_then(Json::as_i64) {
                Some(0) => {
                    let module = self.instances[i];
                    self.module = Some(module);
                    self.ask(Step::Write, Request::WriteUri(Path::Resource(9, module, 3), self.uri.clone()));
                }
                _ => self.find_initial(i + 1),
            },
            Step::Write => match answer {
                Ok(created) => {
                    if self.module.is_none() {
                        self.module = Some(created.as_u64().and_then(|m| u16::try_from(m).ok()).unwrap_or_default());
                    }
                    self.progress(10, "package URI written");
                    let state = self.state();
                    self.ask(Step::Observe, Request::Observe(state));
                }
                Err(e) => self.finish(Err(e)),
            },
            Step::Observe => self.on_state(now, answer.ok().as_ref().and_then(Json::as_i64)),
            Step::PollState => match answer {
                Ok(v) => self.on_state(now, v.as_i64()),
                Err(e) if e.kind.is_retryable() => self.on_state(now, None),
                Err(e) => self.finish(Err(e)),
            },
            Step::ReadResult => match answer {
                Ok(v) => match v.as_i64().map(update_result) {
                    Some(SoftwareResult::Installed) => self.installed(),
                    Some(SoftwareResult::Failed(e)) => self.finish(Err(e)),
                    Some(SoftwareResult::Pending) => self.wait(now),
                    None => self.finish(Err(OperationError::new(ErrorKind::Internal, "/9/x/9 is not an integer"))),
                },
                Err(e) => self.finish(Err(e)),
            },
            Step::Execute => match answer {
                Ok(_) => {
                    self.executed = true;
                    self.progress(75, "installing");
                    self.wait(now);
                }
                Err(e) => self.finish(Err(e)),
            },
            Step::Activate => match answer {
                Ok(_) => {
                    let module = self.module.unwrap_or_default().to_string();
                    self.finish(Ok(json!({"module": module, "updateResult": 2, "active": true})));
                }
                Err(e) => self.finish(Err(e)),
            },
            Step::Cancel => self.done(),
            Step::Waiting | Step::Done => {}
        }
    }

    /// A notification of Update State (`None`: not an integer).
    pub fn handle_notification(&mut self, now: Timestamp, state: Option<i64>) {
        match self.step {
            Step::Waiting => self.on_state(now, state),
            Step::PollState | Step::ReadResult | Step::Execute | Step::Activate => self.pending_state = Some(state),
            _ => {}
        }
    }

    /// The device registered anew: the observation is made again and the state read.
    pub fn handle_registration(&mut self, _now: Timestamp) {
        match self.step {
            Step::Waiting => {
                let state = self.state();
                self.ask(Step::PollState, Request::Observe(state));
            }
            Step::PollState | Step::ReadResult | Step::Execute | Step::Observe | Step::Activate => {
                self.registered_meanwhile = true
            }
            _ => {}
        }
    }

    /// The time [`SoftwareInstall::poll_timeout`] named has come: the state is read.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.step == Step::Waiting && now >= self.poll_at {
            let state = self.state();
            self.ask(Step::PollState, Request::Read(state));
        }
    }

    fn state(&self) -> Path {
        Path::Resource(9, self.module.unwrap_or_default(), 7)
    }

    fn find_initial(&mut self, from: usize) {
        match self.instances.get(from) {
            Some(&x) => self.ask(Step::FindInitial(from), Request::Read(Path::Resource(9, x, 7))),
            None => self.ask(Step::Write, Request::Create(self.uri.clone())),
        }
    }

    fn ask(&mut self, step: Step, request: Request) {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.step = step;
        self.outstanding = Some(id);
        self.requests.push_back((id, request));
    }

    fn progress(&mut self, percent: u8, message: &str) {
        self.events.push_back(Event::Progress { percent, message: message.to_owned() });
    }

    fn on_state(&mut self, now: Timestamp, state: Option<i64>) {
        match state {
            Some(4) => self.installed(),
            Some(1 | 2) => {
                self.progress(25, "downloading");
                self.wait(now);
            }
            Some(3) if !self.executed => {
                self.progress(50, "delivered");
                let install = Path::Resource(9, self.module.unwrap_or_default(), 4);
                self.ask(Step::Execute, Request::Execute(install));
            }
            Some(0 | 3) => {
                let result = Path::Resource(9, self.module.unwrap_or_default(), 9);
                self.ask(Step::ReadResult, Request::Read(result));
            }
            _ => self.wait(now),
        }
    }

    fn wait(&mut self, now: Timestamp) {
        self.step = Step::Waiting;
        self.poll_at = now.plus(self.poll);
        if std::mem::take(&mut self.registered_meanwhile) {
            self.handle_registration(now);
        } else if let Some(state) = self.pending_state.take() {
            self.on_state(now, state);
        }
    }

    fn installed(&mut self) {
        if self.step == Step::Activate {
            return;
        }
        if self.activate {
            self.progress(90, "activating");
            let activate = Path::Resource(9, self.module.unwrap_or_default(), 10);
            self.ask(Step::Activate, Request::Execute(activate));
            return;
        }
        let module = self.module.unwrap_or_default().to_string();
        self.finish(Ok(json!({"module": module, "updateResult": 2})));
    }

    /// The outcome, after cancelling the observation when one was made.
    fn finish(&mut self, outcome: Result<Json, OperationError>) {
        self.outcome = Some(outcome);
        if matches!(self.step, Step::FindInitial(_) | Step::Write) {
            self.done();
        } else {
            let state = self.state();
            self.ask(Step::Cancel, Request::CancelObserve(state));
        }
    }

    fn done(&mut self) {
        self.step = Step::Done;
        if let Some(outcome) = self.outcome.take() {
            self.events.push_back(Event::Done(outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_000_000);

    /// Answers each request with `answer` at `now`, returning the requests seen.
    fn drive_at(
        now: Timestamp,
        p: &mut SoftwareInstall,
        mut answer: impl FnMut(&Request) -> Result<Json, OperationError>,
    ) -> Vec<Request> {
        let mut seen = Vec::new();
        while let Some((id, r)) = p.poll_request() {
            let a = answer(&r);
            seen.push(r);
            p.handle_response(now, id, a);
        }
        seen
    }

    fn drive(p: &mut SoftwareInstall, answer: impl FnMut(&Request) -> Result<Json, OperationError>) -> Vec<Request> {
        drive_at(T0, p, answer)
    }

    fn outcome(p: &mut SoftwareInstall) -> Option<Result<Json, OperationError>> {
        std::iter::from_fn(|| p.poll_event()).find_map(|e| match e {
            Event::Done(o) => Some(o),
            Event::Progress { .. } => None,
        })
    }

    #[test]
    fn an_install_uses_an_initial_instance_and_executes_install_once_delivered() {
        let mut p = SoftwareInstall::new("http://x/app.pkg", vec![0, 1], Duration::from_secs(30), T0);
        let seen = drive(&mut p, |r| {
            Ok(match r {
                Request::Read(Path::Resource(9, 0, 7)) => json!(4),
                Request::Read(Path::Resource(9, 1, 7)) => json!(0),
                Request::Observe(_) => json!(1),
                _ => Json::Null,
            })
        });
        assert_eq!(seen[2], Request::WriteUri(Path::Resource(9, 1, 3), "http://x/app.pkg".into()));
        assert_eq!(p.poll_timeout(), Some(T0.plus(Duration::from_secs(30))), "waiting while downloading");
        p.handle_notification(T0, Some(3));
        let seen = drive(&mut p, |_| Ok(Json::Null));
        assert_eq!(seen, [Request::Execute(Path::Resource(9, 1, 4))]);
        p.handle_notification(T0, Some(4));
        let seen = drive(&mut p, |_| Ok(Json::Null));
        assert_eq!(seen, [Request::CancelObserve(Path::Resource(9, 1, 7))]);
        assert_eq!(outcome(&mut p), Some(Ok(json!({"module": "1", "updateResult": 2}))));
    }

    #[test]
    fn activating_executes_activate_once_installed_and_its_refusal_fails_the_install() {
        for (answer, ok) in
            [(Ok(Json::Null), true), (Err(OperationError::new(ErrorKind::DeviceRefused, "4.05")), false)]
        {
            let mut p = SoftwareInstall::new("http://x/app.pkg", vec![2], Duration::from_secs(30), T0).activating(true);
            drive(&mut p, |r| Ok(if matches!(r, Request::Read(_)) { json!(0) } else { json!(1) }));
            p.handle_notification(T0, Some(3));
            assert_eq!(drive(&mut p, |_| Ok(Json::Null)), [Request::Execute(Path::Resource(9, 2, 4))]);
            p.handle_notification(T0, Some(4));
            let mut answers = vec![Ok(Json::Null), answer.clone()];
            let seen = drive(&mut p, |_| answers.pop().unwrap_or(Ok(Json::Null)));
            assert_eq!(
                seen,
                [Request::Execute(Path::Resource(9, 2, 10)), Request::CancelObserve(Path::Resource(9, 2, 7))]
            );
            let done = outcome(&mut p).expect("done");
            if ok {
                assert_eq!(done, Ok(json!({"module": "2", "updateResult": 2, "active": true})));
            } else {
                assert_eq!(done.unwrap_err().kind, ErrorKind::DeviceRefused);
            }
        }
    }

    #[test]
    fn without_an_initial_instance_one_is_created_and_a_failure_result_ends_it() {
        let mut p = SoftwareInstall::new("http://x/app.pkg", vec![], Duration::from_secs(30), T0);
        let seen = drive(&mut p, |r| {
            Ok(match r {
                Request::Create(_) => json!(5),
                Request::Observe(_) => json!(0),
                Request::Read(Path::Resource(9, 5, 9)) => json!(58),
                _ => Json::Null,
            })
        });
        assert_eq!(seen[0], Request::Create("http://x/app.pkg".into()));
        assert_eq!(p.module(), Some(5));
        let e = outcome(&mut p).expect("done").expect_err("failed");
        assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("58")));
    }

    #[test]
    fn a_silent_device_is_polled_and_a_new_registration_observes_again() {
        let mut p = SoftwareInstall::new("u", vec![0], Duration::from_secs(30), T0);
        drive(&mut p, |r| Ok(if matches!(r, Request::Read(_)) { json!(0) } else { json!(1) }));
        let t1 = T0.plus(Duration::from_secs(30));
        p.handle_timeout(t1);
        let seen = drive_at(t1, &mut p, |_| Err(OperationError::new(ErrorKind::Timeout, "no answer")));
        assert_eq!(seen, [Request::Read(Path::Resource(9, 0, 7))]);
        assert_eq!(p.poll_timeout(), Some(t1.plus(Duration::from_secs(30))), "still waiting");
        p.handle_registration(t1);
        let seen = drive(&mut p, |_| Ok(json!(4)));
        assert_eq!(seen[0], Request::Observe(Path::Resource(9, 0, 7)));
        assert!(matches!(outcome(&mut p), Some(Ok(_))));
    }
}

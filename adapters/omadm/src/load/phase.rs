//! Phases: sessions of many devices over HTTP, `clients` at a time, counted ([`run`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unidm_core::load::Latencies;

use super::{
    LoadError, LoadErrorKind, Outgoing, Population, SessionReport, Step, CONNECT_TIMEOUT, FIRST_ERRORS, REQUEST_TIMEOUT,
};
use crate::auth;

impl Population {
    /// One whole session of device `i` over `http` (a client from [`http_client`]).
    pub async fn run_session(&self, http: &reqwest::Client, i: usize) -> Result<SessionReport, LoadError> {
        let mut session = self.session(i);
        let mut out = session.start();
        loop {
            let (content_type, body) = post(http, out).await?;
            match session.handle_reply(&content_type, &body)? {
                Step::Send(next) => out = next,
                Step::Done(report) => return Ok(report),
            }
        }
    }
}

/// The HTTP client the sessions of a phase share: bounded connection and request times.
pub fn http_client() -> Result<reqwest::Client, LoadError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| LoadError::new(LoadErrorKind::BadInput, format!("HTTP client: {e}")))
}

/// One POST: the reply's `Content-Type` and body when the status is 200.
async fn post(http: &reqwest::Client, out: Outgoing) -> Result<(String, Vec<u8>), LoadError> {
    let what = |e: reqwest::Error| {
        let kind = if e.is_timeout() { LoadErrorKind::Timeout } else { LoadErrorKind::Http };
        let mut m = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            m = format!("{m}: {s}");
            source = s.source();
        }
        LoadError::new(kind, m)
    };
    let mut request = http.post(out.url.clone()).header(reqwest::header::CONTENT_TYPE, out.media.as_str());
    if let Some(h) = out.hmac {
        request = request.header(auth::HMAC_HEADER, h);
    }
    let response = request.body(out.body).send().await.map_err(what)?;
    if response.status() != reqwest::StatusCode::OK {
        let m = format!("HTTP {} from {}", response.status(), out.url);
        return Err(LoadError::new(LoadErrorKind::Http, m));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(out.media.as_str())
        .to_owned();
    let body = response.bytes().await.map_err(what)?;
    Ok((content_type, body.to_vec()))
}

/// What a phase counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sessions completed.
    pub sessions: u64,
    /// Messages the clients sent in them.
    pub messages: u64,
    /// Server commands answered in them.
    pub commands: u64,
    /// Gets of [`BENCH_NODE`](super::BENCH_NODE) answered.
    pub gets: u64,
    /// Challenges answered with the new nonce.
    pub challenges: u64,
    /// Sessions failed, by kind: HTTP, time-outs, malformed replies, SyncML refusals, refused
    /// credentials, endless.
    pub http: u64,
    /// See [`Counts::http`].
    pub timeouts: u64,
    /// See [`Counts::http`].
    pub malformed: u64,
    /// See [`Counts::http`].
    pub refused: u64,
    /// See [`Counts::http`]: the credentials refused.
    pub unauthorized: u64,
    /// See [`Counts::http`].
    pub endless: u64,
}

impl Counts {
    /// Sessions failed.
    pub fn errors(&self) -> u64 {
        self.http + self.timeouts + self.malformed + self.refused + self.unauthorized + self.endless
    }

    /// Sessions started.
    pub fn attempted(&self) -> u64 {
        self.sessions + self.errors()
    }

    /// `0`, or `5 sessions failed: 3 HTTP, 2 timed out`; then the challenges answered.
    pub fn errors_summary(&self) -> String {
        let mut text = match self.errors() {
            0 => "0".to_owned(),
            n => {
                let kinds = [
                    (self.http, "HTTP"),
                    (self.timeouts, "timed out"),
                    (self.malformed, "malformed"),
                    (self.refused, "refused (SyncML status)"),
                    (self.unauthorized, "credentials refused (401 / 407)"),
                    (self.endless, "endless"),
                ];
                let parts: Vec<String> =
                    kinds.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
                format!("{n} sessions failed: {}", parts.join(", "))
            }
        };
        if self.challenges > 0 {
            text.push_str(&format!("; {} challenges (401 / 407) answered with the new nonce", self.challenges));
        }
        text
    }
}

/// The counters of a phase, shared by its tasks.
#[derive(Debug, Default)]
pub struct Tally {
    sessions: AtomicU64,
    messages: AtomicU64,
    commands: AtomicU64,
    gets: AtomicU64,
    challenges: AtomicU64,
    /// By [`LoadErrorKind`]: HTTP, time-outs, malformed, refused, endless, unauthorized.
    errors: [AtomicU64; 6],
    first: Mutex<Vec<String>>,
}

impl Tally {
    /// Counts a completed session.
    pub fn add(&self, r: &SessionReport) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.messages.fetch_add(r.messages.into(), Ordering::Relaxed);
        self.commands.fetch_add(r.commands.into(), Ordering::Relaxed);
        self.gets.fetch_add(r.gets.into(), Ordering::Relaxed);
        self.challenges.fetch_add(r.challenges.into(), Ordering::Relaxed);
    }

    /// Counts a failed session; keeps the text of the first [`FIRST_ERRORS`].
    pub fn fail(&self, e: &LoadError) {
        let slot = match e.kind {
            LoadErrorKind::Http | LoadErrorKind::BadInput => 0,
            LoadErrorKind::Timeout => 1,
            LoadErrorKind::Malformed => 2,
            LoadErrorKind::Refused => 3,
            LoadErrorKind::Unauthorized => 5,
            LoadErrorKind::Endless => 4,
        };
        self.errors[slot].fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.len() < FIRST_ERRORS {
            first.push(e.to_string());
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            sessions: get(&self.sessions),
            messages: get(&self.messages),
            commands: get(&self.commands),
            gets: get(&self.gets),
            challenges: get(&self.challenges),
            http: get(&self.errors[0]),
            timeouts: get(&self.errors[1]),
            malformed: get(&self.errors[2]),
            refused: get(&self.errors[3]),
            unauthorized: get(&self.errors[5]),
            endless: get(&self.errors[4]),
        }
    }

    /// The first errors' text.
    pub fn first_errors(&self) -> Vec<String> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Nothing succeeded and at least `after` sessions failed: the phase cannot work.
    pub fn hopeless(&self, after: u64) -> bool {
        let c = self.counts();
        c.sessions == 0 && c.errors() >= after
    }
}

/// How a phase drives the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Concurrent sessions (and so connections).
    pub clients: usize,
    /// Sessions per device at most (1: every device once).
    pub rounds: usize,
    /// No session starts after this long; `None`: until the rounds are done.
    pub duration: Option<Duration>,
}

/// What a phase did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The counts.
    pub counts: Counts,
    /// Latencies of the completed sessions (first request to last reply).
    pub latencies: Latencies,
    /// How long it took.
    pub elapsed: Duration,
    /// The first errors' text.
    pub first_errors: Vec<String>,
    /// Stopped early: nothing succeeded and errors piled up.
    pub hopeless: bool,
}

/// Runs a phase: sessions of the population's devices per `plan` (see the module docs).
pub async fn run(pop: &Arc<Population>, plan: Plan) -> Result<Outcome, LoadError> {
    let http = http_client()?;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = plan.clients.clamp(1, pop.len());
    let give_up = (2 * clients).max(16) as u64;
    let start = Instant::now();
    let deadline = plan.duration.map(|d| start + d);
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let (pop, http, tally, stop) = (pop.clone(), http.clone(), tally.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            'rounds: for _ in 0..plan.rounds {
                for i in (c..pop.len()).step_by(clients) {
                    if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                        break 'rounds;
                    }
                    let began = Instant::now();
                    match pop.run_session(&http, i).await {
                        Ok(r) => {
                            latencies.push(began.elapsed());
                            tally.add(&r);
                        }
                        Err(e) => {
                            tally.fail(&e);
                            if tally.hopeless(give_up) {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Latencies::default();
    for t in tasks {
        if let Ok(l) = t.await {
            latencies.extend(l);
        }
    }
    Ok(Outcome {
        counts: tally.counts(),
        latencies,
        elapsed: start.elapsed(),
        first_errors: tally.first_errors(),
        hopeless: stop.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Encoding;
    use crate::load::{LoadAuth, LoadConfig, BENCH_NODE};
    use crate::session::Credentials;

    #[test]
    fn tally_counts_by_kind_and_keeps_the_first_errors() {
        let t = Tally::default();
        assert!(!t.hopeless(1));
        for i in 0..5 {
            t.fail(&LoadError::new(if i < 3 { LoadErrorKind::Http } else { LoadErrorKind::Timeout }, format!("e{i}")));
        }
        assert!(t.hopeless(5) && !t.hopeless(6));
        t.add(&SessionReport { messages: 2, commands: 3, gets: 1, challenges: 1 });
        assert!(!t.hopeless(1));
        let c = t.counts();
        assert_eq!((c.sessions, c.messages, c.commands, c.gets, c.errors(), c.attempted()), (1, 2, 3, 1, 5, 6));
        assert_eq!(t.first_errors(), ["e0", "e1", "e2"]);
        assert_eq!(
            c.errors_summary(),
            "5 sessions failed: 3 HTTP, 2 timed out; 1 challenges (401 / 407) answered with the new nonce"
        );
        assert_eq!(Counts::default().errors_summary(), "0");
    }

    /// The real adapter and engine in-process: every device's first and second sessions, a
    /// native Get carried by a session, WBXML with HMAC.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_against_the_adapter() {
        use crate::server::{OmadmAdapter, OmadmConfig};
        use unidm_core::{CreateOptions, Engine, SqliteStore};
        use unidm_models::{Action, DeviceId, NativeOp, NativeRequest, OperationState};

        let dir = tempfile::tempdir().unwrap();
        let adapter = Arc::new(OmadmAdapter::new(OmadmConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            client_credentials: Some(Credentials::new("dm-client", "secret")),
            ..OmadmConfig::default()
        }));
        let engine = Engine::builder()
            .store(SqliteStore::open(dir.path().join("unidm.db")).unwrap())
            .adapter_arc(adapter.clone())
            .start()
            .await
            .unwrap();
        let url = adapter.server_url().unwrap();
        let pop = Arc::new(Population::new(LoadConfig::new(url.clone(), 12)).unwrap());
        let once = Plan { clients: 4, rounds: 1, duration: None };
        for _ in 0..2 {
            let o = run(&pop, once).await.unwrap();
            assert_eq!((o.counts.sessions, o.counts.errors()), (12, 0), "{:?}", o.first_errors);
            assert_eq!(o.latencies.len(), 12);
        }
        let id = DeviceId::omadm(&pop.dev_id(5)).unwrap();
        assert!(engine.device(&id).is_ok());
        let read = NativeRequest { op: NativeOp::Read, path: BENCH_NODE.into(), value: None, args: None, format: None };
        let op = engine.create_operation(&id, Action::Native(read), CreateOptions::default()).await.unwrap();
        unidm_testkit::operation_where(&engine, op.id, |o| o.state == OperationState::Waiting).await;
        let o = run(&pop, once).await.unwrap();
        assert_eq!((o.counts.sessions, o.counts.gets, o.counts.errors()), (12, 1, 0), "{:?}", o.first_errors);
        assert_eq!(unidm_testkit::operation_end(&engine, op.id).await.state, OperationState::Succeeded);

        let config = LoadConfig {
            encoding: Encoding::Wbxml,
            auth: LoadAuth::Hmac,
            dev_id_prefix: "hmac-".into(),
            ..LoadConfig::new(url, 4)
        };
        let pop = Arc::new(Population::new(config).unwrap());
        let o = run(&pop, Plan { clients: 2, rounds: 3, duration: None }).await.unwrap();
        assert_eq!((o.counts.sessions, o.counts.errors()), (12, 0), "{:?}", o.first_errors);
        engine.shutdown().await;
    }

    /// Nothing listening: every session fails at once and the phase gives up.
    #[tokio::test]
    async fn nothing_listening_gives_up() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pop = Arc::new(Population::new(LoadConfig::new(format!("http://127.0.0.1:{port}/dm"), 1000)).unwrap());
        let o = run(&pop, Plan { clients: 2, rounds: 1, duration: None }).await.unwrap();
        assert!(o.hopeless && o.counts.sessions == 0 && o.counts.http < 1000, "{:?}", o.counts);
        assert_eq!(o.first_errors.len(), FIRST_ERRORS);
    }
}

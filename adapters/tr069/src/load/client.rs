//! The HTTP side of the simulated CPEs (TR-069 Amendment 6, 3.4 "HTTP binding", CPE side):
//! one session at a time per connection ([`CpeClient`]), sessions of many devices over many
//! connections ([`Fleet`]), failures by kind ([`ErrorCounts`]), and the connection-request
//! listener of the population ([`serve_connection_requests`], 3.2.2).
//!
//! Liberal in what it takes from an ACS: the session is kept by its cookies when it sets any
//! (every `Set-Cookie` is returned, as a browser would) and by the TCP connection otherwise
//! (each client keeps one connection and runs one session at a time); the end is a 204 or a
//! 200 with an empty body. Every request is bounded by [`REQUEST_TIMEOUT`].

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use unidm_core::load::Latencies;

use super::{Answered, Informs, Population, Step};
use crate::parse_envelope;
use crate::rpc::Rpc;

/// Longest wait for one HTTP answer (connecting included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// ACS requests in one session at most: more means the ACS loops.
const MAX_REQUESTS: usize = 1000;
/// Errors printed per phase; the rest are only counted.
const PRINTED: usize = 5;

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The ACS answered `status` to the POST of `after` (`Inform`, `empty POST`, `answer`).
    Status {
        /// What was posted.
        after: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// No answer to the POST of `after` within [`REQUEST_TIMEOUT`].
    Timeout {
        /// What was posted.
        after: &'static str,
    },
    /// Connecting, sending or reading failed.
    Transport {
        /// What was posted.
        after: &'static str,
        /// The error and its causes.
        why: String,
    },
    /// The ACS sent something a CPE cannot take (no InformResponse, a response where a
    /// request belongs, an unreadable envelope, an endless session).
    Protocol(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Status { after, status } => {
                write!(f, "HTTP {status} to the {after}")?;
                match status {
                    401 => f.write_str(" (the ACS asks for credentials; the bench CPEs send none)"),
                    403 => f.write_str(" (the ACS refuses unknown devices?)"),
                    503 => f.write_str(" (the ACS is overloaded)"),
                    _ => Ok(()),
                }
            }
            SessionError::Timeout { after } => write!(f, "no answer to the {after} within {REQUEST_TIMEOUT:?}"),
            SessionError::Transport { after, why } => write!(f, "{after}: {why}"),
            SessionError::Protocol(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for SessionError {}

fn transport(e: reqwest::Error, after: &'static str) -> SessionError {
    if e.is_timeout() {
        return SessionError::Timeout { after };
    }
    // reqwest's own message is terse; the causes say what happened (refused, reset, ...).
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    SessionError::Transport { after, why }
}

/// Failed sessions by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// An HTTP status other than the protocol's.
    pub status: usize,
    /// No answer in time.
    pub timeout: usize,
    /// Connection refused, reset or broken.
    pub transport: usize,
    /// Something a CPE cannot take.
    pub protocol: usize,
}

impl ErrorCounts {
    /// Counts one.
    pub fn count(&mut self, e: &SessionError) {
        *match e {
            SessionError::Status { .. } => &mut self.status,
            SessionError::Timeout { .. } => &mut self.timeout,
            SessionError::Transport { .. } => &mut self.transport,
            SessionError::Protocol(_) => &mut self.protocol,
        } += 1;
    }

    /// Adds another count.
    pub fn add(&mut self, o: &ErrorCounts) {
        self.status += o.status;
        self.timeout += o.timeout;
        self.transport += o.transport;
        self.protocol += o.protocol;
    }

    /// Every failure.
    pub fn total(&self) -> usize {
        self.status + self.timeout + self.transport + self.protocol
    }
}

impl fmt::Display for ErrorCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} HTTP status, {} timed out, {} connection, {} protocol)",
            self.total(),
            self.status,
            self.timeout,
            self.transport,
            self.protocol
        )
    }
}

/// Prints the first few errors of a phase to stderr.
#[derive(Debug, Default)]
pub struct FirstErrors(AtomicUsize);

impl FirstErrors {
    /// Prints `what: e` unless enough were printed.
    pub fn note(&self, what: &str, e: &dyn fmt::Display) {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        if n < PRINTED {
            eprintln!("{what}: {e}");
        } else if n == PRINTED {
            eprintln!("(further errors are only counted)");
        }
    }
}

/// The cookies an ACS set in this session, as sent back (`a=1; b=2`).
#[derive(Debug, Default)]
struct Cookies(String);

impl Cookies {
    fn take(&mut self, headers: &reqwest::header::HeaderMap) {
        for set in headers.get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or_default().trim();
            let Some((name, _)) = pair.split_once('=') else { continue };
            let mut kept: Vec<&str> = self
                .0
                .split("; ")
                .filter(|c| !c.is_empty() && c.split_once('=').map(|(n, _)| n) != Some(name))
                .collect();
            kept.push(pair);
            self.0 = kept.join("; ");
        }
    }
}

/// One HTTP connection to the ACS that carries one session at a time.
#[derive(Debug, Clone)]
pub struct CpeClient {
    http: reqwest::Client,
    url: reqwest::Url,
}

impl CpeClient {
    /// A client of the ACS at `url`.
    pub fn new(url: reqwest::Url) -> Result<CpeClient, String> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(CpeClient { http, url })
    }

    async fn post(
        &self,
        body: Bytes,
        cookies: &mut Cookies,
        after: &'static str,
    ) -> Result<(u16, Bytes), SessionError> {
        let mut req = self.http.post(self.url.clone());
        if !body.is_empty() {
            req = req.header(reqwest::header::CONTENT_TYPE, "text/xml; charset=\"utf-8\"");
        }
        if !cookies.0.is_empty() {
            req = req.header(reqwest::header::COOKIE, &cookies.0);
        }
        let r = req.body(body).send().await.map_err(|e| transport(e, after))?;
        let status = r.status().as_u16();
        cookies.take(r.headers());
        // Read whatever comes, so that the connection can carry the next request.
        let body = r.bytes().await.map_err(|e| transport(e, after))?;
        Ok((status, body))
    }

    /// One session of device `index` opened by `inform` (3.7.1): the Inform, which must get a
    /// 200 with an InformResponse; an empty POST; then one answer per ACS request until a 204
    /// or an empty 200. Returns the requests answered.
    pub async fn session(
        &self,
        population: &Population,
        index: usize,
        inform: Bytes,
    ) -> Result<Answered, SessionError> {
        let mut cookies = Cookies::default();
        let (status, body) = self.post(inform, &mut cookies, "Inform").await?;
        if status != 200 {
            return Err(SessionError::Status { after: "Inform", status });
        }
        match parse_envelope(&body) {
            Ok(env) if matches!(env.rpc, Rpc::InformResponse(_)) => {}
            Ok(env) => {
                let what = match &env.rpc {
                    Rpc::Fault(f) => format!("fault {}", f.code().map_or(0, |c| c.code())),
                    other => other.name().to_owned(),
                };
                return Err(SessionError::Protocol(format!("the ACS answered the Inform with {what}")));
            }
            Err(e) => {
                let why = format!("no InformResponse in the ACS's 200 ({} bytes): {e}", body.len());
                return Err(SessionError::Protocol(why));
            }
        }
        let mut answered = Answered::default();
        let (mut next, mut after) = (Bytes::new(), "empty POST");
        for _ in 0..MAX_REQUESTS {
            let (status, body) = self.post(next, &mut cookies, after).await?;
            match status {
                204 => return Ok(answered),
                200 => {}
                status => return Err(SessionError::Status { after, status }),
            }
            match population.answer(index, &body).map_err(SessionError::Protocol)? {
                Step::End => return Ok(answered),
                Step::Answer { body, request, fault } => {
                    answered.count(request, fault);
                    (next, after) = (body.into(), "answer");
                }
            }
        }
        Err(SessionError::Protocol(format!("the ACS sent more than {MAX_REQUESTS} requests in one session")))
    }
}

/// What sessions achieved.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    /// Sessions that ended as the protocol says.
    pub ok: usize,
    /// Their durations, from the Inform's POST to the end.
    pub latencies: Latencies,
    /// ACS requests answered in them.
    pub answered: Answered,
    /// Sessions that failed.
    pub errors: ErrorCounts,
}

impl Sessions {
    /// Sessions begun.
    pub fn attempted(&self) -> usize {
        self.ok + self.errors.total()
    }

    /// Adds another's figures.
    pub fn add(&mut self, o: Sessions) {
        self.ok += o.ok;
        self.latencies.extend(o.latencies);
        self.answered.add(&o.answered);
        self.errors.add(&o.errors);
    }
}

/// The population and its connections to the ACS.
#[derive(Debug, Clone)]
pub struct Fleet {
    population: Arc<Population>,
    clients: Vec<CpeClient>,
}

impl Fleet {
    /// `clients` connections (at least one) to the ACS at `url`.
    pub fn new(population: Population, url: reqwest::Url, clients: usize) -> Result<Fleet, String> {
        let clients = (0..clients.max(1)).map(|_| CpeClient::new(url.clone())).collect::<Result<_, _>>()?;
        Ok(Fleet { population: Arc::new(population), clients })
    }

    /// The devices.
    pub fn population(&self) -> &Arc<Population> {
        &self.population
    }

    /// The connections.
    pub fn clients(&self) -> &[CpeClient] {
        &self.clients
    }

    /// Sessions of `devices`, opened by `informs`, over every connection at once: client `c`
    /// takes devices `c`, `c + clients`, ..., so that no device has two sessions at a time,
    /// `rounds` times over, none begun after `deadline`. The first few failures go to stderr.
    pub async fn run(
        &self,
        informs: &Arc<Informs>,
        devices: Range<usize>,
        rounds: usize,
        deadline: Instant,
    ) -> Sessions {
        let first_errors = Arc::new(FirstErrors::default());
        let step = self.clients.len();
        let mut tasks = Vec::with_capacity(step);
        for (c, client) in self.clients.iter().enumerate() {
            let (client, population, informs) = (client.clone(), self.population.clone(), informs.clone());
            let (first_errors, devices) = (first_errors.clone(), devices.clone());
            tasks.push(tokio::spawn(async move {
                let mut done = Sessions::default();
                if devices.start + c >= devices.end {
                    // Fewer devices than clients: this one has none (and must not spin).
                    return done;
                }
                'rounds: for _ in 0..rounds {
                    for i in (devices.start + c..devices.end).step_by(step) {
                        let start = Instant::now();
                        if start >= deadline {
                            break 'rounds;
                        }
                        match client.session(&population, i, informs.get(i)).await {
                            Ok(answered) => {
                                done.ok += 1;
                                done.latencies.push(start.elapsed());
                                done.answered.add(&answered);
                            }
                            Err(e) => {
                                done.errors.count(&e);
                                first_errors.note(&format!("session of {}", population.serial(i)), &e);
                            }
                        }
                    }
                }
                done
            }));
        }
        let mut all = Sessions::default();
        for t in tasks {
            if let Ok(done) = t.await {
                all.add(done);
            }
        }
        all
    }
}

/// Serves the population's connection requests on `listener` (3.2.2, CPE side): a request of
/// any method to `/cr/{index}` is answered 200 with an empty body and handed to `on_request`,
/// which opens the session. Credentials are not checked: whatever `Authorization` comes (or
/// none) is accepted, so an ACS that sends Digest or Basic at once and one that waits for a
/// challenge both get through. Other paths get 404.
pub fn serve_connection_requests<F>(listener: tokio::net::TcpListener, on_request: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(usize) + Clone + Send + Sync + 'static,
{
    let handle = move |axum::extract::Path(index): axum::extract::Path<String>| {
        let on_request = on_request.clone();
        async move {
            match index.parse::<usize>() {
                Ok(i) => {
                    on_request(i);
                    StatusCode::OK
                }
                Err(_) => StatusCode::NOT_FOUND,
            }
        }
    };
    let router = axum::Router::new().route("/cr/{index}", axum::routing::any(handle));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("connection-request listener stopped: {e}");
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::extract::State;
    use axum::http::{header, HeaderMap};
    use axum::response::{IntoResponse, Response};

    use super::*;
    use crate::load::BENCH_OBJECT;
    use crate::rpc::get_parameter_values::GetParameterValues;
    use crate::rpc::inform::InformResponse;
    use crate::{encode_envelope, CwmpNamespace, Envelope};

    #[test]
    fn cookies_are_kept_and_replaced_by_name() {
        let mut c = Cookies::default();
        let mut h = reqwest::header::HeaderMap::new();
        h.append(header::SET_COOKIE, "session=a1; Path=/".parse().unwrap());
        h.append(header::SET_COOKIE, "lb=x".parse().unwrap());
        c.take(&h);
        assert_eq!(c.0, "session=a1; lb=x");
        let mut h = reqwest::header::HeaderMap::new();
        h.append(header::SET_COOKIE, "session=b2; HttpOnly".parse().unwrap());
        c.take(&h);
        assert_eq!(c.0, "lb=x; session=b2");
        c.take(&reqwest::header::HeaderMap::new());
        assert_eq!(c.0, "lb=x; session=b2");
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut e = ErrorCounts::default();
        e.count(&SessionError::Status { after: "Inform", status: 401 });
        e.count(&SessionError::Timeout { after: "answer" });
        e.count(&SessionError::Protocol("x".into()));
        assert_eq!(e.to_string(), "3 (1 HTTP status, 1 timed out, 0 connection, 1 protocol)");
        let refused = SessionError::Status { after: "Inform", status: 401 }.to_string();
        assert!(refused.starts_with("HTTP 401 to the Inform (the ACS asks for credentials"), "{refused}");
    }

    /// How the fake ACS behaves.
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        /// A `session` cookie and a 204 at the end.
        Cookie,
        /// No cookie (the session is the connection) and an empty 200 at the end.
        Connection,
        /// 401 to the Inform.
        Refuse,
    }

    /// An ACS of one session at a time: InformResponse, then one GetParameterValues of the
    /// bench object with ID `q-1`, then the end. What it found wrong goes to `wrong`.
    struct FakeAcs {
        mode: Mode,
        step: Mutex<u32>,
        wrong: Mutex<Vec<String>>,
    }

    async fn fake_acs(State(acs): State<Arc<FakeAcs>>, headers: HeaderMap, body: Bytes) -> Response {
        let mut step = acs.step.lock().unwrap();
        let wrong = |w: String| acs.wrong.lock().unwrap().push(w);
        let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let envelope = |rpc: Rpc, id: &str| encode_envelope(&Envelope::new(CwmpNamespace::V1_0, rpc).with_id(id));
        *step += 1;
        match *step {
            1 => {
                if !matches!(parse_envelope(&body).map(|e| e.rpc), Ok(Rpc::Inform(_))) {
                    wrong("first POST is not an Inform".into());
                }
                if acs.mode == Mode::Refuse {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let mut r = envelope(InformResponse::default().into(), "1").into_response();
                if acs.mode == Mode::Cookie {
                    r.headers_mut().insert(header::SET_COOKIE, "session=s1; Path=/".parse().unwrap());
                }
                r
            }
            2 => {
                if !body.is_empty() {
                    wrong("second POST is not empty".into());
                }
                if (acs.mode == Mode::Cookie) != (cookie == "session=s1") {
                    wrong(format!("cookie {cookie:?}"));
                }
                envelope(GetParameterValues { parameter_names: vec![BENCH_OBJECT.into()] }.into(), "q-1")
                    .into_response()
            }
            _ => {
                match parse_envelope(&body) {
                    Ok(Envelope { header, rpc: Rpc::GetParameterValuesResponse(r), .. }) => {
                        if header.id.as_deref() != Some("q-1") || r.parameter_list.len() != 2 {
                            wrong(format!("answer {:?}, {} values", header.id, r.parameter_list.len()));
                        }
                    }
                    other => wrong(format!("answer {other:?}")),
                }
                match acs.mode {
                    Mode::Cookie => StatusCode::NO_CONTENT.into_response(),
                    _ => StatusCode::OK.into_response(),
                }
            }
        }
    }

    async fn session_with(mode: Mode) -> (Result<Answered, SessionError>, Vec<String>) {
        let acs = Arc::new(FakeAcs { mode, step: Mutex::new(0), wrong: Mutex::new(Vec::new()) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = reqwest::Url::parse(&format!("http://{}/acs", listener.local_addr().unwrap())).unwrap();
        let router = axum::Router::new().route("/acs", axum::routing::post(fake_acs)).with_state(acs.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let population = Population::new("f", 2, None).unwrap();
        let inform = population.informs(&["2 PERIODIC"]).get(3);
        let r = CpeClient::new(url).unwrap().session(&population, 3, inform).await;
        server.abort();
        let wrong = acs.wrong.lock().unwrap().clone();
        (r, wrong)
    }

    #[tokio::test]
    async fn sessions_against_a_fake_acs() {
        for mode in [Mode::Cookie, Mode::Connection] {
            let (r, wrong) = session_with(mode).await;
            assert_eq!(wrong, Vec::<String>::new());
            assert_eq!(r.unwrap().get_parameter_values, 1);
        }
        let (r, _) = session_with(Mode::Refuse).await;
        assert_eq!(r.unwrap_err(), SessionError::Status { after: "Inform", status: 401 });
    }

    #[tokio::test]
    async fn connection_requests_are_taken_with_any_credentials() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/cr/", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        let server = serve_connection_requests(listener, move |i| seen.lock().unwrap().push(i));
        let http = reqwest::Client::new();
        let r = http.get(format!("{base}0000042")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = http.get(format!("{base}7")).header("Authorization", "Digest username=\"x\"").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(http.get(format!("{base}nope")).send().await.unwrap().status(), 404);
        assert_eq!(*got.lock().unwrap(), [42, 7]);
        server.abort();
    }
}

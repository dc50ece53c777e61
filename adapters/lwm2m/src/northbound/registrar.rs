//! The northbound client's registration with a distant LwM2M server (TS Core 1.1 §6.2) as a
//! sans-I/O state machine: Register, Update before the lifetime runs out (and whenever the
//! object list changes or the server triggers one), Register again after a refused Update
//! (4.04: the server forgot the registration) or a lost exchange, with a doubling backoff, and
//! De-register. With a bootstrap server (DB-001, TMode), it first asks to be bootstrapped
//! (Bootstrap-Request, TS Core 1.1 §6.1.3) and waits for Bootstrap-Finish, which the shell
//! reports with the server account written ([`Registrar::bootstrap_finished`]); after three
//! registrations in a row that fail, it bootstraps again. Datagrams and `now` in; datagrams and
//! the next deadline out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

use crate::coap::exchange::{ExchangeEvent, Exchanges};
use crate::coap::{encode_uint, TransmissionParams, Transmit};

/// The first wait before registering again after a failure; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between registration attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(120);
/// How long a bootstrap server may take from its 2.04 to Bootstrap-Finish.
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(60);
/// Registrations failing in a row before the client bootstraps again (when it can).
const FAILURES_BEFORE_BOOTSTRAP: u32 = 3;

/// What the client registers as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Endpoint client name (`ep`).
    pub endpoint: String,
    /// Registration lifetime (`lt`); an Update goes out when three quarters of it have passed.
    pub lifetime: Duration,
    /// LwM2M version (`lwm2m`), `1.1`.
    pub version: String,
    /// Binding (`b`), `U`.
    pub binding: String,
}

/// Where the registration stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrarStatus {
    /// Registered now.
    pub registered: bool,
    /// The registration's location (`/rd/…`), while registered.
    pub location: Option<String>,
    /// Registrations that succeeded since the start (a re-registration counts again).
    pub registrations: u64,
    /// Updates that succeeded.
    pub updates: u64,
    /// The last failure, in words.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Register,
    Update,
    Deregister,
    Bootstrap,
}

#[derive(Debug)]
enum State {
    /// Not registered; the next Register goes out at `at`.
    Waiting { at: Instant },
    /// A request is out.
    Asking { request: Request, token: Vec<u8>, location: Option<Vec<String>> },
    /// Registered at `location`; the next Update is due at `update_at`.
    Registered { location: Vec<String>, update_at: Instant },
    /// Bootstrap-Request answered; the bootstrap server writes the accounts until
    /// Bootstrap-Finish, due by `until`.
    Bootstrapping { until: Instant },
    /// De-registered, or told to stop.
    Stopped,
}

/// The registration state machine: see the module docs.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    server: SocketAddr,
    exchanges: Exchanges,
    state: State,
    /// The object list (link-format) of the next Register, or of an Update when it changed.
    objects: String,
    objects_changed: bool,
    /// An Update asked for while another request was out.
    update_wanted: bool,
    backoff: Duration,
    counter: u64,
    status: RegistrarStatus,
    /// The bootstrap server, when the client is bootstrapped.
    bootstrap: Option<SocketAddr>,
    /// Bootstrap next rather than register.
    bootstrap_due: bool,
    /// Registrations that failed in a row.
    failures: u32,
}

impl Registrar {
    /// A registrar that registers with `server` at once (on the first [`Registrar::handle_timeout`]).
    /// `seed` varies message ids and tokens between runs (take it from the OS random source).
    pub fn new(config: RegistrarConfig, server: SocketAddr, objects: String, now: Instant, seed: u64) -> Self {
        Registrar {
            config,
            server,
            exchanges: Exchanges::new(TransmissionParams::default(), seed as u16, 16),
            state: State::Waiting { at: now },
            objects,
            objects_changed: false,
            update_wanted: false,
            backoff: FIRST_BACKOFF,
            counter: seed,
            status: RegistrarStatus::default(),
            bootstrap: None,
            bootstrap_due: false,
            failures: 0,
        }
    }

    /// A registrar that is bootstrapped by `bootstrap` first, and registers with the server
    /// account it writes.
    pub fn bootstrapped(
        config: RegistrarConfig,
        bootstrap: SocketAddr,
        objects: String,
        now: Instant,
        seed: u64,
    ) -> Self {
        let mut r = Registrar::new(config, bootstrap, objects, now, seed);
        r.bootstrap = Some(bootstrap);
        r.bootstrap_due = true;
        r
    }

    /// Whom requests may come from now: the bootstrap server while bootstrapping, else the
    /// LwM2M server.
    pub fn peer(&self) -> SocketAddr {
        match (&self.state, self.bootstrap) {
            (State::Bootstrapping { .. }, Some(bs)) => bs,
            (State::Asking { request: Request::Bootstrap, .. }, Some(bs)) => bs,
            _ => self.server,
        }
    }

    /// Whether a Register is out, unanswered.
    pub fn registering(&self) -> bool {
        matches!(self.state, State::Asking { request: Request::Register, .. })
    }

    /// Whether the bootstrap server is writing the accounts now.
    pub fn bootstrapping(&self) -> bool {
        matches!(self.state, State::Bootstrapping { .. } | State::Asking { request: Request::Bootstrap, .. })
    }

    /// Bootstrap-Finish came: register with `server` now (its lifetime, when the account
    /// named one), or, with no server account, bootstrap again after a backoff.
    pub fn bootstrap_finished(&mut self, now: Instant, server: Option<(SocketAddr, Option<Duration>)>) {
        if !self.bootstrapping() {
            return;
        }
        match server {
            Some((server, lifetime)) => {
                self.server = server;
                if let Some(lt) = lifetime.filter(|l| !l.is_zero()) {
                    self.config.lifetime = lt;
                }
                self.bootstrap_due = false;
                self.failures = 0;
                self.backoff = FIRST_BACKOFF;
                self.state = State::Waiting { at: now };
            }
            None => {
                self.bootstrap_due = true;
                self.failed(now, "bootstrap finished without a server account".into());
            }
        }
    }

    /// The distant server.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Where the registration stands.
    pub fn status(&self) -> &RegistrarStatus {
        &self.status
    }

    /// The object list changed: the next Update (sent at once when registered) carries it.
    pub fn set_objects(&mut self, now: Instant, links: String) {
        if links == self.objects {
            return;
        }
        self.objects = links;
        self.objects_changed = true;
        self.update(now);
    }

    /// Sends an Update now (Registration Update Trigger), or once the request out has ended.
    pub fn update(&mut self, now: Instant) {
        match &self.state {
            State::Registered { location, .. } => {
                let location = location.clone();
                self.ask(now, Request::Update, Some(location));
            }
            State::Asking { .. } => self.update_wanted = true,
            State::Waiting { .. } | State::Bootstrapping { .. } | State::Stopped => {}
        }
    }

    /// De-registers (when registered) and stops.
    pub fn deregister(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Registered { location, .. } => self.ask(now, Request::Deregister, Some(location)),
            State::Asking { token, location: Some(location), .. } => {
                self.exchanges.cancel(self.server, &token);
                self.ask(now, Request::Deregister, Some(location));
            }
            State::Asking { token, request: Request::Bootstrap, .. } => {
                if let Some(bs) = self.bootstrap {
                    self.exchanges.cancel(bs, &token);
                }
            }
            State::Asking { token, .. } => self.exchanges.cancel(self.server, &token),
            State::Waiting { .. } | State::Bootstrapping { .. } | State::Stopped => {}
        }
        self.status.registered = false;
    }

    /// Takes a datagram from the server that is not a request; `false` when it is not ours.
    pub fn handle(&mut self, now: Instant, peer: SocketAddr, message: &Packet) -> bool {
        let ours = self.exchanges.handle(now, peer, message);
        self.drain(now);
        ours
    }

    /// Runs what is due at `now`: retransmissions, the Update before the lifetime ends, a
    /// Register after a backoff.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.exchanges.handle_timeout(now);
        self.drain(now);
        match &self.state {
            State::Waiting { at } if *at <= now && self.bootstrap_due => self.ask(now, Request::Bootstrap, None),
            State::Waiting { at } if *at <= now => self.ask(now, Request::Register, None),
            State::Bootstrapping { until } if *until <= now => {
                self.bootstrap_due = true;
                self.failed(now, "no Bootstrap-Finish from the bootstrap server in time".into());
            }
            State::Registered { location, update_at } if *update_at <= now => {
                let location = location.clone();
                self.ask(now, Request::Update, Some(location));
            }
            _ => {}
        }
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = match &self.state {
            State::Waiting { at } => Some(*at),
            State::Registered { update_at, .. } => Some(*update_at),
            State::Bootstrapping { until } => Some(*until),
            State::Asking { .. } | State::Stopped => None,
        };
        [own, self.exchanges.poll_timeout()].into_iter().flatten().min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.exchanges.poll_transmit()
    }

    fn token(&mut self) -> Vec<u8> {
        self.counter = self.counter.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.counter.to_be_bytes().to_vec()
    }

    fn ask(&mut self, now: Instant, request: Request, location: Option<Vec<String>>) {
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        let c = &self.config;
        match request {
            Request::Register => {
                p.header.code = MessageClass::Request(RequestType::Post);
                p.add_option(CoapOption::UriPath, b"rd".to_vec());
                let lifetime = c.lifetime.as_secs().max(1);
                for q in [
                    format!("ep={}", c.endpoint),
                    format!("lt={lifetime}"),
                    format!("lwm2m={}", c.version),
                    format!("b={}", c.binding),
                ] {
                    p.add_option(CoapOption::UriQuery, q.into_bytes());
                }
                p.add_option(CoapOption::ContentFormat, encode_uint(40));
                p.payload = self.objects.clone().into_bytes();
                // The Register carries the whole list: nothing left for an Update to tell.
                self.objects_changed = false;
                self.update_wanted = false;
            }
            Request::Bootstrap => {
                p.header.code = MessageClass::Request(RequestType::Post);
                p.add_option(CoapOption::UriPath, b"bs".to_vec());
                p.add_option(CoapOption::UriQuery, format!("ep={}", c.endpoint).into_bytes());
                // SenML CBOR preferred for the accounts (TS Core 1.1 §5.2.7.1).
                p.add_option(CoapOption::UriQuery, b"pct=110".to_vec());
            }
            Request::Update | Request::Deregister => {
                let method = if request == Request::Update { RequestType::Post } else { RequestType::Delete };
                p.header.code = MessageClass::Request(method);
                for seg in location.iter().flatten() {
                    p.add_option(CoapOption::UriPath, seg.clone().into_bytes());
                }
                if request == Request::Update && std::mem::take(&mut self.objects_changed) {
                    p.add_option(CoapOption::ContentFormat, encode_uint(40));
                    p.payload = self.objects.clone().into_bytes();
                }
            }
        }
        if request == Request::Update {
            self.update_wanted = false;
        }
        let token = self.token();
        p.set_token(token.clone());
        let target = match (request, self.bootstrap) {
            (Request::Bootstrap, Some(bs)) => bs,
            _ => self.server,
        };
        match self.exchanges.send_request(now, target, p, 0.5) {
            Ok(_) => {
                if request != Request::Deregister {
                    self.state = State::Asking { request, token, location };
                }
            }
            Err(e) => self.failed(now, format!("{request:?} not sent: {e}")),
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(event) = self.exchanges.poll_event() {
            let State::Asking { request, token, location } = &self.state else { continue };
            let (request, location) = (*request, location.clone());
            let outcome = match event {
                ExchangeEvent::Response { token: t, response, .. } if t == *token => Ok(response),
                ExchangeEvent::Reset { token: t, .. } if t == *token => Err("the server reset the request".to_owned()),
                ExchangeEvent::TimedOut { token: t, .. } if t == *token => Err("no answer from the server".to_owned()),
                _ => continue,
            };
            let code = match &outcome {
                Ok(r) => match r.header.code {
                    MessageClass::Response(c) => Some(c),
                    _ => None,
                },
                Err(_) => None,
            };
            match (request, code) {
                (Request::Bootstrap, Some(ResponseType::Changed)) => {
                    self.state = State::Bootstrapping { until: now + BOOTSTRAP_WAIT };
                }
                (Request::Register, Some(ResponseType::Created)) => {
                    let segments: Vec<String> = outcome
                        .ok()
                        .and_then(|r| {
                            r.get_option(CoapOption::LocationPath)
                                .map(|o| o.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
                        })
                        .unwrap_or_default();
                    if segments.is_empty() {
                        self.failed(now, "the server's 2.01 named no location".into());
                        continue;
                    }
                    self.status.registrations += 1;
                    self.registered(now, segments);
                }
                (Request::Update, Some(ResponseType::Changed)) => {
                    self.status.updates += 1;
                    self.registered(now, location.unwrap_or_default());
                }
                (Request::Update, Some(ResponseType::NotFound)) => {
                    // The server no longer knows the registration (TS Core 1.1 §6.2.2): register anew.
                    self.status.last_error =
                        Some("the server forgot the registration (4.04): registering again".into());
                    self.objects_changed = false;
                    self.status.registered = false;
                    self.status.location = None;
                    self.ask(now, Request::Register, None);
                }
                (r, Some(code)) => self.failed(now, format!("{r:?} answered {code:?}")),
                (r, None) => {
                    let why = outcome.err().unwrap_or_else(|| "not a response".into());
                    self.failed(now, format!("{r:?}: {why}"));
                }
            }
        }
    }

    fn registered(&mut self, now: Instant, location: Vec<String>) {
        self.backoff = FIRST_BACKOFF;
        self.failures = 0;
        self.status.registered = true;
        self.status.location = Some(format!("/{}", location.join("/")));
        let update_at = now + self.config.lifetime.mul_f64(0.75).max(Duration::from_secs(1));
        self.state = State::Registered { location, update_at };
        if self.update_wanted || self.objects_changed {
            self.update(now);
        }
    }

    fn failed(&mut self, now: Instant, why: String) {
        self.failures += 1;
        if self.bootstrap.is_some() && self.failures >= FAILURES_BEFORE_BOOTSTRAP {
            // The account may be stale: ask the bootstrap server again.
            self.bootstrap_due = true;
            self.failures = 0;
        }
        tracing::info!(server = %self.server, error = %why, retry_in = ?self.backoff, "northbound registration failed");
        self.status.last_error = Some(why);
        self.status.registered = false;
        self.status.location = None;
        self.state = State::Waiting { at: now + self.backoff };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        // The next Register carries the whole object list anyway.
        self.objects_changed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::decode_uint;

    const SERVER: &str = "192.0.2.1:5683";

    fn registrar(now: Instant) -> Registrar {
        let config = RegistrarConfig {
            endpoint: "unidm-gw".into(),
            lifetime: Duration::from_secs(100),
            version: "1.1".into(),
            binding: "U".into(),
        };
        Registrar::new(config, SERVER.parse().unwrap(), "</1/0>,</3/0>".into(), now, 7)
    }

    fn sent(r: &mut Registrar) -> Packet {
        let t = r.poll_transmit().expect("a datagram");
        assert_eq!(t.peer, SERVER.parse().unwrap());
        Packet::from_bytes(&t.bytes).unwrap()
    }

    fn answer(r: &mut Registrar, now: Instant, request: &Packet, code: ResponseType, location: &[&str]) {
        let mut p = Packet::new();
        p.header.set_type(MessageType::Acknowledgement);
        p.header.message_id = request.header.message_id;
        p.header.code = MessageClass::Response(code);
        p.set_token(request.get_token().to_vec());
        for seg in location {
            p.add_option(CoapOption::LocationPath, seg.as_bytes().to_vec());
        }
        assert!(r.handle(now, SERVER.parse().unwrap(), &p));
    }

    fn queries(p: &Packet) -> Vec<String> {
        p.get_option(CoapOption::UriQuery)
            .map(|q| q.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
            .unwrap_or_default()
    }

    fn path(p: &Packet) -> String {
        p.get_option(CoapOption::UriPath)
            .map(|q| q.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join("/"))
            .unwrap_or_default()
    }

    #[test]
    fn registers_updates_before_the_lifetime_and_when_objects_change() {
        let t0 = Instant::now();
        let mut r = registrar(t0);
        r.handle_timeout(t0);
        let reg = sent(&mut r);
        assert_eq!(path(&reg), "rd");
        assert_eq!(queries(&reg), ["ep=unidm-gw", "lt=100", "lwm2m=1.1", "b=U"]);
        assert_eq!(reg.get_option(CoapOption::ContentFormat).and_then(|v| decode_uint(v.front()?)), Some(40));
        assert_eq!(reg.payload, b"</1/0>,</3/0>");
        answer(&mut r, t0, &reg, ResponseType::Created, &["rd", "5a3f"]);
        assert_eq!(r.status().location.as_deref(), Some("/rd/5a3f"));
        assert!(r.status().registered);
        // Due after three quarters of the lifetime.
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(75)));
        r.handle_timeout(t0 + Duration::from_secs(74));
        assert!(r.poll_transmit().is_none());
        let t1 = t0 + Duration::from_secs(75);
        r.handle_timeout(t1);
        let update = sent(&mut r);
        assert_eq!(path(&update), "rd/5a3f");
        assert!(update.payload.is_empty(), "nothing changed: no object list");
        answer(&mut r, t1, &update, ResponseType::Changed, &[]);
        assert_eq!(r.status().updates, 1);

        // A new end device: an Update with the new list at once.
        r.set_objects(t1, "</1/0>,</3/0>,</25/0>".into());
        let update = sent(&mut r);
        assert_eq!(update.payload, b"</1/0>,</3/0>,</25/0>");
        // The same list again: nothing.
        answer(&mut r, t1, &update, ResponseType::Changed, &[]);
        r.set_objects(t1, "</1/0>,</3/0>,</25/0>".into());
        assert!(r.poll_transmit().is_none());

        r.deregister(t1);
        let dereg = sent(&mut r);
        assert_eq!(dereg.header.code, MessageClass::Request(RequestType::Delete));
        assert_eq!(path(&dereg), "rd/5a3f");
        assert!(!r.status().registered);
        answer(&mut r, t1, &dereg, ResponseType::Deleted, &[]);
        // Stopped: no Update, no Register, ever.
        r.handle_timeout(t1 + Duration::from_secs(1_000));
        assert!(r.poll_transmit().is_none());
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_forgotten_registration_is_made_again_and_failures_back_off() {
        let t0 = Instant::now();
        let mut r = registrar(t0);
        r.handle_timeout(t0);
        let reg = sent(&mut r);
        // Refused: wait 2 s, then 4 s.
        answer(&mut r, t0, &reg, ResponseType::Forbidden, &[]);
        assert!(r.status().last_error.as_deref().unwrap().contains("Forbidden"));
        assert_eq!(r.poll_timeout(), Some(t0 + FIRST_BACKOFF));
        let t1 = t0 + FIRST_BACKOFF;
        r.handle_timeout(t1);
        let reg = sent(&mut r);
        answer(&mut r, t1, &reg, ResponseType::InternalServerError, &[]);
        assert_eq!(r.poll_timeout(), Some(t1 + FIRST_BACKOFF * 2));
        let t2 = t1 + FIRST_BACKOFF * 2;
        r.handle_timeout(t2);
        let reg = sent(&mut r);
        answer(&mut r, t2, &reg, ResponseType::Created, &["rd", "1"]);
        assert_eq!(r.status().registrations, 1);

        // The server restarted and forgot us: the Update's 4.04 leads to a Register at once.
        r.update(t2);
        let update = sent(&mut r);
        answer(&mut r, t2, &update, ResponseType::NotFound, &[]);
        let reg = sent(&mut r);
        assert_eq!(path(&reg), "rd");
        assert_eq!(reg.payload, b"</1/0>,</3/0>", "a Register carries the whole list");
        answer(&mut r, t2, &reg, ResponseType::Created, &["rd", "2"]);
        assert_eq!((r.status().registrations, r.status().location.as_deref()), (2, Some("/rd/2")));
    }

    #[test]
    fn a_silent_server_means_registering_again_later() {
        let t0 = Instant::now();
        let mut r = registrar(t0);
        r.handle_timeout(t0);
        let first = sent(&mut r);
        // Retransmitted with the same message id until the exchange gives up.
        let mut now = t0;
        let mut copies = 0;
        while r.status().last_error.is_none() {
            now = r.poll_timeout().unwrap();
            r.handle_timeout(now);
            if let Some(t) = r.poll_transmit() {
                let p = Packet::from_bytes(&t.bytes).unwrap();
                assert_eq!(p.header.message_id, first.header.message_id);
                copies += 1;
            }
            assert!(now < t0 + Duration::from_secs(300), "gave up in time");
        }
        assert_eq!(copies, 4, "MAX_RETRANSMIT");
        assert!(r.status().last_error.as_deref().unwrap().contains("no answer"));
        // Then a fresh Register after the backoff.
        r.handle_timeout(now + FIRST_BACKOFF);
        let again = sent(&mut r);
        assert_eq!(path(&again), "rd");
        assert_ne!(again.header.message_id, first.header.message_id);
    }

    #[test]
    fn a_bootstrapped_client_registers_with_the_account_it_was_given() {
        let t0 = Instant::now();
        let bs: SocketAddr = "192.0.2.9:5783".parse().unwrap();
        let config = RegistrarConfig {
            endpoint: "unidm-gw".into(),
            lifetime: Duration::from_secs(100),
            version: "1.1".into(),
            binding: "U".into(),
        };
        let mut r = Registrar::bootstrapped(config, bs, "</1/0>,</3/0>".into(), t0, 3);
        r.handle_timeout(t0);
        let t = r.poll_transmit().unwrap();
        assert_eq!(t.peer, bs);
        let req = Packet::from_bytes(&t.bytes).unwrap();
        assert_eq!(path(&req), "bs");
        assert_eq!(queries(&req), ["ep=unidm-gw", "pct=110"]);
        // 2.04: the bootstrap server writes; requests come from it meanwhile.
        let mut ack = Packet::new();
        ack.header.set_type(MessageType::Acknowledgement);
        ack.header.message_id = req.header.message_id;
        ack.header.code = MessageClass::Response(ResponseType::Changed);
        ack.set_token(req.get_token().to_vec());
        assert!(r.handle(t0, bs, &ack));
        assert!(r.bootstrapping());
        assert_eq!(r.peer(), bs);
        // Finished with an account: a Register to that server, with the lifetime given.
        r.bootstrap_finished(t0, Some((SERVER.parse().unwrap(), Some(Duration::from_secs(40)))));
        assert!(!r.bootstrapping());
        r.handle_timeout(t0);
        let reg = sent(&mut r);
        assert_eq!(path(&reg), "rd");
        assert_eq!(queries(&reg)[1], "lt=40");
        answer(&mut r, t0, &reg, ResponseType::Created, &["rd", "b1"]);
        assert_eq!(r.peer(), SERVER.parse().unwrap());

        // Three failed registrations in a row: bootstrap again.
        let mut now = t0;
        r.update(now);
        let update = sent(&mut r);
        answer(&mut r, now, &update, ResponseType::BadRequest, &[]);
        for _ in 0..2 {
            now = r.poll_timeout().unwrap();
            r.handle_timeout(now);
            let reg = sent(&mut r);
            assert_eq!(path(&reg), "rd");
            answer(&mut r, now, &reg, ResponseType::Forbidden, &[]);
        }
        now = r.poll_timeout().unwrap();
        r.handle_timeout(now);
        let t = r.poll_transmit().unwrap();
        assert_eq!((t.peer, path(&Packet::from_bytes(&t.bytes).unwrap())), (bs, "bs".to_owned()));
    }

    #[test]
    fn a_bootstrap_that_never_finishes_is_asked_again() {
        let t0 = Instant::now();
        let bs: SocketAddr = "192.0.2.9:5783".parse().unwrap();
        let config = RegistrarConfig {
            endpoint: "e".into(),
            lifetime: Duration::from_secs(100),
            version: "1.1".into(),
            binding: "U".into(),
        };
        let mut r = Registrar::bootstrapped(config, bs, String::new(), t0, 3);
        r.handle_timeout(t0);
        let req = Packet::from_bytes(&r.poll_transmit().unwrap().bytes).unwrap();
        let mut ack = Packet::new();
        ack.header.set_type(MessageType::Acknowledgement);
        ack.header.message_id = req.header.message_id;
        ack.header.code = MessageClass::Response(ResponseType::Changed);
        ack.set_token(req.get_token().to_vec());
        r.handle(t0, bs, &ack);
        let late = t0 + BOOTSTRAP_WAIT;
        r.handle_timeout(late);
        assert!(r.status().last_error.as_deref().unwrap().contains("Bootstrap-Finish"));
        r.handle_timeout(late + FIRST_BACKOFF);
        let again = Packet::from_bytes(&r.poll_transmit().unwrap().bytes).unwrap();
        assert_eq!(path(&again), "bs");
        // A finish without a server account: asked again too.
        r.handle(late + FIRST_BACKOFF, bs, &{
            let mut a = Packet::new();
            a.header.set_type(MessageType::Acknowledgement);
            a.header.message_id = again.header.message_id;
            a.header.code = MessageClass::Response(ResponseType::Changed);
            a.set_token(again.get_token().to_vec());
            a
        });
        r.bootstrap_finished(late + FIRST_BACKOFF, None);
        assert!(r.status().last_error.as_deref().unwrap().contains("without a server account"));
    }

    #[test]
    fn an_update_asked_during_a_register_follows_it() {
        let t0 = Instant::now();
        let mut r = registrar(t0);
        r.handle_timeout(t0);
        let reg = sent(&mut r);
        r.set_objects(t0, "</1/0>,</3/0>,</25/0>".into());
        assert!(r.poll_transmit().is_none(), "one request at a time");
        answer(&mut r, t0, &reg, ResponseType::Created, &["rd", "9"]);
        let update = sent(&mut r);
        assert_eq!(path(&update), "rd/9");
        assert_eq!(update.payload, b"</1/0>,</3/0>,</25/0>");
    }
}

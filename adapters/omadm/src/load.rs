//! Simulated DM clients for load tools: a population of devices that cost one nonce each, and
//! the client side of one session (OMA DM Protocol 1.2 §8.3 packages), shared by `unidm bench
//! omadm` and `benches/dm_load.rs`. The full client, with a tree that changes, is [`crate::sim`].
//!
//! - **Package 1** (Alert 1201, the DevInfo `Replace`, the SyncHdr `Cred`) is encoded once per
//!   encoding with placeholders for the DevId's number, the SessionID and the md5 digest; a
//!   session patches a copy (the digest over the nonce the server last gave the device,
//!   [`auth::md5_digest`]). DevIds are `{prefix}{number}`, the number zero-padded to
//!   [`DEV_DIGITS`] digits (`IMEI:490000000000042`). Basic credentials are the same for every
//!   device; `hmac` sends no `Cred` but an `x-syncml-hmac` header over each message
//!   ([`auth::hmac_header`]); `none` neither.
//! - **Authentication** (OMA DM Security 1.2 §5.1.3 - §5.1.4): the `NextNonce` of any `Chal` the
//!   server sends (with the 401 / 407 of a challenge, the 212 that accepts, or every HMAC
//!   message) is kept per device; a challenged Package 1 goes again with the new nonce, at most
//!   [`MAX_CHALLENGES`] times. The server's own `Cred` is ignored unless its password is given
//!   ([`LoadConfig::server`]): then its first message must carry md5 over the empty nonce
//!   (these clients never send a `Chal`, so they never give it another) or basic.
//! - **Answers** ([`SessionClient`], sans I/O): every command of a server message gets its
//!   Status. A `Get` of a node of a small fixed tree (DevInfo, DevDetail; [`BENCH_NODE`] is
//!   `./DevInfo/Mod` = [`MODEL`]) gets Results (an interior node lists its children, Format
//!   `node`), other nodes 404 (so a server finds no FUMO, SCOMO or LAWMO), `?list=` and
//!   `?prop=` 406; `Replace`, `Add`, `Delete`, `Copy` and `Exec` 200 (a `MoreData` chunk 213)
//!   and change nothing; `Atomic` / `Sequence` 200 and each inner command its own; `Alert` 200
//!   (1102 - 1104, which want user input, 406); commands DM does not use 406. A server message
//!   without `Final` is answered with Alert 1222 (next message). The session ends when a final
//!   server message carries nothing but Statuses and Results; each later message goes to the
//!   last `RespURI`.
//! - **Errors** ([`LoadError`], by [`LoadErrorKind`]): HTTP (no connection, a status other than
//!   200), time-outs ([`REQUEST_TIMEOUT`] per request), undecodable replies, credentials
//!   refused (a SyncHdr 401 / 407 once the challenges are spent), other SyncML refusals (a
//!   SyncHdr status other than 200 / 212, 300 or more for one of the client's commands, Alert
//!   1223, the server's `Cred` wrong), and a session that does not end within
//!   [`MAX_MESSAGES`].
//! - **Phases** ([`run`]): `clients` concurrent tasks share one HTTP client (so at most that
//!   many connections); task `c` runs devices `c`, `c + clients`, ... in turn (a device never
//!   has two sessions at once), for a number of rounds or until a duration passed. A phase in
//!   which nothing succeeded stops after a few errors. The [`Outcome`] has the [`Counts`], the
//!   latencies of the sessions that completed (first request to last reply) and the first
//!   errors' text.

mod phase;
mod session;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::auth;
use crate::codec::{
    self, Alert, Command, Cred, Encoding, ItemCommand, Location, MediaType, Meta, SyncBody, SyncHdr, SyncML,
};
use crate::session::Credentials;
pub use phase::{http_client, run, Counts, Outcome, Plan, Tally};
use session::{node, text_item};
pub use session::{Outgoing, SessionClient, Step};

/// The node a load tool reads through the server (a native Get): `./DevInfo/Mod`.
pub const BENCH_NODE: &str = "./DevInfo/Mod";
/// Its value on every simulated device.
pub const MODEL: &str = "LoadDM";
/// Longest wait for one HTTP answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages a session may take before it counts as endless.
pub const MAX_MESSAGES: u32 = 32;
/// Package 1 sent again after a challenge (401 / 407), at most.
pub const MAX_CHALLENGES: u32 = 2;
/// Digits of the device number in a DevId.
pub const DEV_DIGITS: usize = 13;
/// Errors kept as text per phase.
pub const FIRST_ERRORS: usize = 3;

/// Stand where the device number, the SessionID and the md5 digest (base64 of 16 bytes) go.
const DEV_MARK: &str = "~~~~~~~~~~~~~";
const SESSION_MARK: &str = "^^^^";
const CRED_MARK: &str = "@@@@@@@@@@@@@@@@@@@@@@@@";
/// The `MaxMsgSize` the clients announce.
const MAX_MSG_SIZE: u64 = 64 * 1024;

/// How the simulated clients authenticate (OMA DM Security 1.2 §5.1.3 - §5.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadAuth {
    /// No `Cred`.
    None,
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5` over the server's last nonce.
    Md5,
    /// `syncml:auth-MAC`: `x-syncml-hmac` on every message.
    Hmac,
}

/// What the population is and whom it talks to.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The DM server URL (`http://host:8081/dm`).
    pub server_url: String,
    /// Devices (1 to 10^[`DEV_DIGITS`]).
    pub devices: usize,
    /// DevIds are this followed by the device number.
    pub dev_id_prefix: String,
    /// XML or WBXML.
    pub encoding: Encoding,
    /// How the clients authenticate.
    pub auth: LoadAuth,
    /// The clients' user name (also the SyncHdr `Source/LocName`).
    pub username: String,
    /// The clients' password.
    pub password: String,
    /// The server's identifier and password: its first message's `Cred` is checked. `None`:
    /// ignored.
    pub server: Option<Credentials>,
}

impl LoadConfig {
    /// `devices` XML clients of `server_url`, md5 as `dm-client` / `secret`, DevIds
    /// `IMEI:49` + 13 digits.
    pub fn new(server_url: impl Into<String>, devices: usize) -> LoadConfig {
        LoadConfig {
            server_url: server_url.into(),
            devices,
            dev_id_prefix: "IMEI:49".into(),
            encoding: Encoding::Xml,
            auth: LoadAuth::Md5,
            username: "dm-client".into(),
            password: "secret".into(),
            server: None,
        }
    }
}

/// What kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadErrorKind {
    /// The configuration cannot work (a URL, a DevId).
    BadInput,
    /// No connection, or an HTTP status other than 200.
    Http,
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// The reply is not SyncML DM.
    Malformed,
    /// The server refused with a SyncML status (or aborted, or its `Cred` was wrong).
    Refused,
    /// The server refused the client's credentials (SyncHdr 401 / 407 once the challenges
    /// were answered).
    Unauthorized,
    /// The session did not end within [`MAX_MESSAGES`].
    Endless,
}

/// Why a session (or the setup) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    kind: LoadErrorKind,
    message: String,
}

impl LoadError {
    fn new(kind: LoadErrorKind, message: impl Into<String>) -> LoadError {
        LoadError { kind, message: message.into() }
    }

    /// What kind of failure.
    pub fn kind(&self) -> LoadErrorKind {
        self.kind
    }
}

/// What one completed session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// Messages the client sent.
    pub messages: u32,
    /// Server commands answered (Status and Results excluded).
    pub commands: u32,
    /// Gets of [`BENCH_NODE`] answered with its value.
    pub gets: u32,
    /// Package 1 sent again after a 401 / 407 with a new nonce.
    pub challenges: u32,
}

/// The pre-encoded Package 1 and where its placeholders are.
#[derive(Debug)]
struct Template {
    bytes: Vec<u8>,
    dev: Vec<usize>,
    session: Vec<usize>,
    cred: Vec<usize>,
}

impl Template {
    fn new(bytes: Vec<u8>) -> Template {
        let find = |mark: &str| -> Vec<usize> {
            let m = mark.as_bytes();
            let mut at = Vec::new();
            let mut i = 0;
            while i + m.len() <= bytes.len() {
                if &bytes[i..i + m.len()] == m {
                    at.push(i);
                    i += m.len();
                } else {
                    i += 1;
                }
            }
            at
        };
        let (dev, session, cred) = (find(DEV_MARK), find(SESSION_MARK), find(CRED_MARK));
        Template { bytes, dev, session, cred }
    }

    fn fill(&self, number: &str, session_id: &str, digest: Option<&str>) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        let mut put = |at: &[usize], value: &[u8]| {
            for &i in at {
                bytes[i..i + value.len()].copy_from_slice(value);
            }
        };
        put(&self.dev, number.as_bytes());
        put(&self.session, session_id.as_bytes());
        if let Some(d) = digest {
            put(&self.cred, d.as_bytes());
        }
        bytes
    }
}

/// The simulated devices: their Package 1 template and one nonce each.
#[derive(Debug)]
pub struct Population {
    config: LoadConfig,
    url: reqwest::Url,
    template: Template,
    /// The nonce the server last gave each device.
    nonces: Arc<[Mutex<Vec<u8>>]>,
    /// Numbers SessionIDs.
    sessions: Arc<AtomicU32>,
}

impl Population {
    /// The population of `config`; refuses a URL that is not http(s) and DevIds the server
    /// could not take.
    pub fn new(config: LoadConfig) -> Result<Population, LoadError> {
        let bad = |m: String| LoadError::new(LoadErrorKind::BadInput, m);
        let url = reqwest::Url::parse(&config.server_url)
            .map_err(|e| bad(format!("server URL `{}`: {e}", config.server_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad(format!("server URL `{}` is not http(s)://host...", config.server_url)));
        }
        if config.devices == 0 || config.devices.checked_ilog10().is_some_and(|d| d as usize >= DEV_DIGITS) {
            return Err(bad(format!("{} devices: there must be 1 to {DEV_DIGITS} digits' worth", config.devices)));
        }
        let prefix = &config.dev_id_prefix;
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) || prefix.len() > 128 {
            return Err(bad(format!("DevId prefix `{prefix}`: no spaces or control characters, 128 bytes at most")));
        }
        let nonces: Arc<[Mutex<Vec<u8>>]> = (0..config.devices).map(|_| Mutex::new(Vec::new())).collect();
        let template = Template::new(Vec::new());
        let mut pop = Population { config, url, template, nonces, sessions: Arc::new(AtomicU32::new(0)) };
        pop.template = pop.build_template()?;
        Ok(pop)
    }

    /// The same devices (nonces shared) in another encoding.
    pub fn with_encoding(&self, encoding: Encoding) -> Result<Population, LoadError> {
        let mut pop = Population {
            config: LoadConfig { encoding, ..self.config.clone() },
            url: self.url.clone(),
            template: Template::new(Vec::new()),
            nonces: self.nonces.clone(),
            sessions: self.sessions.clone(),
        };
        pop.template = pop.build_template()?;
        Ok(pop)
    }

    /// The configuration.
    pub fn config(&self) -> &LoadConfig {
        &self.config
    }

    /// How many devices.
    pub fn len(&self) -> usize {
        self.config.devices
    }

    /// Whether there are none (never: a population has at least one device).
    pub fn is_empty(&self) -> bool {
        self.config.devices == 0
    }

    /// The DevId of device `i`.
    pub fn dev_id(&self, i: usize) -> String {
        format!("{}{i:0DEV_DIGITS$}", self.config.dev_id_prefix)
    }

    fn nonce(&self, i: usize) -> MutexGuard<'_, Vec<u8>> {
        self.nonces[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Package 1 of device `dev_id` as a message (the template is this with placeholders).
    fn package1(&self, dev_id: &str, session_id: &str, msg_id: u32, cred: Option<Cred>) -> SyncML {
        let items = ["DevId", "Man", "Mod", "DmV", "Lang"]
            .iter()
            .filter_map(|leaf| {
                let uri = format!("./DevInfo/{leaf}");
                node(dev_id, &uri).map(|(value, _)| text_item(&uri, &value))
            })
            .collect();
        SyncML {
            hdr: self.hdr(dev_id, session_id, msg_id, cred),
            body: SyncBody {
                commands: vec![
                    Command::Alert(Alert {
                        cmd_id: "1".into(),
                        code: Some(Alert::CLIENT_INITIATED),
                        ..Alert::default()
                    }),
                    Command::Replace(ItemCommand { cmd_id: "2".into(), items, ..ItemCommand::default() }),
                ],
                r#final: true,
            },
        }
    }

    fn hdr(&self, dev_id: &str, session_id: &str, msg_id: u32, cred: Option<Cred>) -> SyncHdr {
        SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: session_id.into(),
            msg_id: msg_id.to_string(),
            target: Location::uri(self.config.server_url.clone()),
            source: Location { loc_uri: dev_id.into(), loc_name: Some(self.config.username.clone()) },
            resp_uri: None,
            no_resp: false,
            cred,
            meta: Some(Meta { max_msg_size: Some(MAX_MSG_SIZE), ..Meta::default() }),
        }
    }

    /// The SyncHdr `Cred` of device `i` now; `digest` stands for the md5 digest.
    fn cred(&self, i: Option<usize>) -> Option<Cred> {
        let c = &self.config;
        let (scheme, data) = match c.auth {
            LoadAuth::None | LoadAuth::Hmac => return None,
            LoadAuth::Basic => (auth::AUTH_BASIC, auth::basic(&c.username, &c.password)),
            LoadAuth::Md5 => match i {
                Some(i) => (auth::AUTH_MD5, auth::md5_digest(&c.username, &c.password, &self.nonce(i))),
                None => (auth::AUTH_MD5, CRED_MARK.to_owned()),
            },
        };
        let meta = Meta { r#type: Some(scheme.into()), format: Some("b64".into()), ..Meta::default() };
        Some(Cred { meta: Some(meta), data })
    }

    fn build_template(&self) -> Result<Template, LoadError> {
        let dev = format!("{}{DEV_MARK}", self.config.dev_id_prefix);
        let msg = self.package1(&dev, SESSION_MARK, 1, self.cred(None));
        let bytes = codec::encode(&msg, self.config.encoding)
            .map_err(|e| LoadError::new(LoadErrorKind::BadInput, format!("Package 1 does not encode: {e}")))?;
        let template = Template::new(bytes);
        // A placeholder sequence inside the URL or a name would be patched too: check one.
        let last = self.len() - 1;
        let digest = (self.config.auth == LoadAuth::Md5).then(|| "A".repeat(CRED_MARK.len()));
        let filled = template.fill(&format!("{last:0DEV_DIGITS$}"), "1234", digest.as_deref());
        let decoded = codec::decode(MediaType::dm(self.config.encoding).as_str(), &filled).ok();
        let ok = decoded.is_some_and(|m| {
            m.hdr.source.loc_uri == self.dev_id(last)
                && m.hdr.session_id == "1234"
                && m.hdr.target.loc_uri == self.config.server_url
                && m.hdr.cred.map(|c| c.data) == self.cred(None).map(|c| digest.unwrap_or(c.data))
        });
        if !ok {
            let m = "the server URL, DevId prefix or user name contains a sequence the Package 1 template uses (~, ^ or @ repeated)";
            return Err(LoadError::new(LoadErrorKind::BadInput, m));
        }
        Ok(template)
    }

    /// A session of device `i`, to drive by hand.
    pub fn session(&self, i: usize) -> SessionClient<'_> {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        // Four upper-case hex digits without a leading zero (OMA DM Notification 1.2 §6.2.2.10
        // form, which every server takes).
        let session_id = format!("{:X}", 0x1000 + n % 0xF000);
        SessionClient::new(self, i, session_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::HmacHeader;
    use crate::codec::Data;

    fn population(auth: LoadAuth, encoding: Encoding) -> Population {
        let config = LoadConfig { auth, encoding, ..LoadConfig::new("http://127.0.0.1:1/dm", 100) };
        Population::new(config).unwrap()
    }

    fn decode(out: &Outgoing) -> SyncML {
        codec::decode(out.media.as_str(), &out.body).unwrap()
    }

    #[test]
    fn package1_is_patched_per_device_session_and_nonce() {
        for encoding in [Encoding::Xml, Encoding::Wbxml] {
            let pop = population(LoadAuth::Md5, encoding);
            let mut s = pop.session(42);
            let out = s.start();
            assert_eq!(out.media, MediaType::dm(encoding));
            let m = decode(&out);
            assert_eq!(m.hdr.source.loc_uri, "IMEI:490000000000042");
            assert_eq!(m.hdr.source.loc_name.as_deref(), Some("dm-client"));
            assert_eq!((m.hdr.msg_id.as_str(), m.hdr.target.loc_uri.as_str()), ("1", "http://127.0.0.1:1/dm"));
            assert_eq!(m.hdr.session_id.len(), 4, "{}", m.hdr.session_id);
            let Command::Replace(r) = &m.body.commands[1] else { panic!("{:?}", m.body.commands) };
            let dev = r.items.iter().find(|i| i.source.as_ref().unwrap().loc_uri == "./DevInfo/DevId").unwrap();
            assert_eq!(dev.data.as_ref().and_then(Data::as_text), Some("IMEI:490000000000042"));
            assert!(matches!(&m.body.commands[0], Command::Alert(a) if a.code == Some(1201)));
            let cred = m.hdr.cred.unwrap();
            assert!(auth::verify_md5(&cred.data, "dm-client", "secret", b""));
            // The next session: another SessionID, the digest over the nonce the server gave.
            *pop.nonce(42) = b"n1".to_vec();
            let m2 = decode(&pop.session(42).start());
            assert_ne!(m2.hdr.session_id, m.hdr.session_id);
            assert!(auth::verify_md5(&m2.hdr.cred.unwrap().data, "dm-client", "secret", b"n1"));
        }
        let basic = decode(&population(LoadAuth::Basic, Encoding::Xml).session(0).start());
        assert_eq!(basic.hdr.cred.unwrap().data, auth::basic("dm-client", "secret"));
        let none = population(LoadAuth::None, Encoding::Wbxml).session(0).start();
        assert!(decode(&none).hdr.cred.is_none() && none.hmac.is_none());
        let pop = population(LoadAuth::Hmac, Encoding::Wbxml);
        *pop.nonce(5) = b"n5".to_vec();
        let out = pop.session(5).start();
        assert!(decode(&out).hdr.cred.is_none());
        let h = HmacHeader::parse(out.hmac.as_deref().unwrap()).unwrap();
        assert!(h.username == "dm-client" && h.verify("secret", b"n5", &out.body));
    }

    #[test]
    fn bad_input_is_refused() {
        let bad = |config: LoadConfig| Population::new(config).unwrap_err().kind();
        let ok = LoadConfig::new("http://127.0.0.1:1/dm", 10);
        assert_eq!(bad(LoadConfig { server_url: "ftp://x/dm".into(), ..ok.clone() }), LoadErrorKind::BadInput);
        assert_eq!(bad(LoadConfig { server_url: "not a url".into(), ..ok.clone() }), LoadErrorKind::BadInput);
        assert_eq!(bad(LoadConfig { devices: 0, ..ok.clone() }), LoadErrorKind::BadInput);
        assert_eq!(bad(LoadConfig { dev_id_prefix: "a b".into(), ..ok.clone() }), LoadErrorKind::BadInput);
        assert_eq!(bad(LoadConfig { server_url: "http://h/^^^^".into(), ..ok.clone() }), LoadErrorKind::BadInput);
        assert_eq!(Population::new(ok).unwrap().dev_id(9), "IMEI:490000000000009");
    }
}

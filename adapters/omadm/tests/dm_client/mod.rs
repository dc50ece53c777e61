//! A hand-driven DM client and the helpers the session tests share: a credential store for one
//! device, a nonce source, message builders and reply readers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use unidm_omadm::auth;
use unidm_omadm::codec::{
    self, Alert, Command, Cred, Data, Item, ItemCommand, Location, Meta, Results, Status, SyncBody, SyncHdr, SyncML,
};
use unidm_omadm::session::{
    CredentialStore, Credentials, DmSession, Op, Reply, Request, RequestHandle, SessionConfig, SessionEvent,
};

pub const XML: &str = "application/vnd.syncml.dm+xml";
pub const WBXML: &str = "application/vnd.syncml.dm+wbxml";
pub const DEV: &str = "IMEI:493005100592800";
pub const SERVER_URI: &str = "https://dm.example/dm";

pub fn t(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// One device's secrets, as an adapter's store would hold them.
#[derive(Clone, Default)]
pub struct Store {
    pub client: Option<Credentials>,
    pub server: Option<Credentials>,
    pub client_nonce: Option<Vec<u8>>,
    pub server_nonce: Option<Vec<u8>>,
}

impl CredentialStore for Store {
    fn client_credentials(&self, dev_id: &str, username: Option<&str>) -> Option<Credentials> {
        let c = self.client.clone().filter(|_| dev_id == DEV)?;
        username.is_none_or(|u| u == c.username).then_some(c)
    }
    fn server_credentials(&self, _: &str) -> Option<Credentials> {
        self.server.clone()
    }
    fn client_nonce(&self, _: &str) -> Option<Vec<u8>> {
        self.client_nonce.clone()
    }
    fn server_nonce(&self, _: &str) -> Option<Vec<u8>> {
        self.server_nonce.clone()
    }
}

pub fn store() -> Store {
    Store {
        client: Some(Credentials::new("dev", "client-secret")),
        server: None,
        client_nonce: Some(b"nonce-0".to_vec()),
        server_nonce: None,
    }
}

pub fn nonces() -> Box<dyn FnMut() -> Vec<u8> + Send> {
    let mut n = 0u8;
    Box::new(move || {
        n = n.wrapping_add(1);
        vec![0xA5, n, 0x5A, n]
    })
}

pub fn session(config: SessionConfig, store: Store) -> DmSession {
    DmSession::new(config, Arc::new(store), nonces(), t(0))
}

/// A hand-driven DM client.
pub struct Client {
    pub content_type: &'static str,
    pub session_id: String,
    pub msg_id: u64,
    pub max_msg_size: Option<u64>,
    pub cred: Option<Cred>,
    pub user: Option<String>,
    pub last_reply_msg: String,
    /// `VerDTD` and `VerProto`.
    pub version: (&'static str, &'static str),
}

impl Client {
    pub fn new(content_type: &'static str, session_id: &str) -> Client {
        Client {
            content_type,
            session_id: session_id.into(),
            msg_id: 0,
            max_msg_size: None,
            cred: None,
            user: None,
            last_reply_msg: String::new(),
            version: ("1.2", "DM/1.2"),
        }
    }

    pub fn md5(mut self, user: &str, password: &str, nonce: &[u8]) -> Client {
        self.set_md5(user, password, nonce);
        self
    }

    pub fn set_md5(&mut self, user: &str, password: &str, nonce: &[u8]) {
        self.user = Some(user.into());
        self.cred = Some(cred(auth::AUTH_MD5, auth::md5_digest(user, password, nonce)));
    }

    pub fn message(&mut self, commands: Vec<Command>, r#final: bool) -> SyncML {
        self.msg_id += 1;
        SyncML {
            hdr: SyncHdr {
                ver_dtd: self.version.0.into(),
                ver_proto: self.version.1.into(),
                session_id: self.session_id.clone(),
                msg_id: self.msg_id.to_string(),
                target: Location::uri(SERVER_URI),
                source: Location { loc_uri: DEV.into(), loc_name: self.user.clone() },
                resp_uri: None,
                no_resp: false,
                cred: self.cred.take(),
                meta: self.max_msg_size.map(|m| Meta { max_msg_size: Some(m), ..Meta::default() }),
            },
            body: SyncBody { commands, r#final },
        }
    }

    pub fn encode(&self, msg: &SyncML) -> Vec<u8> {
        let enc = codec::MediaType::parse(self.content_type).unwrap().encoding();
        codec::encode(msg, enc).unwrap()
    }

    /// Sends a message and returns the decoded reply.
    pub fn send(&mut self, s: &mut DmSession, now: Duration, commands: Vec<Command>, r#final: bool) -> (SyncML, Reply) {
        let msg = self.message(commands, r#final);
        let bytes = self.encode(&msg);
        s.handle_message(now, self.content_type, &bytes).expect("message taken");
        self.take_reply(s)
    }

    pub fn take_reply(&mut self, s: &mut DmSession) -> (SyncML, Reply) {
        let reply = s.poll_reply().expect("a reply");
        assert_eq!(reply.content_type.as_str(), self.content_type, "replies in the client's encoding");
        let msg = codec::decode(self.content_type, &reply.body).expect("the server writes valid SyncML");
        self.last_reply_msg = msg.hdr.msg_id.clone();
        (msg, reply)
    }
}

pub fn cred(scheme: &str, data: String) -> Cred {
    Cred { meta: Some(Meta { r#type: Some(scheme.into()), format: Some("b64".into()), ..Meta::default() }), data }
}

pub fn alert(cmd_id: u32, code: u16) -> Command {
    Command::Alert(Alert { cmd_id: cmd_id.to_string(), code: Some(code), ..Alert::default() })
}

pub fn devinfo(cmd_id: u32) -> Command {
    let item = |uri: &str, v: &str| Item {
        source: Some(Location::uri(uri)),
        data: Some(Data::Text(v.into())),
        ..Item::default()
    };
    Command::Replace(ItemCommand {
        cmd_id: cmd_id.to_string(),
        items: vec![
            item("./DevInfo/DevId", DEV),
            item("./DevInfo/Man", "Acme"),
            item("./DevInfo/Mod", "X1"),
            item("./DevInfo/DmV", "1.2"),
            item("./DevInfo/Lang", "en"),
        ],
        ..ItemCommand::default()
    })
}

pub fn package1(code: u16) -> Vec<Command> {
    vec![alert(1, code), devinfo(2)]
}

pub fn status(cmd_id: u32, msg_ref: &str, cmd_ref: &str, cmd: &str, code: u16) -> Command {
    Command::Status(Status {
        cmd_id: cmd_id.to_string(),
        msg_ref: Some(msg_ref.into()),
        cmd_ref: cmd_ref.into(),
        cmd: cmd.into(),
        code,
        ..Status::default()
    })
}

pub fn res(
    cmd_id: u32,
    msg_ref: &str,
    cmd_ref: &str,
    uri: &str,
    data: Data,
    meta: Option<Meta>,
    more: bool,
) -> Command {
    Command::Results(Results {
        cmd_id: cmd_id.to_string(),
        msg_ref: Some(msg_ref.into()),
        cmd_ref: cmd_ref.into(),
        items: vec![Item {
            source: Some(Location::uri(uri)),
            data: Some(data),
            meta,
            more_data: more,
            ..Item::default()
        }],
        ..Results::default()
    })
}

pub fn statuses(msg: &SyncML) -> Vec<&Status> {
    msg.body.commands.iter().filter_map(|c| if let Command::Status(s) = c { Some(s) } else { None }).collect()
}

pub fn hdr_status(msg: &SyncML) -> &Status {
    statuses(msg).into_iter().find(|s| s.cmd == "SyncHdr").expect("a SyncHdr status")
}

pub fn status_of(msg: &SyncML, cmd: &str) -> Vec<u16> {
    statuses(msg).iter().filter(|s| s.cmd == cmd).map(|s| s.code).collect()
}

pub fn commands(msg: &SyncML) -> Vec<&Command> {
    msg.body.commands.iter().filter(|c| !matches!(c, Command::Status(_))).collect()
}

pub fn alerts(msg: &SyncML) -> Vec<u16> {
    commands(msg).iter().filter_map(|c| if let Command::Alert(a) = c { a.code } else { None }).collect()
}

pub fn events(s: &mut DmSession) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

pub fn next_nonce(st: &Status) -> Vec<u8> {
    let n = st.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()).expect("Chal with NextNonce");
    B64.decode(n).unwrap()
}

/// Package 1 with md5 over the stored nonce, answered 212: returns the Package 2.
pub fn open_md5(s: &mut DmSession, c: &mut Client, code: u16, enqueue: Vec<Request>) -> SyncML {
    let msg = c.message(package1(code), true);
    s.handle_message(t(0), c.content_type, &c.encode(&msg)).expect("package 1");
    let ev = events(s);
    assert!(
        ev.iter().any(|e| matches!(e, SessionEvent::Authenticated { username, .. } if username == "dev")),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(e, SessionEvent::DeviceInfo { dev_id, facts } if dev_id == DEV && facts.manufacturer.as_deref() == Some("Acme"))));
    for r in enqueue {
        s.enqueue(r).unwrap();
    }
    c.take_reply(s).0
}

pub fn get(h: u64, uri: &str) -> Request {
    Request::new(RequestHandle(h), Op::Get { uri: uri.into() })
}

pub fn first_cmd_id(msg: &SyncML, name: &str) -> String {
    commands(msg).iter().find(|c| c.name() == name).and_then(|c| c.cmd_id()).expect("command").to_owned()
}

//! The client side of one session, sans I/O ([`SessionClient`]), and its answers to the
//! server's commands from the fixed tree every simulated device has (see [`super`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::{
    LoadAuth, LoadError, LoadErrorKind, Population, SessionReport, BENCH_NODE, DEV_DIGITS, MAX_CHALLENGES,
    MAX_MESSAGES, MODEL,
};
use crate::auth;
use crate::codec::{
    self, Alert, Command, Cred, Data, Item, ItemCommand, Location, MediaType, Meta, Results, Status, SyncBody, SyncML,
};
use crate::session::Credentials;

/// A message for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to POST it (the server URL, later its `RespURI`).
    pub url: reqwest::Url,
    /// Its `Content-Type`.
    pub media: MediaType,
    /// The body.
    pub body: Vec<u8>,
    /// The `x-syncml-hmac` header, with HMAC.
    pub hmac: Option<String>,
}

/// What comes after a server message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this.
    Send(Outgoing),
    /// The session ended.
    Done(SessionReport),
}

/// The client side of one session, sans I/O: [`SessionClient::start`] gives Package 1, each
/// server message goes into [`SessionClient::handle_reply`], which says what to send next or
/// that the session is over.
#[derive(Debug)]
pub struct SessionClient<'p> {
    pop: &'p Population,
    device: usize,
    session_id: String,
    url: reqwest::Url,
    msg_id: u32,
    /// The server accepted Package 1 (its SyncHdr Status was 200 or 212).
    accepted: bool,
    report: SessionReport,
}

impl<'p> SessionClient<'p> {
    pub(super) fn new(pop: &'p Population, device: usize, session_id: String) -> SessionClient<'p> {
        let url = pop.url.clone();
        SessionClient { pop, device, session_id, url, msg_id: 0, accepted: false, report: SessionReport::default() }
    }

    /// Package 1, from the template.
    pub fn start(&mut self) -> Outgoing {
        self.msg_id = 1;
        let pop = self.pop;
        let digest = (pop.config.auth == LoadAuth::Md5)
            .then(|| auth::md5_digest(&pop.config.username, &pop.config.password, &pop.nonce(self.device)));
        let body = pop.template.fill(&format!("{:0DEV_DIGITS$}", self.device), &self.session_id, digest.as_deref());
        self.outgoing(body)
    }

    fn outgoing(&mut self, body: Vec<u8>) -> Outgoing {
        self.report.messages += 1;
        let c = &self.pop.config;
        let hmac = (c.auth == LoadAuth::Hmac)
            .then(|| auth::hmac_header(&c.username, &c.password, &self.pop.nonce(self.device), &body));
        Outgoing { url: self.url.clone(), media: MediaType::dm(c.encoding), body, hmac }
    }

    fn encode(&mut self, msg: &SyncML) -> Result<Outgoing, LoadError> {
        let body = codec::encode(msg, self.pop.config.encoding)
            .map_err(|e| LoadError::new(LoadErrorKind::Malformed, format!("the answer does not encode: {e}")))?;
        Ok(self.outgoing(body))
    }

    /// Takes the server's message (its `Content-Type` and body): what to send next, or the
    /// end of the session.
    pub fn handle_reply(&mut self, content_type: &str, body: &[u8]) -> Result<Step, LoadError> {
        let dev_id = self.pop.dev_id(self.device);
        let refused = |m: String| LoadError::new(LoadErrorKind::Refused, m);
        let reply = codec::decode(content_type, body)
            .map_err(|e| LoadError::new(LoadErrorKind::Malformed, format!("{dev_id}: the server's message: {e}")))?;
        for s in statuses(&reply) {
            if let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()) {
                let n = n.trim();
                *self.pop.nonce(self.device) = B64.decode(n).unwrap_or_else(|_| n.as_bytes().to_vec());
            }
        }
        if let Some(r) = &reply.hdr.resp_uri {
            self.url = self
                .url
                .join(r.trim())
                .map_err(|e| LoadError::new(LoadErrorKind::Malformed, format!("{dev_id}: RespURI `{r}`: {e}")))?;
        }
        if self.msg_id == 1 && self.report.challenges == 0 {
            if let Some(server) = &self.pop.config.server {
                if !server_cred_ok(reply.hdr.cred.as_ref(), server) {
                    return Err(refused(format!("{dev_id}: the server's Cred is missing or wrong")));
                }
            }
        }
        let hdr = statuses(&reply).find(|s| s.cmd.eq_ignore_ascii_case("SyncHdr")).map(|s| s.code);
        match hdr {
            Some(401 | 407) if !self.accepted && self.report.challenges < MAX_CHALLENGES => {
                self.report.challenges += 1;
                self.msg_id += 1;
                let msg = self.pop.package1(&dev_id, &self.session_id, self.msg_id, self.pop.cred(Some(self.device)));
                return self.encode(&msg).map(Step::Send);
            }
            Some(200 | 212) => self.accepted = true,
            Some(code @ (401 | 407)) => {
                let m = format!("{dev_id}: the server refused the credentials (SyncHdr {code})");
                return Err(LoadError::new(LoadErrorKind::Unauthorized, m));
            }
            Some(code) => return Err(refused(format!("{dev_id}: the server answered the SyncHdr with {code}"))),
            None => return Err(refused(format!("{dev_id}: the server's message has no Status for the SyncHdr"))),
        }
        if let Some(s) = statuses(&reply).find(|s| !s.cmd.eq_ignore_ascii_case("SyncHdr") && s.code >= 300) {
            return Err(refused(format!("{dev_id}: the server answered {} {} with {}", s.cmd, s.cmd_ref, s.code)));
        }
        let mut answers = Answers::new(&dev_id, &reply.hdr.msg_id);
        for c in &reply.body.commands {
            answers.command(c);
        }
        if answers.aborted {
            return Err(refused(format!("{dev_id}: the server aborted the session (Alert 1223)")));
        }
        self.report.commands += answers.commands;
        self.report.gets += answers.gets;
        if answers.commands == 0 && reply.body.r#final {
            return Ok(Step::Done(self.report));
        }
        if self.msg_id >= MAX_MESSAGES {
            let m = format!("{dev_id}: the session did not end after {MAX_MESSAGES} messages");
            return Err(LoadError::new(LoadErrorKind::Endless, m));
        }
        if !reply.body.r#final {
            answers.next_message();
        }
        self.msg_id += 1;
        let msg = SyncML {
            hdr: self.pop.hdr(&dev_id, &self.session_id, self.msg_id, None),
            body: SyncBody { commands: answers.out, r#final: true },
        };
        self.encode(&msg).map(Step::Send)
    }
}

fn statuses(msg: &SyncML) -> impl Iterator<Item = &Status> {
    msg.body.commands.iter().filter_map(|c| match c {
        Command::Status(s) => Some(s),
        _ => None,
    })
}

/// Whether the server's SyncHdr `Cred` is its md5 over the empty nonce or its basic pair.
fn server_cred_ok(cred: Option<&Cred>, server: &Credentials) -> bool {
    let Some(cred) = cred else { return false };
    let scheme = cred.meta.as_ref().and_then(|m| m.r#type.as_deref()).unwrap_or(auth::AUTH_BASIC);
    if scheme.eq_ignore_ascii_case(auth::AUTH_MD5) {
        auth::verify_md5(&cred.data, &server.username, &server.password, b"")
    } else {
        auth::verify_basic(&cred.data, |u| (u == server.username).then_some(server.password.as_str())).is_some()
    }
}

/// A node of the tree every simulated device has: a leaf's value, or an interior node's
/// children (`/`-separated) and `true`.
pub(super) fn node(dev_id: &str, uri: &str) -> Option<(String, bool)> {
    let leaf = match norm(uri) {
        "DevInfo" => return Some(("DevId/Man/Mod/DmV/Lang".into(), true)),
        "DevDetail" => return Some(("DevTyp/OEM/FwV/SwV/HwV/LrgObj/URI".into(), true)),
        "DevDetail/URI" => return Some(("MaxDepth/MaxTotLen/MaxSegLen".into(), true)),
        "DevInfo/DevId" => dev_id,
        "DevInfo/Man" | "DevDetail/OEM" => "unidm",
        "DevInfo/Mod" => MODEL,
        "DevInfo/DmV" => "1.2",
        "DevInfo/Lang" => "en",
        "DevDetail/DevTyp" => "bench",
        "DevDetail/FwV" | "DevDetail/SwV" | "DevDetail/HwV" => "1.0",
        "DevDetail/LrgObj" => "false",
        "DevDetail/URI/MaxDepth" | "DevDetail/URI/MaxTotLen" | "DevDetail/URI/MaxSegLen" => "0",
        _ => return None,
    };
    Some((leaf.to_owned(), false))
}

/// A node URI without `./` and a trailing `/`.
fn norm(uri: &str) -> &str {
    uri.trim().trim_start_matches("./").trim_end_matches('/')
}

pub(super) fn text_item(uri: &str, value: &str) -> Item {
    Item { source: Some(Location::uri(uri)), data: Some(Data::Text(value.into())), ..Item::default() }
}

/// The client's answers to one server message: the Statuses (the SyncHdr's first) and Results.
struct Answers<'a> {
    dev_id: &'a str,
    msg_ref: String,
    out: Vec<Command>,
    /// Server commands answered.
    commands: u32,
    /// Gets of [`BENCH_NODE`] answered.
    gets: u32,
    /// Alert 1223 came.
    aborted: bool,
}

impl<'a> Answers<'a> {
    fn new(dev_id: &'a str, msg_ref: &str) -> Answers<'a> {
        let mut a = Answers { dev_id, msg_ref: msg_ref.into(), out: Vec::new(), commands: 0, gets: 0, aborted: false };
        a.status("0", "SyncHdr", 200, false);
        a
    }

    fn next_id(&self) -> String {
        (self.out.len() + 1).to_string()
    }

    fn status(&mut self, cmd_ref: &str, cmd: &str, code: u16, no_resp: bool) {
        if no_resp {
            return;
        }
        let s = Status {
            cmd_id: self.next_id(),
            msg_ref: Some(self.msg_ref.clone()),
            cmd_ref: cmd_ref.into(),
            cmd: cmd.into(),
            code,
            ..Status::default()
        };
        self.out.push(Command::Status(s));
    }

    fn command(&mut self, c: &Command) {
        if matches!(c, Command::Status(_) | Command::Results(_)) {
            return;
        }
        self.commands += 1;
        match c {
            Command::Get(g) => self.get(g),
            Command::Add(r) | Command::Replace(r) | Command::Delete(r) | Command::Copy(r) => {
                let code = if r.items.iter().any(|i| i.more_data) { 213 } else { 200 };
                self.status(&r.cmd_id, c.name(), code, r.no_resp);
            }
            Command::Exec(e) => self.status(&e.cmd_id, "Exec", 200, e.no_resp),
            Command::Atomic(k) | Command::Sequence(k) => {
                self.status(&k.cmd_id, c.name(), 200, k.no_resp);
                for inner in &k.commands {
                    self.command(inner);
                }
            }
            Command::Alert(a) => {
                self.aborted |= a.code == Some(Alert::SESSION_ABORT);
                let code = match a.code {
                    Some(Alert::TEXT_INPUT | Alert::SINGLE_CHOICE | Alert::MULTIPLE_CHOICE) => 406,
                    _ => 200,
                };
                self.status(&a.cmd_id, "Alert", code, a.no_resp);
            }
            Command::Unknown(u) => self.status(u.cmd_id.as_deref().unwrap_or("0"), &u.name, 406, false),
            Command::Status(_) | Command::Results(_) => {}
        }
    }

    /// Status 200 and Results when every item names a node of the tree; 404 when one does not,
    /// 406 for `?list=` and `?prop=`.
    fn get(&mut self, g: &ItemCommand) {
        let mut items = Vec::with_capacity(g.items.len());
        let mut code = 200;
        let mut bench = 0;
        for it in &g.items {
            let uri = it.target.as_ref().map(|t| t.loc_uri.as_str()).unwrap_or_default();
            if uri.contains('?') {
                code = 406;
                break;
            }
            match node(self.dev_id, uri) {
                Some((value, interior)) => {
                    let mut item = text_item(uri, &value);
                    if interior {
                        item.meta = Some(Meta { format: Some("node".into()), ..Meta::default() });
                    }
                    bench += u32::from(norm(uri) == norm(BENCH_NODE));
                    items.push(item);
                }
                None => {
                    code = 404;
                    break;
                }
            }
        }
        if items.is_empty() && code == 200 {
            code = 404;
        }
        self.status(&g.cmd_id, "Get", code, g.no_resp);
        if code == 200 {
            self.gets += bench;
            let r = Results {
                cmd_id: self.next_id(),
                msg_ref: Some(self.msg_ref.clone()),
                cmd_ref: g.cmd_id.clone(),
                items,
                ..Results::default()
            };
            self.out.push(Command::Results(r));
        }
    }

    /// Alert 1222: the server's package goes on (OMA DM Protocol 1.2 §6.1).
    fn next_message(&mut self) {
        let a = Alert { cmd_id: self.next_id(), code: Some(Alert::NEXT_MESSAGE), ..Alert::default() };
        self.out.push(Command::Alert(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Chal, Container, Encoding, Exec, SyncHdr, UnknownCommand};
    use crate::load::LoadConfig;

    const XML: &str = "application/vnd.syncml.dm+xml";

    fn population(auth: LoadAuth, encoding: Encoding) -> Population {
        let config = LoadConfig { auth, encoding, ..LoadConfig::new("http://127.0.0.1:1/dm", 100) };
        Population::new(config).unwrap()
    }

    fn decode(out: &Outgoing) -> SyncML {
        codec::decode(out.media.as_str(), &out.body).unwrap()
    }

    fn status(cmd_ref: &str, cmd: &str, code: u16, nonce: Option<&[u8]>) -> Command {
        let chal = nonce.map(|n| Chal {
            meta: Meta {
                r#type: Some(auth::AUTH_MD5.into()),
                format: Some("b64".into()),
                next_nonce: Some(B64.encode(n)),
                ..Meta::default()
            },
        });
        Command::Status(Status {
            cmd_id: "1".into(),
            msg_ref: Some("1".into()),
            cmd_ref: cmd_ref.into(),
            cmd: cmd.into(),
            code,
            chal,
            ..Status::default()
        })
    }

    /// A server message (XML) with these commands.
    fn server(msg_id: &str, resp_uri: Option<&str>, commands: Vec<Command>, r#final: bool) -> Vec<u8> {
        let hdr = SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: "1000".into(),
            msg_id: msg_id.into(),
            target: Location::uri("IMEI:490000000000007"),
            source: Location::uri("http://127.0.0.1:1/dm"),
            resp_uri: resp_uri.map(str::to_owned),
            no_resp: false,
            cred: None,
            meta: None,
        };
        codec::encode(&SyncML { hdr, body: SyncBody { commands, r#final } }, Encoding::Xml).unwrap()
    }

    fn get(id: &str, uri: &str) -> Command {
        let item = Item { target: Some(Location::uri(uri)), ..Item::default() };
        Command::Get(ItemCommand { cmd_id: id.into(), items: vec![item], ..ItemCommand::default() })
    }

    fn item_command(id: &str, uri: &str) -> ItemCommand {
        let item = Item { target: Some(Location::uri(uri)), data: Some(Data::Text("v".into())), ..Item::default() };
        ItemCommand { cmd_id: id.into(), items: vec![item], ..ItemCommand::default() }
    }

    /// Statuses by CmdRef.
    fn codes(msg: &SyncML) -> Vec<(String, String, u16)> {
        statuses(msg).map(|s| (s.cmd_ref.clone(), s.cmd.clone(), s.code)).collect()
    }

    #[test]
    fn a_challenge_sends_package1_again_with_the_new_nonce_twice_at_most() {
        let pop = population(LoadAuth::Md5, Encoding::Xml);
        let mut s = pop.session(7);
        s.start();
        let reply =
            server("1", Some("http://127.0.0.1:1/dm?s=a"), vec![status("0", "SyncHdr", 407, Some(b"c1"))], true);
        let Step::Send(out) = s.handle_reply(XML, &reply).unwrap() else { panic!("no retry") };
        assert_eq!(out.url.as_str(), "http://127.0.0.1:1/dm?s=a");
        let m = decode(&out);
        assert_eq!(m.hdr.msg_id, "2");
        assert!(matches!(&m.body.commands[0], Command::Alert(a) if a.code == Some(1201)));
        assert!(auth::verify_md5(&m.hdr.cred.unwrap().data, "dm-client", "secret", b"c1"));
        let reply = server("2", None, vec![status("0", "SyncHdr", 401, Some(b"c2"))], true);
        let Step::Send(out) = s.handle_reply(XML, &reply).unwrap() else { panic!("no retry") };
        assert!(auth::verify_md5(&decode(&out).hdr.cred.unwrap().data, "dm-client", "secret", b"c2"));
        let reply = server("3", None, vec![status("0", "SyncHdr", 401, Some(b"c3"))], true);
        let e = s.handle_reply(XML, &reply).unwrap_err();
        assert_eq!(e.kind(), LoadErrorKind::Unauthorized, "{e}");
        assert!(e.to_string().contains("401"), "{e}");
        assert_eq!(*pop.nonce(7), b"c3");
    }

    #[test]
    fn accepted_with_nothing_queued_ends_and_keeps_the_next_nonce() {
        let pop = population(LoadAuth::Md5, Encoding::Xml);
        let mut s = pop.session(3);
        s.start();
        let reply = server(
            "1",
            None,
            vec![
                status("0", "SyncHdr", 212, Some(b"next")),
                status("1", "Alert", 200, None),
                status("2", "Replace", 200, None),
            ],
            true,
        );
        let done = s.handle_reply(XML, &reply).unwrap();
        assert_eq!(done, Step::Done(SessionReport { messages: 1, ..SessionReport::default() }));
        assert_eq!(*pop.nonce(3), b"next");
        let m = decode(&pop.session(3).start());
        assert!(auth::verify_md5(&m.hdr.cred.unwrap().data, "dm-client", "secret", b"next"));
    }

    #[test]
    fn every_command_is_answered_from_the_fixed_tree() {
        let pop = population(LoadAuth::Md5, Encoding::Xml);
        let mut s = pop.session(7);
        s.start();
        let exec =
            Exec { cmd_id: "6".into(), item: item_command("6", "./Vendor/Reboot").items[0].clone(), ..Exec::default() };
        let sequence = Container {
            cmd_id: "7".into(),
            commands: vec![Command::Delete(item_command("8", "./Vendor/X"))],
            ..Container::default()
        };
        let commands = vec![
            status("0", "SyncHdr", 212, Some(b"n")),
            get("2", BENCH_NODE),
            get("3", "./FUMO"),
            get("4", "./DevDetail"),
            get("5", "./DevInfo?list=Struct"),
            Command::Replace(item_command("9", "./Vendor/Y")),
            Command::Exec(exec),
            Command::Sequence(sequence),
            Command::Alert(Alert { cmd_id: "10".into(), code: Some(Alert::TEXT_INPUT), ..Alert::default() }),
            Command::Unknown(UnknownCommand { name: "Sync".into(), cmd_id: Some("11".into()) }),
        ];
        let reply = server("1", Some("http://127.0.0.1:1/dm?s=x"), commands, true);
        let Step::Send(out) = s.handle_reply(XML, &reply).unwrap() else { panic!("no answer") };
        assert_eq!(out.url.query(), Some("s=x"));
        let m = decode(&out);
        assert!(m.hdr.cred.is_none() && m.body.r#final);
        assert_eq!(m.hdr.msg_id, "2");
        let want: Vec<(String, String, u16)> = [
            ("0", "SyncHdr", 200),
            ("2", "Get", 200),
            ("3", "Get", 404),
            ("4", "Get", 200),
            ("5", "Get", 406),
            ("9", "Replace", 200),
            ("6", "Exec", 200),
            ("7", "Sequence", 200),
            ("8", "Delete", 200),
            ("10", "Alert", 406),
            ("11", "Sync", 406),
        ]
        .iter()
        .map(|(r, c, code)| (r.to_string(), c.to_string(), *code))
        .collect();
        assert_eq!(codes(&m), want);
        let results: Vec<&Results> = m
            .body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Results(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].cmd_ref, "2");
        assert_eq!(results[0].items[0].data.as_ref().and_then(Data::as_text), Some(MODEL));
        let detail = &results[1].items[0];
        assert_eq!(detail.meta.as_ref().and_then(|m| m.format.as_deref()), Some("node"));
        assert_eq!(detail.data.as_ref().and_then(Data::as_text), Some("DevTyp/OEM/FwV/SwV/HwV/LrgObj/URI"));
        // CmdIDs run 1, 2, 3, ...
        let ids: Vec<String> = m.body.commands.iter().filter_map(|c| c.cmd_id().map(str::to_owned)).collect();
        assert_eq!(ids, (1..=ids.len()).map(|i| i.to_string()).collect::<Vec<_>>());
        let closing =
            server("2", None, vec![status("0", "SyncHdr", 200, None), status("2", "Results", 200, None)], true);
        let want = SessionReport { messages: 2, commands: 10, gets: 1, challenges: 0 };
        assert_eq!(s.handle_reply(XML, &closing).unwrap(), Step::Done(want));
    }

    #[test]
    fn a_message_without_final_is_answered_with_alert_1222() {
        let pop = population(LoadAuth::None, Encoding::Xml);
        let mut s = pop.session(0);
        s.start();
        let reply = server("1", None, vec![status("0", "SyncHdr", 200, None), get("2", "./DevInfo/Man")], false);
        let Step::Send(out) = s.handle_reply(XML, &reply).unwrap() else { panic!("no answer") };
        let m = decode(&out);
        assert!(matches!(m.body.commands.last(), Some(Command::Alert(a)) if a.code == Some(Alert::NEXT_MESSAGE)));
        // Nothing but Statuses, still not final: ask again.
        let reply = server("2", None, vec![status("0", "SyncHdr", 200, None)], false);
        let Step::Send(out) = s.handle_reply(XML, &reply).unwrap() else { panic!("no answer") };
        assert_eq!(decode(&out).body.commands.len(), 2);
    }

    #[test]
    fn refusals_aborts_garbage_and_endless_sessions_are_errors() {
        let pop = population(LoadAuth::None, Encoding::Xml);
        let kind = |commands: Vec<Command>| {
            let mut s = pop.session(1);
            s.start();
            s.handle_reply(XML, &server("1", None, commands, true)).unwrap_err().kind()
        };
        assert_eq!(kind(vec![status("0", "SyncHdr", 500, None)]), LoadErrorKind::Refused);
        assert_eq!(kind(vec![get("2", BENCH_NODE)]), LoadErrorKind::Refused, "no SyncHdr Status");
        assert_eq!(
            kind(vec![status("0", "SyncHdr", 200, None), status("2", "Replace", 500, None)]),
            LoadErrorKind::Refused
        );
        let abort = Command::Alert(Alert { cmd_id: "2".into(), code: Some(Alert::SESSION_ABORT), ..Alert::default() });
        assert_eq!(kind(vec![status("0", "SyncHdr", 200, None), abort]), LoadErrorKind::Refused);
        let mut s = pop.session(1);
        s.start();
        assert_eq!(s.handle_reply(XML, b"<html>").unwrap_err().kind(), LoadErrorKind::Malformed);
        let mut s = pop.session(1);
        s.start();
        let again = server("1", None, vec![status("0", "SyncHdr", 200, None), get("2", BENCH_NODE)], true);
        let e = (0..MAX_MESSAGES).find_map(|_| s.handle_reply(XML, &again).err()).expect("ends");
        assert_eq!(e.kind(), LoadErrorKind::Endless);
    }

    #[test]
    fn the_servers_cred_is_checked_only_when_its_password_is_given() {
        let config = LoadConfig {
            server: Some(Credentials::new("unidm", "s3rver")),
            ..LoadConfig::new("http://127.0.0.1:1/dm", 1)
        };
        let pop = Population::new(config).unwrap();
        let reply = |cred: Option<Cred>| {
            let mut m = codec::decode(XML, &server("1", None, vec![status("0", "SyncHdr", 212, None)], true)).unwrap();
            m.hdr.cred = cred;
            codec::encode(&m, Encoding::Xml).unwrap()
        };
        let md5 = |password: &str| Cred {
            meta: Some(Meta { r#type: Some(auth::AUTH_MD5.into()), ..Meta::default() }),
            data: auth::md5_digest("unidm", password, b""),
        };
        let run = |cred: Option<Cred>| {
            let mut s = pop.session(0);
            s.start();
            s.handle_reply(XML, &reply(cred)).map_err(|e| e.kind())
        };
        assert!(matches!(run(Some(md5("s3rver"))), Ok(Step::Done(_))));
        assert_eq!(run(Some(md5("wrong"))), Err(LoadErrorKind::Refused));
        assert_eq!(run(None), Err(LoadErrorKind::Refused));
        let ignored = population(LoadAuth::Md5, Encoding::Xml);
        let mut s = ignored.session(0);
        s.start();
        assert!(matches!(s.handle_reply(XML, &reply(Some(md5("wrong")))), Ok(Step::Done(_))));
    }
}

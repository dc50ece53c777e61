//! A simulated OMA DM client: a management tree (DevInfo, DevDetail, DMAcc, FUMO, SCOMO,
//! LAWMO; each of the three optional), client-initiated sessions (Package 1 with the DevInfo
//! `Replace`, Alert 1201), answers to the server's Get (an interior node lists its children,
//! Format `node`; `?list=Struct` / `StructData` the nodes below) / Replace / Add / Delete /
//! Copy / Exec (Atomic and Sequence included), FUMO `DownloadAndUpdate` (done at once, or
//! after download and update delays), SCOMO `DownloadInstall` / `DownloadInstallInactive` /
//! `Remove` / `Activate` / `Deactivate` and LAWMO `FactoryReset` answered 202 and reported
//! later by a Generic Alert 1226 in a session of its own, a vendor DiagMon subtree (ping,
//! traceroute; run at once or reported by a Generic Alert), md5, basic or HMAC
//! (`x-syncml-hmac` on every message) authentication with the nonces the server gives, XML or
//! WBXML, and Package #0 that checks the digest and answers with a session (Alert 1200 and the
//! notification's session id): on a UDP listener of the client's own, or, for fleets, on an
//! HTTP listener shared by many clients, which also share one HTTP client ([`SharedDmHost`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::auth;
use crate::codec::{
    self, Alert, Command, Cred, Data, Encoding, Item, ItemCommand, Location, MediaType, Meta, Results, Status,
    SyncBody, SyncHdr, SyncML,
};
use crate::mo::lawmo;
pub use tree::Tree;

mod diagmon;
mod fumo;
mod push;
mod scomo;
mod tree;
pub use diagmon::{SimDiagMon, ROOT as DIAGMON_ROOT};
pub use push::SharedDmHost;

/// How the simulated client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimAuth {
    /// `syncml:auth-md5` over the nonce the server last gave.
    Md5,
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-MAC`: no `Cred`; an `x-syncml-hmac` header over each message, with the
    /// nonce the server last gave (OMA DM Security 1.2 §5.1.4).
    Hmac,
}

/// Settings of a simulated client.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The DM server URL (`http://host:8081/dm`).
    pub server_url: String,
    /// The DevId (`IMEI:...`).
    pub dev_id: String,
    /// Client user name.
    pub username: String,
    /// Client password.
    pub password: String,
    /// The server's identifier and password on this client (Package #0 digest).
    pub server_id: String,
    /// The server's password (Package #0 digest); empty when none.
    pub server_password: String,
    /// XML or WBXML.
    pub encoding: Encoding,
    /// md5 or basic.
    pub auth: SimAuth,
    /// The FUMO result code the Generic Alert reports (200 = success).
    pub fumo_result: u32,
    /// The LAWMO result code (1200 = success).
    pub lawmo_result: u32,
    /// The SCOMO result code of every SCOMO operation (1200 = success; 1405 = install
    /// failed, ...).
    pub scomo_result: u32,
    /// Whether the tree has `./FUMO` (default true).
    pub fumo: bool,
    /// Whether the tree has `./SCOMO` (default true).
    pub scomo: bool,
    /// Whether the tree has `./LAWMO` (default true).
    pub lawmo: bool,
    /// Manufacturer, model and firmware version in the tree.
    pub manufacturer: String,
    /// `./DevInfo/Mod`.
    pub model: String,
    /// `./DevDetail/FwV`.
    pub fw_version: String,
    /// Stop answering after Package 1 (to test unanswered requests).
    pub silent: bool,
    /// The user's answer to user-interaction alerts: `no` rejects a 1101 confirm (status 304);
    /// any text is the answer to 1102 - 1104 (an item of the Status). `None`: confirm, no text.
    pub ui_answer: Option<String>,
    /// A vendor DiagMon subtree ([`DIAGMON_ROOT`]: ping, traceroute) and how its tests run
    /// (default none).
    pub diagmon: Option<SimDiagMon>,
    /// The result code of an asynchronous test's Generic Alert (default 1200).
    pub diagmon_result: u32,
    /// How long a FUMO `DownloadAndUpdate` takes to download, then to update, after which
    /// the client reports in a session of its own; default none: done at once, reported in
    /// the next session.
    pub fumo_delays: Option<(Duration, Duration)>,
    /// Share a Package #0 listener and an HTTP client with other clients instead of having
    /// an HTTP client of its own (default none; see [`SharedDmHost`]).
    pub shared_host: Option<Arc<SharedDmHost>>,
}

impl SimConfig {
    /// A client of `server_url` named `dev_id` with md5 credentials.
    pub fn new(server_url: impl Into<String>, dev_id: impl Into<String>, username: &str, password: &str) -> Self {
        SimConfig {
            server_url: server_url.into(),
            dev_id: dev_id.into(),
            username: username.into(),
            password: password.into(),
            server_id: "unidm".into(),
            server_password: String::new(),
            encoding: Encoding::Xml,
            auth: SimAuth::Md5,
            fumo_result: 200,
            lawmo_result: 1200,
            scomo_result: 1200,
            fumo: true,
            scomo: true,
            lawmo: true,
            manufacturer: "unidm".into(),
            model: "SimDM".into(),
            fw_version: "1.0".into(),
            silent: false,
            ui_answer: None,
            diagmon: None,
            diagmon_result: 1200,
            fumo_delays: None,
            shared_host: None,
        }
    }
}

/// Why a simulated session failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// HTTP failed or the server answered with an HTTP error.
    #[error("http: {0}")]
    Http(String),
    /// The server's body is not SyncML.
    #[error("codec: {0}")]
    Codec(#[from] codec::CodecError),
    /// The server refused the credentials.
    #[error("authentication refused with status {0}")]
    Unauthorized(u16),
    /// The session did not end within its message budget.
    #[error("session did not end")]
    Endless,
}

/// What one session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// The server's management commands, by name, in order.
    pub commands: Vec<String>,
    /// Messages sent.
    pub messages: u32,
}

struct Pending {
    correlator: Option<String>,
    source: String,
    r#type: String,
    code: u32,
}

struct State {
    tree: Tree,
    /// Nonce the server gave (the next md5 digest uses it).
    client_nonce: Vec<u8>,
    /// Nonce this client gave the server (Package #0 digest).
    server_nonce: Vec<u8>,
    pending: Vec<Pending>,
    sessions: u32,
    notifications: u32,
    rejected_notifications: u32,
}

/// A simulated DM client. Cheap to clone (shared state).
#[derive(Clone)]
pub struct SimDevice {
    config: Arc<SimConfig>,
    state: Arc<Mutex<State>>,
    /// Its own HTTP client, unless it shares its host's connections.
    http: Option<reqwest::Client>,
    /// One session at a time.
    running: Arc<tokio::sync::Mutex<()>>,
}

impl SimDevice {
    /// A client with a default tree.
    pub fn new(config: SimConfig) -> Self {
        let tree = Tree::standard(&config);
        let http = config.shared_host.is_none().then(reqwest::Client::new);
        SimDevice {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State {
                tree,
                client_nonce: Vec::new(),
                server_nonce: Vec::new(),
                pending: Vec::new(),
                sessions: 0,
                notifications: 0,
                rejected_notifications: 0,
            })),
            http,
            running: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The same client (tree, nonces, pending alerts) talking to another server URL (the
    /// server moved, or restarted on another port).
    pub fn with_server_url(&self, url: impl Into<String>) -> SimDevice {
        let config = SimConfig { server_url: url.into(), ..(*self.config).clone() };
        SimDevice { config: Arc::new(config), ..self.clone() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A node's value.
    pub fn node(&self, uri: &str) -> Option<String> {
        self.state().tree.get(uri).map(str::to_owned)
    }

    /// Sets a node's value.
    pub fn set_node(&self, uri: &str, value: &str) {
        self.state().tree.set(uri, value);
    }

    /// Removes a node and what is below it (a management object the device drops).
    pub fn remove_node(&self, uri: &str) -> bool {
        self.state().tree.remove(uri)
    }

    /// Sessions completed so far.
    pub fn sessions(&self) -> u32 {
        self.state().sessions
    }

    /// Package #0 notifications verified (and answered) so far.
    pub fn notifications(&self) -> u32 {
        self.state().notifications
    }

    /// Package #0 notifications whose digest did not verify.
    pub fn rejected_notifications(&self) -> u32 {
        self.state().rejected_notifications
    }

    /// Whether Generic Alerts wait for the next session.
    pub fn has_pending_alerts(&self) -> bool {
        !self.state().pending.is_empty()
    }

    /// A client-initiated session (Alert 1201), then more sessions while Generic Alerts wait.
    pub async fn run(&self) -> Result<SessionReport, SimError> {
        let mut report = self.session(Alert::CLIENT_INITIATED, None).await?;
        let mut extra = 0;
        while self.has_pending_alerts() && !self.config.silent && extra < 4 {
            let r = self.session(Alert::CLIENT_INITIATED, None).await?;
            report.commands.extend(r.commands);
            report.messages += r.messages;
            extra += 1;
        }
        Ok(report)
    }

    /// Runs [`SimDevice::run`] every `period` until the task is dropped.
    pub fn spawn_periodic(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.run().await {
                    tracing::info!(error = %e, "simulated DM session failed");
                }
                tokio::time::sleep(period).await;
            }
        })
    }

    fn cred(&self) -> Option<Cred> {
        let c = &self.config;
        let (scheme, data) = match c.auth {
            SimAuth::Hmac => return None,
            SimAuth::Basic => (auth::AUTH_BASIC, auth::basic(&c.username, &c.password)),
            SimAuth::Md5 => {
                let nonce = self.state().client_nonce.clone();
                (auth::AUTH_MD5, auth::md5_digest(&c.username, &c.password, &nonce))
            }
        };
        Some(Cred {
            meta: Some(Meta { r#type: Some(scheme.into()), format: Some("b64".into()), ..Meta::default() }),
            data,
        })
    }

    fn package1(&self, code: u16) -> Vec<Command> {
        let st = self.state();
        let mut cmds = vec![Command::Alert(Alert { cmd_id: "1".into(), code: Some(code), ..Alert::default() })];
        let items = ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"]
            .iter()
            .filter_map(|u| st.tree.get(u).map(|v| item(u, v)))
            .collect();
        cmds.push(Command::Replace(ItemCommand { cmd_id: "2".into(), items, ..ItemCommand::default() }));
        for (i, p) in st.pending.iter().enumerate() {
            cmds.push(Command::Alert(Alert {
                cmd_id: (3 + i).to_string(),
                code: Some(1226),
                correlator: p.correlator.clone(),
                items: vec![Item {
                    source: Some(Location::uri(p.source.clone())),
                    meta: Some(Meta {
                        r#type: Some(p.r#type.clone()),
                        format: Some("int".into()),
                        mark: Some("critical".into()),
                        ..Meta::default()
                    }),
                    data: Some(Data::Text(p.code.to_string())),
                    ..Item::default()
                }],
                ..Alert::default()
            }));
        }
        cmds
    }

    /// One session: Package 1 with `code` (1201, or 1200 with the Package #0 `session_id`).
    pub async fn session(&self, code: u16, session_id: Option<String>) -> Result<SessionReport, SimError> {
        let _one = self.running.lock().await;
        match (&self.http, &self.config.shared_host) {
            (Some(http), _) => self.exchange(http, code, session_id).await,
            (None, Some(host)) => {
                // One connection of the host's for the whole session.
                let connection = host.connection().await;
                let r = self.exchange(connection.client(), code, session_id).await;
                if r.is_err() {
                    connection.discard();
                }
                r
            }
            (None, None) => Err(SimError::Http("no HTTP client".into())),
        }
    }

    /// The messages of one session over `http`.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        code: u16,
        session_id: Option<String>,
    ) -> Result<SessionReport, SimError> {
        let session_id = session_id.unwrap_or_else(|| format!("{:X}", (self.state().sessions % 0xFFFF) + 1));
        let media = MediaType::dm(self.config.encoding);
        let mut url = self.config.server_url.clone();
        let mut msg_id = 0u64;
        let mut report = SessionReport::default();
        let mut body = self.package1(code);
        let alerts_sent = self.state().pending.len();
        let mut with_cred = true;
        let mut auth_tries = 0;
        for _ in 0..32 {
            msg_id += 1;
            let msg = SyncML {
                hdr: SyncHdr {
                    ver_dtd: "1.2".into(),
                    ver_proto: "DM/1.2".into(),
                    session_id: session_id.clone(),
                    msg_id: msg_id.to_string(),
                    target: Location::uri(self.config.server_url.clone()),
                    source: Location {
                        loc_uri: self.config.dev_id.clone(),
                        loc_name: Some(self.config.username.clone()),
                    },
                    resp_uri: None,
                    no_resp: false,
                    cred: if with_cred { self.cred() } else { None },
                    meta: Some(Meta { max_msg_size: Some(64 * 1024), ..Meta::default() }),
                },
                body: SyncBody { commands: std::mem::take(&mut body), r#final: true },
            };
            let sent_package1 = with_cred;
            let bytes = codec::encode(&msg, self.config.encoding)?;
            report.messages += 1;
            let mut request = http.post(&url).header("content-type", media.as_str());
            if self.config.auth == SimAuth::Hmac {
                let c = &self.config;
                let nonce = self.state().client_nonce.clone();
                request =
                    request.header(auth::HMAC_HEADER, auth::hmac_header(&c.username, &c.password, &nonce, &bytes));
            }
            let resp = request.body(bytes).send().await.map_err(|e| SimError::Http(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(SimError::Http(format!("status {}", resp.status())));
            }
            let ct =
                resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or(media.as_str()).to_owned();
            let answer = resp.bytes().await.map_err(|e| SimError::Http(e.to_string()))?;
            let reply = codec::decode(&ct, &answer)?;
            if let Some(r) = &reply.hdr.resp_uri {
                url.clone_from(r);
            }
            // Nonces in any Chal.
            for c in &reply.body.commands {
                if let Command::Status(s) = c {
                    if let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()) {
                        let n = B64.decode(n.trim()).unwrap_or_else(|_| n.trim().as_bytes().to_vec());
                        self.state().client_nonce = n;
                    }
                }
            }
            let hdr_code = reply.body.commands.iter().find_map(|c| match c {
                Command::Status(s) if s.cmd.eq_ignore_ascii_case("SyncHdr") => Some(s.code),
                _ => None,
            });
            if sent_package1 {
                match hdr_code {
                    Some(401 | 407) if auth_tries < 2 => {
                        auth_tries += 1;
                        body = self.package1(code);
                        continue;
                    }
                    Some(c @ (401 | 407)) => return Err(SimError::Unauthorized(c)),
                    _ => {
                        with_cred = false;
                        self.state().pending.drain(..alerts_sent);
                    }
                }
            }
            if self.config.silent {
                return Ok(report);
            }
            let (answers, names) = self.answer(&reply);
            report.commands.extend(names.iter().cloned());
            if names.is_empty() && reply.body.r#final {
                self.state().sessions += 1;
                return Ok(report);
            }
            body = answers;
        }
        Err(SimError::Endless)
    }

    /// The Statuses (and Results) for the server's message; and the names of its commands.
    fn answer(&self, reply: &SyncML) -> (Vec<Command>, Vec<String>) {
        let msg_ref = reply.hdr.msg_id.clone();
        let mut out = vec![status(1, &msg_ref, "0", "SyncHdr", 200, None)];
        let mut names = Vec::new();
        let mut next_id = 2u32;
        for c in &reply.body.commands {
            self.answer_one(c, &msg_ref, &mut out, &mut names, &mut next_id);
        }
        (out, names)
    }

    fn answer_one(&self, c: &Command, msg_ref: &str, out: &mut Vec<Command>, names: &mut Vec<String>, id: &mut u32) {
        let push_status = |out: &mut Vec<Command>, cmd_ref: &str, name: &str, code: u16, id: &mut u32| {
            out.push(status(*id, msg_ref, cmd_ref, name, code, None));
            *id += 1;
        };
        match c {
            Command::Status(_) | Command::Results(_) => {}
            Command::Alert(a) => {
                names.push("Alert".into());
                let answer = self.config.ui_answer.clone();
                let (code, items) = match (a.code, answer) {
                    (Some(1101), Some(no)) if no.eq_ignore_ascii_case("no") => (304, None),
                    (Some(1102..=1104), Some(text)) => {
                        (200, Some(vec![Item { data: Some(Data::Text(text)), ..Item::default() }]))
                    }
                    _ => (200, None),
                };
                out.push(status(*id, msg_ref, &a.cmd_id, "Alert", code, items));
                *id += 1;
            }
            Command::Get(g) => {
                names.push("Get".into());
                let target = first_target(&g.items);
                let (uri, list) = target.split_once("?list=").unwrap_or((&target, ""));
                let found = {
                    let st = self.state();
                    let node = || Meta { format: Some("node".into()), ..Meta::default() };
                    let prop = target.split_once("?prop=");
                    match (st.tree.get(uri), list) {
                        // A property of the node (OMA DM Protocol 1.2 §6.6.9 / TNDS): Format,
                        // Type, ACL, Name, Size; others are not supported (406).
                        _ if prop.is_some() => prop.and_then(|(u, p)| {
                            let leaf = st.tree.get(u);
                            if leaf.is_none() && !st.tree.exists(u) {
                                return None;
                            }
                            let value = match p {
                                "Format" => if leaf.is_some() { "chr" } else { "node" }.to_owned(),
                                "Type" => if leaf.is_some() { "text/plain" } else { "" }.to_owned(),
                                "ACL" => "Get=*&Replace=*".to_owned(),
                                "Name" => Tree::norm(u).rsplit('/').next().unwrap_or_default().to_owned(),
                                "Size" => leaf.map_or(0, str::len).to_string(),
                                _ => return Some(Vec::new()),
                            };
                            Some(vec![item(&target, &value)])
                        }),
                        // The tree below as TNDS, in one item.
                        (_, "TNDS") => st.tree.structure(uri).map(|nodes| {
                            vec![Item {
                                source: Some(Location::uri(uri)),
                                meta: Some(Meta {
                                    format: Some("xml".into()),
                                    r#type: Some("application/vnd.syncml.dmtnds+xml".into()),
                                    ..Meta::default()
                                }),
                                data: Some(Data::Markup(vec![crate::mo::tnds::tree(&nodes)])),
                                ..Item::default()
                            }]
                        }),
                        // The structure below (with the leaves' values for StructData).
                        (_, "Struct" | "StructData") => st.tree.structure(uri).map(|nodes| {
                            let items = nodes.into_iter().map(|(k, v)| match v {
                                Some(v) if list == "StructData" => item(&k, &v),
                                Some(_) => Item { source: Some(Location::uri(k)), ..Item::default() },
                                None => Item { source: Some(Location::uri(k)), meta: Some(node()), ..Item::default() },
                            });
                            items.collect()
                        }),
                        (Some(v), _) => Some(vec![item(uri, v)]),
                        // An interior node: its children, `/`-separated, Format node (OMA DM
                        // Protocol 1.2 §6.6.9).
                        (None, _) => {
                            st.tree.children(uri).map(|c| vec![Item { meta: Some(node()), ..item(uri, &c.join("/")) }])
                        }
                    }
                };
                match found {
                    Some(found) if found.is_empty() => push_status(out, &g.cmd_id, "Get", 406, id),
                    Some(found) => {
                        push_status(out, &g.cmd_id, "Get", 200, id);
                        out.push(Command::Results(Results {
                            cmd_id: id.to_string(),
                            msg_ref: Some(msg_ref.into()),
                            cmd_ref: g.cmd_id.clone(),
                            items: found,
                            ..Results::default()
                        }));
                        *id += 1;
                    }
                    None => push_status(out, &g.cmd_id, "Get", 404, id),
                }
            }
            Command::Replace(r) | Command::Add(r) => {
                let name = c.name().to_owned();
                names.push(name.clone());
                let mut code = 200;
                for it in &r.items {
                    let uri = it.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                    // A TNDS tree: its nodes, each by its own path.
                    if let Some(Data::Markup(markup)) = &it.data {
                        let mut st = self.state();
                        for (node, value) in crate::mo::tnds::nodes(markup) {
                            match value {
                                Some(v) => st.tree.set(&node, &v),
                                None => {
                                    st.tree.add_interior(&node);
                                }
                            }
                        }
                        continue;
                    }
                    let v = it.data.as_ref().and_then(|d| d.as_text()).unwrap_or_default().to_owned();
                    let interior =
                        it.meta.as_ref().or(r.meta.as_ref()).and_then(|m| m.format.as_deref()) == Some("node");
                    let mut st = self.state();
                    if name == "Add" && st.tree.exists(&uri) {
                        code = 418;
                    } else if read_only(&uri) {
                        // DevInfo and DevDetail nodes are Get-only (their DDFs' AccessType).
                        code = 405;
                    } else if interior {
                        st.tree.add_interior(&uri);
                    } else {
                        st.tree.set(&uri, &v);
                    }
                }
                push_status(out, &r.cmd_id, &name, code, id);
            }
            Command::Delete(d) => {
                names.push("Delete".into());
                let uri = first_target(&d.items);
                let code = if self.state().tree.remove(&uri) { 200 } else { 404 };
                push_status(out, &d.cmd_id, "Delete", code, id);
            }
            Command::Copy(d) => {
                names.push("Copy".into());
                let mut code = 200;
                for it in &d.items {
                    let target = it.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                    let source = it.source.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                    let mut st = self.state();
                    match st.tree.get(&source).map(str::to_owned) {
                        Some(v) => st.tree.set(&target, &v),
                        None => code = 404,
                    }
                }
                push_status(out, &d.cmd_id, "Copy", code, id);
            }
            Command::Exec(e) => {
                names.push("Exec".into());
                let uri = e.item.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                let code = self.exec(&uri, e.correlator.clone());
                push_status(out, &e.cmd_id, "Exec", code, id);
            }
            Command::Sequence(k) => {
                names.push("Sequence".into());
                push_status(out, &k.cmd_id, "Sequence", 200, id);
                for inner in &k.commands {
                    self.answer_one(inner, msg_ref, out, names, id);
                }
            }
            // All or none (OMA DM Protocol 1.2.1, Atomic): when a part fails, the tree is put
            // back, the Atomic answers 507 and the parts that had succeeded 216 (rolled back).
            Command::Atomic(k) => {
                names.push("Atomic".into());
                let at = out.len();
                push_status(out, &k.cmd_id, "Atomic", 200, id);
                let before = self.state().tree.clone();
                for inner in &k.commands {
                    self.answer_one(inner, msg_ref, out, names, id);
                }
                let parts = &mut out[at + 1..];
                let failed = parts.iter().any(|c| matches!(c, Command::Status(s) if !(200..300).contains(&s.code)));
                if failed {
                    self.state().tree = before;
                    for part in parts.iter_mut() {
                        if let Command::Status(s) = part {
                            if (200..300).contains(&s.code) {
                                s.code = 216;
                            }
                        }
                    }
                    if let Command::Status(s) = &mut out[at] {
                        s.code = 507;
                    }
                }
            }
            Command::Unknown(u) => {
                names.push(u.name.clone());
                push_status(out, u.cmd_id.as_deref().unwrap_or("0"), &u.name, 406, id);
            }
        }
    }

    /// Runs an executable node: FUMO and LAWMO are accepted (202) and reported later.
    fn exec(&self, uri: &str, correlator: Option<String>) -> u16 {
        let norm = Tree::norm(uri);
        let mut st = self.state();
        if let Some(code) = self.fumo_exec(&mut st, &norm, correlator.clone()) {
            return code;
        }
        if norm == Tree::norm(&lawmo::Operation::FactoryReset.path("./LAWMO")) && st.tree.exists(&norm) {
            st.pending.push(Pending {
                correlator,
                source: norm,
                r#type: lawmo::ALERT_OPERATION_COMPLETE.into(),
                code: self.config.lawmo_result,
            });
            return 202;
        }
        if let Some(code) = self.scomo_exec(&mut st, &norm, correlator.clone()) {
            return code;
        }
        if let Some(code) = self.diagmon_exec(&mut st, &norm, correlator) {
            return code;
        }
        if st.tree.get(uri).is_some() {
            200
        } else {
            404
        }
    }
}

fn first_target(items: &[Item]) -> String {
    items.first().and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.clone()).unwrap_or_default()
}

fn item(uri: &str, value: &str) -> Item {
    Item { source: Some(Location::uri(uri)), data: Some(Data::Text(value.into())), ..Item::default() }
}

/// Whether `uri` is in a subtree whose nodes a server may only Get.
fn read_only(uri: &str) -> bool {
    let norm = Tree::norm(uri);
    ["DevInfo/", "DevDetail/"].iter().any(|root| norm.starts_with(root))
}

fn status(cmd_id: u32, msg_ref: &str, cmd_ref: &str, cmd: &str, code: u16, items: Option<Vec<Item>>) -> Command {
    Command::Status(Status {
        cmd_id: cmd_id.to_string(),
        msg_ref: Some(msg_ref.into()),
        cmd_ref: cmd_ref.into(),
        cmd: cmd.into(),
        code,
        items: items.unwrap_or_default(),
        ..Status::default()
    })
}

//! A simulated LwM2M client over real UDP, for tests, demos and load: it registers (`ep`, `lt`,
//! `lwm2m`, `b`, objects /1, /3, /5 in link-format), updates and de-registers (TS Core 1.1
//! §6.2), answers Read / Write / Execute / Observe on its objects in text, TLV and SenML JSON
//! (§6.3, §6.4), counts reboots and factory resets, and plays the Firmware Update state machine
//! (fact sheet §9.6) with configurable delays and failures, without fetching anything.
//!
//! ```no_run
//! # async fn run(server: std::net::SocketAddr) -> std::io::Result<()> {
//! use unidm_lwm2m::sim::{SimClient, SimConfig};
//! let client = SimClient::start(SimConfig::new("sensor-1", server)).await?;
//! client.register().await.expect("registered");
//! # Ok(()) }
//! ```

pub mod objects;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::coap::exchange::{ExchangeEvent, Exchanges};
use crate::coap::{encode_uint, serialize, TransmissionParams};
use crate::codec::{ContentFormat, Value};
use crate::path::Path;
pub use objects::{Effect, Objects};

/// How the simulated firmware download and update behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareBehaviour {
    /// Time from Package URI write to Downloaded.
    pub download_delay: Duration,
    /// Time from Update execute to the result.
    pub update_delay: Duration,
    /// 0 for a successful download, else the Update Result the download fails with (2-7, 9).
    pub download_result: u8,
    /// 1 for a successful update, else the Update Result it fails with (e.g. 8).
    pub update_result: u8,
    /// The firmware version /3/0/3 reports after a successful update.
    pub new_version: String,
    /// Reboot to apply the image: the client registers again (observations lost) once done.
    pub reboot_on_update: bool,
}

impl Default for FirmwareBehaviour {
    fn default() -> Self {
        FirmwareBehaviour {
            download_delay: Duration::from_millis(100),
            update_delay: Duration::from_millis(100),
            download_result: 0,
            update_result: 1,
            new_version: "2.0".into(),
            reboot_on_update: false,
        }
    }
}

/// A simulated client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Endpoint Client Name.
    pub endpoint: String,
    /// The LwM2M server.
    pub server: SocketAddr,
    /// Local address; `127.0.0.1:0` by default.
    pub bind: SocketAddr,
    /// Lifetime, seconds.
    pub lifetime_s: u32,
    /// Binding (`U`, `UQ`).
    pub binding: String,
    /// Enabler version `1.0` or `1.1`.
    pub version: String,
    /// /3/0/0.
    pub manufacturer: String,
    /// /3/0/1.
    pub model: String,
    /// /3/0/2.
    pub serial: String,
    /// /3/0/3.
    pub fw_version: String,
    /// Firmware behaviour.
    pub firmware: FirmwareBehaviour,
    /// Register again after an executed Reboot, as a real device does.
    pub reregister_after_reboot: bool,
    /// Also offer Connectivity Monitoring /4/0 and Location /6/0.
    pub connectivity_and_location: bool,
}

impl SimConfig {
    /// Defaults for `endpoint` talking to `server`.
    pub fn new(endpoint: &str, server: SocketAddr) -> SimConfig {
        SimConfig {
            endpoint: endpoint.to_owned(),
            server,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            lifetime_s: 300,
            binding: "U".into(),
            version: "1.0".into(),
            manufacturer: "unidm sim".into(),
            model: "sim-1".into(),
            serial: format!("SN-{endpoint}"),
            fw_version: "1.0".into(),
            firmware: FirmwareBehaviour::default(),
            reregister_after_reboot: false,
            connectivity_and_location: false,
        }
    }
}

type Reply = oneshot::Sender<Result<(), String>>;

enum Cmd {
    Register(Option<Reply>),
    Update(Option<Reply>),
    Deregister(Reply),
    Send(Vec<Path>, Reply),
    Changed(Path),
    DownloadDone,
    UpdateDone,
}

#[derive(Clone, Copy)]
enum Kind {
    Register,
    Update,
    Deregister,
    Send,
}

struct Shared {
    config: SimConfig,
    objects: Mutex<Objects>,
    reboots: AtomicU32,
    factory_resets: AtomicU32,
    location: Mutex<Option<Vec<String>>>,
}

/// A running simulated client.
pub struct SimClient {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Cmd>,
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for SimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClient").field("endpoint", &self.shared.config.endpoint).finish()
    }
}

impl Drop for SimClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimClient {
    /// Binds the socket and starts the client (it does not register yet).
    pub async fn start(config: SimConfig) -> io::Result<SimClient> {
        let socket = UdpSocket::bind(config.bind).await?;
        let local_addr = socket.local_addr()?;
        let v1_1 = config.version != "1.0";
        let mut objects = Objects::new(
            &config.manufacturer,
            &config.model,
            &config.serial,
            &config.fw_version,
            config.lifetime_s,
            v1_1,
        );
        if config.connectivity_and_location {
            objects = objects.with_connectivity_and_location();
        }
        let shared = Arc::new(Shared {
            config,
            objects: Mutex::new(objects),
            reboots: AtomicU32::new(0),
            factory_resets: AtomicU32::new(0),
            location: Mutex::new(None),
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(shared.clone(), socket, commands.clone(), rx));
        Ok(SimClient { shared, commands, local_addr, task })
    }

    /// Starts `n` clients named `{prefix}-{i}` from `template` and registers them all.
    pub async fn fleet(template: &SimConfig, n: usize) -> io::Result<Vec<SimClient>> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let config = SimConfig { endpoint: format!("{}-{i}", template.endpoint), ..template.clone() };
            let c = SimClient::start(config).await?;
            c.register().await.map_err(io::Error::other)?;
            out.push(c);
        }
        Ok(out)
    }

    async fn call(&self, make: impl FnOnce(Reply) -> Cmd) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| "client stopped".to_owned())?;
        rx.await.map_err(|_| "client stopped".to_owned())?
    }

    /// Registers (or registers again) and waits for 2.01.
    pub async fn register(&self) -> Result<(), String> {
        self.call(|r| Cmd::Register(Some(r))).await
    }

    /// Sends an empty Update and waits for 2.04.
    pub async fn update(&self) -> Result<(), String> {
        self.call(|r| Cmd::Update(Some(r))).await
    }

    /// De-registers and waits for 2.02.
    pub async fn deregister(&self) -> Result<(), String> {
        self.call(Cmd::Deregister).await
    }

    /// Pushes the values at `paths` with the Send operation (`POST /dp`, SenML JSON, LwM2M
    /// 1.1) and waits for 2.04.
    pub async fn send(&self, paths: &[Path]) -> Result<(), String> {
        let paths = paths.to_vec();
        self.call(|r| Cmd::Send(paths, r)).await
    }

    /// The client's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint name.
    pub fn endpoint(&self) -> &str {
        &self.shared.config.endpoint
    }

    /// The Location-Path of the current registration.
    pub fn location(&self) -> Option<Vec<String>> {
        self.shared.location.lock().ok()?.clone()
    }

    /// Executed reboots so far.
    pub fn reboots(&self) -> u32 {
        self.shared.reboots.load(Ordering::SeqCst)
    }

    /// Executed factory resets so far.
    pub fn factory_resets(&self) -> u32 {
        self.shared.factory_resets.load(Ordering::SeqCst)
    }

    /// A resource value.
    pub fn get(&self, path: Path) -> Option<Value> {
        self.shared.objects.lock().ok()?.values.get(&path).cloned()
    }

    /// Changes a resource value locally; observers are notified.
    pub fn set(&self, path: Path, value: Value) {
        if let Ok(mut o) = self.shared.objects.lock() {
            o.values.insert(path, value);
        }
        let _ = self.commands.send(Cmd::Changed(path));
    }
}

struct Observer {
    token: Vec<u8>,
    path: Path,
    format: ContentFormat,
    sequence: u32,
}

struct Client {
    shared: Arc<Shared>,
    socket: UdpSocket,
    commands: mpsc::UnboundedSender<Cmd>,
    exchanges: Exchanges,
    pending: HashMap<Vec<u8>, (Kind, Option<Reply>)>,
    observers: Vec<Observer>,
    counter: u64,
    outgoing_payload: Vec<u8>,
}

async fn run(
    shared: Arc<Shared>,
    socket: UdpSocket,
    commands: mpsc::UnboundedSender<Cmd>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let seed = shared.config.endpoint.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut c = Client {
        exchanges: Exchanges::new(TransmissionParams::default(), seed as u16, 64),
        shared,
        socket,
        commands,
        pending: HashMap::new(),
        observers: Vec::new(),
        counter: seed,
        outgoing_payload: Vec::new(),
    };
    let mut buf = vec![0u8; 4096];
    loop {
        let deadline = c.exchanges.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = c.socket.recv_from(&mut buf) => {
                if let Ok((n, peer)) = r {
                    c.datagram(peer, &buf[..n]);
                }
            }
            cmd = rx.recv() => match cmd {
                Some(cmd) => c.command(cmd),
                None => break,
            },
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                c.exchanges.handle_timeout(now());
            }
        }
        c.flush().await;
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Client {
    fn token(&mut self) -> Vec<u8> {
        self.counter = self.counter.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.counter.to_be_bytes().to_vec()
    }

    fn send_request(&mut self, kind: Kind, reply: Option<Reply>) {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        let location = self.shared.location.lock().ok().and_then(|l| l.clone());
        match kind {
            Kind::Register => {
                p.header.code = MessageClass::Request(RequestType::Post);
                p.add_option(CoapOption::UriPath, b"rd".to_vec());
                for q in [
                    format!("ep={}", cfg.endpoint),
                    format!("lt={}", cfg.lifetime_s),
                    format!("lwm2m={}", cfg.version),
                    format!("b={}", cfg.binding),
                ] {
                    p.add_option(CoapOption::UriQuery, q.into_bytes());
                }
                p.add_option(CoapOption::ContentFormat, encode_uint(40));
                p.payload = self.shared.objects.lock().map(|o| o.link_format()).unwrap_or_default().into_bytes();
            }
            Kind::Send => {
                p.header.code = MessageClass::Request(RequestType::Post);
                p.add_option(CoapOption::UriPath, b"dp".to_vec());
                p.add_option(CoapOption::ContentFormat, encode_uint(u32::from(ContentFormat::SenmlJson.code())));
                p.payload = std::mem::take(&mut self.outgoing_payload);
            }
            Kind::Update | Kind::Deregister => {
                let Some(location) = location else {
                    if let Some(r) = reply {
                        let _ = r.send(Err("not registered".into()));
                    }
                    return;
                };
                let method = if matches!(kind, Kind::Update) { RequestType::Post } else { RequestType::Delete };
                p.header.code = MessageClass::Request(method);
                for seg in location {
                    p.add_option(CoapOption::UriPath, seg.into_bytes());
                }
            }
        }
        let token = self.token();
        p.set_token(token.clone());
        match self.exchanges.send_request(now(), cfg.server, p, 0.5) {
            Ok(_) => {
                self.pending.insert(token, (kind, reply));
            }
            Err(e) => {
                if let Some(r) = reply {
                    let _ = r.send(Err(e.to_string()));
                }
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Register(r) => self.send_request(Kind::Register, r),
            Cmd::Update(r) => self.send_request(Kind::Update, r),
            Cmd::Deregister(r) => self.send_request(Kind::Deregister, Some(r)),
            Cmd::Send(paths, r) => {
                let records = self
                    .shared
                    .objects
                    .lock()
                    .map(|o| paths.iter().flat_map(|p| o.content(p).records).collect())
                    .unwrap_or_default();
                match crate::codec::encode(ContentFormat::SenmlJson, &crate::codec::Content::new(records), &Path::Root)
                {
                    Ok(payload) => {
                        self.outgoing_payload = payload;
                        self.send_request(Kind::Send, Some(r));
                    }
                    Err(e) => {
                        let _ = r.send(Err(e.to_string()));
                    }
                }
            }
            Cmd::Changed(path) => self.notify(path),
            Cmd::DownloadDone => {
                let fw = &self.shared.config.firmware;
                let (state, result) = if fw.download_result == 0 { (2, 0) } else { (0, fw.download_result) };
                self.set_firmware(state, result);
            }
            Cmd::UpdateDone => {
                let fw = self.shared.config.firmware.clone();
                if fw.update_result == 1 {
                    if let Ok(mut o) = self.shared.objects.lock() {
                        o.values.insert(Path::Resource(3, 0, 3), Value::String(fw.new_version));
                    }
                    if fw.reboot_on_update {
                        self.observers.clear();
                        if let Ok(mut o) = self.shared.objects.lock() {
                            o.values.insert(Path::Resource(5, 0, 5), Value::Integer(1));
                            o.values.insert(Path::Resource(5, 0, 3), Value::Integer(0));
                        }
                        self.shared.reboots.fetch_add(1, Ordering::SeqCst);
                        self.send_request(Kind::Register, None);
                    } else {
                        self.set_firmware(0, 1);
                    }
                } else {
                    self.set_firmware(2, fw.update_result);
                }
            }
        }
    }

    fn set_firmware(&mut self, state: i64, result: u8) {
        if let Ok(mut o) = self.shared.objects.lock() {
            o.values.insert(Path::Resource(5, 0, 5), Value::Integer(i64::from(result)));
            o.values.insert(Path::Resource(5, 0, 3), Value::Integer(state));
        }
        self.notify(Path::Resource(5, 0, 5));
        self.notify(Path::Resource(5, 0, 3));
    }

    fn notify(&mut self, changed: Path) {
        let server = self.shared.config.server;
        let mut out = Vec::new();
        for obs in self.observers.iter_mut().filter(|o| o.path.is_prefix_of(&changed) || changed.is_prefix_of(&o.path))
        {
            let Ok(objects) = self.shared.objects.lock() else { continue };
            let Ok((format, payload)) = objects.encode(&obs.path, Some(obs.format)) else { continue };
            obs.sequence += 1;
            let mut p = Packet::new();
            p.header.set_type(MessageType::NonConfirmable);
            p.header.code = MessageClass::Response(ResponseType::Content);
            p.set_token(obs.token.clone());
            p.add_option(CoapOption::Observe, encode_uint(obs.sequence));
            p.add_option(CoapOption::ContentFormat, encode_uint(u32::from(format.code())));
            p.payload = payload;
            out.push(p);
        }
        for mut p in out {
            p.header.message_id = self.token()[0] as u16 * 256 + self.token()[1] as u16;
            if let Ok(bytes) = serialize(&p, &TransmissionParams::default()) {
                let _ = self.socket.try_send_to(&bytes, server);
            }
        }
    }

    fn datagram(&mut self, peer: SocketAddr, bytes: &[u8]) {
        let Ok(packet) = Packet::from_bytes(bytes) else { return };
        match packet.header.code {
            MessageClass::Request(_) => self.request(peer, &packet),
            _ => {
                self.exchanges.handle(now(), peer, &packet);
            }
        }
    }

    fn request(&mut self, peer: SocketAddr, request: &Packet) {
        let mut response = Packet::new();
        response.header.set_type(if request.header.get_type() == MessageType::Confirmable {
            MessageType::Acknowledgement
        } else {
            MessageType::NonConfirmable
        });
        response.header.message_id = request.header.message_id;
        response.set_token(request.get_token().to_vec());
        let effects = match self.shared.objects.lock() {
            Ok(mut o) => o.handle(request, &mut response),
            Err(_) => return,
        };
        if let Ok(bytes) = serialize(&response, &TransmissionParams::default()) {
            let _ = self.socket.try_send_to(&bytes, peer);
        }
        for effect in effects {
            self.effect(effect);
        }
    }

    fn later(&self, delay: Duration, cmd: Cmd) {
        let tx = self.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(cmd);
        });
    }

    fn effect(&mut self, effect: Effect) {
        match effect {
            Effect::Observe { token, path, format } => {
                self.observers.retain(|o| o.path != path);
                self.observers.push(Observer { token, path, format, sequence: 0 });
            }
            Effect::CancelObserve(path) => self.observers.retain(|o| o.path != path),
            Effect::Reboot => {
                self.shared.reboots.fetch_add(1, Ordering::SeqCst);
                if self.shared.config.reregister_after_reboot {
                    self.observers.clear();
                    self.later(Duration::from_millis(20), Cmd::Register(None));
                }
            }
            Effect::FactoryReset => {
                self.shared.factory_resets.fetch_add(1, Ordering::SeqCst);
            }
            Effect::RegistrationUpdate => self.send_request(Kind::Update, None),
            Effect::Download(uri) if uri.is_empty() => self.set_firmware(0, 0),
            Effect::Download(_) => {
                self.set_firmware(1, 0);
                self.later(self.shared.config.firmware.download_delay, Cmd::DownloadDone);
            }
            Effect::Update => {
                if let Ok(mut o) = self.shared.objects.lock() {
                    o.values.insert(Path::Resource(5, 0, 3), Value::Integer(3));
                }
                self.notify(Path::Resource(5, 0, 3));
                self.later(self.shared.config.firmware.update_delay, Cmd::UpdateDone);
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.exchanges.poll_transmit() {
            let _ = self.socket.send_to(&t.bytes, t.peer).await;
        }
        while let Some(event) = self.exchanges.poll_event() {
            let (token, outcome) = match event {
                ExchangeEvent::Response { token, response, .. } => (token, Ok(response)),
                ExchangeEvent::Reset { token, .. } => (token, Err("reset".to_owned())),
                ExchangeEvent::TimedOut { token, .. } => (token, Err("timed out".to_owned())),
            };
            let Some((kind, reply)) = self.pending.remove(&token) else { continue };
            let result = outcome.and_then(|r| {
                let code = match r.header.code {
                    MessageClass::Response(c) => c,
                    _ => ResponseType::UnKnown,
                };
                let expected = match kind {
                    Kind::Register => ResponseType::Created,
                    Kind::Update => ResponseType::Changed,
                    Kind::Deregister => ResponseType::Deleted,
                    Kind::Send => ResponseType::Changed,
                };
                if code != expected {
                    return Err(format!("server answered {code:?}"));
                }
                if let (Kind::Register, Some(opts)) = (kind, r.get_option(CoapOption::LocationPath)) {
                    let segs = opts.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
                    if let Ok(mut l) = self.shared.location.lock() {
                        *l = Some(segs);
                    }
                }
                if let Kind::Deregister = kind {
                    if let Ok(mut l) = self.shared.location.lock() {
                        *l = None;
                    }
                }
                Ok(())
            });
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    }
}

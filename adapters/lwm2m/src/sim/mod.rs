//! A simulated LwM2M client over real UDP, for tests, demos and load: it registers (`ep`, `lt`,
//! `lwm2m`, `b`, objects /1, /3, /5 in link-format), updates and de-registers (TS Core 1.1
//! §6.2), answers Read / Write / Execute / Observe on its objects in text, TLV and SenML JSON,
//! and as a 1.1 client the composite operations in SenML JSON / CBOR (§6.3, §6.4), counts reboots and factory resets, and plays the Firmware Update state machine
//! (object /5, registry `5.xml`) with configurable delays and failures, without fetching anything.
//!
//! ```no_run
//! # async fn run(server: std::net::SocketAddr) -> std::io::Result<()> {
//! use unidm_lwm2m::sim::{SimClient, SimConfig};
//! let client = SimClient::start(SimConfig::new("sensor-1", server)).await?;
//! client.register().await.expect("registered");
//! # Ok(()) }
//! ```

mod bootstrap;
pub(crate) mod composite;
mod config;
mod effects;
pub mod gateway;
mod manage;
pub mod objects;
mod shared;
mod software;
pub(crate) mod transport;

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
use crate::server::block1::{Block1Outcome, Block1Receiver};
use crate::server::Observed;
pub use config::{FirmwareBehaviour, Share, SimConfig};
pub use objects::{Effect, Objects};
pub use shared::SharedSocket;
pub use software::{SoftwareBehaviour, SoftwareStep};

type Reply = oneshot::Sender<Result<(), String>>;

enum Cmd {
    Register(Option<Reply>),
    Update(Option<Reply>),
    Deregister(Reply),
    Send(Vec<Path>, Reply),
    Bootstrap(SocketAddr, Reply),
    Changed(Path),
    EndDeviceChanged(String, Path),
    UpdateObjects(Reply),
    Observations(oneshot::Sender<Vec<Observed>>),
    DownloadDone,
    UpdateDone,
    /// The pmax of the observation with this token and sequence number is due: notify if no
    /// notification went out since (TS Core 1.1 §5.1.2 "Maximum Period").
    Pmax(Vec<u8>, u32),
    Software(u16, SoftwareStep),
}

#[derive(Clone, Copy)]
enum Kind {
    Register,
    Update,
    Deregister,
    Send,
    Bootstrap,
}

struct Shared {
    config: SimConfig,
    objects: Mutex<Objects>,
    reboots: AtomicU32,
    factory_resets: AtomicU32,
    /// Package URI /5/0/1 writes naming an image.
    package_uri_writes: AtomicU32,
    /// Update /5/0/2 executes taken.
    update_executes: AtomicU32,
    location: Mutex<Option<Vec<String>>>,
    /// The LwM2M server to register with: the configured one, or the one bootstrapped.
    server: Mutex<SocketAddr>,
    /// The bootstrap server while bootstrapping.
    bootstrap: Mutex<Option<SocketAddr>>,
    /// End devices when the client is a gateway, by prefix.
    end_devices: Mutex<gateway::EndDevices>,
    /// The alternate root path on a shared socket (`/u42`).
    root_path: Option<String>,
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
        let dtls = match (&config.psk, &config.x509, &config.rpk) {
            (Some((identity, key)), _, _) => {
                Some(crate::dtls::DtlsClient::psk(identity, key).map_err(io::Error::other)?)
            }
            (None, Some(x509), _) => Some(crate::dtls::DtlsClient::x509(x509).map_err(io::Error::other)?),
            (None, None, Some((key, server_key))) => {
                Some(crate::dtls::DtlsClient::rpk(key, server_key).map_err(io::Error::other)?)
            }
            (None, None, None) => None,
        };
        let (socket, local_addr, root_path) = match (&config.shared_socket, dtls) {
            (Some(_), Some(_)) => {
                return Err(io::Error::other("DTLS needs a socket of the client's own, not a shared one"))
            }
            (Some(Share(shared)), None) => {
                let (index, inbox) = shared.attach();
                let socket = transport::Transport::shared(shared.clone(), index, inbox);
                (socket, shared.local_addr()?, Some(shared::root_path(index)))
            }
            (None, dtls) => {
                let socket = UdpSocket::bind(config.bind).await?;
                let local_addr = socket.local_addr()?;
                (transport::Transport::new(socket, dtls), local_addr, None)
            }
        };
        let v1_1 = config.version != "1.0";
        let mut objects = Objects::new(
            &config.manufacturer,
            &config.model,
            &config.serial,
            &config.fw_version,
            config.lifetime_s,
            v1_1,
        );
        objects.values.insert(Path::Resource(5, 0, 9), Value::Integer(i64::from(config.firmware.delivery_method)));
        if config.software_management {
            objects.add_software_instance(0);
        }
        if config.connectivity_and_location {
            objects = objects.with_connectivity_and_location();
        }
        if config.without_firmware {
            objects.values.retain(|p, _| p.object_id() != Some(5));
        }
        objects.ignore_accept = config.ignore_accept;
        let end_devices = gateway::end_devices(&config, &mut objects);
        let shared = Arc::new(Shared {
            objects: Mutex::new(objects),
            reboots: AtomicU32::new(0),
            factory_resets: AtomicU32::new(0),
            package_uri_writes: AtomicU32::new(0),
            update_executes: AtomicU32::new(0),
            location: Mutex::new(None),
            server: Mutex::new(config.server),
            bootstrap: Mutex::new(None),
            end_devices: Mutex::new(end_devices),
            root_path,
            config,
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

    /// Sends an Update carrying the current object list (TS Core 1.1 §6.2.2), as after
    /// instances or end devices came or went, and waits for 2.04.
    pub async fn update_objects(&self) -> Result<(), String> {
        self.call(Cmd::UpdateObjects).await
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

    /// Client-initiated bootstrap (TS Core 1.1 §5.2.7.1): `POST /bs?ep=…` to `bootstrap`, then
    /// answers the bootstrap server until Bootstrap-Finish; afterwards [`SimClient::register`]
    /// goes to the server account written. Fails on an error answer (no configuration).
    pub async fn bootstrap(&self, bootstrap: SocketAddr) -> Result<(), String> {
        self.call(|r| Cmd::Bootstrap(bootstrap, r)).await
    }

    /// A resource value of the end device under `prefix` (gateway mode).
    pub fn end_device_get(&self, prefix: &str, path: Path) -> Option<Value> {
        self.shared.end_devices.lock().ok()?.get(prefix)?.values.get(&path).cloned()
    }

    /// The LwM2M server the client registers with.
    pub fn server(&self) -> SocketAddr {
        self.shared.server.lock().map(|s| *s).unwrap_or(self.shared.config.server)
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

    /// Package URI /5/0/1 writes naming an image so far.
    pub fn package_uri_writes(&self) -> u32 {
        self.shared.package_uri_writes.load(Ordering::SeqCst)
    }

    /// Update /5/0/2 executes taken so far.
    pub fn update_executes(&self) -> u32 {
        self.shared.update_executes.load(Ordering::SeqCst)
    }

    /// Ends a download in progress now (State Downloading -> Downloaded), as when the
    /// configured download delay is long.
    pub fn finish_download(&self) {
        if self.commands.send(Cmd::DownloadDone).is_err() {
            tracing::debug!("the simulated client stopped");
        }
    }

    /// A resource value.
    pub fn get(&self, path: Path) -> Option<Value> {
        self.shared.objects.lock().ok()?.values.get(&path).cloned()
    }

    /// What the client notifies: observed paths and Observe-Composite sets.
    pub async fn observations(&self) -> Vec<Observed> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Cmd::Observations(tx));
        rx.await.unwrap_or_default()
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
    /// The end device observed, by prefix (gateway mode); `None` for the client's own objects.
    prefix: Option<String>,
    /// One path (Observe) or a set (Observe-Composite).
    observed: Observed,
    format: ContentFormat,
    sequence: u32,
}

struct Client {
    shared: Arc<Shared>,
    socket: transport::Transport,
    commands: mpsc::UnboundedSender<Cmd>,
    exchanges: Exchanges,
    pending: HashMap<Vec<u8>, (Kind, Option<Reply>)>,
    observers: Vec<Observer>,
    counter: u64,
    outgoing_payload: Vec<u8>,
    /// Answered once Bootstrap-Finish arrives.
    bootstrap_reply: Option<Reply>,
    /// Register once Bootstrap-Finish arrives (a Bootstrap-Request Trigger started it).
    register_after_bootstrap: bool,
    /// Block1 bodies being received (a firmware image for /5/0/0).
    block1: Block1Receiver,
    /// The next Update carries the object list (instances were created or deleted).
    objects_changed: bool,
    /// The server wrote the Lifetime /1/0/1: the next Update carries `lt` (TS Core 1.1 §6.2.2).
    lifetime_changed: bool,
}

async fn run(
    shared: Arc<Shared>,
    socket: transport::Transport,
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
        objects_changed: false,
        lifetime_changed: false,
        bootstrap_reply: None,
        register_after_bootstrap: false,
        block1: Block1Receiver::new(4 << 20, 4, Duration::from_secs(247)),
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
        let mut token = self.counter.to_be_bytes();
        // On a shared socket, responses find their client by the index a token starts with.
        if let Some(index) = self.socket.shared_index() {
            token[..4].copy_from_slice(&index.to_be_bytes());
        }
        token.to_vec()
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
                // LwM2M 1.1 dropped the `UQ` binding: queue mode is the valueless `Q` parameter
                // (TS Core 1.1 §6.2.1).
                let queue = cfg.version != "1.0" && cfg.binding.contains('Q');
                let binding = if queue { cfg.binding.replace('Q', "") } else { cfg.binding.clone() };
                for q in [
                    format!("ep={}", cfg.endpoint),
                    format!("lt={}", cfg.lifetime_s),
                    format!("lwm2m={}", cfg.version),
                    format!("b={binding}"),
                ] {
                    p.add_option(CoapOption::UriQuery, q.into_bytes());
                }
                if queue {
                    p.add_option(CoapOption::UriQuery, b"Q".to_vec());
                }
                p.add_option(CoapOption::ContentFormat, encode_uint(40));
                let objects = self.shared.objects.lock().map(|o| o.link_format()).unwrap_or_default();
                p.payload = cfg.links(objects, self.shared.root_path.as_deref()).into_bytes();
            }
            Kind::Bootstrap => {
                p.header.code = MessageClass::Request(RequestType::Post);
                p.add_option(CoapOption::UriPath, b"bs".to_vec());
                p.add_option(CoapOption::UriQuery, format!("ep={}", cfg.endpoint).into_bytes());
                if cfg.version != "1.0" {
                    p.add_option(CoapOption::UriQuery, b"pct=110".to_vec());
                }
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
                if matches!(kind, Kind::Update) && std::mem::take(&mut self.lifetime_changed) {
                    let lifetime =
                        self.shared.objects.lock().ok().and_then(|o| match o.values.get(&Path::Resource(1, 0, 1)) {
                            Some(Value::Integer(lt)) => Some(*lt),
                            _ => None,
                        });
                    if let Some(lt) = lifetime {
                        p.add_option(CoapOption::UriQuery, format!("lt={lt}").into_bytes());
                    }
                }
                if matches!(kind, Kind::Update) && std::mem::take(&mut self.objects_changed) {
                    p.add_option(CoapOption::ContentFormat, encode_uint(40));
                    let objects = self.shared.objects.lock().map(|o| o.link_format()).unwrap_or_default();
                    p.payload = cfg.links(objects, self.shared.root_path.as_deref()).into_bytes();
                }
            }
        }
        let token = self.token();
        p.set_token(token.clone());
        let target = match kind {
            Kind::Bootstrap => self.shared.bootstrap.lock().ok().and_then(|b| *b).unwrap_or(cfg.server),
            _ => self.server(),
        };
        match self.exchanges.send_request(now(), target, p, 0.5) {
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

    fn server(&self) -> SocketAddr {
        self.shared.server.lock().map(|s| *s).unwrap_or(self.shared.config.server)
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Bootstrap(bs, r) => {
                if let Ok(mut b) = self.shared.bootstrap.lock() {
                    *b = Some(bs);
                }
                if let Ok(mut o) = self.shared.objects.lock() {
                    o.ensure_bootstrap_account(bs);
                }
                self.bootstrap_reply = Some(r);
                self.send_request(Kind::Bootstrap, None);
            }
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
            Cmd::EndDeviceChanged(prefix, path) => self.notify_under(Some(&prefix), path),
            Cmd::UpdateObjects(r) => {
                self.objects_changed = true;
                self.send_request(Kind::Update, Some(r));
            }
            Cmd::Observations(reply) => {
                let _ = reply.send(self.observers.iter().map(|o| o.observed.clone()).collect());
            }
            Cmd::Software(instance, step) => {
                let changed = match self.shared.objects.lock() {
                    Ok(mut o) => o.software_step(instance, step, &self.shared.config.software),
                    Err(_) => Vec::new(),
                };
                changed.into_iter().for_each(|p| self.notify(p));
            }
            Cmd::Pmax(token, sequence) => self.pmax_due(&token, sequence),
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
        // A firmware image arrives in Block1 blocks (RFC 7959 §2.5).
        let (whole, echo, early) = match self.block1.on_request(now(), peer, request) {
            Block1Outcome::Plain => (None, None, None),
            Block1Outcome::Whole(whole, block) => (Some(whole), Some(block), None),
            Block1Outcome::Reply(code, block) => (None, block, Some(code)),
        };
        let request = whole.as_deref().unwrap_or(request);
        let mut response = crate::coap::response_to(request);
        if let Some(block) = echo {
            response.add_option(CoapOption::Block1, block.encode());
        }
        if let Some(code) = early {
            response.header.code = MessageClass::Response(code);
            if let Ok(bytes) = serialize(&response, &TransmissionParams::default()) {
                let _ = self.socket.try_send_to(&bytes, peer);
            }
            return;
        }
        let from_bootstrap = self.shared.bootstrap.lock().ok().and_then(|b| *b) == Some(peer);
        let shared = self.shared.clone();
        if let Ok(mut devices) = shared.end_devices.lock() {
            if let Some((prefix, stripped)) = gateway::route(&devices, request) {
                let effects = devices.get_mut(&prefix).map(|d| d.handle(&stripped, &mut response));
                drop(devices);
                if let Ok(bytes) = serialize(&response, &TransmissionParams::default()) {
                    let _ = self.socket.try_send_to(&bytes, peer);
                }
                for effect in effects.into_iter().flatten() {
                    self.end_device_effect(&prefix, effect);
                }
                return;
            }
        }
        let effects = match self.shared.objects.lock() {
            Ok(mut o) if from_bootstrap => o.handle_bootstrap(request, &mut response),
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
                    Kind::Bootstrap => ResponseType::Changed,
                    Kind::Register => ResponseType::Created,
                    Kind::Update => ResponseType::Changed,
                    Kind::Deregister => ResponseType::Deleted,
                    Kind::Send => ResponseType::Changed,
                };
                if code != expected {
                    let why = String::from_utf8_lossy(&r.payload).into_owned();
                    return Err(format!("server answered {code:?} {why}").trim_end().to_owned());
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
            if let (Kind::Bootstrap, Err(_)) = (kind, &result) {
                if let Some(r) = self.bootstrap_reply.take() {
                    let _ = r.send(result.clone());
                }
            }
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    }
}

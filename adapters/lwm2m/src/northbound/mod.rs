//! unidm as an LwM2M Gateway toward a distant LwM2M server (LwM2M Gateway TS; REQUIREMENTS
//! GwCap-*, LeG-*): the devices unidm manages, of every protocol, appear to that server as end
//! devices behind one LwM2M client, so a platform that speaks only LwM2M manages them all.
//!
//! - **The client** registers with the distant server ([`NorthboundConfig::server`]) as
//!   [`NorthboundConfig::endpoint`], keeps the registration (Update at three quarters of the
//!   lifetime, Register again after a 4.04 or a lost exchange, with backoff:
//!   [`registrar::Registrar`], sans-I/O) and de-registers on [`Northbound::stop`]. Queue mode is
//!   off. Requests are taken from the distant server's address only.
//! - **Its own objects**: `/1/0` Server, `/3/0` Device (unidm itself), `/25/x` LwM2M Gateway,
//!   one instance per end device: Device ID `/25/x/0` (the unidm device id), Prefix `/25/x/1`
//!   (`d{x}`), IoT Device Objects `/25/x/3` (its object instances in link-format). An end
//!   device that appears or leaves changes `/25` and the registration's object list, sent with
//!   an Update at once (DR-001..006).
//! - **End devices** are the devices [`NorthboundConfig::devices`] selects (a protocol, labels,
//!   manufacturer, model), at most [`NorthboundConfig::max_devices`]. A device leaves when it
//!   de-registers, expires or is deleted. Each is translated from unidm's model (LeG-001):
//!   `/{prefix}/3/0` Device (manufacturer, model, serial, firmware / hardware / software
//!   versions, device type) and `/{prefix}/5/0` Firmware Update, answered from the model (the
//!   gateway's cache). Read, Discover, Write-Attributes, Observe (notified when the model
//!   changes) in text, TLV and SenML JSON / CBOR as the server asks.
//! - **Operations**: Execute `/{prefix}/3/0/4` reboots the device and `/3/0/5` resets it,
//!   through unidm operations on its own protocol. Firmware: a Write of the Package URI
//!   `/{prefix}/5/0/1` moves State `/5/0/3` to Downloaded (2) at once: TR-069 and OMA DM fetch
//!   and apply an image in one step, so the download happens with the update; Execute Update
//!   `/5/0/2` runs unidm's firmware operation with that URI (State 3 Updating meanwhile), and
//!   its end sets State 0 with Update Result `/5/0/5` 1 (success) or 8 (failed), the new
//!   version in `/3/0/3` as the device reports it. An empty Package URI resets to Idle.
//!
//! Not yet: forwarding requests to LwM2M end devices (proxy mode beyond the cache) and
//! transparent mode, `/4` and `/9` translations, group resources, bootstrap from a distant
//! bootstrap server, DTLS toward the distant server.

pub mod registrar;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use tokio::net::UdpSocket;
use unidm_core::{CreateOptions, DeviceQuery, Engine, Received};
use unidm_models::{
    Action, Device, DeviceId, Event, FirmwareState, FirmwareStatus, FirmwareUpdate, OperationId, OperationState,
};

use crate::coap::{encode_uint, serialize, TransmissionParams};
use crate::codec::{ContentFormat, Value};
use crate::path::Path;
use crate::server::Observed;
use crate::sim::{Effect, Objects};
use registrar::{Registrar, RegistrarConfig, RegistrarStatus};

/// Settings of the northbound client.
#[derive(Debug, Clone)]
pub struct NorthboundConfig {
    /// The distant LwM2M server.
    pub server: SocketAddr,
    /// The endpoint client name unidm registers as.
    pub endpoint: String,
    /// Registration lifetime (default 300 s).
    pub lifetime: Duration,
    /// The local UDP address (default `0.0.0.0:0`).
    pub listen: SocketAddr,
    /// Which devices are end devices (protocol, labels, manufacturer, model; its offset and
    /// limit are ignored). Default: every device.
    pub devices: DeviceQuery,
    /// Whether end devices are reported at all (default true); off, the distant server sees
    /// unidm alone.
    pub report_devices: bool,
    /// Most end devices (default 10,000; `/25` instance ids are 16-bit).
    pub max_devices: usize,
}

impl NorthboundConfig {
    /// Defaults toward `server` as `endpoint`.
    pub fn new(server: SocketAddr, endpoint: impl Into<String>) -> Self {
        NorthboundConfig {
            server,
            endpoint: endpoint.into(),
            lifetime: Duration::from_secs(300),
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            devices: DeviceQuery::default(),
            report_devices: true,
            max_devices: 10_000,
        }
    }
}

/// Where the northbound client stands (the API's and `/metrics`' view).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NorthboundStatus {
    /// The distant server.
    pub server: String,
    /// The endpoint name.
    pub endpoint: String,
    /// Registered now.
    pub registered: bool,
    /// The registration's location at the distant server.
    pub location: Option<String>,
    /// Registrations that succeeded since the start.
    pub registrations: u64,
    /// Updates that succeeded.
    pub updates: u64,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// End devices listed in `/25`.
    pub end_devices: usize,
    /// Requests taken from the distant server.
    pub requests: u64,
}

/// A running northbound client: see the module docs.
#[derive(Debug)]
pub struct Northbound {
    status: Arc<Mutex<NorthboundStatus>>,
    stop: tokio::sync::watch::Sender<bool>,
    local: SocketAddr,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Northbound {
    /// Binds the local socket, lists the end devices and starts registering.
    pub async fn start(engine: Engine, config: NorthboundConfig) -> io::Result<Northbound> {
        let socket = UdpSocket::bind(config.listen).await?;
        let local = socket.local_addr()?;
        let status = Arc::new(Mutex::new(NorthboundStatus {
            server: config.server.to_string(),
            endpoint: config.endpoint.clone(),
            ..NorthboundStatus::default()
        }));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut gateway = Gateway::new(engine, config, socket, status.clone());
        let events = gateway.engine.subscribe();
        gateway.resync();
        let task = tokio::spawn(gateway.run(events, stopped));
        Ok(Northbound { status, stop, local, task: Mutex::new(Some(task)) })
    }

    /// Where the client stands.
    pub fn status(&self) -> NorthboundStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// De-registers (waiting at most 2 s for the server's answer) and stops.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}

/// The firmware object of an end device as the gateway plays it.
#[derive(Debug, Clone, Default)]
struct Firmware {
    /// The Package URI written.
    uri: String,
    /// Downloaded (a URI is waiting for Execute Update).
    downloaded: bool,
    /// The unidm operation running the update.
    operation: Option<OperationId>,
    /// The Update Result of the last update this gateway ran (0 when none).
    result: i64,
}

/// An end device.
#[derive(Debug)]
struct End {
    id: DeviceId,
    instance: u16,
    device: Device,
    firmware: Firmware,
    objects: Objects,
}

/// An observation of the distant server.
#[derive(Debug)]
struct Observer {
    token: Vec<u8>,
    /// The end device's prefix, `None` for the gateway's own objects.
    prefix: Option<String>,
    observed: Observed,
    format: ContentFormat,
    sequence: u32,
}

/// Most observations the distant server may hold.
const MAX_OBSERVERS: usize = 10_000;

struct Gateway {
    engine: Engine,
    config: NorthboundConfig,
    socket: UdpSocket,
    registrar: Registrar,
    own: Objects,
    ends: BTreeMap<String, End>,
    by_id: HashMap<DeviceId, String>,
    observers: Vec<Observer>,
    operations: HashMap<OperationId, String>,
    status: Arc<Mutex<NorthboundStatus>>,
    message_id: u16,
    requests: u64,
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Err(e) = getrandom::fill(&mut b) {
        tracing::error!(error = %e, "no OS randomness for the northbound client's tokens");
    }
    u64::from_be_bytes(b)
}

fn empty_objects() -> Objects {
    Objects { values: BTreeMap::new(), v1_1: true, attributes: Default::default(), empty_instances: Default::default() }
}

/// Whether `device` is one `q` selects.
fn selected(q: &DeviceQuery, device: &Device) -> bool {
    q.protocol.is_none_or(|p| p == device.protocol)
        && q.manufacturer.as_ref().is_none_or(|m| device.identity.manufacturer.as_ref() == Some(m))
        && q.model.as_ref().is_none_or(|m| device.identity.model.as_ref() == Some(m))
        && q.labels.iter().all(|(k, v)| device.labels.get(k) == Some(v))
}

/// `/5/0/3` State and `/5/0/5` Update Result (registry `5.xml`) of an end device.
fn firmware_state(fw: &Firmware, reported: Option<&FirmwareStatus>) -> (i64, i64) {
    if fw.operation.is_some() {
        return (3, 0);
    }
    if fw.downloaded {
        return (2, 0);
    }
    if fw.result != 0 {
        return (0, fw.result);
    }
    match reported.map(|f| f.state) {
        Some(FirmwareState::Downloading) => (1, 0),
        Some(FirmwareState::Downloaded) => (2, 0),
        Some(FirmwareState::Updating) => (3, 0),
        Some(FirmwareState::Succeeded) => (0, 1),
        Some(FirmwareState::Failed) => (0, 8),
        Some(FirmwareState::Idle) | None => (0, 0),
    }
}

/// The LwM2M objects of an end device, translated from unidm's model (LeG-001).
fn translate(device: &Device, fw: &Firmware) -> BTreeMap<Path, Value> {
    let mut v = BTreeMap::new();
    let text = |s: &Option<String>| s.as_ref().map(|s| Value::String(s.clone()));
    let id = &device.identity;
    for (r, value) in [
        (0, text(&id.manufacturer)),
        (1, text(&id.model)),
        (2, text(&id.serial)),
        (3, text(&id.fw_version)),
        (16, Some(Value::String("U".into()))),
        (17, text(&id.device_type)),
        (18, text(&id.hw_version)),
        (19, text(&id.sw_version)),
    ] {
        if let Some(value) = value {
            v.insert(Path::Resource(3, 0, r), value);
        }
    }
    // Error Code: no error (a mandatory multiple resource).
    v.insert(Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0));
    let reported = device.snapshot.firmware.as_deref();
    let (state, result) = firmware_state(fw, reported);
    v.insert(Path::Resource(5, 0, 1), Value::String(fw.uri.clone()));
    v.insert(Path::Resource(5, 0, 3), Value::Integer(state));
    v.insert(Path::Resource(5, 0, 5), Value::Integer(result));
    if let Some(name) = reported.and_then(|f| f.name.clone()) {
        v.insert(Path::Resource(5, 0, 6), Value::String(name));
    }
    if let Some(version) = reported.and_then(|f| f.version.clone()) {
        v.insert(Path::Resource(5, 0, 7), Value::String(version));
    }
    // Pull only: the device fetches the image from the URI.
    v.insert(Path::Resource(5, 0, 9), Value::Integer(0));
    v
}

/// The paths whose values differ between `old` and `new`.
fn changed_paths(old: &BTreeMap<Path, Value>, new: &BTreeMap<Path, Value>) -> Vec<Path> {
    let mut out: Vec<Path> = new.iter().filter(|(p, v)| old.get(*p) != Some(*v)).map(|(p, _)| *p).collect();
    out.extend(old.keys().filter(|p| !new.contains_key(*p)));
    out
}

impl Gateway {
    fn new(engine: Engine, config: NorthboundConfig, socket: UdpSocket, status: Arc<Mutex<NorthboundStatus>>) -> Self {
        let mut own = empty_objects();
        let s = |t: &str| Value::String(t.to_owned());
        for (path, value) in [
            (Path::Resource(1, 0, 0), Value::Integer(1)),
            (Path::Resource(1, 0, 1), Value::Integer(config.lifetime.as_secs() as i64)),
            (Path::Resource(1, 0, 6), Value::Boolean(false)),
            (Path::Resource(1, 0, 7), s("U")),
            (Path::Resource(3, 0, 0), s("unidm")),
            (Path::Resource(3, 0, 1), s("unidm LwM2M gateway")),
            (Path::Resource(3, 0, 2), s(&config.endpoint)),
            (Path::Resource(3, 0, 3), s(env!("CARGO_PKG_VERSION"))),
            (Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0)),
            (Path::Resource(3, 0, 16), s("U")),
            (Path::Resource(3, 0, 17), s("gateway")),
        ] {
            own.values.insert(path, value);
        }
        let registrar_config = RegistrarConfig {
            endpoint: config.endpoint.clone(),
            lifetime: config.lifetime,
            version: "1.1".into(),
            binding: "U".into(),
        };
        let seed = random_u64();
        let registrar = Registrar::new(registrar_config, config.server, own.link_format(), Instant::now(), seed);
        Gateway {
            engine,
            config,
            socket,
            registrar,
            own,
            ends: BTreeMap::new(),
            by_id: HashMap::new(),
            observers: Vec::new(),
            operations: HashMap::new(),
            status,
            message_id: seed as u16,
            requests: 0,
        }
    }

    async fn run(mut self, mut events: unidm_core::Subscription, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.registrar.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => self.datagram(peer, &buf[..n]).await,
                    Err(e) => tracing::debug!(error = %e, "northbound socket"),
                },
                e = events.recv() => match e {
                    Some(Received::Event(e)) => self.event(e),
                    Some(Received::Lagged(_)) => self.resync(),
                    None => break,
                },
                () = async { match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                } } => self.registrar.handle_timeout(Instant::now()),
                _ = stop.changed() => break,
            }
            self.flush().await;
        }
        // De-register, and give the server a moment to answer.
        if self.registrar.status().registered {
            self.registrar.deregister(Instant::now());
            self.flush().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.recv_from(&mut buf)).await;
        }
        self.publish();
    }

    async fn flush(&mut self) {
        while let Some(t) = self.registrar.poll_transmit() {
            if let Err(e) = self.socket.send_to(&t.bytes, t.peer).await {
                tracing::debug!(error = %e, "northbound datagram not sent");
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let RegistrarStatus { registered, location, registrations, updates, last_error } = self.registrar.status();
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        s.registered = *registered;
        s.location.clone_from(location);
        s.registrations = *registrations;
        s.updates = *updates;
        s.last_error.clone_from(last_error);
        s.end_devices = self.ends.len();
        s.requests = self.requests;
    }

    /// Lists the selected devices again (at the start, and when events were lost).
    fn resync(&mut self) {
        if !self.config.report_devices {
            return;
        }
        let mut q = self.config.devices.clone();
        q.offset = 0;
        q.limit = self.config.max_devices;
        let devices = match self.engine.devices(&q) {
            Ok(page) => page.items,
            Err(e) => {
                tracing::warn!(error = %e, "northbound: devices not listed");
                return;
            }
        };
        let present: std::collections::HashSet<DeviceId> = devices.iter().map(|d| d.id.clone()).collect();
        let gone: Vec<DeviceId> = self.by_id.keys().filter(|id| !present.contains(*id)).cloned().collect();
        for id in gone {
            self.remove(&id);
        }
        for d in devices {
            self.upsert(d);
        }
        self.objects_changed();
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::DeviceRegistered { device } | Event::DeviceUpdated { device } => {
                let known = self.by_id.contains_key(&device.id);
                if self.config.report_devices && selected(&self.config.devices, &device) {
                    self.upsert(*device);
                    if !known {
                        self.objects_changed();
                    }
                } else if known {
                    self.remove(&device.id);
                    self.objects_changed();
                }
            }
            Event::DeviceDeregistered { device }
            | Event::DeviceExpired { device }
            | Event::DeviceDeleted { device }
                if self.by_id.contains_key(&device) =>
            {
                self.remove(&device);
                self.objects_changed();
            }
            Event::OperationChanged { operation } => {
                if !operation.state.is_terminal() {
                    return;
                }
                let Some(prefix) = self.operations.remove(&operation.id) else { return };
                let Some(end) = self.ends.get_mut(&prefix) else { return };
                if end.firmware.operation == Some(operation.id) {
                    end.firmware.operation = None;
                    end.firmware.result = if operation.state == OperationState::Succeeded { 1 } else { 8 };
                    if let Ok(d) = self.engine.device(&end.id) {
                        end.device = d;
                    }
                    self.refresh(&prefix);
                }
            }
            _ => {}
        }
    }

    /// The registration's object list follows the end devices.
    fn objects_changed(&mut self) {
        self.registrar.set_objects(Instant::now(), self.own.link_format());
    }

    fn upsert(&mut self, device: Device) {
        if let Some(prefix) = self.by_id.get(&device.id).cloned() {
            if let Some(end) = self.ends.get_mut(&prefix) {
                end.device = device;
            }
            self.refresh(&prefix);
            return;
        }
        if self.ends.len() >= self.config.max_devices {
            return;
        }
        let used: std::collections::HashSet<u16> = self.ends.values().map(|e| e.instance).collect();
        let Some(instance) = (0..u16::MAX).find(|i| !used.contains(i)) else { return };
        let prefix = format!("d{instance}");
        let id = device.id.clone();
        let end = End { id: id.clone(), instance, device, firmware: Firmware::default(), objects: empty_objects() };
        self.ends.insert(prefix.clone(), end);
        self.by_id.insert(id.clone(), prefix.clone());
        self.own.values.insert(Path::Resource(25, instance, 0), Value::String(id.url_safe()));
        self.own.values.insert(Path::Resource(25, instance, 1), Value::String(prefix.clone()));
        self.refresh(&prefix);
    }

    fn remove(&mut self, id: &DeviceId) {
        let Some(prefix) = self.by_id.remove(id) else { return };
        if let Some(end) = self.ends.remove(&prefix) {
            for r in [0, 1, 3] {
                self.own.values.remove(&Path::Resource(25, end.instance, r));
            }
            let instance = Path::ObjectInstance(25, end.instance);
            self.notify(None, &[instance]);
        }
        self.observers.retain(|o| o.prefix.as_deref() != Some(prefix.as_str()));
        self.operations.retain(|_, p| *p != prefix);
    }

    /// Translates an end device again and notifies what changed.
    fn refresh(&mut self, prefix: &str) {
        let Some(end) = self.ends.get_mut(prefix) else { return };
        let values = translate(&end.device, &end.firmware);
        let changed = changed_paths(&end.objects.values, &values);
        end.objects.values = values;
        let links = Value::CoreLink(end.objects.link_format());
        let links_path = Path::Resource(25, end.instance, 3);
        let own_changed = self.own.values.get(&links_path) != Some(&links);
        if own_changed {
            self.own.values.insert(links_path, links);
            self.notify(None, &[links_path]);
        }
        if !changed.is_empty() {
            self.notify(Some(prefix), &changed);
        }
    }

    async fn datagram(&mut self, peer: SocketAddr, bytes: &[u8]) {
        // Only the distant server may ask anything.
        if peer != self.registrar.server() {
            return;
        }
        let Ok(packet) = Packet::from_bytes(bytes) else { return };
        match packet.header.code {
            MessageClass::Request(_) => self.request(peer, &packet).await,
            _ => {
                self.registrar.handle(Instant::now(), peer, &packet);
            }
        }
    }

    async fn request(&mut self, peer: SocketAddr, request: &Packet) {
        self.requests += 1;
        let mut response = Packet::new();
        response.header.set_type(if request.header.get_type() == MessageType::Confirmable {
            MessageType::Acknowledgement
        } else {
            MessageType::NonConfirmable
        });
        response.header.message_id = request.header.message_id;
        response.set_token(request.get_token().to_vec());
        let segments: Vec<Vec<u8>> =
            request.get_option(CoapOption::UriPath).map(|o| o.iter().cloned().collect()).unwrap_or_default();
        let first = segments.first().and_then(|s| std::str::from_utf8(s).ok()).map(str::to_owned);
        let effects = match first.clone().filter(|f| self.ends.contains_key(f)) {
            Some(prefix) => {
                let mut stripped = request.clone();
                stripped.clear_option(CoapOption::UriPath);
                for seg in &segments[1..] {
                    stripped.add_option(CoapOption::UriPath, seg.clone());
                }
                let effects = match self.ends.get_mut(&prefix) {
                    Some(end) => end.objects.handle(&stripped, &mut response),
                    None => Vec::new(),
                };
                Some((Some(prefix), effects))
            }
            None if first.as_deref().is_some_and(|f| f.starts_with('d') && f[1..].parse::<u16>().is_ok()) => {
                // A prefix of no end device (any more).
                response.header.code = MessageClass::Response(ResponseType::NotFound);
                None
            }
            None => {
                let own_exec = request.header.code == MessageClass::Request(RequestType::Post)
                    && matches!(segments.as_slice(), [o, _, r] if o == b"3" && (r == b"4" || r == b"5"));
                if own_exec {
                    // unidm is not rebooted or reset by a distant server.
                    response.header.code = MessageClass::Response(ResponseType::MethodNotAllowed);
                    None
                } else {
                    Some((None, self.own.handle(request, &mut response)))
                }
            }
        };
        match serialize(&response, &TransmissionParams::default()) {
            Ok(bytes) => {
                if let Err(e) = self.socket.send_to(&bytes, peer).await {
                    tracing::debug!(error = %e, "northbound answer not sent");
                }
            }
            Err(e) => tracing::debug!(error = %e, "northbound answer not encoded"),
        }
        if let Some((prefix, effects)) = effects {
            for effect in effects {
                self.effect(prefix.as_deref(), effect).await;
            }
        }
    }

    async fn effect(&mut self, prefix: Option<&str>, effect: Effect) {
        match effect {
            Effect::Observe { token, path, format } => self.observe(prefix, token, Observed::Path(path), format),
            Effect::ObserveComposite { token, paths, format } => {
                self.observe(prefix, token, Observed::Composite(paths), format)
            }
            Effect::CancelObserve(path) => {
                self.observers.retain(|o| !(o.prefix.as_deref() == prefix && o.observed == Observed::Path(path)))
            }
            Effect::CancelObserveComposite { token, .. } => self.observers.retain(|o| o.token != token),
            Effect::Changed(paths) => self.notify(prefix, &paths),
            Effect::RegistrationUpdate if prefix.is_none() => self.registrar.update(Instant::now()),
            e => {
                if let Some(prefix) = prefix {
                    self.end_effect(prefix, e).await;
                }
            }
        }
    }

    fn observe(&mut self, prefix: Option<&str>, token: Vec<u8>, observed: Observed, format: ContentFormat) {
        self.observers.retain(|o| o.token != token);
        if self.observers.len() >= MAX_OBSERVERS {
            return;
        }
        self.observers.push(Observer { token, prefix: prefix.map(str::to_owned), observed, format, sequence: 1 });
    }

    async fn end_effect(&mut self, prefix: &str, effect: Effect) {
        let Some(end) = self.ends.get_mut(prefix) else { return };
        let id = end.id.clone();
        let action = match effect {
            Effect::Download(uri) => {
                // The Package URI was written (an empty one resets the object).
                end.firmware = Firmware { uri: uri.clone(), downloaded: !uri.is_empty(), ..Firmware::default() };
                self.refresh(prefix);
                return;
            }
            Effect::Update => {
                let uri = end.firmware.uri.clone();
                end.firmware.downloaded = false;
                Action::Firmware(FirmwareUpdate { uri, version: None, name: None })
            }
            Effect::Reboot => Action::Reboot,
            Effect::FactoryReset => Action::FactoryReset,
            _ => return,
        };
        let firmware = matches!(action, Action::Firmware(_));
        match self.engine.create_operation(&id, action, CreateOptions::default()).await {
            Ok(op) => {
                tracing::info!(device = %id, operation = %op.id, "northbound request became an operation");
                self.operations.insert(op.id, prefix.to_owned());
                if firmware {
                    if let Some(end) = self.ends.get_mut(prefix) {
                        end.firmware.operation = Some(op.id);
                    }
                }
            }
            Err(e) => {
                tracing::info!(device = %id, error = %e, "northbound request refused");
                if firmware {
                    if let Some(end) = self.ends.get_mut(prefix) {
                        end.firmware.result = 8;
                    }
                }
            }
        }
        self.refresh(prefix);
    }

    /// Sends a notification to each observation that `changed` concerns.
    fn notify(&mut self, prefix: Option<&str>, changed: &[Path]) {
        let server = self.registrar.server();
        let mut out = Vec::new();
        for obs in self.observers.iter_mut() {
            if obs.prefix.as_deref() != prefix
                || !changed.iter().any(|c| crate::sim::composite::touches(&obs.observed, c))
            {
                continue;
            }
            let objects = match prefix {
                None => &self.own,
                Some(p) => match self.ends.get(p) {
                    Some(end) => &end.objects,
                    None => continue,
                },
            };
            let Ok((format, payload)) = objects.encode_observed(&obs.observed, obs.format) else { continue };
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
            self.message_id = self.message_id.wrapping_add(1);
            p.header.message_id = self.message_id;
            if let Ok(bytes) = serialize(&p, &TransmissionParams::default()) {
                // A notification that does not fit in the socket's buffer now is dropped: the
                // next change sends the state anew.
                let _ = self.socket.try_send_to(&bytes, server);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::{Protocol, Timestamp};

    fn device(id: &str) -> Device {
        let mut d = Device::new(id.parse().unwrap(), Timestamp::from_system(std::time::SystemTime::UNIX_EPOCH));
        d.identity.manufacturer = Some("Acme".into());
        d.identity.model = Some("Box".into());
        d.identity.fw_version = Some("1.0".into());
        d
    }

    #[test]
    fn a_device_is_translated_to_device_and_firmware_objects() {
        let d = device("tr069:00D09E-Box-SN1");
        let v = translate(&d, &Firmware::default());
        assert_eq!(v[&Path::Resource(3, 0, 0)], Value::String("Acme".into()));
        assert_eq!(v[&Path::Resource(3, 0, 3)], Value::String("1.0".into()));
        assert!(!v.contains_key(&Path::Resource(3, 0, 2)), "no serial known: no resource");
        assert_eq!(
            (v[&Path::Resource(5, 0, 3)].clone(), v[&Path::Resource(5, 0, 5)].clone()),
            (Value::Integer(0), Value::Integer(0))
        );

        // A Package URI written: Downloaded; an update running: Updating; its end: Idle + result.
        let mut fw = Firmware { uri: "http://f/x.bin".into(), downloaded: true, ..Firmware::default() };
        assert_eq!(firmware_state(&fw, None), (2, 0));
        fw.downloaded = false;
        fw.operation = Some(OperationId(7));
        assert_eq!(firmware_state(&fw, None), (3, 0));
        fw.operation = None;
        fw.result = 1;
        assert_eq!(firmware_state(&fw, None), (0, 1));
        // Without the gateway's own update, the model's report shows.
        let failed = FirmwareStatus { state: FirmwareState::Failed, ..FirmwareStatus::default() };
        assert_eq!(firmware_state(&Firmware::default(), Some(&failed)), (0, 8));
    }

    #[test]
    fn selection_by_protocol_and_labels() {
        let mut d = device("omadm:IMEI1");
        let mut q = DeviceQuery::default();
        assert!(selected(&q, &d));
        q.protocol = Some(Protocol::Tr069);
        assert!(!selected(&q, &d));
        q.protocol = None;
        q.labels.insert("site".into(), "north".into());
        assert!(!selected(&q, &d));
        d.labels.insert("site".into(), "north".into());
        assert!(selected(&q, &d));
    }

    #[test]
    fn changes_are_found_both_ways() {
        let a: BTreeMap<Path, Value> = [(Path::Resource(3, 0, 0), Value::Integer(1))].into();
        let b: BTreeMap<Path, Value> = [(Path::Resource(3, 0, 1), Value::Integer(1))].into();
        let mut c = changed_paths(&a, &b);
        c.sort();
        assert_eq!(c, [Path::Resource(3, 0, 0), Path::Resource(3, 0, 1)]);
        assert!(changed_paths(&a, &a).is_empty());
    }
}

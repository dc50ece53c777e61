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
//!   versions, device type, battery, memory, error codes), `/4/0` Connectivity Monitoring,
//!   `/5/0` Firmware Update, `/6/0` Location and `/9/x` Software Management (a module per
//!   instance), answered from the model (the gateway's cache). What the model cannot carry
//!   to the device (a Create, a Delete, a Write other than the Package URI, another Execute)
//!   is refused with 4.05 rather than kept in its copy. Read, Discover, Write-Attributes, Observe (notified when the model
//!   changes) in text, TLV and SenML JSON / CBOR as the server asks.
//! - **Proxy mode** for LwM2M end devices (with the LwM2M adapter,
//!   [`Northbound::start_with`]; MOO-001..004): a request under the prefix goes to the device
//!   itself while it is registered (`/25/x/3` lists the device's own objects), through the
//!   gateway's LwM2M server, and its answer comes back piggybacked, or after an empty ACK as a
//!   separate response when the device takes longer than 500 ms; an Observe follows the
//!   device's own notifications. While the device is not registered, the model answers. A
//!   device's label `northbound` switches it at run time: `proxy`, `model` (answered from the
//!   model), `transparent` or `hidden` (not an end device).
//! - **Transparent mode** (TMode-002): an LwM2M device labelled `transparent` is pointed at
//!   the distant server by unidm's bootstrap server (the distant account first in its
//!   bootstrap configuration, then Execute `/1/0/9` Bootstrap-Request Trigger): it registers
//!   there itself and is not an end device. Labelled otherwise, the account leaves its
//!   configuration; the device comes back at its next bootstrap. Composite requests (FETCH / iPATCH) are not
//!   forwarded (5.01).
//! - **Groups** ([`NorthboundConfig::report_groups`]; DG-001/002, FORA-001/002): each unidm
//!   group is a `/25` instance too, Device ID `group:{id}`, prefix `g{x}`: `/3/0` names it,
//!   `/5/0` Package URI + Update start one group firmware operation over its members, State
//!   3 while it runs, then Update Result 1 when every member succeeded, 8 otherwise; Execute
//!   `/3/0/4` reboots every member. Listed again every 10 s.
//! - **Operations**: Execute `/{prefix}/3/0/4` reboots the device and `/3/0/5` resets it,
//!   `/9/x/6`, `/9/x/10` and `/9/x/11` uninstall, activate and deactivate module x, through
//!   unidm operations on its own protocol. Firmware: a Write of the Package URI
//!   `/{prefix}/5/0/1` moves State `/5/0/3` to Downloaded (2) at once: TR-069 and OMA DM fetch
//!   and apply an image in one step, so the download happens with the update; Execute Update
//!   `/5/0/2` runs unidm's firmware operation with that URI (State 3 Updating meanwhile), and
//!   its end sets State 0 with Update Result `/5/0/5` 1 (success) or 8 (failed), the new
//!   version in `/3/0/3` as the device reports it. An empty Package URI resets to Idle.
//!
//! Not yet: composite requests in proxy mode, installing a module through
//! `/9` on a translated device, RPK / X.509 toward the distant server.
//!
//! **DTLS** ([`NorthboundConfig::psk`]): CoAP over DTLS 1.2 with a PSK toward a `coaps`
//! server (the key is never printed); a bootstrap server that writes a PSK account switches
//! the client to DTLS with it.
//!
//! **Bootstrap** ([`NorthboundConfig::bootstrap`]; DB-001, TMode-001): the client asks a
//! distant bootstrap server first, takes the accounts it writes, and registers with the server
//! account given at Bootstrap-Finish; see [`registrar`].

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
    SoftwareAction,
};

use crate::adapter::device_request;
use crate::coap::{encode_uint, serialize, TransmissionParams};
use crate::codec::{ContentFormat, Value};
use crate::model::BuiltinModels;
use crate::path::Path;
use crate::server::{DmRequest, DmResponse, Observed};
use crate::sim::transport::Transport;
use crate::sim::{Effect, Objects};
use crate::Lwm2mAdapter;
use registrar::{Registrar, RegistrarConfig, RegistrarStatus};

/// Settings of the northbound client.
#[derive(Debug, Clone)]
pub struct NorthboundConfig {
    /// The distant LwM2M server (with [`NorthboundConfig::bootstrap`], until the bootstrap
    /// server writes another).
    pub server: SocketAddr,
    /// A distant bootstrap server that gives the client its server account first (DB-001,
    /// TMode-001); default none.
    pub bootstrap: Option<SocketAddr>,
    /// CoAP over DTLS 1.2 toward the distant server with this pre-shared key (`coaps`);
    /// default none: plain CoAP. A bootstrap server may give one too.
    pub psk: Option<Psk>,
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
    /// LwM2M end devices in proxy mode (default true, with the LwM2M adapter given to
    /// [`Northbound::start_with`]): a request under such a device's prefix is forwarded to the
    /// device while it is registered, and answered from the model while it is not. Off, every
    /// end device is answered from the model.
    pub proxy_lwm2m: bool,
    /// unidm's groups listed too, each as a `/25` instance whose operations fan out to its
    /// members (default true; DG-001/002, FORA-001/002).
    pub report_groups: bool,
}

impl NorthboundConfig {
    /// Defaults toward `server` as `endpoint`.
    pub fn new(server: SocketAddr, endpoint: impl Into<String>) -> Self {
        NorthboundConfig {
            server,
            bootstrap: None,
            psk: None,
            endpoint: endpoint.into(),
            lifetime: Duration::from_secs(300),
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            devices: DeviceQuery::default(),
            report_devices: true,
            max_devices: 10_000,
            proxy_lwm2m: true,
            report_groups: true,
        }
    }
}

/// A DTLS pre-shared key: its identity, and the key, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk {
    /// PSK identity.
    pub identity: Vec<u8>,
    /// The key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Psk").field("identity", &String::from_utf8_lossy(&self.identity)).finish_non_exhaustive()
    }
}

/// Where the northbound client stands (the API's and `/metrics`' view).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
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
    /// Binds the local socket, lists the end devices and starts registering; every end device
    /// is answered from the model.
    pub async fn start(engine: Engine, config: NorthboundConfig) -> io::Result<Northbound> {
        Northbound::start_with(engine, config, None).await
    }

    /// [`Northbound::start`] with the engine's LwM2M adapter, through which requests for LwM2M
    /// end devices are forwarded to them (proxy mode, [`NorthboundConfig::proxy_lwm2m`]).
    pub async fn start_with(
        engine: Engine,
        config: NorthboundConfig,
        lwm2m: Option<Arc<Lwm2mAdapter>>,
    ) -> io::Result<Northbound> {
        let socket = UdpSocket::bind(config.listen).await?;
        let local = socket.local_addr()?;
        let status = Arc::new(Mutex::new(NorthboundStatus {
            server: config.server.to_string(),
            endpoint: config.endpoint.clone(),
            ..NorthboundStatus::default()
        }));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let dtls = match &config.psk {
            Some(psk) => Some(crate::dtls::DtlsClient::psk(&psk.identity, &psk.key).map_err(io::Error::other)?),
            None => None,
        };
        let socket = Transport::new(socket, dtls);
        let mut gateway = Gateway::new(engine, config, socket, status.clone());
        gateway.lwm2m = lwm2m.filter(|_| gateway.config.proxy_lwm2m);
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

    /// De-registers (retransmitting for at most 5 s until the server answers) and stops.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(DEREGISTER_WAIT + Duration::from_secs(1), task).await;
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
    /// Its LwM2M endpoint, when requests are forwarded to it (proxy mode).
    endpoint: Option<String>,
    instance: u16,
    device: Device,
    firmware: Firmware,
    objects: Objects,
}

/// A unidm group shown as a `/25` instance: its firmware object fans out to the members.
#[derive(Debug)]
struct GroupEnd {
    id: String,
    instance: u16,
    firmware: Firmware,
    /// The group operation running, and whether it runs a firmware update.
    operation: Option<(OperationId, bool)>,
    objects: Objects,
}

/// How often the groups are listed again (the engine announces no group changes).
const GROUPS_EVERY: Duration = Duration::from_secs(10);

/// An observation of the distant server.
#[derive(Debug)]
struct Observer {
    token: Vec<u8>,
    /// The end device's prefix, `None` for the gateway's own objects.
    prefix: Option<String>,
    observed: Observed,
    format: ContentFormat,
    sequence: u32,
    /// Made by a request forwarded to the device: notified from the device's notifications
    /// (the engine's observation events), not from the model.
    forwarded: bool,
}

/// A request forwarded to an end device, until its answer is sent.
#[derive(Debug)]
struct Forwarding {
    peer: SocketAddr,
    token: Vec<u8>,
    confirmable: bool,
    /// An empty ACK went out: the answer is a separate response (RFC 7252 §5.2.2).
    acked: bool,
    /// When to send the empty ACK if the device has not answered by then.
    ack_at: Instant,
    /// The observation the request asks for, with its end device's prefix.
    observe: Option<(String, Path)>,
}

/// What a forwarding task reports back.
struct Forwarded {
    message_id: u16,
    answer: Result<DmResponse, String>,
}

/// How long a forwarded request may wait for the device before the distant server gets an
/// empty ACK and, later, a separate response (below its ACK_TIMEOUT of 2 s).
const PIGGYBACK_WAIT: Duration = Duration::from_millis(500);
/// How long a forwarded request waits for the device at most (a sleeping device answers at
/// its next update); then 5.04 Gateway Timeout.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(93);
/// Most requests forwarded at once.
const MAX_FORWARDING: usize = 256;

/// How long a stopping client retransmits its De-register at most (one retransmission after
/// ACK_TIMEOUT).
const DEREGISTER_WAIT: Duration = Duration::from_secs(5);

/// Most observations the distant server may hold.
const MAX_OBSERVERS: usize = 10_000;

struct Gateway {
    engine: Engine,
    config: NorthboundConfig,
    /// Plain UDP, or DTLS with a PSK ([`NorthboundConfig::psk`], or the account a bootstrap
    /// server gave).
    socket: Transport,
    registrar: Registrar,
    own: Objects,
    ends: BTreeMap<String, End>,
    by_id: HashMap<DeviceId, String>,
    observers: Vec<Observer>,
    operations: HashMap<OperationId, String>,
    status: Arc<Mutex<NorthboundStatus>>,
    message_id: u16,
    requests: u64,
    lwm2m: Option<Arc<Lwm2mAdapter>>,
    groups: BTreeMap<String, GroupEnd>,
    groups_at: Instant,
    /// LwM2M devices pointed at the distant server (transparent mode).
    transparent: std::collections::HashSet<DeviceId>,
    /// `/25` instance ids: the next never used, and those given back.
    next_instance: u16,
    released: std::collections::BTreeSet<u16>,
    forwarding: HashMap<u16, Forwarding>,
    forwarded_tx: tokio::sync::mpsc::UnboundedSender<Forwarded>,
    forwarded_rx: Option<tokio::sync::mpsc::UnboundedReceiver<Forwarded>>,
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Err(e) = getrandom::fill(&mut b) {
        tracing::error!(error = %e, "no OS randomness for the northbound client's tokens");
    }
    u64::from_be_bytes(b)
}

fn empty_objects() -> Objects {
    Objects {
        values: BTreeMap::new(),
        v1_1: true,
        attributes: Default::default(),
        empty_instances: Default::default(),
        ignore_accept: false,
    }
}

/// The device label that sets how the gateway shows one device (MOO-001..004): `proxy`
/// (requests forwarded, LwM2M devices), `model` (answered from unidm's model), `transparent`
/// (an LwM2M device pointed at the distant server by unidm's bootstrap server, not an end
/// device) or `hidden` (not an end device). Set and changed at run time through the API's
/// labels.
pub const MODE_LABEL: &str = "northbound";

/// The label value of transparent mode.
const TRANSPARENT: &str = "transparent";

/// The gateway's own `/1/0` Server and `/3/0` Device (unidm itself).
fn own_device(config: &NorthboundConfig) -> Vec<(Path, Value)> {
    let s = |t: &str| Value::String(t.to_owned());
    vec![
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
    ]
}

/// The object list of a Register or Update: every instance but the Security object's, which
/// is never listed (TS Core 1.1 §6.2.1).
fn registration_links(own: &Objects) -> String {
    let listed: Vec<String> =
        own.instances().iter().filter(|p| p.object_id() != Some(0)).map(|p| format!("<{p}>")).collect();
    listed.join(",")
}

/// Whether `device` is one `q` selects.
fn selected(q: &DeviceQuery, device: &Device) -> bool {
    device.labels.get(MODE_LABEL).is_none_or(|m| m != "hidden" && m != TRANSPARENT)
        && q.protocol.is_none_or(|p| p == device.protocol)
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
    let snap = &device.snapshot;
    // Error Code (a mandatory multiple resource): 0, no error, unless the device reported some.
    let codes = if snap.error_codes.is_empty() { vec![0] } else { snap.error_codes.clone() };
    for (i, code) in codes.into_iter().take(64).enumerate() {
        v.insert(Path::ResourceInstance(3, 0, 11, i as u16), Value::Integer(code));
    }
    if let Some(b) = &snap.battery {
        v.insert(Path::Resource(3, 0, 9), Value::Integer(i64::from(b.level)));
        v.insert(
            Path::Resource(3, 0, 20),
            Value::Integer(unidm_models::units::onem2m_battery_status_to_lwm2m(b.status)),
        );
    }
    if let Some(m) = &snap.memory {
        // kB of 1000 bytes in /3 (registry `3.xml` resources 10 and 21).
        v.insert(Path::Resource(3, 0, 10), Value::Integer(unidm_models::units::bytes_to_lwm2m_kb(m.available)));
        v.insert(Path::Resource(3, 0, 21), Value::Integer(unidm_models::units::bytes_to_lwm2m_kb(m.total)));
    }
    // Connectivity Monitoring /4 (registry `4.xml`).
    if let Some(c) = &snap.connectivity {
        let bearer = c.bearer.unwrap_or(41); // 41: Ethernet, when the device does not say
        v.insert(Path::Resource(4, 0, 0), Value::Integer(bearer));
        v.insert(Path::ResourceInstance(4, 0, 1, 0), Value::Integer(bearer));
        v.insert(Path::Resource(4, 0, 2), Value::Integer(c.signal_strength_dbm.unwrap_or(0)));
        if let Some(q) = c.link_quality {
            v.insert(Path::Resource(4, 0, 3), Value::Integer(q));
        }
        for (i, ip) in c.ip_addresses.iter().take(16).enumerate() {
            v.insert(Path::ResourceInstance(4, 0, 4, i as u16), Value::String(ip.clone()));
        }
        if let Some(apn) = &c.apn {
            v.insert(Path::ResourceInstance(4, 0, 7, 0), Value::String(apn.clone()));
        }
        if let Some(cell) = c.cell_id {
            v.insert(Path::Resource(4, 0, 8), Value::Integer(cell));
        }
    }
    // Location /6 (registry `6.xml`).
    if let Some(l) = &snap.location {
        v.insert(Path::Resource(6, 0, 0), Value::Float(l.latitude));
        v.insert(Path::Resource(6, 0, 1), Value::Float(l.longitude));
        if let Some(alt) = l.altitude {
            v.insert(Path::Resource(6, 0, 2), Value::Float(alt));
        }
        let at = snap.refreshed_at.unwrap_or(device.updated_at);
        v.insert(Path::Resource(6, 0, 5), Value::Time(at.millis() / 1000));
    }
    // Software Management /9 (registry `9.xml`), one instance per module, in snapshot order.
    for (i, m) in snap.software.iter().take(256).enumerate() {
        let i = i as u16;
        v.insert(Path::Resource(9, i, 0), Value::String(m.name.clone()));
        v.insert(Path::Resource(9, i, 1), Value::String(m.version.clone().unwrap_or_default()));
        // Update State: 4 INSTALLED, or 3 DELIVERED for a module present but not installed.
        v.insert(Path::Resource(9, i, 7), Value::Integer(if m.installed { 4 } else { 3 }));
        v.insert(Path::Resource(9, i, 12), Value::Boolean(m.active));
    }
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

/// A software Execute (`/9/x/6` Uninstall, `/9/x/10` Activate, `/9/x/11` Deactivate; registry
/// `9.xml`) on a module of `end`'s model, as the unidm action it becomes; `None` for any other
/// request; 4.04 for a module the device does not have, 4.05 for Install `/9/x/4` (a module
/// is installed with a new instance and a Package URI, which the model does not take).
fn software_action(end: &End, request: &Packet, rest: &[Vec<u8>]) -> Option<Result<Action, ResponseType>> {
    if request.header.code != MessageClass::Request(RequestType::Post) || end.endpoint.is_some() {
        return None;
    }
    let segments: Vec<&str> = rest.iter().map(|s| std::str::from_utf8(s).unwrap_or("")).collect();
    let (instance, resource) = match segments.as_slice() {
        ["9", i, r] => (i.parse::<usize>().ok()?, r.parse::<u16>().ok()?),
        _ => return None,
    };
    let module = end.device.snapshot.software.get(instance).map(|m| m.id.clone());
    let action = match (resource, module) {
        (4 | 6 | 10 | 11, None) => return Some(Err(ResponseType::NotFound)),
        (4, Some(_)) => return Some(Err(ResponseType::MethodNotAllowed)),
        (6, Some(module)) => SoftwareAction::Uninstall { module },
        (10, Some(module)) => SoftwareAction::Activate { module },
        (11, Some(module)) => SoftwareAction::Deactivate { module },
        _ => return None,
    };
    Some(Ok(Action::Software(action)))
}

/// The objects of a group shown as an end device: `/3/0` naming it, `/5/0` whose Update fans
/// out to the members (State 3 while the group operation runs; Update Result 1 when every
/// member succeeded, 8 otherwise).
fn translate_group(g: &GroupEnd) -> BTreeMap<Path, Value> {
    let s = |t: &str| Value::String(t.to_owned());
    let running_firmware = g.operation.is_some_and(|(_, firmware)| firmware);
    let state = if running_firmware {
        3
    } else if g.firmware.downloaded {
        2
    } else {
        0
    };
    [
        (Path::Resource(3, 0, 0), s("unidm")),
        (Path::Resource(3, 0, 1), s("unidm group")),
        (Path::Resource(3, 0, 2), s(&g.id)),
        (Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0)),
        (Path::Resource(3, 0, 16), s("U")),
        (Path::Resource(3, 0, 17), s("group")),
        (Path::Resource(5, 0, 1), s(&g.firmware.uri)),
        (Path::Resource(5, 0, 3), Value::Integer(state)),
        (Path::Resource(5, 0, 5), Value::Integer(if state == 0 { g.firmware.result } else { 0 })),
        (Path::Resource(5, 0, 9), Value::Integer(0)),
    ]
    .into_iter()
    .collect()
}

/// What a device (or group) answered from the model refuses with 4.05, rather than change
/// the model's copy that the device never sees: a Create, a Delete, a Write of anything but the
/// Package URI `/5/0/1`, an Execute of anything but Reboot `/3/0/4`, Factory Reset `/3/0/5`
/// and Update `/5/0/2` (software Executes are taken before). Write-Attributes (a PUT with
/// queries and no payload) is taken.
fn model_refusal(request: &Packet, rest: &[Vec<u8>]) -> Option<ResponseType> {
    let MessageClass::Request(method) = request.header.code else { return None };
    let segments: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
    let allowed = match method {
        RequestType::Get | RequestType::Fetch => true,
        RequestType::Put if request.payload.is_empty() => true,
        RequestType::Put | RequestType::IPatch => matches!(segments.as_slice(), [b"5", b"0", b"1"]),
        RequestType::Post => matches!(
            segments.as_slice(),
            [b"5", b"0", b"1"] | [b"5", b"0", b"2"] | [b"3", b"0", b"4"] | [b"3", b"0", b"5"]
        ),
        _ => false,
    };
    (!allowed).then_some(ResponseType::MethodNotAllowed)
}

/// The paths whose values differ between `old` and `new`.
fn changed_paths(old: &BTreeMap<Path, Value>, new: &BTreeMap<Path, Value>) -> Vec<Path> {
    let mut out: Vec<Path> = new.iter().filter(|(p, v)| old.get(*p) != Some(*v)).map(|(p, _)| *p).collect();
    out.extend(old.keys().filter(|p| !new.contains_key(*p)));
    out
}

impl Gateway {
    fn new(engine: Engine, config: NorthboundConfig, socket: Transport, status: Arc<Mutex<NorthboundStatus>>) -> Self {
        let mut own = empty_objects();
        own.values.extend(own_device(&config));
        let registrar_config = RegistrarConfig {
            endpoint: config.endpoint.clone(),
            lifetime: config.lifetime,
            version: "1.1".into(),
            binding: "U".into(),
        };
        let seed = random_u64();
        let (forwarded_tx, forwarded_rx) = tokio::sync::mpsc::unbounded_channel();
        let links = registration_links(&own);
        let registrar = match config.bootstrap {
            Some(bs) => {
                own.ensure_bootstrap_account(bs);
                Registrar::bootstrapped(registrar_config, bs, links, Instant::now(), seed)
            }
            None => Registrar::new(registrar_config, config.server, links, Instant::now(), seed),
        };
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
            lwm2m: None,
            groups: BTreeMap::new(),
            groups_at: Instant::now() + GROUPS_EVERY,
            next_instance: 0,
            released: Default::default(),
            transparent: Default::default(),
            forwarding: HashMap::new(),
            forwarded_tx,
            forwarded_rx: Some(forwarded_rx),
        }
    }

    async fn run(mut self, mut events: unidm_core::Subscription, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut buf = vec![0u8; 2048];
        let Some(mut forwarded) = self.forwarded_rx.take() else { return };
        loop {
            let ack_due = self.forwarding.values().filter(|f| !f.acked).map(|f| f.ack_at).min();
            let groups_due = self.config.report_groups.then_some(self.groups_at);
            let deadline = [self.registrar.poll_timeout(), ack_due, groups_due].into_iter().flatten().min();
            let deadline = deadline.map(tokio::time::Instant::from_std);
            tokio::select! {
                Some(f) = forwarded.recv() => self.answer_forwarded(f).await,
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
                } } => {
                    let now = Instant::now();
                    self.registrar.handle_timeout(now);
                    self.ack_slow_forwards(now).await;
                    if self.config.report_groups && self.groups_at <= now {
                        self.groups_at = now + GROUPS_EVERY;
                        if self.sync_groups() {
                            self.objects_changed();
                        }
                    }
                }
                _ = stop.changed() => break,
            }
            self.flush().await;
        }
        // A Register the server may already have taken: its answer first, so that the
        // registration it made is the one de-registered. Then De-register, retransmitting
        // until the server answers. Both within `DEREGISTER_WAIT`; requests meanwhile are not
        // taken.
        let give_up = Instant::now() + DEREGISTER_WAIT;
        self.settle(&mut buf, give_up, Registrar::registering).await;
        if self.registrar.status().registered {
            self.registrar.deregister(Instant::now());
            self.flush().await;
            self.settle(&mut buf, give_up, |r| r.poll_timeout().is_some()).await;
        }
        self.publish();
    }

    /// Takes the server's answers (and retransmits) while `pending` holds, until `give_up`.
    async fn settle(&mut self, buf: &mut [u8], give_up: Instant, pending: impl Fn(&Registrar) -> bool) {
        while pending(&self.registrar) && Instant::now() < give_up {
            let next = self.registrar.poll_timeout().unwrap_or(give_up).min(give_up);
            let wait = next.saturating_duration_since(Instant::now());
            match tokio::time::timeout(wait, self.socket.recv_from(buf)).await {
                Ok(Ok((n, peer))) => {
                    if let Ok(p) = Packet::from_bytes(&buf[..n]) {
                        if !matches!(p.header.code, MessageClass::Request(_)) {
                            self.registrar.handle(Instant::now(), peer, &p);
                        }
                    }
                }
                _ => self.registrar.handle_timeout(Instant::now()),
            }
            self.flush().await;
        }
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
            // unidm alone (and its groups, when they are reported).
            self.sync_groups();
            self.objects_changed();
            return;
        }
        let mut q = self.config.devices.clone();
        q.offset = 0;
        q.limit = self.config.max_devices;
        let devices = match self.engine.devices(&q) {
            Ok(page) => {
                page.items.iter().for_each(|d| self.transparent(d));
                page.items.into_iter().filter(|d| selected(&self.config.devices, d)).collect::<Vec<_>>()
            }
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
        self.sync_groups();
        self.objects_changed();
    }

    /// Lists unidm's groups again; whether one came or went.
    fn sync_groups(&mut self) -> bool {
        if !self.config.report_groups {
            return false;
        }
        let Ok(groups) = self.engine.groups() else { return false };
        let ids: std::collections::HashSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        let gone: Vec<String> =
            self.groups.iter().filter(|(_, g)| !ids.contains(g.id.as_str())).map(|(p, _)| p.clone()).collect();
        let mut changed = !gone.is_empty();
        for prefix in gone {
            if let Some(g) = self.groups.remove(&prefix) {
                for r in [0, 1, 3] {
                    self.own.values.remove(&Path::Resource(25, g.instance, r));
                }
                self.released.insert(g.instance);
            }
            self.observers.retain(|o| o.prefix.as_deref() != Some(prefix.as_str()));
        }
        for group in groups {
            if self.groups.values().any(|g| g.id == group.id) {
                continue;
            }
            let Some(instance) = self.free_instance() else { break };
            let prefix = format!("g{instance}");
            let mut g = GroupEnd {
                id: group.id.clone(),
                instance,
                firmware: Firmware::default(),
                operation: None,
                objects: empty_objects(),
            };
            g.objects.values = translate_group(&g);
            self.own.values.insert(Path::Resource(25, instance, 0), Value::String(format!("group:{}", group.id)));
            self.own.values.insert(Path::Resource(25, instance, 1), Value::String(prefix.clone()));
            self.own.values.insert(Path::Resource(25, instance, 3), Value::CoreLink(g.objects.link_format()));
            self.groups.insert(prefix, g);
            changed = true;
        }
        changed
    }

    /// A `/25` instance id neither an end device nor a group holds: one given back first,
    /// else the next never used.
    fn free_instance(&mut self) -> Option<u16> {
        if let Some(i) = self.released.pop_first() {
            return Some(i);
        }
        let i = self.next_instance;
        self.next_instance = self.next_instance.checked_add(1)?;
        Some(i)
    }

    /// A group's objects again after its operation moved, and the observations told.
    fn refresh_group(&mut self, prefix: &str) {
        let Some(g) = self.groups.get_mut(prefix) else { return };
        let values = translate_group(g);
        let changed = changed_paths(&g.objects.values, &values);
        g.objects.values = values;
        if !changed.is_empty() {
            self.notify(Some(prefix), &changed);
        }
    }

    /// A Package URI written, or an Execute, on a group's objects: the fan-out.
    async fn group_effect(&mut self, prefix: &str, effect: Effect) {
        let Some(g) = self.groups.get_mut(prefix) else { return };
        let (action, firmware) = match effect {
            Effect::Download(uri) => {
                g.firmware = Firmware { uri: uri.clone(), downloaded: !uri.is_empty(), ..Firmware::default() };
                self.refresh_group(prefix);
                return;
            }
            Effect::Update => {
                g.firmware.downloaded = false;
                let uri = g.firmware.uri.clone();
                (Action::Firmware(FirmwareUpdate { uri, version: None, name: None }), true)
            }
            Effect::Reboot => (Action::Reboot, false),
            Effect::FactoryReset => (Action::FactoryReset, false),
            _ => return,
        };
        let id = g.id.clone();
        match self.engine.start_group_operation(&id, action, None, CreateOptions::default()).await {
            Ok(op) => {
                tracing::info!(group = %id, operation = %op.id, "northbound request fanned out");
                if let Some(g) = self.groups.get_mut(prefix) {
                    g.operation = Some((op.id, firmware));
                    g.firmware.result = 0;
                }
            }
            Err(e) => {
                tracing::info!(group = %id, error = %e, "northbound fan-out refused");
                if let (Some(g), true) = (self.groups.get_mut(prefix), firmware) {
                    g.firmware.result = 8;
                }
            }
        }
        self.refresh_group(prefix);
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::DeviceRegistered { device } | Event::DeviceUpdated { device } => {
                self.transparent(&device);
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
            Event::Observation { device, path, value, .. } => self.notify_forwarded(&device, &path, &value),
            Event::GroupOperationChanged { id, aggregate } if aggregate.done => {
                let found = self.groups.iter().find(|(_, g)| g.operation.is_some_and(|(op, _)| op == id));
                let Some(prefix) = found.map(|(p, _)| p.clone()) else { return };
                if let Some(g) = self.groups.get_mut(&prefix) {
                    let all = aggregate.counts.get("succeeded").copied().unwrap_or(0) == aggregate.total;
                    if g.operation.take().is_some_and(|(_, firmware)| firmware) {
                        // FORA-002: one Update Result for all: success only when every member succeeded.
                        g.firmware.result = if all { 1 } else { 8 };
                    }
                }
                self.refresh_group(&prefix);
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

    /// Transparent mode (MOO-001..004, TMode-002): an LwM2M device labelled `transparent` gets
    /// the distant server's account first in its bootstrap configuration (unidm's bootstrap
    /// server), and is asked to bootstrap again (Execute `/1/0/9` Bootstrap-Request Trigger):
    /// it then registers with the distant server itself. Labelled otherwise again, the account
    /// leaves its configuration: the device comes back at its next bootstrap.
    fn transparent(&mut self, device: &Device) {
        let wanted = device.labels.get(MODE_LABEL).is_some_and(|m| m == TRANSPARENT);
        let Some(adapter) = self.lwm2m.clone().filter(|_| device.protocol == unidm_models::Protocol::Lwm2m) else {
            return;
        };
        let was = self.transparent.contains(&device.id);
        if wanted == was {
            return;
        }
        if wanted {
            self.transparent.insert(device.id.clone());
        } else {
            self.transparent.remove(&device.id);
        }
        let (engine, id) = (self.engine.clone(), device.id.clone());
        let uri = format!("coap://{}", self.registrar.server());
        let lifetime = u32::try_from(self.config.lifetime.as_secs()).unwrap_or(u32::MAX);
        tokio::spawn(async move {
            let ep = id.native();
            let Some(mut config) = adapter.bootstrap_config(ep).await else {
                tracing::warn!(device = %id, "transparent mode needs a bootstrap configuration for the device");
                return;
            };
            config.servers.retain(|s| s.uri != uri);
            if wanted {
                let short_server_id =
                    config.servers.iter().map(|s| s.short_server_id).max().unwrap_or(0).saturating_add(1);
                let account = crate::bootstrap::ServerAccount {
                    short_server_id,
                    uri,
                    security: crate::bootstrap::SecurityMode::NoSec {},
                    lifetime,
                    binding: "U".into(),
                    default_min_period: None,
                    default_max_period: None,
                    notification_storing: false,
                };
                // First: a client registers with the first server account it is given.
                config.servers.insert(0, account);
            }
            if let Err(e) = adapter.put_bootstrap_config(ep, config).await {
                tracing::warn!(device = %id, error = %e, "bootstrap configuration not changed for transparent mode");
                return;
            }
            if wanted {
                let trigger = Action::Native(unidm_models::NativeRequest {
                    op: unidm_models::NativeOp::Execute,
                    path: "/1/0/9".into(),
                    value: None,
                    args: None,
                    format: None,
                });
                match engine.create_operation(&id, trigger, CreateOptions::default()).await {
                    Ok(op) => {
                        tracing::info!(device = %id, operation = %op.id, "transparent mode: asked to bootstrap again")
                    }
                    Err(e) => {
                        tracing::warn!(device = %id, error = %e, "transparent mode: no Bootstrap-Request Trigger")
                    }
                }
            }
        });
    }

    /// The registration's object list follows the end devices.
    fn objects_changed(&mut self) {
        self.registrar.set_objects(Instant::now(), registration_links(&self.own));
    }

    /// The gateway's own values a Bootstrap-Delete may have taken (`/3/0`, `/25`), put back.
    fn restore_own(&mut self) {
        for (path, value) in own_device(&self.config) {
            self.own.values.insert(path, value);
        }
        let ends = self.ends.iter().map(|(p, e)| (e.instance, e.id.url_safe(), p.clone(), e.objects.link_format()));
        let groups = self.groups.iter().map(|(p, g)| {
            let id = format!("group:{}", g.id);
            (g.instance, id, p.clone(), g.objects.link_format())
        });
        let listed: Vec<(u16, String, String, String)> = ends.chain(groups).collect();
        for (instance, id, prefix, links) in listed {
            self.own.values.insert(Path::Resource(25, instance, 0), Value::String(id));
            self.own.values.insert(Path::Resource(25, instance, 1), Value::String(prefix));
            self.own.values.entry(Path::Resource(25, instance, 3)).or_insert(Value::CoreLink(links));
        }
    }

    /// A request of the bootstrap server while it writes the accounts; at Bootstrap-Finish,
    /// registration with the server account written (its lifetime from the Server object
    /// instance of the same Short Server ID).
    async fn bootstrap_request(&mut self, peer: SocketAddr, request: &Packet) {
        let mut response = crate::coap::response_to(request);
        let effects = self.own.handle_bootstrap(request, &mut response);
        self.send(peer, &response).await;
        if !effects.contains(&Effect::BootstrapFinished) {
            return;
        }
        let values = &self.own.values;
        let account = self.own.server_account().map(|(addr, short_id)| {
            let instance = values.iter().find_map(|(p, v)| match (p, v) {
                (Path::Resource(1, i, 0), Value::Integer(id)) if *id == short_id => Some(*i),
                _ => None,
            });
            let lifetime = instance.and_then(|i| match values.get(&Path::Resource(1, i, 1)) {
                Some(Value::Integer(s)) if *s > 0 => Some(Duration::from_secs(*s as u64)),
                _ => None,
            });
            (addr, lifetime)
        });
        let account = match (account, self.own.server_security()) {
            (Some(account), Some(security)) => {
                match self.socket.use_dtls(security.client(), self.own.bootstrap_server()) {
                    // The registration goes over DTLS with what was given.
                    Ok(()) => Some(account),
                    Err(e) => {
                        tracing::warn!(error = %e, "the DTLS credentials the bootstrap server gave are unusable");
                        None
                    }
                }
            }
            (account, _) => account,
        };
        if let Some((addr, _)) = &account {
            tracing::info!(server = %addr, "bootstrapped: registering with the server account given");
        }
        self.registrar.bootstrap_finished(Instant::now(), account);
        self.restore_own();
        self.objects_changed();
    }

    fn upsert(&mut self, device: Device) {
        let endpoint = self.proxy_endpoint(&device);
        if let Some(prefix) = self.by_id.get(&device.id).cloned() {
            if let Some(end) = self.ends.get_mut(&prefix) {
                if end.endpoint != endpoint {
                    // Switched between proxy and model: observations made the other way end.
                    end.endpoint = endpoint;
                    self.observers.retain(|o| o.prefix.as_deref() != Some(prefix.as_str()));
                }
                end.device = device;
            }
            self.refresh(&prefix);
            return;
        }
        if self.ends.len() >= self.config.max_devices {
            return;
        }
        let Some(instance) = self.free_instance() else { return };
        let prefix = format!("d{instance}");
        let id = device.id.clone();
        let end =
            End { id: id.clone(), endpoint, instance, device, firmware: Firmware::default(), objects: empty_objects() };
        self.ends.insert(prefix.clone(), end);
        self.by_id.insert(id.clone(), prefix.clone());
        self.own.values.insert(Path::Resource(25, instance, 0), Value::String(id.url_safe()));
        self.own.values.insert(Path::Resource(25, instance, 1), Value::String(prefix.clone()));
        self.refresh(&prefix);
    }

    /// The endpoint requests for `device` are forwarded to, in proxy mode: an LwM2M device,
    /// with the adapter at hand, unless its label asks for the model.
    fn proxy_endpoint(&self, device: &Device) -> Option<String> {
        let model = device.labels.get(MODE_LABEL).is_some_and(|m| m == "model");
        (self.lwm2m.is_some() && device.protocol == unidm_models::Protocol::Lwm2m && !model)
            .then(|| device.id.native().to_owned())
    }

    fn remove(&mut self, id: &DeviceId) {
        let Some(prefix) = self.by_id.remove(id) else { return };
        if let Some(end) = self.ends.remove(&prefix) {
            for r in [0, 1, 3] {
                self.own.values.remove(&Path::Resource(25, end.instance, r));
            }
            self.released.insert(end.instance);
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
        let registration = end.endpoint.as_deref().zip(self.lwm2m.as_ref()).and_then(|(ep, a)| a.registration(ep));
        let links = match registration {
            // Proxy mode: the device's own objects.
            Some(reg) => {
                Value::CoreLink(reg.objects.iter().map(|l| format!("<{}>", l.path)).collect::<Vec<_>>().join(","))
            }
            None => Value::CoreLink(end.objects.link_format()),
        };
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
        if peer != self.registrar.peer() {
            return;
        }
        let Ok(packet) = Packet::from_bytes(bytes) else { return };
        match packet.header.code {
            MessageClass::Request(_) if self.registrar.bootstrapping() => self.bootstrap_request(peer, &packet).await,
            MessageClass::Request(_) => self.request(peer, &packet).await,
            _ => {
                self.registrar.handle(Instant::now(), peer, &packet);
            }
        }
    }

    async fn request(&mut self, peer: SocketAddr, request: &Packet) {
        self.requests += 1;
        let mut response = crate::coap::response_to(request);
        let segments: Vec<Vec<u8>> =
            request.get_option(CoapOption::UriPath).map(|o| o.iter().cloned().collect()).unwrap_or_default();
        let first = segments.first().and_then(|s| std::str::from_utf8(s).ok()).map(str::to_owned);
        let target = first.clone().filter(|f| self.ends.contains_key(f) || self.groups.contains_key(f));
        if let Some(prefix) = &target {
            let endpoint = self.ends.get(prefix).and_then(|e| e.endpoint.clone());
            let adapter = self.lwm2m.clone();
            if let (Some(ep), Some(adapter)) = (endpoint, adapter) {
                if adapter.registration(&ep).is_some() {
                    self.forward(peer, request, prefix.clone(), ep, adapter, &segments[1..]).await;
                    return;
                }
            }
        }
        // A software Execute on a module of a device answered from the model: an operation.
        let mut operation = None;
        let effects = match target {
            Some(prefix) => {
                let mut stripped = request.clone();
                stripped.clear_option(CoapOption::UriPath);
                for seg in &segments[1..] {
                    stripped.add_option(CoapOption::UriPath, seg.clone());
                }
                let software = self.ends.get(&prefix).and_then(|end| software_action(end, request, &segments[1..]));
                let software = software.or_else(|| model_refusal(request, &segments[1..]).map(Err));
                let effects = match (software, self.ends.get_mut(&prefix)) {
                    (Some(Ok(action)), _) => {
                        response.header.code = MessageClass::Response(ResponseType::Changed);
                        operation = Some((prefix.clone(), action));
                        Vec::new()
                    }
                    (Some(Err(code)), _) => {
                        response.header.code = MessageClass::Response(code);
                        Vec::new()
                    }
                    (None, Some(end)) => end.objects.handle(&stripped, &mut response),
                    (None, None) => match self.groups.get_mut(&prefix) {
                        Some(g) => g.objects.handle(&stripped, &mut response),
                        None => Vec::new(),
                    },
                };
                Some((Some(prefix), effects))
            }
            None if first.as_deref().is_some_and(|f| f.starts_with(['d', 'g']) && f[1..].parse::<u16>().is_ok()) => {
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
        if let Some((prefix, action)) = operation {
            self.run_operation(&prefix, action).await;
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
            e => match prefix {
                Some(p) if self.groups.contains_key(p) => self.group_effect(p, e).await,
                Some(p) => self.end_effect(p, e).await,
                None => {}
            },
        }
    }

    fn observe(&mut self, prefix: Option<&str>, token: Vec<u8>, observed: Observed, format: ContentFormat) {
        self.observers.retain(|o| o.token != token);
        if self.observers.len() >= MAX_OBSERVERS {
            return;
        }
        self.observers.push(Observer {
            token,
            prefix: prefix.map(str::to_owned),
            observed,
            format,
            sequence: 1,
            forwarded: false,
        });
    }

    async fn end_effect(&mut self, prefix: &str, effect: Effect) {
        let Some(end) = self.ends.get_mut(prefix) else { return };
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
        self.run_operation(prefix, action).await;
    }

    /// Runs `action` on the end device under `prefix` as a unidm operation; a firmware update
    /// shows in its `/5` until the operation ends.
    async fn run_operation(&mut self, prefix: &str, action: Action) {
        let Some(id) = self.ends.get(prefix).map(|e| e.id.clone()) else { return };
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

    /// Proxy mode: sends `request` (its prefix taken off: `rest` is the path below it) to the
    /// end device `endpoint` through the LwM2M adapter; the answer comes back as a
    /// [`Forwarded`], piggybacked when it is quick, else as a separate response.
    async fn forward(
        &mut self,
        peer: SocketAddr,
        request: &Packet,
        prefix: String,
        endpoint: String,
        adapter: Arc<Lwm2mAdapter>,
        rest: &[Vec<u8>],
    ) {
        let mid = request.header.message_id;
        let confirmable = request.header.get_type() == MessageType::Confirmable;
        if let Some(f) = self.forwarding.get(&mid) {
            // A retransmission of a request being forwarded: the empty ACK again, if one went.
            if f.acked && confirmable {
                let ack = crate::coap::empty_ack(request);
                self.send(peer, &ack).await;
            }
            return;
        }
        let reply = |code| {
            let mut r = crate::coap::response_to(request);
            r.header.code = MessageClass::Response(code);
            r
        };
        let segments: Vec<String> = rest.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
        let (Ok(path), MessageClass::Request(method)) = (Path::from_segments(&segments), request.header.code) else {
            self.send(peer, &reply(ResponseType::NotFound)).await;
            return;
        };
        if matches!(method, RequestType::Fetch | RequestType::IPatch) || self.forwarding.len() >= MAX_FORWARDING {
            // Composite requests are not forwarded (their bodies name paths without the prefix).
            let code = if self.forwarding.len() >= MAX_FORWARDING {
                ResponseType::ServiceUnavailable
            } else {
                ResponseType::NotImplemented
            };
            self.send(peer, &reply(code)).await;
            return;
        }
        let option = |o| request.get_first_option(o).and_then(|v| crate::coap::decode_uint(v));
        let mut dm = DmRequest::new(method, path);
        dm.content_format = option(CoapOption::ContentFormat).map(|v| v as u16);
        dm.accept = option(CoapOption::Accept).map(|v| v as u16);
        dm.observe = option(CoapOption::Observe);
        dm.query = request
            .get_option(CoapOption::UriQuery)
            .into_iter()
            .flatten()
            .map(|q| String::from_utf8_lossy(q).into_owned())
            .collect();
        dm.payload = request.payload.clone();
        let observe = match dm.observe {
            Some(0) if method == RequestType::Get => Some((prefix.clone(), path)),
            Some(1) => {
                // A cancel: the device's observation ends with the request.
                let token = request.get_token();
                self.observers.retain(|o| o.token != token);
                None
            }
            _ => None,
        };
        self.forwarding.insert(
            mid,
            Forwarding {
                peer,
                token: request.get_token().to_vec(),
                confirmable,
                acked: false,
                ack_at: Instant::now() + PIGGYBACK_WAIT,
                observe,
            },
        );
        let tx = self.forwarded_tx.clone();
        tokio::spawn(async move {
            let answer = match tokio::time::timeout(FORWARD_TIMEOUT, adapter.forward(&endpoint, dm)).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) => Err(e.message),
                Err(_) => Err("the device did not answer in time".to_owned()),
            };
            let _ = tx.send(Forwarded { message_id: mid, answer });
        });
    }

    /// Sends the empty ACK of each forwarded request whose device has not answered in time.
    async fn ack_slow_forwards(&mut self, now: Instant) {
        let due: Vec<u16> =
            self.forwarding.iter().filter(|(_, f)| !f.acked && f.ack_at <= now).map(|(mid, _)| *mid).collect();
        for mid in due {
            let Some(f) = self.forwarding.get_mut(&mid) else { continue };
            f.acked = true;
            if !f.confirmable {
                continue;
            }
            let mut ack = Packet::new();
            ack.header.set_type(MessageType::Acknowledgement);
            ack.header.message_id = mid;
            let peer = f.peer;
            self.send(peer, &ack).await;
        }
    }

    /// The device's answer to a forwarded request, to the distant server.
    async fn answer_forwarded(&mut self, f: Forwarded) {
        let Some(pending) = self.forwarding.remove(&f.message_id) else { return };
        let mut r = Packet::new();
        if pending.acked {
            // A separate response (RFC 7252 §5.2.2), non-confirmable.
            self.message_id = self.message_id.wrapping_add(1);
            r.header.set_type(MessageType::NonConfirmable);
            r.header.message_id = self.message_id;
        } else {
            let kind = if pending.confirmable { MessageType::Acknowledgement } else { MessageType::NonConfirmable };
            r.header.set_type(kind);
            r.header.message_id = f.message_id;
        }
        r.set_token(pending.token.clone());
        match f.answer {
            Ok(answer) => {
                r.header.code = MessageClass::Response(answer.code);
                for seg in &answer.location {
                    r.add_option(CoapOption::LocationPath, seg.clone().into_bytes());
                }
                let observing = answer.code == ResponseType::Content && pending.observe.is_some();
                if observing {
                    r.add_option(CoapOption::Observe, encode_uint(1));
                }
                if let Some(cf) = answer.content_format {
                    r.add_option(CoapOption::ContentFormat, encode_uint(u32::from(cf)));
                }
                r.payload = answer.payload;
                if let (true, Some((prefix, path))) = (observing, pending.observe) {
                    let format = answer.content_format.map(ContentFormat::from).unwrap_or(ContentFormat::Text);
                    self.observers.retain(|o| o.token != pending.token);
                    if self.observers.len() < MAX_OBSERVERS {
                        self.observers.push(Observer {
                            token: pending.token,
                            prefix: Some(prefix),
                            observed: Observed::Path(path),
                            format,
                            sequence: 1,
                            forwarded: true,
                        });
                    }
                }
            }
            Err(why) => {
                tracing::debug!(error = %why, "forwarded request failed");
                r.header.code = MessageClass::Response(ResponseType::GatewayTimeout);
                r.payload = why.into_bytes();
            }
        }
        self.send(pending.peer, &r).await;
    }

    /// A notification the gateway's unidm received from a proxied end device, to the distant
    /// server's observations of it.
    fn notify_forwarded(&mut self, device: &DeviceId, path: &str, value: &serde_json::Value) {
        let Some(prefix) = self.by_id.get(device).cloned() else { return };
        let Ok(path) = path.parse::<Path>() else { return };
        let mut out = Vec::new();
        for obs in self.observers.iter_mut() {
            if !obs.forwarded || obs.prefix.as_deref() != Some(prefix.as_str()) || obs.observed != Observed::Path(path)
            {
                continue;
            }
            let Ok(records) = device_request::json_to_records(path, value, &BuiltinModels) else { continue };
            let content = crate::codec::Content::new(records);
            let Ok(payload) = crate::codec::encode(obs.format, &content, &path) else { continue };
            obs.sequence += 1;
            out.push(crate::coap::notification(&obs.token, obs.sequence, obs.format.code(), payload));
        }
        self.send_notifications(out);
    }

    async fn send(&mut self, peer: SocketAddr, packet: &Packet) {
        match serialize(packet, &TransmissionParams::default()) {
            Ok(bytes) => {
                if let Err(e) = self.socket.send_to(&bytes, peer).await {
                    tracing::debug!(error = %e, "northbound datagram not sent");
                }
            }
            Err(e) => tracing::debug!(error = %e, "northbound datagram not encoded"),
        }
    }

    /// Sends a notification to each observation that `changed` concerns.
    fn notify(&mut self, prefix: Option<&str>, changed: &[Path]) {
        let mut out = Vec::new();
        for obs in self.observers.iter_mut() {
            if obs.forwarded
                || obs.prefix.as_deref() != prefix
                || !changed.iter().any(|c| crate::sim::composite::touches(&obs.observed, c))
            {
                continue;
            }
            let objects = match prefix {
                None => &self.own,
                Some(p) => match (self.ends.get(p), self.groups.get(p)) {
                    (Some(end), _) => &end.objects,
                    (None, Some(g)) => &g.objects,
                    (None, None) => continue,
                },
            };
            let Ok((format, payload)) = objects.encode_observed(&obs.observed, obs.format) else { continue };
            obs.sequence += 1;
            out.push(crate::coap::notification(&obs.token, obs.sequence, format.code(), payload));
        }
        self.send_notifications(out);
    }

    /// Sends notifications to the distant server, each with a message id of its own. One that
    /// does not fit in the socket's buffer now is dropped: the next change sends the state anew.
    fn send_notifications(&mut self, out: Vec<Packet>) {
        let server = self.registrar.server();
        for mut p in out {
            self.message_id = self.message_id.wrapping_add(1);
            p.header.message_id = self.message_id;
            if let Ok(bytes) = serialize(&p, &TransmissionParams::default()) {
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
    fn the_snapshot_becomes_connectivity_location_memory_and_software() {
        use unidm_models::{Battery, Connectivity, Location, Memory, SoftwareModule};
        let mut d = device("omadm:IMEI1");
        d.snapshot.battery = Some(Battery { level: 80, status: 1 });
        d.snapshot.memory = Some(Memory { available: 2_000_000, total: 8_000_000 });
        d.snapshot.connectivity = Some(Box::new(Connectivity {
            bearer: Some(6),
            signal_strength_dbm: Some(-90),
            ip_addresses: vec!["10.0.0.9".into()],
            apn: Some("iot".into()),
            ..Connectivity::default()
        }));
        d.snapshot.location = Some(Box::new(Location { latitude: 48.1, longitude: 11.5, altitude: None }));
        d.snapshot.software = vec![SoftwareModule {
            id: "m1".into(),
            name: "agent".into(),
            version: Some("3.2".into()),
            installed: true,
            active: false,
        }];
        let v = translate(&d, &Firmware::default());
        assert_eq!(v[&Path::Resource(3, 0, 9)], Value::Integer(80));
        assert_eq!(v[&Path::Resource(3, 0, 20)], Value::Integer(0), "oneM2M 1 NORMAL is LwM2M 0 Normal");
        assert_eq!(v[&Path::Resource(3, 0, 10)], Value::Integer(2000), "kB of 1000 bytes");
        assert_eq!(v[&Path::Resource(4, 0, 0)], Value::Integer(6));
        assert_eq!(v[&Path::Resource(4, 0, 2)], Value::Integer(-90));
        assert_eq!(v[&Path::ResourceInstance(4, 0, 4, 0)], Value::String("10.0.0.9".into()));
        assert_eq!(v[&Path::ResourceInstance(4, 0, 7, 0)], Value::String("iot".into()));
        assert_eq!(v[&Path::Resource(6, 0, 0)], Value::Float(48.1));
        assert_eq!(v[&Path::Resource(9, 0, 0)], Value::String("agent".into()));
        assert_eq!(v[&Path::Resource(9, 0, 7)], Value::Integer(4), "INSTALLED");
        assert_eq!(v[&Path::Resource(9, 0, 12)], Value::Boolean(false));

        // Executes on /9/0 become software actions on module m1; /9/1 is no module.
        let end = End {
            id: d.id.clone(),
            endpoint: None,
            instance: 0,
            device: d,
            firmware: Firmware::default(),
            objects: empty_objects(),
        };
        let post = |path: &[&str]| {
            let mut p = Packet::new();
            p.header.code = MessageClass::Request(RequestType::Post);
            (p, path.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>())
        };
        let (p, rest) = post(&["9", "0", "10"]);
        let activate = SoftwareAction::Activate { module: "m1".into() };
        assert_eq!(software_action(&end, &p, &rest), Some(Ok(Action::Software(activate))));
        let (p, rest) = post(&["9", "0", "6"]);
        let uninstall = SoftwareAction::Uninstall { module: "m1".into() };
        assert_eq!(software_action(&end, &p, &rest), Some(Ok(Action::Software(uninstall))));
        let (p, rest) = post(&["9", "1", "6"]);
        assert_eq!(software_action(&end, &p, &rest), Some(Err(ResponseType::NotFound)));
        let (p, rest) = post(&["9", "0", "4"]);
        assert_eq!(software_action(&end, &p, &rest), Some(Err(ResponseType::MethodNotAllowed)));
        let (p, rest) = post(&["3", "0", "4"]);
        assert_eq!(software_action(&end, &p, &rest), None, "not a software Execute");
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

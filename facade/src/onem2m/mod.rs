//! unidm as a oneM2M management adapter (TS-0001 Device Management CSF, TS-0005 / TS-0006):
//! every device mirrored into a CSE as a `<node>` with its `<mgmtObj>`s, kept up to date, and
//! managed from there: an UPDATE of `fwr.ud`, `rbo.rbo` or `rbo.far` by any oneM2M
//! application becomes a unidm operation whose outcome is written back (`fwr.uds`).
//!
//! - **Identity and access.** Requests come from the configured originator. unidm creates an
//!   `<accessControlPolicy>` (`unidm-acp`) granting every operation to itself and to the
//!   configured managers (`managers`, default `["all"]`), and puts it in the `acpi` of every
//!   resource it creates, so that those applications may update them. A managed mgmtObj gets
//!   it only once unidm's subscription to it is in place (`unidm-acp-private` until then).
//!   With ACME's default policies only its admin originator (`CAdmin`) may create `<node>`s
//!   under the CSEBase.
//! - **Notifications.** unidm subscribes (`<sub>`, `enc.net` 1: update) to each managed
//!   mgmtObj with `nu` = `{notify_url}` (`/onem2m/notify` on the API's address). A
//!   notification is only a prompt: unidm reads the mgmtObj back from the CSE and acts on what
//!   the CSE holds, so a forged notification cannot start anything the CSE did not record.
//! - **Outages.** While the CSE is unreachable nothing is dropped: changed devices stay marked
//!   and are written once it answers again, retried with a backoff from 1 s to 30 s; after an
//!   outage every device is written again (the CSE may have restarted empty). Updates of one
//!   device are at most one per `min_update_interval`.
//! - **Restarts.** Operations started from oneM2M are stored (engine app state `onem2m`) until
//!   their outcome is written back.

pub mod client;
pub mod model;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};
use tokio::sync::Notify;
use unidm_core::{CreateOptions, DeviceQuery, Engine, Received};
use unidm_models::{Action, Device, DeviceId, Event, FirmwareUpdate, OperationId, OperationState, SoftwareAction};
use utoipa::ToSchema;

use client::{Cse, CseError};

const STATE_NAMESPACE: &str = "onem2m";
const ACP_NAME: &str = "unidm-acp";
/// The policy of a managed mgmtObj until unidm's subscription to it is in place: unidm alone
/// may touch it. An application's update made meanwhile would be notified to no one, and a CSE
/// may even lose it (ACME writes the parent back, as it was, when it creates the
/// `<subscription>`); refused, the application sees why and tries again.
const ACP_PRIVATE: &str = "unidm-acp-private";
const SUB_NAME: &str = "unidm-sub";
/// When a device the CSE refused is written again.
const REFUSED_RETRY: Duration = Duration::from_secs(5);

/// `[onem2m]`: where the CSE is and who unidm is there.
#[derive(Debug, Clone, PartialEq)]
pub struct OneM2mConfig {
    /// The CSE's HTTP binding, `http://host:port`.
    pub cse: String,
    /// Its CSE-ID (`/id-in`).
    pub cse_id: String,
    /// Its CSEBase resource name (`cse-in`).
    pub cse_name: String,
    /// unidm's originator.
    pub originator: String,
    /// Where the CSE sends notifications: `http://<unidm API>/onem2m/notify`.
    pub notify_url: String,
    /// Originators allowed to manage the mirrored devices (`acor`; `all` for anyone).
    pub managers: Vec<String>,
    /// At most one UPDATE of a device's resources per this interval.
    pub min_update_interval: Duration,
    /// Which devices are mirrored (all by default); a device that stops matching leaves the CSE.
    pub devices: DeviceQuery,
    /// Register unidm as an `<AE>` of this resource name with its originator (`None`: run as
    /// the originator alone, as a CSE's admin does). The CSE's policies must then let that
    /// originator create `<node>`s and `<accessControlPolicy>`s under the CSEBase.
    pub ae: Option<String>,
}

/// Whether `device` is one `selector` takes (its protocol, manufacturer, model and labels;
/// paging and group ignored).
fn selected(selector: &DeviceQuery, device: &Device) -> bool {
    selector.protocol.is_none_or(|p| p == device.protocol)
        && selector.manufacturer.as_ref().is_none_or(|m| device.identity.manufacturer.as_ref() == Some(m))
        && selector.model.as_ref().is_none_or(|m| device.identity.model.as_ref() == Some(m))
        && selector.labels.iter().all(|(k, v)| device.labels.get(k) == Some(v))
}

/// What the mirror has done, for `/api/v1/onem2m` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OneM2mStatus {
    /// The CSE's address.
    pub cse: String,
    /// Whether its last request succeeded.
    pub connected: bool,
    /// Devices mirrored as `<node>`s.
    pub nodes: usize,
    /// Devices waiting to be written (changed, or the CSE unreachable).
    pub pending: usize,
    /// Requests sent to the CSE.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Notifications received.
    pub notifications: u64,
    /// Operations started from oneM2M.
    pub operations: u64,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An operation started from oneM2M, until its outcome is written back.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Started {
    device: DeviceId,
    /// The mgmtObj's name below the node (`firmware`, `reboot`).
    object: String,
}

#[derive(Default)]
struct State {
    connected: bool,
    /// Devices mirrored, with the attributes last written per mgmtObj.
    nodes: HashMap<DeviceId, Node>,
    dirty: BTreeSet<DeviceId>,
    deleted: BTreeSet<DeviceId>,
    /// Subscription resource ids -> (device, mgmtObj name).
    subscriptions: HashMap<String, (DeviceId, String)>,
    started: HashMap<OperationId, Started>,
    /// mgmtObjs unidm itself just wrote triggers of, and when.
    own_writes: HashMap<String, Instant>,
    last_error: Option<String>,
}

#[derive(Default)]
struct Node {
    /// The node's labels as last written.
    labels: Vec<String>,
    sent: HashMap<String, Map<String, Json>>,
    last_write: Option<Instant>,
}

/// The running mirror.
pub struct Mirror {
    config: OneM2mConfig,
    cse: Cse,
    engine: Engine,
    state: Mutex<State>,
    wake: Notify,
    /// Notifications being handled: a flood of them (the endpoint takes no token) is refused
    /// beyond [`Mirror::MAX_NOTIFICATIONS_IN_FLIGHT`].
    in_flight: Arc<tokio::sync::Semaphore>,
    requests: AtomicU64,
    failures: AtomicU64,
    notifications: AtomicU64,
    operations: AtomicU64,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").field("cse", &self.config.cse).field("originator", &self.config.originator).finish()
    }
}

impl Mirror {
    /// Notifications handled at once; more are answered 5000 (the CSE retries or drops them).
    pub const MAX_NOTIFICATIONS_IN_FLIGHT: usize = 64;

    /// A permit to handle one notification, if fewer than the limit are in flight.
    pub fn notification_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.clone().try_acquire_owned().ok()
    }

    /// Starts mirroring `engine`'s devices into the CSE of `config`.
    pub fn start(engine: Engine, config: OneM2mConfig) -> Arc<Mirror> {
        let cse = Cse::new(&config.cse, &config.cse_id, &config.cse_name, &config.originator);
        let mirror = Arc::new(Mirror {
            config,
            cse,
            engine,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(Self::MAX_NOTIFICATIONS_IN_FLIGHT)),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            operations: AtomicU64::new(0),
        });
        tokio::spawn(mirror.clone().watch_events());
        tokio::spawn(mirror.clone().run());
        mirror
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters and connection state.
    pub fn status(&self) -> OneM2mStatus {
        let st = self.lock();
        OneM2mStatus {
            cse: self.config.cse.clone(),
            connected: st.connected,
            nodes: st.nodes.len(),
            pending: st.dirty.len() + st.deleted.len(),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            notifications: self.notifications.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            last_error: st.last_error.clone(),
        }
    }

    fn counted<T>(&self, result: Result<T, CseError>) -> Result<T, CseError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &result {
            if !matches!(e, CseError::Conflict(_) | CseError::NotFound(_)) {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    fn mark_all(&self) {
        let query = DeviceQuery { offset: 0, limit: usize::MAX, group: None, ..self.config.devices.clone() };
        let all = self.engine.devices(&query);
        if let Ok(page) = all {
            let mut st = self.lock();
            st.dirty.extend(page.items.into_iter().map(|d| d.id));
        }
        self.wake.notify_one();
    }

    async fn watch_events(self: Arc<Self>) {
        let mut events = self.engine.subscribe();
        self.mark_all();
        while let Some(received) = events.recv().await {
            match received {
                Received::Lagged(_) => self.mark_all(),
                Received::Event(Event::DeviceRegistered { device } | Event::DeviceUpdated { device }) => {
                    self.lock().dirty.insert(device.id);
                    self.wake.notify_one();
                }
                Received::Event(Event::DeviceDeleted { device }) => {
                    let mut st = self.lock();
                    st.dirty.remove(&device);
                    st.deleted.insert(device);
                    drop(st);
                    self.wake.notify_one();
                }
                Received::Event(Event::OperationChanged { operation }) if operation.state.is_terminal() => {
                    let started = self.lock().started.get(&operation.id).cloned();
                    if let Some(s) = started {
                        self.report(operation.id, &s, operation.state).await;
                    }
                }
                Received::Event(_) => {}
            }
        }
    }

    async fn run(self: Arc<Self>) {
        self.resume_started().await;
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.pass().await {
                Ok(wait) => {
                    backoff = Duration::from_secs(1);
                    let _ = tokio::time::timeout(wait, self.wake.notified()).await;
                }
                Err(e) => {
                    let was = {
                        let mut st = self.lock();
                        st.last_error = Some(e.to_string());
                        std::mem::replace(&mut st.connected, false)
                    };
                    if was {
                        tracing::warn!(error = %e, "oneM2M CSE unreachable; changes wait for it");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Writes what changed; `Ok(wait)` until the next due write, `Err` when the CSE is away.
    async fn pass(&self) -> Result<Duration, CseError> {
        if !self.lock().connected {
            self.ensure_ae().await?;
            self.ensure_acp().await?;
            // The CSE may have come back empty: write everything again.
            let started: Vec<(OperationId, Started)> = {
                let mut st = self.lock();
                st.connected = true;
                st.nodes.clear();
                st.subscriptions.clear();
                st.started.iter().map(|(k, v)| (*k, v.clone())).collect()
            };
            self.mark_all();
            self.remove_orphans().await?;
            tracing::info!(cse = %self.config.cse, "oneM2M CSE reachable; mirroring every device");
            // Outcomes that could not be written back while it was away.
            for (id, s) in started {
                if let Ok(op) = self.engine.operation(id).await {
                    if op.state.is_terminal() {
                        self.report(id, &s, op.state).await;
                    }
                }
            }
        }
        let deleted: Vec<DeviceId> = std::mem::take(&mut self.lock().deleted).into_iter().collect();
        for (i, id) in deleted.iter().enumerate() {
            match self.counted(self.cse.delete(&model::node_name(id)).await) {
                Ok(()) | Err(CseError::NotFound(_)) => {
                    self.lock().nodes.remove(id);
                }
                Err(e) => {
                    self.lock().deleted.extend(deleted[i..].iter().cloned());
                    return Err(e);
                }
            }
        }
        let now = Instant::now();
        let mut next_due = Duration::from_secs(60);
        let due: Vec<DeviceId> = {
            let st = self.lock();
            st.dirty
                .iter()
                .filter(|id| {
                    let last = st.nodes.get(*id).and_then(|n| n.last_write);
                    match last.map(|t| now.duration_since(t)) {
                        Some(since) if since < self.config.min_update_interval => {
                            next_due = next_due.min(self.config.min_update_interval - since);
                            false
                        }
                        _ => true,
                    }
                })
                .cloned()
                .collect()
        };
        for id in due {
            self.lock().dirty.remove(&id);
            let Ok(device) = self.engine.device(&id) else { continue };
            if !selected(&self.config.devices, &device) {
                // It no longer matches (its labels changed): it leaves the CSE.
                if self.lock().nodes.contains_key(&id) {
                    self.lock().deleted.insert(id);
                    self.wake.notify_one();
                }
                continue;
            }
            if let Err(e) = self.write_device(&device).await {
                self.lock().dirty.insert(id.clone());
                if e.is_transient() {
                    return Err(e);
                }
                tracing::warn!(device = %id, error = %e, "device not mirrored into the CSE");
                self.lock().last_error = Some(e.to_string());
                // Refused (access rights, a policy): tried again before long, as the CSE's
                // configuration may change.
                next_due = next_due.min(REFUSED_RETRY);
            }
        }
        Ok(next_due)
    }

    /// Deletes the `<node>`s unidm made for devices it no longer has (or no longer selects):
    /// deletions that happened while the CSE or unidm was down.
    async fn remove_orphans(&self) -> Result<(), CseError> {
        let found = self.counted(self.cse.discover(model::TY_NODE, model::OWN_LABEL).await)?;
        let query = DeviceQuery { offset: 0, limit: usize::MAX, group: None, ..self.config.devices.clone() };
        let wanted: std::collections::HashSet<String> = self
            .engine
            .devices(&query)
            .map(|page| page.items.iter().map(|d| model::node_name(&d.id)).collect())
            .unwrap_or_default();
        for uri in found {
            let name = uri.rsplit('/').next().unwrap_or_default();
            if !name.is_empty() && !wanted.contains(name) {
                match self.counted(self.cse.delete(name).await) {
                    Ok(()) | Err(CseError::NotFound(_)) => {
                        tracing::info!(node = %name, "orphan <node> deleted from the CSE")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Registers unidm's `<AE>` when configured (already registered is fine).
    async fn ensure_ae(&self) -> Result<(), CseError> {
        let Some(name) = &self.config.ae else { return Ok(()) };
        let body = json!({"m2m:ae": {
            "rn": name,
            "api": "Nunidm",
            "rr": true,
            "srv": ["3"],
            "poa": [self.config.notify_url],
            "lbl": [model::OWN_LABEL],
        }});
        match self.counted(self.cse.create("", 2, &body).await) {
            Ok(_) | Err(CseError::Conflict(_)) => Ok(()),
            // ACME answers 4000 "Originator has already registered" to a second registration.
            Err(CseError::Refused { message, .. }) if message.contains("already registered") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn ensure_acp(&self) -> Result<(), CseError> {
        let mut managers = self.config.managers.clone();
        managers.push(self.config.originator.clone());
        let body = json!({"m2m:acp": {
            "rn": ACP_NAME,
            "lbl": [model::OWN_LABEL],
            "pv": {"acr": [{"acor": managers, "acop": 63}]},
            "pvs": {"acr": [{"acor": [self.config.originator], "acop": 63}]},
        }});
        match self.counted(self.cse.create("", model::TY_ACP, &body).await) {
            Ok(_) => {}
            Err(CseError::Conflict(_)) => {
                let update = json!({"m2m:acp": {"pv": {"acr": [{"acor": managers, "acop": 63}]}}});
                self.counted(self.cse.update(ACP_NAME, &update).await)?;
            }
            Err(e) => return Err(e),
        }
        let own = json!([{"acor": [self.config.originator], "acop": 63}]);
        let body = json!({"m2m:acp": {
            "rn": ACP_PRIVATE,
            "lbl": [model::OWN_LABEL],
            "pv": {"acr": own},
            "pvs": {"acr": own},
        }});
        match self.counted(self.cse.create("", model::TY_ACP, &body).await) {
            Ok(_) | Err(CseError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn acpi(&self) -> String {
        self.cse.address(ACP_NAME)
    }

    fn private_acpi(&self) -> String {
        self.cse.address(ACP_PRIVATE)
    }

    /// Creates or updates the device's node and mgmtObjs.
    async fn write_device(&self, device: &Device) -> Result<(), CseError> {
        let node = model::node_name(&device.id);
        let known = self.lock().nodes.contains_key(&device.id);
        if !known {
            let mut body = model::node(device);
            body["acpi"] = json!([self.acpi()]);
            match self.counted(self.cse.create("", model::TY_NODE, &json!({"m2m:nod": body})).await) {
                Ok(_) => {}
                Err(CseError::Conflict(_)) => {
                    let update = json!({"m2m:nod": {"lbl": model::labels(device)}});
                    self.counted(self.cse.update(&node, &update).await)?;
                }
                Err(e) => return Err(e),
            }
            let labels = model::labels(device);
            self.lock()
                .nodes
                .insert(device.id.clone(), Node { labels, last_write: Some(Instant::now()), ..Node::default() });
        }
        let labels = model::labels(device);
        let relabel = self.lock().nodes.get(&device.id).is_some_and(|n| n.labels != labels);
        if relabel {
            self.counted(self.cse.update(&node, &json!({"m2m:nod": {"lbl": labels}})).await)?;
            if let Some(n) = self.lock().nodes.get_mut(&device.id) {
                n.labels = labels.clone();
                n.last_write = Some(Instant::now());
            }
        }
        for obj in model::mgmt_objs(device, &self.cse.address("")) {
            let path = format!("{node}/{}", obj.name);
            let sent = self.lock().nodes.get(&device.id).and_then(|n| n.sent.get(&obj.name).cloned());
            match sent {
                Some(before) if before == obj.attributes => continue,
                Some(_) => {
                    let body = json!({ obj.kind: Json::Object(obj.attributes.clone()) });
                    self.counted(self.cse.update(&path, &body).await)?;
                }
                None => {
                    let mut attrs = obj.attributes.clone();
                    attrs.extend(obj.initial.clone());
                    attrs.insert("rn".into(), json!(obj.name));
                    attrs.insert("mgd".into(), json!(obj.mgd));
                    attrs.insert("lbl".into(), json!(labels));
                    let acp = if obj.managed { self.private_acpi() } else { self.acpi() };
                    attrs.insert("acpi".into(), json!([acp]));
                    match self.counted(self.cse.create(&node, model::TY_MGMT_OBJ, &json!({ obj.kind: attrs })).await) {
                        Ok(_) => {}
                        Err(CseError::Conflict(_)) => {
                            let body = json!({ obj.kind: Json::Object(obj.attributes.clone()) });
                            self.counted(self.cse.update(&path, &body).await)?;
                        }
                        Err(e) => return Err(e),
                    }
                    if obj.managed {
                        self.subscribe(&device.id, &obj.name, &path).await?;
                        // Now others may update it (see `ACP_PRIVATE`).
                        self.counted(self.cse.update(&path, &json!({ obj.kind: {"acpi": [self.acpi()]} })).await)?;
                        // An update made before (while unidm was away) was notified to no one:
                        // act on what the CSE holds now.
                        self.act_on(&device.id, &obj.name, &Json::Null).await;
                    }
                }
            }
            let mut st = self.lock();
            if let Some(n) = st.nodes.get_mut(&device.id) {
                n.sent.insert(obj.name.clone(), obj.attributes);
                n.last_write = Some(Instant::now());
            }
        }
        Ok(())
    }

    async fn subscribe(&self, device: &DeviceId, object: &str, path: &str) -> Result<(), CseError> {
        // nct 2 (modified attributes): a CSE that sets rbo / far back to false at once (ACME
        // does) still says they were written.
        let body = json!({"m2m:sub": {
            "rn": SUB_NAME,
            "nu": [self.config.notify_url],
            "enc": {"net": [1]},
            "nct": 2,
            // unidm's own: no application may change or remove it.
            "acpi": [self.private_acpi()],
        }});
        let created = match self.counted(self.cse.create(path, model::TY_SUB, &body).await) {
            Ok(created) => created,
            Err(CseError::Conflict(_)) => self.counted(self.cse.retrieve(&format!("{path}/{SUB_NAME}")).await)?,
            Err(e) => return Err(e),
        };
        if let Some(ri) = created["m2m:sub"]["ri"].as_str() {
            self.lock().subscriptions.insert(ri.to_owned(), (device.clone(), object.to_owned()));
        }
        Ok(())
    }

    /// A notification from the CSE: a prompt to read the mgmtObj back and act on it.
    pub async fn notified(&self, body: &Json) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
        let sgn = &body["m2m:sgn"];
        if sgn["vrq"].as_bool() == Some(true) {
            return;
        }
        let sur = sgn["sur"].as_str().unwrap_or_default();
        let ri = sur.rsplit('/').next().unwrap_or_default();
        let target = self.lock().subscriptions.get(ri).cloned();
        let Some((device, object)) = target else {
            tracing::debug!(%sur, "notification for no subscription of ours");
            return;
        };
        tracing::debug!(%sur, %object, "notification");
        self.act_on(&device, &object, &sgn["nev"]["rep"]).await;
    }

    /// Reads a managed mgmtObj back from the CSE and does what it asks; `modified` is what a
    /// notification said changed (`Null` when none).
    async fn act_on(&self, device: &DeviceId, object: &str, modified: &Json) {
        let device = device.clone();
        let path = format!("{}/{object}", model::node_name(&device));
        let current = match self.counted(self.cse.retrieve(&path).await) {
            Ok(c) => c,
            Err(e) => return tracing::warn!(%path, error = %e, "mgmtObj not read back"),
        };
        match object {
            "firmware" => self.firmware_requested(&device, &path, &current["m2m:fwr"]).await,
            "reboot" => self.reboot_requested(&device, &path, &current["m2m:rbo"], &modified["m2m:rbo"]).await,
            name if name.starts_with("software-") => {
                self.software_requested(&device, &path, name, &current["m2m:swr"]).await
            }
            _ => {}
        }
    }

    fn already_running(&self, device: &DeviceId, object: &str) -> bool {
        self.lock().started.values().any(|s| &s.device == device && s.object == object)
    }

    async fn start_operation(&self, device: &DeviceId, object: &str, action: Action) -> Option<OperationId> {
        match self.engine.create_operation(device, action, CreateOptions::default()).await {
            Ok(op) => {
                let started = Started { device: device.clone(), object: object.to_owned() };
                if let Ok(bytes) = serde_json::to_vec(&started) {
                    let _ = self.engine.put_app_state(STATE_NAMESPACE, vec![(op.id.to_string(), bytes)]).await;
                }
                self.lock().started.insert(op.id, started);
                self.operations.fetch_add(1, Ordering::Relaxed);
                Some(op.id)
            }
            Err(e) => {
                tracing::warn!(device = %device, error = %e, "operation requested through oneM2M refused");
                None
            }
        }
    }

    async fn firmware_requested(&self, device: &DeviceId, path: &str, fwr: &Json) {
        if fwr["ud"].as_bool() != Some(true) || self.already_running(device, "firmware") {
            return;
        }
        let text = |k: &str| fwr[k].as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(uri) = text("url") else {
            let body = json!({"m2m:fwr": {"ud": false, "uds": {"acn": "update: no url", "sus": 2}}});
            let _ = self.counted(self.cse.update(path, &body).await);
            return;
        };
        let action = Action::Firmware(FirmwareUpdate { uri, version: text("vr"), name: text("fwn") });
        let status = match self.start_operation(device, "firmware", action).await {
            Some(op) => json!({"acn": format!("update (operation {op})"), "sus": 3}),
            None => json!({"acn": "update refused", "sus": 2}),
        };
        let _ = self.counted(self.cse.update(path, &json!({"m2m:fwr": {"uds": status}})).await);
    }

    /// `rbo` / `far` written true: the CSE holds true (it keeps triggers), or it set them back
    /// to false itself and the notification's modified attributes name them (ACME). unidm's own
    /// write of false is not a request.
    async fn reboot_requested(&self, device: &DeviceId, path: &str, current: &Json, modified: &Json) {
        let own_write = self.lock().own_writes.remove(path).is_some_and(|at| at.elapsed() < Duration::from_secs(30));
        let asked = |k: &str| current[k].as_bool() == Some(true) || (!own_write && modified.get(k).is_some());
        let (reboot, reset) = (asked("rbo"), asked("far"));
        if !(reboot || reset) || self.already_running(device, "reboot") {
            return;
        }
        let action = if reset { Action::FactoryReset } else { Action::Reboot };
        self.start_operation(device, "reboot", action).await;
        if current["rbo"].as_bool() == Some(true) || current["far"].as_bool() == Some(true) {
            // Triggers go back to false (ACME does so by itself; other CSEs may not).
            self.lock().own_writes.insert(path.to_owned(), Instant::now());
            let _ = self.counted(self.cse.update(path, &json!({"m2m:rbo": {"rbo": false, "far": false}})).await);
        }
    }

    /// `in` (with `url`), `un`, `act` or `dea` written true on a module's `swr`: the matching
    /// software operation, and the trigger set back to false.
    async fn software_requested(&self, device: &DeviceId, path: &str, name: &str, swr: &Json) {
        let Ok(d) = self.engine.device(device) else { return };
        let Some(module) = d.snapshot.software.iter().find(|m| model::software_name(&m.id) == name) else {
            return tracing::debug!(%path, "swr of a module the device no longer reports");
        };
        let module = module.id.clone();
        let text = |k: &str| swr[k].as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let set = |k: &str| swr[k].as_bool() == Some(true);
        let (key, action) = if set("in") {
            let Some(uri) = text("url") else {
                let _ = self.counted(self.cse.update(path, &json!({"m2m:swr": {"in": false}})).await);
                return tracing::info!(%path, "swr.in without a url: nothing to install");
            };
            ("in", SoftwareAction::Install { uri, name: text("swn"), version: text("vr"), activate: None })
        } else if set("un") {
            ("un", SoftwareAction::Uninstall { module })
        } else if set("act") {
            ("act", SoftwareAction::Activate { module })
        } else if set("dea") {
            ("dea", SoftwareAction::Deactivate { module })
        } else {
            return tracing::debug!(%path, "swr read back: no trigger set");
        };
        if self.already_running(device, name) {
            return tracing::debug!(%path, "swr trigger while an operation from it runs");
        }
        self.start_operation(device, name, Action::Software(action)).await;
        let _ = self.counted(self.cse.update(path, &json!({"m2m:swr": { key: false }})).await);
    }

    /// Writes an operation's outcome back and forgets it.
    async fn report(&self, op: OperationId, started: &Started, state: OperationState) {
        let path = format!("{}/{}", model::node_name(&started.device), started.object);
        let sus = if state == OperationState::Succeeded { 1 } else { 2 };
        let body = match started.object.as_str() {
            "firmware" => {
                json!({"m2m:fwr": {"ud": false, "uds": {"acn": format!("update (operation {op}): {}", state.as_str()), "sus": sus}}})
            }
            _ => Json::Null,
        };
        if !body.is_null() {
            if let Err(e) = self.counted(self.cse.update(&path, &body).await) {
                // Kept: written back at the next start.
                return tracing::warn!(%path, error = %e, "operation outcome not written back to the CSE");
            }
        }
        self.lock().started.remove(&op);
        let _ = self.engine.delete_app_state(STATE_NAMESPACE, vec![op.to_string()]).await;
        // The device's new firmware version follows through its snapshot.
        self.lock().dirty.insert(started.device.clone());
        self.wake.notify_one();
    }

    /// Takes back the operations started from oneM2M before a restart; their outcomes are
    /// written once the CSE answers.
    async fn resume_started(&self) {
        let Ok(stored) = self.engine.load_app_state(STATE_NAMESPACE).await else { return };
        for (key, bytes) in stored {
            let (Ok(id), Ok(started)) = (key.parse::<u64>(), serde_json::from_slice::<Started>(&bytes)) else {
                continue;
            };
            self.lock().started.insert(OperationId(id), started);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::{Protocol, Timestamp};

    #[test]
    fn the_selector_takes_devices_by_protocol_identity_and_labels() {
        let mut d = Device::new(DeviceId::parse("lwm2m:a").unwrap(), Timestamp(0));
        d.identity.manufacturer = Some("ACME".into());
        d.labels.insert("site".into(), "north".into());
        assert!(selected(&DeviceQuery::default(), &d), "everything by default");
        let by = |q: DeviceQuery| selected(&q, &d);
        assert!(by(DeviceQuery { protocol: Some(Protocol::Lwm2m), ..DeviceQuery::default() }));
        assert!(!by(DeviceQuery { protocol: Some(Protocol::Tr069), ..DeviceQuery::default() }));
        assert!(by(DeviceQuery { manufacturer: Some("ACME".into()), ..DeviceQuery::default() }));
        assert!(!by(DeviceQuery { model: Some("X".into()), ..DeviceQuery::default() }), "no model reported");
        let labels =
            |k: &str, v: &str| DeviceQuery { labels: [(k.to_owned(), v.to_owned())].into(), ..DeviceQuery::default() };
        assert!(by(labels("site", "north")));
        assert!(!by(labels("site", "south")));
    }
}

//! The device registry: upsert on contact, presence, lifetime expiry, labels, topology.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use unidm_models::{Device, DeviceId, Event, PresenceState, Protocol, Timestamp, Trigger};

use super::{Commit, Engine, Inner};
use crate::adapter::{Contact, Gone, Seen};

/// What a device write does with the adapter's record of the device.
#[derive(Debug)]
pub(crate) enum RecordChange {
    Keep,
    Set(Vec<u8>),
    Clear,
}

impl RecordChange {
    fn write(self, d: &Device) -> Write {
        match self {
            RecordChange::Keep => Write::device(d),
            RecordChange::Set(r) => Write::device_with_record(d, Some(r)),
            RecordChange::Clear => Write::device_with_record(d, None),
        }
    }
}
use crate::store::{Page, Write};
use crate::CoreError;

/// Which devices to list. Every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Protocol.
    pub protocol: Option<Protocol>,
    /// Online (or sleeping) when true, offline when false.
    pub online: Option<bool>,
    /// Manufacturer, exact.
    pub manufacturer: Option<String>,
    /// Model, exact.
    pub model: Option<String>,
    /// Firmware version, exact (as a group selector's `version`).
    pub version: Option<String>,
    /// Part of the device id, case-insensitive.
    pub search: Option<String>,
    /// Labels that must be present with these values.
    pub labels: BTreeMap<String, String>,
    /// Members of this group.
    pub group: Option<String>,
    /// Skip this many (ordered by id).
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

/// The whole topology: gateways and the devices behind them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyGraph {
    /// Devices that are gateways or sit behind one.
    pub nodes: Vec<DeviceId>,
    /// Gateway -> child links.
    pub edges: Vec<TopologyEdge>,
}

/// One gateway -> child link.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyEdge {
    /// The gateway.
    pub parent: DeviceId,
    /// The device behind it.
    pub child: DeviceId,
}

/// Whether `contact` would change nothing of `d` but its last-seen.
fn only_last_seen_changes(d: &Device, contact: &Contact) -> bool {
    let p = &d.presence;
    !contact.boot
        && p.last_seen.is_some()
        && p.state == contact.state
        && (contact.lifetime_s.is_none() || contact.lifetime_s == p.lifetime_s)
        && (contact.address.is_none() || contact.address == p.address)
}

fn bump(d: &mut Device, now: Timestamp) {
    d.updated_at = now;
}

impl Inner {
    pub(crate) fn device(&self, id: &DeviceId) -> Option<Device> {
        self.devices.read().ok()?.get(id).map(|d| (**d).clone())
    }

    pub(crate) fn presence(&self, id: &DeviceId) -> Option<PresenceState> {
        self.devices.read().ok()?.get(id).map(|d| d.presence.state)
    }

    pub(crate) async fn device_contact(
        self: &Arc<Self>,
        id: &DeviceId,
        contact: Contact,
        record: RecordChange,
        update: impl FnOnce(&mut Device),
    ) -> Result<Device, CoreError> {
        let now = self.clock.now();
        let (device, first, commit) = {
            let mut devs = self.devices.write().map_err(|_| CoreError::Shutdown)?;
            let new = !devs.contains_key(id);
            let d = devs.entry(id.clone()).or_insert_with(|| Box::new(Device::new(id.clone(), now)));
            let first = d.presence.last_seen.is_none();
            let was_offline = d.presence.state == PresenceState::Offline;
            d.presence.state = contact.state;
            d.presence.last_seen = Some(now);
            if contact.lifetime_s.is_some() {
                d.presence.lifetime_s = contact.lifetime_s;
            }
            if contact.address.is_some() {
                d.presence.address = contact.address;
            }
            update(d);
            bump(d, now);
            self.forget_unstored_seen(id);
            let device = (**d).clone();
            let event = if was_offline {
                Event::DeviceRegistered { device: Box::new(device.clone()) }
            } else {
                Event::DeviceUpdated { device: Box::new(device.clone()) }
            };
            // The session is here: so is the device, from this commit on.
            let own = self.must_own(id);
            let mut writes = vec![record.write(&device)];
            if own {
                writes.push(Write::Own(id.to_string()));
            }
            let commit = self.persist(writes, vec![event]);
            (device, first, (commit, own, new))
        };
        let (commit, own, new) = commit;
        commit.wait().await?;
        if own {
            match id.protocol() {
                // A device this node had never heard of has no operations to take (one created
                // elsewhere this very moment is handed here by its holder's tick).
                _ if new => self.owned_without_claim(id),
                unidm_models::Protocol::Lwm2m => self.owned(id),
                _ => self.owned_now(id).await,
            }
        }
        let mut triggers = Vec::new();
        if first {
            triggers.push(Trigger::FirstContact);
        }
        if contact.boot {
            triggers.push(Trigger::Boot);
        }
        if !triggers.is_empty() {
            self.fire_rules(&device, &triggers).await;
        }
        Ok(device)
    }

    pub(crate) async fn device_seen(self: &Arc<Self>, id: &DeviceId, contact: Contact) -> Result<Seen, CoreError> {
        if self.cluster.as_ref().is_some_and(|c| !c.owns(id)) {
            // A session that moved here from another node: the full contact claims the device.
            self.device_contact(id, contact, RecordChange::Keep, |_| {}).await?;
            return Ok(Seen::Contact);
        }
        let now = self.clock.now();
        let commit = {
            let mut devs = self.devices.write().map_err(|_| CoreError::Shutdown)?;
            match devs.get_mut(id) {
                Some(d) if only_last_seen_changes(d, &contact) => {
                    let mut unstored = self.unstored_seen.lock().map_err(|_| CoreError::Shutdown)?;
                    let stored = *unstored.entry(id.clone()).or_insert(d.presence.last_seen.unwrap_or(now));
                    d.presence.last_seen = Some(now);
                    let max_age = d.presence.lifetime_s.map_or(300_000, |l| i64::from(l) * 500);
                    if now.millis() - stored.millis() < max_age {
                        return Ok(Seen::InMemory);
                    }
                    unstored.remove(id);
                    Some(self.persist(vec![Write::device(d)], Vec::new()))
                }
                _ => None,
            }
        };
        match commit {
            Some(commit) => {
                commit.wait().await?;
                Ok(Seen::Stored)
            }
            None => {
                self.device_contact(id, contact, RecordChange::Keep, |_| {}).await?;
                Ok(Seen::Contact)
            }
        }
    }

    pub(crate) async fn set_device_record(&self, id: &DeviceId, record: Option<Vec<u8>>) -> Result<(), CoreError> {
        let commit = {
            let devs = self.devices.read().map_err(|_| CoreError::Shutdown)?;
            let d = devs.get(id).ok_or_else(|| CoreError::not_found("device", id))?;
            self.forget_unstored_seen(id);
            self.persist(vec![Write::device_with_record(d, record)], Vec::new())
        };
        commit.wait().await
    }

    /// The device's whole document is about to be stored, last-seen with it.
    fn forget_unstored_seen(&self, id: &DeviceId) {
        if let Ok(mut unstored) = self.unstored_seen.lock() {
            if !unstored.is_empty() {
                unstored.remove(id);
            }
        }
    }

    pub(crate) async fn update_device(
        &self,
        id: &DeviceId,
        update: impl FnOnce(&mut Device),
    ) -> Result<Device, CoreError> {
        let now = self.clock.now();
        let (device, commit) = {
            let mut devs = self.devices.write().map_err(|_| CoreError::Shutdown)?;
            let d = devs.get_mut(id).ok_or_else(|| CoreError::not_found("device", id))?;
            let before = (**d).clone();
            update(d);
            // Nothing changed (a report of the state the device is already in): nothing to
            // store or tell.
            if **d == before {
                return Ok(before);
            }
            let commit = self.store_changed(d, now);
            ((**d).clone(), commit)
        };
        commit.wait().await?;
        Ok(device)
    }

    /// Stores a device a change moved, and tells it (`DeviceUpdated`) once committed.
    fn store_changed(&self, d: &mut Box<Device>, now: Timestamp) -> Commit {
        bump(d, now);
        self.forget_unstored_seen(&d.id);
        let write = Write::device(d);
        self.persist(vec![write], vec![Event::DeviceUpdated { device: d.clone() }])
    }

    pub(crate) async fn change_device(
        &self,
        id: &DeviceId,
        change: impl FnOnce(&mut Device) -> bool,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        let commit = {
            let mut devs = self.devices.write().map_err(|_| CoreError::Shutdown)?;
            let d = devs.get_mut(id).ok_or_else(|| CoreError::not_found("device", id))?;
            if !change(d) {
                return Ok(());
            }
            self.store_changed(d, now)
        };
        commit.wait().await
    }

    pub(crate) async fn device_gone(&self, id: &DeviceId, why: Gone, record: RecordChange) -> Result<(), CoreError> {
        if let Some(owner) = self.cluster.as_ref().and_then(|c| c.remote_owner(id)) {
            // A session left over here; the device's live one is on another node.
            tracing::debug!(device = %id, owner = %owner, "ignoring the end of a session the device moved away from");
            return Ok(());
        }
        let now = self.clock.now();
        let commit = {
            let mut devs = self.devices.write().map_err(|_| CoreError::Shutdown)?;
            let d = devs.get_mut(id).ok_or_else(|| CoreError::not_found("device", id))?;
            d.presence.state = PresenceState::Offline;
            bump(d, now);
            let event = match why {
                Gone::Deregistered => Event::DeviceDeregistered { device: id.clone() },
                Gone::Expired => Event::DeviceExpired { device: id.clone() },
            };
            self.persist(vec![record.write(d)], vec![event])
        };
        commit.wait().await
    }

    pub(crate) async fn set_children(&self, gateway: &DeviceId, children: Vec<DeviceId>) -> Result<(), CoreError> {
        let now = self.clock.now();
        let commit = {
            let mut devs = self.devices.write().map_err(|_| CoreError::Shutdown)?;
            let gw = devs.get_mut(gateway).ok_or_else(|| CoreError::not_found("device", gateway))?;
            let old: BTreeSet<DeviceId> = gw.topology.children.iter().cloned().collect();
            let new: BTreeSet<DeviceId> = children.iter().cloned().collect();
            gw.topology.children = children.clone();
            bump(gw, now);
            let mut writes = vec![Write::device(gw)];
            for gone in old.difference(&new) {
                if let Some(c) = devs.get_mut(gone).filter(|c| c.topology.parent.as_ref() == Some(gateway)) {
                    c.topology.parent = None;
                    bump(c, now);
                    writes.push(Write::device(c));
                }
            }
            for child in &new {
                let c = devs.entry(child.clone()).or_insert_with(|| Box::new(Device::new(child.clone(), now)));
                if c.topology.parent.as_ref() != Some(gateway) {
                    c.topology.parent = Some(gateway.clone());
                    bump(c, now);
                    writes.push(Write::device(c));
                }
            }
            let event = Event::TopologyChanged { device: gateway.clone(), children };
            self.persist(writes, vec![event])
        };
        commit.wait().await
    }

    /// Marks offline every device whose lifetime (plus grace) has run out. The scan runs under
    /// the read lock; the write lock is taken only when something expired.
    pub(crate) async fn expire_devices(&self, now: Timestamp) {
        let grace = self.config.expiry_grace;
        let overdue = |d: &Device| {
            let p = &d.presence;
            if self.cluster.as_ref().is_some_and(|c| !c.expires(&d.id)) {
                return false;
            }
            match (p.state, p.last_seen, p.lifetime_s) {
                (PresenceState::Offline, _, _) => false,
                (_, Some(seen), Some(lt)) => now > seen.plus(std::time::Duration::from_secs(u64::from(lt)) + grace),
                _ => false,
            }
        };
        let candidates: Vec<DeviceId> = match self.devices.read() {
            Ok(devs) => devs.values().filter(|d| overdue(d)).map(|d| d.id.clone()).collect(),
            Err(_) => return,
        };
        if candidates.is_empty() {
            return;
        }
        let commit = {
            let Ok(mut devs) = self.devices.write() else { return };
            let mut writes = Vec::new();
            let mut events = Vec::new();
            for id in candidates {
                // Re-checked: the device may have made contact since the scan.
                let Some(d) = devs.get_mut(&id).filter(|d| overdue(d)) else { continue };
                d.presence.state = PresenceState::Offline;
                bump(d, now);
                writes.push(Write::device(d));
                events.push(Event::DeviceExpired { device: id });
            }
            if writes.is_empty() {
                return;
            }
            tracing::info!(devices = writes.len(), "device lifetimes expired");
            self.persist(writes, events)
        };
        if let Err(e) = commit.wait().await {
            tracing::error!(error = %e, "could not store expired devices");
        }
    }

    fn matches(&self, d: &Device, q: &DeviceQuery, group: Option<&unidm_models::Group>) -> bool {
        q.protocol.is_none_or(|p| p == d.protocol)
            && q.online.is_none_or(|o| o == (d.presence.state != PresenceState::Offline))
            && q.manufacturer.as_ref().is_none_or(|m| d.identity.manufacturer.as_ref() == Some(m))
            && q.model.as_ref().is_none_or(|m| d.identity.model.as_ref() == Some(m))
            && q.version.as_deref().is_none_or(|v| d.firmware_version() == Some(v))
            && q.search.as_deref().is_none_or(|s| contains_ignoring_case(d.id.as_str(), s))
            && q.labels.iter().all(|(k, v)| d.labels.get(k) == Some(v))
            && group.is_none_or(|g| g.contains(d))
    }
}

/// Whether `haystack` contains `needle`, ASCII case ignored (device ids are mostly ASCII; a
/// search is typed by a person).
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

impl Engine {
    /// A page of devices matching `q`, ordered by id, with the total count.
    pub fn devices(&self, q: &DeviceQuery) -> Result<Page<Device>, CoreError> {
        let inner = self.inner();
        let group = match &q.group {
            Some(g) => Some(self.group(g)?),
            None => None,
        };
        let devs = inner.devices.read().map_err(|_| CoreError::Shutdown)?;
        let mut total = 0;
        let mut items = Vec::new();
        for d in devs.values().filter(|d| inner.matches(d, q, group.as_ref())) {
            if total >= q.offset && items.len() < q.limit {
                items.push((**d).clone());
            }
            total += 1;
        }
        Ok(Page { items, total })
    }

    /// One device.
    pub fn device(&self, id: &DeviceId) -> Result<Device, CoreError> {
        self.inner().device(id).ok_or_else(|| CoreError::not_found("device", id))
    }

    /// Pre-provisions a device that has not made contact yet, with labels. Operations on it are
    /// accepted and wait for its first contact.
    pub async fn provision_device(&self, id: DeviceId, labels: BTreeMap<String, String>) -> Result<Device, CoreError> {
        let inner = self.inner();
        let now = inner.clock.now();
        let (device, commit) = {
            let mut devs = inner.devices.write().map_err(|_| CoreError::Shutdown)?;
            if devs.contains_key(&id) {
                return Err(CoreError::Conflict(format!("device `{id}` already exists")));
            }
            let mut d = Device::new(id.clone(), now);
            d.labels = labels;
            devs.insert(id, Box::new(d.clone()));
            let commit =
                inner.persist(vec![Write::device(&d)], vec![Event::DeviceUpdated { device: Box::new(d.clone()) }]);
            (d, commit)
        };
        if let Err(e) = commit.wait().await {
            // Not stored: not there either (a device made later, or by a contact, stays).
            if let Ok(mut devs) = inner.devices.write() {
                if devs.get(&device.id).is_some_and(|d| **d == device) {
                    devs.remove(&device.id);
                }
            }
            return Err(e);
        }
        Ok(device)
    }

    /// Replaces a device's labels.
    pub async fn set_labels(&self, id: &DeviceId, labels: BTreeMap<String, String>) -> Result<Device, CoreError> {
        self.inner().update_device(id, |d| d.labels = labels).await
    }

    /// Removes a device from the registry and cancels its unfinished operations.
    pub async fn delete_device(&self, id: &DeviceId) -> Result<(), CoreError> {
        let inner = self.inner();
        let commit = {
            let mut devs = inner.devices.write().map_err(|_| CoreError::Shutdown)?;
            if devs.remove(id).is_none() {
                return Err(CoreError::not_found("device", id));
            }
            inner.persist(vec![Write::DeleteDevice(id.to_string())], vec![Event::DeviceDeleted { device: id.clone() }])
        };
        commit.wait().await?;
        let active: Vec<_> = inner
            .ops
            .lock()
            .map_err(|_| CoreError::Shutdown)?
            .active
            .values()
            .filter(|o| &o.device == id)
            .map(|o| o.id)
            .collect();
        inner.cancel_all(active).await
    }

    /// Every gateway -> child link known.
    pub fn topology_graph(&self) -> Result<TopologyGraph, CoreError> {
        let devs = self.inner().devices.read().map_err(|_| CoreError::Shutdown)?;
        let mut nodes = BTreeSet::new();
        let mut edges = Vec::new();
        for d in devs.values() {
            for c in &d.topology.children {
                nodes.insert(d.id.clone());
                nodes.insert(c.clone());
                edges.push(TopologyEdge { parent: d.id.clone(), child: c.clone() });
            }
        }
        Ok(TopologyGraph { nodes: nodes.into_iter().collect(), edges })
    }
}

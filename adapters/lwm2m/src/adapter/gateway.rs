//! LwM2M Gateway end devices (object /25, LwM2M 1.1 GwCap; LwM2M Gateway TS §6): when a gateway
//! registers /25 instances, each instance's Device ID `/25/x/0`, Prefix `/25/x/1` and IoT
//! Device Objects `/25/x/3` (link-format) make an end device that unidm reports as a device
//! of its own, a child of the gateway.
//!
//! Id scheme: the child of gateway endpoint `gw` with Device ID `d` is
//! `DeviceId::lwm2m("gw/d")`. Operations on it go to the gateway with Uri-Path
//! `/{prefix}/{o}/{i}/{r}`: the adapter context resolves the child name to the gateway's
//! registration (with the child's objects) and adds the prefix to each request. A real
//! endpoint named like a child (`gw/d`) is shadowed while the gateway reports that child.
//!
//! Life cycle: /25 is read again on each Register of the gateway and each Update that changes
//! its object list; an end device no longer listed goes offline (as de-registered) and leaves
//! the gateway's children. When the gateway de-registers or expires, its end devices go
//! offline with the same reason and are forgotten until the gateway registers again.
//!
//! Observations: the server keys an observation by endpoint, prefix and path, so the gateway's
//! own `/3/0/9` and its end device's `/dev1/3/0/9` are two observations with two tokens, and a
//! notification names the prefix it came under. `notified_device` maps it back to the end
//! device, whose observation events carry the unprefixed path (`lwm2m:gw/d`, `/3/0/9`). A
//! user's observations of an end device are persisted under its own name (`obs/gw/d`) and
//! observed again when the end device is found anew: after a restart, or in a new registration
//! of the gateway.

use std::collections::HashMap;
use std::sync::Arc;

use unidm_core::{Contact, Gone};
use unidm_models::{DeviceId, PresenceState};

use super::{device_request, mapping, Shared};
use crate::path::Path;
use crate::procedure::gateway::{Discovered, Discovery};
use crate::server::{ObjectLink, Registration};

/// An end device behind a gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// The gateway's endpoint name.
    pub gateway: String,
    /// The gateway's registration id when the end device was last read from `/25`: in a new
    /// registration the gateway has dropped the end device's observations.
    pub gateway_registration: String,
    /// Its `/25/x` instance.
    pub instance: u16,
    /// The prefix `/25/x/1` its paths go under.
    pub prefix: String,
    /// Its objects and instances (`/25/x/3`).
    pub objects: Vec<ObjectLink>,
}

impl Child {
    /// The gateway registration seen as the end device's.
    pub fn registration(&self, endpoint: &str, gateway: &Registration) -> Registration {
        Registration { endpoint: endpoint.to_owned(), objects: self.objects.clone(), ..gateway.clone() }
    }
}

/// The order of a gateway's discoveries: each takes a ticket when it starts reading `/25`, and
/// commits what it found (children map, devices, the gateway's children) under the gateway's
/// lock only when no later discovery committed first and the gateway still has the
/// registration it read. [`gateway_gone`] takes the same lock, so a discovery that read `/25`
/// before the gateway de-registered cannot write its end devices back after they were taken
/// offline, nor a stale list over a newer one.
#[derive(Default)]
pub(crate) struct Discoveries {
    tickets: std::sync::atomic::AtomicU64,
    /// Per gateway endpoint: the ticket of the last committed discovery.
    committed: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<u64>>>>,
}

impl Discoveries {
    fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    fn forget(&self, gateway: &str) {
        if let Ok(mut map) = self.committed.lock() {
            map.remove(gateway);
        }
    }

    fn lock_of(&self, gateway: &str, create: bool) -> Option<Arc<tokio::sync::Mutex<u64>>> {
        let mut map = self.committed.lock().ok()?;
        match map.get(gateway) {
            Some(lock) => Some(lock.clone()),
            None if create => Some(map.entry(gateway.to_owned()).or_default().clone()),
            None => None,
        }
    }
}

/// The end devices the adapter knows behind `gateway`, by name.
fn children_of(shared: &Shared, gateway: &str) -> Vec<(String, Child)> {
    let Ok(map) = shared.children.read() else { return Vec::new() };
    map.iter().filter(|(_, c)| c.gateway == gateway).map(|(n, c)| (n.clone(), c.clone())).collect()
}

/// The device a notification is about: the gateway `endpoint` itself, or its end device under
/// `prefix`; `None` for a prefix the adapter does not know (any more).
pub(super) fn notified_device(shared: &Shared, endpoint: &str, prefix: Option<&str>) -> Option<String> {
    let Some(prefix) = prefix else { return Some(endpoint.to_owned()) };
    let map = shared.children.read().ok()?;
    map.iter().find(|(_, c)| c.gateway == endpoint && c.prefix == prefix).map(|(n, _)| n.clone())
}

/// Reads `/25` again after the gateway registered or changed its object list, when it lists
/// /25 or had end devices.
pub(super) async fn refresh(shared: &Shared, gateway: &Registration) -> Vec<Found> {
    if gateway.has_object(25) || !children_of(shared, &gateway.endpoint).is_empty() {
        discover_children(shared, gateway).await
    } else {
        Vec::new()
    }
}

/// Finds the end devices of a gateway whose observations are observed again (a new
/// registration, or the first contact since the adapter started) when none is known, as
/// after a restart: until then they cannot be reached.
pub(super) async fn ensure_children(shared: &Shared, gateway: &Registration) -> Vec<Found> {
    if gateway.has_object(25) && children_of(shared, &gateway.endpoint).is_empty() {
        discover_children(shared, gateway).await
    } else {
        Vec::new()
    }
}

/// The gateway de-registered or expired: its end devices go offline for the same reason and
/// are forgotten. Runs after the registrations mirror dropped the gateway, under the gateway's
/// discovery lock: a discovery still reading `/25` commits nothing after this.
pub(super) async fn gateway_gone(shared: &Shared, gateway: &str, why: Gone) {
    let lock = shared.discoveries.lock_of(gateway, false);
    let _committing = match &lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let names: Vec<String> = children_of(shared, gateway).into_iter().map(|(n, _)| n).collect();
    if let Ok(mut map) = shared.children.write() {
        for name in &names {
            map.remove(name);
        }
    }
    for name in names {
        child_gone(shared, &name, why).await;
    }
    // A discovery still holding this lock finds the registration gone and commits nothing; the
    // next registration's discoveries start a new order.
    shared.discoveries.forget(gateway);
}

async fn child_gone(shared: &Shared, name: &str, why: Gone) {
    let Ok(id) = DeviceId::lwm2m(name) else { return };
    if let Err(e) = shared.handle.device_gone(&id, why).await {
        tracing::debug!(device = %id, error = %e, "end device gone");
    }
}

/// Reads every `/25/x` of `gateway`, records its end devices, reports them as devices (contact,
/// identity from their `/3/0`) and as the gateway's children; end devices it no longer lists
/// go offline. An end device whose instance could not be read stays as it was. What was read
/// is committed in the order the discoveries started, and only while the gateway keeps the
/// registration that was read ([`Discoveries`]). Returns the end devices reported online, for
/// the caller to read their objects and observe again what the user observes on new ones.
pub(super) async fn discover_children(shared: &Shared, gateway: &Registration) -> Vec<Found> {
    let ep = &gateway.endpoint;
    let ticket = shared.discoveries.ticket();
    let instances = gateway.object_paths().filter(|p| matches!(p, Path::ObjectInstance(25, _)));
    let mut discovery = Discovery::new(ep, instances.filter_map(|p| p.instance_id()));
    while let Some((id, instance)) = discovery.poll_request() {
        let answer = match shared.request_ok(ep, device_request::read(gateway, instance, None)).await {
            Ok(response) => device_request::decode(&instance, &response, &shared.models),
            Err(e) => Err(e),
        };
        discovery.handle_response(id, answer);
    }
    let Some(Discovered { found, unreadable }) = discovery.poll_outcome() else { return Vec::new() };
    let found: Vec<(String, Child)> = found
        .into_iter()
        .map(|e| {
            let child = Child {
                gateway: ep.clone(),
                gateway_registration: gateway.id.clone(),
                instance: e.instance,
                prefix: e.prefix,
                objects: e.objects,
            };
            (e.name, child)
        })
        .collect();
    let Some(lock) = shared.discoveries.lock_of(ep, true) else { return Vec::new() };
    let mut committed = lock.lock().await;
    let current =
        shared.registrations.read().ok().and_then(|r| r.get(ep).map(|g| g.id.clone())) == Some(gateway.id.clone());
    if !current || *committed > ticket {
        tracing::debug!(endpoint = %ep, current, "dropping an end device discovery: the gateway is gone or a later one committed");
        return Vec::new();
    }
    *committed = ticket;
    commit_children(shared, gateway, found, &unreadable).await
}

/// An end device a discovery reported online.
pub(super) struct Found {
    /// Its name, `{gateway}/{device id}`.
    pub name: String,
    /// The gateway's registration seen as the end device's.
    pub registration: Registration,
    /// New to this registration of the gateway: what the user observes on it is to be
    /// observed again.
    pub new: bool,
}

/// Records what a discovery found (under the gateway's discovery lock): the children map,
/// each end device online, the gateway's children, the unlisted ones offline.
async fn commit_children(
    shared: &Shared,
    gateway: &Registration,
    found: Vec<(String, Child)>,
    unreadable: &[u16],
) -> Vec<Found> {
    let ep = &gateway.endpoint;
    let known = children_of(shared, ep);
    let (kept, unlisted): (Vec<_>, Vec<_>) = known
        .into_iter()
        .filter(|(name, _)| !found.iter().any(|(n, _)| n == name))
        .partition(|(_, c)| unreadable.contains(&c.instance));
    let mut fresh = Vec::new();
    if let Ok(mut map) = shared.children.write() {
        for (name, _) in &unlisted {
            map.remove(name);
        }
        for (name, child) in &found {
            let new = map
                .insert(name.clone(), child.clone())
                .is_none_or(|old| old.gateway_registration != child.gateway_registration);
            fresh.push((name.clone(), child.registration(name, gateway), new));
        }
    }
    for (name, _, _) in &fresh {
        shared.wake(name);
    }
    let mut children: Vec<(u16, DeviceId)> =
        kept.iter().filter_map(|(n, c)| Some((c.instance, DeviceId::lwm2m(n).ok()?))).collect();
    let mut online = Vec::new();
    for ((name, reg, new), (_, child)) in fresh.into_iter().zip(&found) {
        if let Some(id) = child_online(shared, gateway, &name, &reg).await {
            children.push((child.instance, id));
            online.push(Found { name, registration: reg, new });
        }
    }
    children.sort();
    if let Ok(gw) = DeviceId::lwm2m(ep) {
        let children = children.into_iter().map(|(_, id)| id).collect();
        if let Err(e) = shared.handle.set_children(&gw, children).await {
            tracing::warn!(gateway = %gw, error = %e, "could not record end devices");
        }
    }
    // Out of the gateway's children first, then offline: whoever sees an unlisted end device
    // offline sees it without its parent.
    for (name, _) in &unlisted {
        child_gone(shared, name, Gone::Deregistered).await;
    }
    online
}

/// Reports an end device listed in `/25` online, with the capabilities of its objects.
async fn child_online(shared: &Shared, gateway: &Registration, name: &str, reg: &Registration) -> Option<DeviceId> {
    let id = DeviceId::lwm2m(name).ok()?;
    let contact = Contact {
        state: PresenceState::Online,
        lifetime_s: Some(gateway.lifetime_s),
        address: Some(gateway.address.to_string()),
        boot: false,
    };
    let caps = mapping::capabilities(reg);
    if let Err(e) = shared.handle.device_contact(&id, contact, |d| d.capabilities = Some(caps)).await {
        tracing::warn!(device = %id, error = %e, "could not record end device");
        return None;
    }
    Some(id)
}

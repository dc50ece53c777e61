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

use std::sync::Arc;

use unidm_core::{Contact, Gone};
use unidm_models::{DeviceId, PresenceState};

use super::{dm, mapping, ops, Ctx};
use crate::codec::{link_format, Limits, Value};
use crate::path::Path;
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

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) | Value::CoreLink(s) => Some(s.clone()),
        Value::Opaque(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// The end devices the adapter knows behind `gateway`, by name.
fn children_of(ctx: &Ctx, gateway: &str) -> Vec<(String, Child)> {
    let Ok(map) = ctx.children.read() else { return Vec::new() };
    map.iter().filter(|(_, c)| c.gateway == gateway).map(|(n, c)| (n.clone(), c.clone())).collect()
}

/// The device a notification is about: the gateway `endpoint` itself, or its end device under
/// `prefix`; `None` for a prefix the adapter does not know (any more).
pub(super) fn notified_device(ctx: &Ctx, endpoint: &str, prefix: Option<&str>) -> Option<String> {
    let Some(prefix) = prefix else { return Some(endpoint.to_owned()) };
    let map = ctx.children.read().ok()?;
    map.iter().find(|(_, c)| c.gateway == endpoint && c.prefix == prefix).map(|(n, _)| n.clone())
}

/// Reads `/25` again after the gateway registered or changed its object list, when it lists
/// /25 or had end devices.
pub(super) async fn refresh(ctx: &Arc<Ctx>, gateway: &Registration) {
    if gateway.has_object(25) || !children_of(ctx, &gateway.endpoint).is_empty() {
        discover_children(ctx, gateway).await;
    }
}

/// Finds the end devices of a gateway whose observations are observed again (a new
/// registration, or the first contact since the adapter started) when none is known, as
/// after a restart: until then they cannot be reached.
pub(super) async fn ensure_children(ctx: &Arc<Ctx>, gateway: &Registration) {
    if gateway.has_object(25) && children_of(ctx, &gateway.endpoint).is_empty() {
        discover_children(ctx, gateway).await;
    }
}

/// The gateway de-registered or expired: its end devices go offline for the same reason and
/// are forgotten.
pub(super) async fn gateway_gone(ctx: &Ctx, gateway: &str, why: Gone) {
    let names: Vec<String> = children_of(ctx, gateway).into_iter().map(|(n, _)| n).collect();
    if let Ok(mut map) = ctx.children.write() {
        for name in &names {
            map.remove(name);
        }
    }
    for name in names {
        child_gone(ctx, &name, why).await;
    }
}

async fn child_gone(ctx: &Ctx, name: &str, why: Gone) {
    let Ok(id) = DeviceId::lwm2m(name) else { return };
    if let Err(e) = ctx.handle.device_gone(&id, why).await {
        tracing::debug!(device = %id, error = %e, "end device gone");
    }
}

/// What `/25/x` says: the end device's name and the child, `Ok(None)` when the instance names
/// no end device (no Device ID or Prefix).
async fn read_instance(
    ctx: &Ctx,
    gateway: &Registration,
    instance: Path,
) -> Result<Option<(String, Child)>, unidm_models::OperationError> {
    let ep = &gateway.endpoint;
    let response = ctx.request_ok(ep, dm::read(gateway, instance, None)).await?;
    let content = dm::decode(&instance, &response, &ctx.models)?;
    let field = |r| text(instance.child(r).and_then(|p| content.get(&p)));
    let (Some(device), Some(prefix), Some(x)) = (field(0), field(1), instance.instance_id()) else {
        return Ok(None);
    };
    let limits = Limits::default();
    let objects = field(3)
        .and_then(|l| link_format::parse(l.as_bytes(), &limits).ok())
        .map(|links| {
            links
                .into_iter()
                .filter(|l| l.target.parse::<Path>().is_ok())
                .map(|l| ObjectLink { version: l.attribute("ver").map(str::to_owned), path: l.target })
                .collect()
        })
        .unwrap_or_default();
    let child = Child { gateway: ep.clone(), gateway_registration: gateway.id.clone(), instance: x, prefix, objects };
    Ok(Some((format!("{ep}/{device}"), child)))
}

/// Reads every `/25/x` of `gateway`, records its end devices, reports them as devices (contact,
/// identity from their `/3/0`) and as the gateway's children; end devices it no longer lists
/// go offline. An end device whose instance could not be read stays as it was.
pub(super) async fn discover_children(ctx: &Arc<Ctx>, gateway: &Registration) {
    let ep = &gateway.endpoint;
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for instance in gateway.object_paths().filter(|p| matches!(p, Path::ObjectInstance(25, _))) {
        match read_instance(ctx, gateway, instance).await {
            Ok(Some(child)) => found.push(child),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(endpoint = %ep, %instance, error = %e.message, "reading /25 failed");
                unreadable.extend(instance.instance_id());
            }
        }
    }
    let known = children_of(ctx, ep);
    let (kept, unlisted): (Vec<_>, Vec<_>) = known
        .into_iter()
        .filter(|(name, _)| !found.iter().any(|(n, _)| n == name))
        .partition(|(_, c)| unreadable.contains(&c.instance));
    if let Ok(mut map) = ctx.children.write() {
        for (name, _) in &unlisted {
            map.remove(name);
        }
    }
    let mut children: Vec<(u16, DeviceId)> =
        kept.iter().filter_map(|(n, c)| Some((c.instance, DeviceId::lwm2m(n).ok()?))).collect();
    for (name, child) in found {
        let instance = child.instance;
        if let Some(id) = found_child(ctx, gateway, name, child).await {
            children.push((instance, id));
        }
    }
    children.sort();
    if let Ok(gw) = DeviceId::lwm2m(ep) {
        let children = children.into_iter().map(|(_, id)| id).collect();
        if let Err(e) = ctx.handle.set_children(&gw, children).await {
            tracing::debug!(gateway = %gw, error = %e, "could not record end devices");
        }
    }
    // Out of the gateway's children first, then offline: whoever sees an unlisted end device
    // offline sees it without its parent.
    for (name, _) in &unlisted {
        child_gone(ctx, name, Gone::Deregistered).await;
    }
}

/// Records an end device listed in `/25` and reports it online; observes again what the user
/// observes on it when it is new to this registration of the gateway.
async fn found_child(ctx: &Arc<Ctx>, gateway: &Registration, name: String, child: Child) -> Option<DeviceId> {
    let id = DeviceId::lwm2m(&name).ok()?;
    let reg = child.registration(&name, gateway);
    let still_registered = |ctx: &Ctx| {
        ctx.registrations.read().ok().and_then(|r| r.get(&gateway.endpoint).map(|g| g.id.clone()))
            == Some(gateway.id.clone())
    };
    // The insertion decides, so that two discoveries at once observe again only once.
    let new = {
        let mut map = ctx.children.write().ok()?;
        // A gateway gone meanwhile took its end devices with it.
        if !still_registered(ctx) {
            return None;
        }
        map.insert(name.clone(), child.clone()).is_none_or(|old| old.gateway_registration != child.gateway_registration)
    };
    ctx.registered.notify_waiters();
    let contact = Contact {
        state: PresenceState::Online,
        lifetime_s: Some(gateway.lifetime_s),
        address: Some(gateway.address.to_string()),
        boot: false,
    };
    let caps = mapping::capabilities(&reg);
    if let Err(e) = ctx.handle.device_contact(&id, contact, |d| d.capabilities = Some(caps)).await {
        tracing::debug!(device = %id, error = %e, "could not record end device");
        return None;
    }
    if new {
        ops::resume_own_observations(ctx, &name).await;
    }
    // As for a client that registers: identity from /3, firmware and software state from /5
    // and /9, whichever the end device lists.
    ops::read_own_objects(ctx, &reg).await;
    Some(id)
}

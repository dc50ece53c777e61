//! LwM2M Gateway end devices (object /25, LwM2M 1.1 GwCap; fact sheet §9.12): when a gateway
//! registers /25 instances, each instance's Device ID `/25/x/0`, Prefix `/25/x/1` and IoT
//! Device Objects `/25/x/3` (link-format) make an end device that unidm reports as a device
//! of its own, a child of the gateway.
//!
//! Id scheme: the child of gateway endpoint `gw` with Device ID `d` is
//! `DeviceId::lwm2m("gw/d")`. Operations on it go to the gateway with Uri-Path
//! `/{prefix}/{o}/{i}/{r}`: [`super::Ctx`] resolves the child name to the gateway's
//! registration (with the child's objects) and adds the prefix to each request. A real
//! endpoint named like a child (`gw/d`) is shadowed while the gateway reports that child.
//! Observations of a child are not separated from the gateway's own (same path, same key).

use std::sync::Arc;

use unidm_core::Contact;
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

/// Reads every `/25/x` of `gateway`, records its end devices, reports them as devices (contact,
/// identity from their `/3/0`) and as the gateway's children.
pub(super) async fn discover_children(ctx: &Arc<Ctx>, gateway: &Registration) {
    let ep = &gateway.endpoint;
    let mut children = Vec::new();
    for instance in gateway.object_paths().filter(|p| matches!(p, Path::ObjectInstance(25, _))) {
        let read = ctx.request_ok(ep, dm::read(gateway, instance, None)).await;
        let content = match read.and_then(|r| dm::decode(&instance, &r, &ctx.models)) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(endpoint = %ep, %instance, error = %e.message, "reading /25 failed");
                continue;
            }
        };
        let field = |r| text(instance.child(r).and_then(|p| content.get(&p)));
        let (Some(device), Some(prefix)) = (field(0), field(1)) else { continue };
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
        let name = format!("{ep}/{device}");
        let Ok(id) = DeviceId::lwm2m(&name) else { continue };
        let child = Child { gateway: ep.clone(), prefix, objects };
        let reg = child.registration(&name, gateway);
        if let Ok(mut map) = ctx.children.write() {
            map.insert(name.clone(), child);
        }
        let contact = Contact {
            state: PresenceState::Online,
            lifetime_s: Some(gateway.lifetime_s),
            address: Some(gateway.address.to_string()),
            boot: false,
        };
        let caps = mapping::capabilities(&reg);
        if let Err(e) = ctx.handle.device_contact(&id, contact, |d| d.capabilities = Some(caps)).await {
            tracing::debug!(device = %id, error = %e, "could not record end device");
            continue;
        }
        if reg.has_object(3) {
            if let Err(e) = ops::refresh_device_info(ctx, &name).await {
                tracing::debug!(device = %id, error = %e.message, "reading the end device's /3/0 failed");
            }
        }
        children.push(id);
    }
    if let Ok(gw) = DeviceId::lwm2m(ep) {
        if let Err(e) = ctx.handle.set_children(&gw, children).await {
            tracing::debug!(gateway = %gw, error = %e, "could not record end devices");
        }
    }
}

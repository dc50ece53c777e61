//! The simulated client as a LwM2M Gateway (object /25, LwM2M Gateway TS §6): `n` end devices,
//! each with its own object tree under the prefix `dev{i}`, listed in `/25/{i}` (Device ID
//! `/25/i/0` = `child-{i}`, Prefix `/25/i/1`, IoT Device Objects `/25/i/3` in link-format).
//! End devices come and go at runtime ([`SimClient::add_end_device`],
//! [`SimClient::remove_end_device`], then [`SimClient::update_objects`]); each is observed
//! apart from the gateway, its notifications under the token of its own observation.

use std::collections::BTreeMap;

use coap_lite::{CoapOption, Packet};

use super::objects::{Effect, Objects};
use super::{Client, Cmd, Observer, SimClient, SimConfig};
use crate::codec::Value;
use crate::path::Path;
use crate::server::Observed;

/// End devices of a simulated gateway, by prefix.
pub type EndDevices = BTreeMap<String, Objects>;

/// Builds `config.gateway_children` end devices and their `/25` instances in `gateway`.
pub fn end_devices(config: &SimConfig, gateway: &mut Objects) -> EndDevices {
    let mut out = BTreeMap::new();
    for i in 0..config.gateway_children {
        let Ok(id) = u16::try_from(i) else { break };
        add(config, gateway, &mut out, id);
    }
    out
}

/// Adds end device `i`: prefix `dev{i}`, listed in `/25/{i}`. Returns the prefix.
fn add(config: &SimConfig, gateway: &mut Objects, devices: &mut EndDevices, i: u16) -> String {
    let prefix = format!("dev{i}");
    let device = Objects::new(
        &config.manufacturer,
        "end-device",
        &format!("SN-{}-{i}", config.endpoint),
        &config.fw_version,
        config.lifetime_s,
        config.version != "1.0",
    );
    let v = &mut gateway.values;
    v.insert(Path::Resource(25, i, 0), Value::String(format!("child-{i}")));
    v.insert(Path::Resource(25, i, 1), Value::String(prefix.clone()));
    v.insert(Path::Resource(25, i, 3), Value::CoreLink(device.link_format()));
    devices.insert(prefix.clone(), device);
    prefix
}

/// When `request` targets `/{prefix}/…` of a known end device: its prefix and the request
/// with the prefix segment removed.
pub fn route(devices: &EndDevices, request: &Packet) -> Option<(String, Packet)> {
    let segments: Vec<Vec<u8>> = request.get_option(CoapOption::UriPath)?.iter().cloned().collect();
    let first = String::from_utf8(segments.first()?.clone()).ok()?;
    if !devices.contains_key(&first) {
        return None;
    }
    let mut stripped = request.clone();
    stripped.clear_option(CoapOption::UriPath);
    for seg in &segments[1..] {
        stripped.add_option(CoapOption::UriPath, seg.clone());
    }
    Some((first, stripped))
}

impl SimClient {
    /// Changes a resource value of the end device under `prefix`; its observers are notified.
    pub fn end_device_set(&self, prefix: &str, path: Path, value: Value) {
        if let Some(device) = self.shared.end_devices.lock().ok().as_mut().and_then(|d| d.get_mut(prefix)) {
            device.values.insert(path, value);
        }
        let _ = self.commands.send(Cmd::EndDeviceChanged(prefix.to_owned(), path));
    }

    /// Adds an end device in the first free `/25` instance `i` (prefix `dev{i}`, Device ID
    /// `child-{i}`) and returns its prefix. The server hears of it with
    /// [`SimClient::update_objects`].
    pub fn add_end_device(&self) -> Option<String> {
        let mut gateway = self.shared.objects.lock().ok()?;
        let mut devices = self.shared.end_devices.lock().ok()?;
        let free = (0..=u16::MAX).find(|i| {
            !gateway.values.keys().any(|p| p.object_id() == Some(25) && p.instance_id() == Some(*i))
                && !devices.contains_key(&format!("dev{i}"))
        })?;
        Some(add(&self.shared.config, &mut gateway, &mut devices, free))
    }

    /// Removes the end device under `prefix` and its `/25` instance; false when there is none.
    /// The server hears of it with [`SimClient::update_objects`].
    pub fn remove_end_device(&self, prefix: &str) -> bool {
        let (Ok(mut gateway), Ok(mut devices)) = (self.shared.objects.lock(), self.shared.end_devices.lock()) else {
            return false;
        };
        let listed = Value::String(prefix.to_owned());
        let instance = gateway.values.iter().find_map(|(p, v)| match p {
            Path::Resource(25, i, 1) if *v == listed => Some(*i),
            _ => None,
        });
        if let Some(i) = instance {
            gateway.values.retain(|p, _| !Path::ObjectInstance(25, i).is_prefix_of(p));
        }
        devices.remove(prefix).is_some() || instance.is_some()
    }
}

impl Client {
    /// Carries out what an end device's answer asks for: its observations, and notifications
    /// of what the server changed. The end devices simulate no other side effect.
    pub(super) fn end_device_effect(&mut self, prefix: &str, effect: Effect) {
        let mine = |o: &Observer, observed: &Observed| o.prefix.as_deref() == Some(prefix) && o.observed == *observed;
        match effect {
            Effect::Observe { token, path, format } => {
                let observed = Observed::Path(path);
                self.observers.retain(|o| !mine(o, &observed));
                let prefix = Some(prefix.to_owned());
                self.observers.push(Observer { token, observed, format, sequence: 0, prefix });
            }
            Effect::CancelObserve(path) => self.observers.retain(|o| !mine(o, &Observed::Path(path))),
            Effect::Changed(paths) => self.notify_any(Some(prefix), &paths),
            _ => {}
        }
    }
}

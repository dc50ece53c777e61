//! The simulated client as a LwM2M Gateway (object /25, fact sheet §9.12): `n` end devices,
//! each with its own object tree under the prefix `dev{i}`, listed in `/25/{i}` (Device ID
//! `/25/i/0` = `child-{i}`, Prefix `/25/i/1`, IoT Device Objects `/25/i/3` in link-format).

use std::collections::BTreeMap;

use coap_lite::{CoapOption, Packet};

use super::objects::Objects;
use super::SimConfig;
use crate::codec::Value;
use crate::path::Path;

/// End devices of a simulated gateway, by prefix.
pub type EndDevices = BTreeMap<String, Objects>;

/// Builds `config.gateway_children` end devices and their `/25` instances in `gateway`.
pub fn end_devices(config: &SimConfig, gateway: &mut Objects) -> EndDevices {
    let mut out = BTreeMap::new();
    for i in 0..config.gateway_children {
        let Ok(id) = u16::try_from(i) else { break };
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
        v.insert(Path::Resource(25, id, 0), Value::String(format!("child-{i}")));
        v.insert(Path::Resource(25, id, 1), Value::String(prefix.clone()));
        v.insert(Path::Resource(25, id, 3), Value::CoreLink(device.link_format()));
        out.insert(prefix, device);
    }
    out
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

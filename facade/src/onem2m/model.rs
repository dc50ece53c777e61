//! A device as oneM2M resources (TS-0001 `<node>`, TS-0004 `<mgmtObj>` specialisations with
//! their short names): what unidm wants the CSE to hold for it. Pure functions of the device.

use serde_json::{json, Map, Value as Json};
use unidm_models::{Device, Function, Protocol};

/// `<node>`.
pub const TY_NODE: u16 = 14;
/// `<mgmtObj>`.
pub const TY_MGMT_OBJ: u16 = 13;
/// `<accessControlPolicy>`.
pub const TY_ACP: u16 = 1;
/// `<subscription>`.
pub const TY_SUB: u16 = 23;

/// The label every resource unidm creates carries, so that it finds its own.
pub const OWN_LABEL: &str = "unidm";

/// One `<mgmtObj>` wanted under a device's node.
#[derive(Debug, Clone, PartialEq)]
pub struct MgmtObj {
    /// Resource name below the node (`firmware`, `deviceInfo`, `software-<id>`).
    pub name: String,
    /// Short type (`m2m:fwr`).
    pub kind: &'static str,
    /// `mgd`.
    pub mgd: u16,
    /// Attributes unidm keeps up to date (the device's state).
    pub attributes: Map<String, Json>,
    /// Attributes written only at creation (triggers and statuses oneM2M applications write).
    pub initial: Map<String, Json>,
    /// Whether oneM2M applications manage the device through it (unidm subscribes to it).
    pub managed: bool,
}

/// A `<node>`'s resource name for a device: its id with the protocol's `:` made `_`, and any
/// other character outside `A-Z a-z 0-9 . _ -` made `_` too (CSEs refuse them in resource
/// names; a TR-069 id escapes its serial with `%`), then a short hash of the whole id so that
/// two ids that differ only there stay apart. The `<node>`'s `ni` holds the id itself.
pub fn node_name(device: &unidm_models::DeviceId) -> String {
    let id = device.as_str();
    let (protocol, native) = id.split_once(':').unwrap_or(("", id));
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut name: String =
        format!("{protocol}_{}", native.chars().map(|c| if safe(c) { c } else { '_' }).collect::<String>());
    if !native.chars().all(safe) {
        // FNV-1a: stable across versions and platforms, unlike std's hasher.
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        name.push_str(&format!("-{:06x}", hash & 0xff_ffff));
    }
    name
}

/// The resource name of a software module's `swr`: `software-` and its id, characters outside
/// `A-Z a-z 0-9 . _ -` made `_`.
pub fn software_name(module: &str) -> String {
    let safe: String = module
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    format!("software-{safe}")
}

/// The labels of a device's resources: unidm's own, `protocol:<p>`, and one `<k>:<v>` per
/// unidm label, so that oneM2M discovery (`fu=1&lbl=protocol:lwm2m`) finds devices by them.
pub fn labels(device: &Device) -> Vec<String> {
    let mut out = vec![OWN_LABEL.to_owned(), format!("protocol:{}", device.protocol)];
    out.extend(device.labels.iter().map(|(k, v)| format!("{k}:{v}")));
    out
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Lwm2m => "LWM2M",
        Protocol::Tr069 => "TR-069",
        Protocol::Omadm => "OMA-DM",
    }
}

fn put(map: &mut Map<String, Json>, key: &str, value: Option<impl Into<Json>>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

/// The `<node>` attributes (`ni`, labels).
pub fn node(device: &Device) -> Json {
    json!({"rn": node_name(&device.id), "ni": device.id.as_str(), "lbl": labels(device)})
}

/// The mgmtObjs a device has, from what it reported and supports; `base` is the CSEBase's
/// address (`/id-in/cse-in`) for the links between a gateway's `areaNwkInfo` and its end
/// devices' `areaNwkDeviceInfo`.
pub fn mgmt_objs(device: &Device, base: &str) -> Vec<MgmtObj> {
    let id = &device.identity;
    let mut out = Vec::new();
    let mut dvi = Map::new();
    dvi.insert("dlb".into(), json!(id.serial.clone().unwrap_or_else(|| device.id.native().to_owned())));
    dvi.insert("man".into(), json!(id.manufacturer.clone().unwrap_or_default()));
    dvi.insert("mod".into(), json!(id.model.clone().unwrap_or_default()));
    dvi.insert("dty".into(), json!(id.device_type.clone().or(id.product_class.clone()).unwrap_or_default()));
    put(&mut dvi, "swv", id.sw_version.clone().or(id.fw_version.clone()));
    dvi.insert("ptl".into(), json!([protocol_name(device.protocol)]));
    let mut dvi_initial = Map::new();
    put(&mut dvi_initial, "hwv", id.hw_version.clone());
    out.push(MgmtObj {
        name: "deviceInfo".into(),
        kind: "m2m:dvi",
        mgd: 1007,
        attributes: dvi,
        initial: dvi_initial,
        managed: false,
    });

    if device.supports(Function::Firmware) {
        let fw = device.snapshot.firmware.as_deref();
        let mut attrs = Map::new();
        attrs.insert("vr".into(), json!(device.firmware_version().unwrap_or_default()));
        attrs.insert("fwn".into(), json!(fw.and_then(|f| f.name.clone()).unwrap_or_default()));
        let mut initial = Map::new();
        initial.insert("url".into(), json!(fw.and_then(|f| f.url.clone()).unwrap_or_default()));
        initial.insert("ud".into(), json!(false));
        out.push(MgmtObj {
            name: "firmware".into(),
            kind: "m2m:fwr",
            mgd: 1001,
            attributes: attrs,
            initial,
            managed: true,
        });
    }
    if device.supports(Function::Reboot) || device.supports(Function::FactoryReset) {
        let mut initial = Map::new();
        initial.insert("rbo".into(), json!(false));
        initial.insert("far".into(), json!(false));
        out.push(MgmtObj {
            name: "reboot".into(),
            kind: "m2m:rbo",
            mgd: 1009,
            attributes: Map::new(),
            initial,
            managed: true,
        });
    }
    if device.supports(Function::Software) {
        for module in device.snapshot.software.iter().filter(|m| m.installed) {
            let attrs = Map::from_iter([
                ("swn".to_owned(), json!(module.name)),
                ("vr".to_owned(), json!(module.version.clone().unwrap_or_default())),
            ]);
            // `url` is mandatory at creation (an application sets it with `in` to install);
            // the triggers `in` `un` `act` `dea` may not be given then.
            let initial = Map::from_iter([("url".to_owned(), json!(""))]);
            out.push(MgmtObj {
                name: software_name(&module.id),
                kind: "m2m:swr",
                mgd: 1002,
                attributes: attrs,
                initial,
                managed: true,
            });
        }
    }
    // What unidm can do with the device, one deviceCapability per management function it
    // reported (`can` the function's name; attached and enabled: unidm does not switch them).
    for function in device.capabilities.iter().flatten() {
        let attrs = Map::from_iter([
            ("can".to_owned(), json!(function.as_str())),
            ("att".to_owned(), json!(true)),
            ("cus".to_owned(), json!(true)),
        ]);
        let initial = Map::from_iter([("cas".to_owned(), json!({"acn": "", "sus": 0}))]);
        let name = format!("capability-{}", function.as_str());
        out.push(MgmtObj { name, kind: "m2m:dvc", mgd: 1008, attributes: attrs, initial, managed: false });
    }
    let topology = &device.topology;
    if !topology.children.is_empty() {
        let ant = topology.area_network_type.clone().unwrap_or_else(|| match device.protocol {
            Protocol::Lwm2m => "LwM2M gateway end devices".to_owned(),
            Protocol::Tr069 => "LAN".to_owned(),
            Protocol::Omadm => "area network".to_owned(),
        });
        let ldv: Vec<String> = topology.children.iter().map(|c| format!("{base}/{}", node_name(c))).collect();
        let attrs = Map::from_iter([("ant".to_owned(), json!(ant)), ("ldv".to_owned(), json!(ldv))]);
        out.push(MgmtObj {
            name: "areaNwkInfo".into(),
            kind: "m2m:ani",
            mgd: 1004,
            attributes: attrs,
            initial: Map::new(),
            managed: false,
        });
    }
    if let Some(parent) = &topology.parent {
        let dvt = id.device_type.clone().or(id.model.clone()).unwrap_or_else(|| "end device".to_owned());
        let attrs = Map::from_iter([
            ("dvd".to_owned(), json!(device.id.as_str())),
            ("dvt".to_owned(), json!(dvt)),
            ("awi".to_owned(), json!(format!("{base}/{}/areaNwkInfo", node_name(parent)))),
            ("ss".to_owned(), json!(format!("{:?}", device.presence.state).to_ascii_lowercase())),
        ]);
        out.push(MgmtObj {
            name: "areaNwkDeviceInfo".into(),
            kind: "m2m:andi",
            mgd: 1005,
            attributes: attrs,
            initial: Map::new(),
            managed: false,
        });
    }
    if let Some(m) = &device.snapshot.memory {
        let attrs = Map::from_iter([("mma".to_owned(), json!(m.available)), ("mmt".to_owned(), json!(m.total))]);
        out.push(MgmtObj {
            name: "memory".into(),
            kind: "m2m:mem",
            mgd: 1003,
            attributes: attrs,
            initial: Map::new(),
            managed: false,
        });
    }
    if let Some(b) = &device.snapshot.battery {
        let attrs = Map::from_iter([("btl".to_owned(), json!(b.level)), ("bts".to_owned(), json!(b.status))]);
        out.push(MgmtObj {
            name: "battery".into(),
            kind: "m2m:bat",
            mgd: 1006,
            attributes: attrs,
            initial: Map::new(),
            managed: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::{Battery, DeviceId, Timestamp};

    #[test]
    fn a_device_becomes_a_node_with_the_mgmt_objs_it_supports() {
        let mut d = Device::new(DeviceId::parse("lwm2m:urn:imei:1/child").unwrap(), Timestamp(0));
        d.identity.manufacturer = Some("ACME".into());
        d.identity.fw_version = Some("1.2".into());
        d.labels.insert("site".into(), "north".into());
        d.capabilities = Some([Function::Firmware, Function::DeviceInfo].into_iter().collect());
        d.snapshot.battery = Some(Battery { level: 80, status: 1 });
        assert_eq!(node_name(&DeviceId::parse("lwm2m:sensor-1").unwrap()), "lwm2m_sensor-1");
        let escaped = node_name(&DeviceId::parse("tr069:00D09E-GW-SN%2D1").unwrap());
        assert!(
            escaped.starts_with("tr069_00D09E-GW-SN_2D1-") && escaped.len() == "tr069_00D09E-GW-SN_2D1-".len() + 6,
            "{escaped}"
        );
        assert_ne!(escaped, node_name(&DeviceId::parse("tr069:00D09E-GW-SN_2D1").unwrap()), "no collision");
        assert!(node_name(&d.id).starts_with("lwm2m_urn_imei_1_child-"));
        assert_eq!(node(&d)["lbl"], json!(["unidm", "protocol:lwm2m", "site:north"]));
        let objs = mgmt_objs(&d, "/id-in/cse-in");
        let names: Vec<&str> = objs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["deviceInfo", "firmware", "capability-deviceInfo", "capability-firmware", "battery"],
            "no reboot: not supported"
        );
        assert_eq!(objs[0].attributes["man"], "ACME");
        assert_eq!(objs[0].attributes["ptl"], json!(["LWM2M"]));
        assert_eq!((objs[1].attributes["vr"].as_str(), objs[1].initial["ud"].as_bool()), (Some("1.2"), Some(false)));
        assert!(objs[1].managed && !objs[0].managed);
        assert_eq!(objs[3].attributes["can"], "firmware");
        assert_eq!(objs[4].attributes["btl"], 80);

        // A gateway lists its end devices; an end device links to its gateway's area network.
        let child = DeviceId::parse("lwm2m:gw/dev0").unwrap();
        let mut gw = Device::new(DeviceId::parse("lwm2m:gw").unwrap(), Timestamp(0));
        gw.topology.children = vec![child.clone()];
        let ani = mgmt_objs(&gw, "/id-in/cse-in").into_iter().find(|o| o.name == "areaNwkInfo").unwrap();
        assert_eq!(ani.attributes["ldv"], json!([format!("/id-in/cse-in/{}", node_name(&child))]));
        let mut end = Device::new(child, Timestamp(0));
        end.topology.parent = Some(gw.id.clone());
        let andi = mgmt_objs(&end, "/id-in/cse-in").into_iter().find(|o| o.name == "areaNwkDeviceInfo").unwrap();
        assert_eq!(andi.attributes["awi"], "/id-in/cse-in/lwm2m_gw/areaNwkInfo");
        assert_eq!((andi.mgd, andi.attributes["dvd"].as_str()), (1005, Some("lwm2m:gw/dev0")));
    }
}

//! The LwM2M objects in the common model (oneM2M TS-0005 §6.3; registry `3.xml`): capabilities from
//! the registered objects, and the Device object /3 into identity, battery, memory and error codes
//! (units through `unidm_models::units`).

use std::collections::BTreeSet;

use unidm_models::{units, Battery, Connectivity, Device, Function, Location, Memory, Timestamp};

use crate::codec::{Content, Value};
use crate::path::Path;
use crate::server::Registration;

/// The functions a client supports, from the objects it registered: /3 Device info, reboot,
/// factory reset, battery, memory; /4 connectivity; /5 firmware; /6 location; /9 software;
/// /25 gateway (area network). Native access and observe are always there.
pub fn capabilities(reg: &Registration) -> BTreeSet<Function> {
    let mut set: BTreeSet<Function> = [Function::Native, Function::Observe].into();
    for object in reg.object_paths().filter_map(|p| p.object_id()) {
        match object {
            3 => set.extend([
                Function::DeviceInfo,
                Function::Reboot,
                Function::FactoryReset,
                Function::Battery,
                Function::Memory,
            ]),
            4 => {
                set.insert(Function::Connectivity);
            }
            5 => {
                set.insert(Function::Firmware);
            }
            6 => {
                set.insert(Function::Location);
            }
            9 => {
                set.insert(Function::Software);
            }
            25 => {
                set.insert(Function::AreaNetwork);
            }
            _ => {}
        }
    }
    set
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) | Value::Time(i) => Some(*i),
        Value::UnsignedInteger(u) => i64::try_from(*u).ok(),
        Value::Float(f) if f.is_finite() => Some(*f as i64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Opaque(b) => String::from_utf8(b.clone()).ok(),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Applies a read of `/3/0` to the device: manufacturer /3/0/0, model /3/0/1, serial /3/0/2,
/// firmware version /3/0/3, battery /3/0/9 and status /3/0/20 (+1 for oneM2M), memory
/// /3/0/10 and /3/0/21 (kB of 1000 bytes), error codes /3/0/11, device type /3/0/17, hardware
/// /3/0/18 and software version /3/0/19.
pub fn apply_device_object(content: &Content, device: &mut Device, now: Timestamp) {
    let get = |r: u16| content.get(&Path::Resource(3, 0, r));
    let text = |r: u16| get(r).and_then(as_string);
    let id = &mut device.identity;
    let fields = [
        (0, &mut id.manufacturer),
        (1, &mut id.model),
        (2, &mut id.serial),
        (3, &mut id.fw_version),
        (17, &mut id.device_type),
        (18, &mut id.hw_version),
        (19, &mut id.sw_version),
    ];
    for (r, slot) in fields {
        if let Some(v) = text(r) {
            *slot = Some(v);
        }
    }
    let snap = &mut device.snapshot;
    if let Some(level) = get(9).and_then(as_i64) {
        let status = get(20).and_then(as_i64).map(units::lwm2m_battery_status_to_onem2m).unwrap_or(7);
        snap.battery = Some(Battery { level: level.clamp(0, 100) as u8, status });
    }
    let free = get(10).and_then(as_i64);
    let total = get(21).and_then(as_i64);
    if free.is_some() || total.is_some() {
        snap.memory = Some(Memory {
            available: free.map(units::lwm2m_kb_to_bytes).unwrap_or(0),
            total: total.map(units::lwm2m_kb_to_bytes).unwrap_or(0),
        });
    }
    let errors: Vec<i64> = content
        .records
        .iter()
        .filter(|r| matches!(r.path, Path::ResourceInstance(3, 0, 11, _) | Path::Resource(3, 0, 11)))
        .filter_map(|r| as_i64(&r.value))
        .collect();
    if !errors.is_empty() {
        snap.error_codes = errors;
    }
    if let Some(secs) = get(13).and_then(as_i64) {
        let info = snap.device_info.get_or_insert_with(Box::default);
        info.system_time = Some(Timestamp(secs.saturating_mul(1000)));
    }
    snap.refreshed_at = Some(now);
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(*i as f64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Applies a read of `/4/0` Connectivity Monitoring (registry `4.xml`): bearer /4/0/0, signal
/// /4/0/2 (dBm), link quality /4/0/3, IP addresses /4/0/4, APN /4/0/7, cell id /4/0/8.
pub fn apply_connectivity(content: &Content, device: &mut Device) {
    let get = |r: u16| content.get(&Path::Resource(4, 0, r)).and_then(as_i64);
    let under = |r: u16| {
        content
            .records
            .iter()
            .filter(
                move |rec| matches!(rec.path, Path::ResourceInstance(4, 0, x, _) | Path::Resource(4, 0, x) if x == r),
            )
            .filter_map(|rec| as_string(&rec.value))
    };
    if !content.records.iter().any(|r| r.path.object_id() == Some(4)) {
        return;
    }
    device.snapshot.connectivity = Some(Box::new(Connectivity {
        bearer: get(0),
        signal_strength_dbm: get(2),
        link_quality: get(3),
        ip_addresses: under(4).collect(),
        cell_id: get(8),
        apn: under(7).next(),
    }));
}

/// Applies a read of `/6/0` Location (registry `6.xml`): latitude /6/0/0, longitude /6/0/1,
/// altitude /6/0/2.
pub fn apply_location(content: &Content, device: &mut Device) {
    let get = |r: u16| content.get(&Path::Resource(6, 0, r)).and_then(as_f64);
    if let (Some(latitude), Some(longitude)) = (get(0), get(1)) {
        device.snapshot.location = Some(Box::new(Location { latitude, longitude, altitude: get(2) }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Record;
    use unidm_models::DeviceId;

    #[test]
    fn device_object_fills_identity_and_converts_units() {
        let c = Content::new(vec![
            Record::new(Path::Resource(3, 0, 0), Value::String("Acme".into())),
            Record::new(Path::Resource(3, 0, 3), Value::String("1.0".into())),
            Record::new(Path::Resource(3, 0, 9), Value::Integer(87)),
            Record::new(Path::Resource(3, 0, 20), Value::Integer(0)),
            Record::new(Path::Resource(3, 0, 10), Value::Integer(64)),
            Record::new(Path::Resource(3, 0, 21), Value::Integer(128)),
            Record::new(Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0)),
        ]);
        let mut d = Device::new(DeviceId::lwm2m("x").unwrap(), Timestamp(0));
        apply_device_object(&c, &mut d, Timestamp(5));
        assert_eq!(d.identity.manufacturer.as_deref(), Some("Acme"));
        assert_eq!(d.identity.fw_version.as_deref(), Some("1.0"));
        assert_eq!(d.snapshot.battery, Some(Battery { level: 87, status: 1 }));
        assert_eq!(d.snapshot.memory, Some(Memory { available: 64_000, total: 128_000 }));
        assert_eq!(d.snapshot.error_codes, vec![0]);
    }

    /// Every `/3/0/x` Read row of the LwM2M mapping table (`unidm_models::mapping`) lands in
    /// the device.
    #[test]
    fn device_object_rows_of_the_mapping_table_are_applied() {
        let rows =
            unidm_models::mapping::LWM2M.rows.iter().filter(|r| r.path.starts_with("/3/0/") && r.operation == "Read");
        let mut n = 0;
        for row in rows {
            let path: Path = row.path.parse().unwrap();
            let value =
                if path == Path::Resource(3, 0, 13) { Value::Time(1_700_000_000) } else { Value::String("x".into()) };
            let mut d = Device::new(DeviceId::lwm2m("x").unwrap(), Timestamp(0));
            let before = d.clone();
            apply_device_object(&Content::new(vec![Record::new(path, value)]), &mut d, Timestamp(0));
            d.snapshot.refreshed_at = None;
            assert_ne!(d, before, "{} is not mapped", row.path);
            n += 1;
        }
        assert!(n >= 8);
    }

    #[test]
    fn connectivity_and_location() {
        let mut d = Device::new(DeviceId::lwm2m("x").unwrap(), Timestamp(0));
        let c = Content::new(vec![
            Record::new(Path::Resource(4, 0, 0), Value::Integer(6)),
            Record::new(Path::Resource(4, 0, 2), Value::Integer(-90)),
            Record::new(Path::ResourceInstance(4, 0, 4, 0), Value::String("10.0.0.2".into())),
            Record::new(Path::ResourceInstance(4, 0, 7, 0), Value::String("iot.apn".into())),
        ]);
        apply_connectivity(&c, &mut d);
        let conn = d.snapshot.connectivity.clone().unwrap();
        assert_eq!((conn.bearer, conn.signal_strength_dbm), (Some(6), Some(-90)));
        assert_eq!(conn.ip_addresses, vec!["10.0.0.2".to_string()]);
        assert_eq!(conn.apn.as_deref(), Some("iot.apn"));
        let l = Content::new(vec![
            Record::new(Path::Resource(6, 0, 0), Value::Float(48.85)),
            Record::new(Path::Resource(6, 0, 1), Value::Float(2.35)),
        ]);
        apply_location(&l, &mut d);
        apply_connectivity(&l, &mut d);
        assert_eq!(d.snapshot.connectivity, Some(conn), "a /6 read leaves connectivity alone");
        assert_eq!(d.snapshot.location.unwrap().latitude, 48.85);
    }
}

//! Unit and enum conversions between protocols, in one place (sources on each function).

/// LwM2M memory resources (/3/0/10, /3/0/21) are in kB where "1 kilobyte corresponds to 1000
/// bytes" (LwM2M registry object 3).
pub fn lwm2m_kb_to_bytes(kb: i64) -> u64 {
    (kb.max(0) as u64).saturating_mul(1000)
}

/// The inverse of [`lwm2m_kb_to_bytes`], rounded down (what unidm shows as LwM2M /3/0/10 and
/// /3/0/21 for a device of another protocol).
pub fn bytes_to_lwm2m_kb(bytes: u64) -> i64 {
    i64::try_from(bytes / 1000).unwrap_or(i64::MAX)
}

/// TR-181 `DeviceInfo.MemoryStatus.*` is in KiB; TR-098's unqualified "kilobytes" is taken as
/// KiB too (TR-181 later states KiB for the same parameters).
pub fn cwmp_kib_to_bytes(kib: u64) -> u64 {
    kib.saturating_mul(1024)
}

/// oneM2M `bat.bts` is LwM2M `/3/0/20` plus one (0 Normal -> 1 Normal ... 6 Unknown -> 7; LwM2M
/// registry object 3, oneM2M TS-0004 `m2m:batteryStatus`).
/// Out-of-range values map to 7 Unknown.
pub fn lwm2m_battery_status_to_onem2m(status: i64) -> u8 {
    match status {
        0..=6 => status as u8 + 1,
        _ => 7,
    }
}

/// The inverse of [`lwm2m_battery_status_to_onem2m`].
pub fn onem2m_battery_status_to_lwm2m(status: u8) -> i64 {
    match status {
        1..=7 => i64::from(status) - 1,
        _ => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_differ_by_protocol() {
        assert_eq!(lwm2m_kb_to_bytes(64), 64_000);
        assert_eq!(cwmp_kib_to_bytes(64), 65_536);
        assert_eq!(lwm2m_kb_to_bytes(-1), 0);
    }

    #[test]
    fn battery_status_is_off_by_one() {
        for lw in 0..=6 {
            let m = lwm2m_battery_status_to_onem2m(lw);
            assert_eq!(m as i64, lw + 1);
            assert_eq!(onem2m_battery_status_to_lwm2m(m), lw);
        }
        assert_eq!(lwm2m_battery_status_to_onem2m(42), 7);
    }
}

//! Timestamps: milliseconds since the Unix epoch, shown as RFC 3339 on the wire.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// A point in time with millisecond precision. The model never reads the clock: callers pass
/// timestamps in, so engines and adapters stay testable on a simulated clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-11-22T10:00:00.000Z")]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The timestamp of a `SystemTime` (times before the epoch clamp to it).
    pub fn from_system(t: SystemTime) -> Self {
        let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Timestamp(ms)
    }

    /// This timestamp as a `SystemTime`.
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64)
    }

    /// This timestamp plus a duration, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis().min(i64::MAX as u128) as i64))
    }

    /// Parses RFC 3339 (`2026-11-22T10:00:00Z`, with or without fractional seconds).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        humantime::parse_rfc3339_weak(s).ok().map(Self::from_system)
    }
}

/// The proleptic Gregorian (year, month, day) of `days` since 1970-01-01, negative ones
/// included (Howard Hinnant's inverse of days_from_civil).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` written into 24 bytes, for years up to 9999 (negative
    /// timestamps clamp to the epoch, as [`Timestamp::to_system`] does). Every device and
    /// operation record carries several timestamps and is serialized on each change, so this
    /// skips the formatting machinery.
    fn rfc3339(self) -> Option<[u8; 24]> {
        let ms = self.0.max(0);
        let (days, in_day) = (ms / 86_400_000, ms % 86_400_000);
        let (year, month, day) = civil_date(days);
        if year > 9999 {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, in_day / 3_600_000);
        put(14, 2, in_day / 60_000 % 60);
        put(17, 2, in_day / 1000 % 60);
        put(20, 3, in_day % 1000);
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc3339() {
            // ASCII digits and separators only.
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            None => write!(f, "{}", humantime::format_rfc3339_millis(self.to_system())),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339() {
            Some(text) => s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Ok(Timestamp(ms)),
            Raw::Text(s) => Timestamp::parse_rfc3339(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_around_the_epoch_and_leap_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_792), (2026, 12, 5));
    }

    /// The fast formatting writes what humantime writes, across leap days, centuries, the
    /// epoch, clamped negative times and the last millisecond of year 9999 (beyond, humantime
    /// formats, or refuses).
    #[test]
    fn formatting_matches_humantime() {
        let reference = |t: Timestamp| humantime::format_rfc3339_millis(t.to_system()).to_string();
        let mut samples = vec![-5, 0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999];
        samples.extend([4_107_542_399_999, 4_102_444_800_000, 253_402_300_799_999]);
        // Every day of 1999-2001 and 2099-2101 at a changing time of day.
        for start in [915_148_800_000i64, 4_070_908_800_000] {
            samples.extend((0..3 * 366).map(|d| start + d * 86_400_000 + (d * 7_654_321) % 86_400_000));
        }
        for ms in samples {
            let t = Timestamp(ms);
            assert_eq!(t.to_string(), reference(t), "{ms}");
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", reference(t)), "{ms}");
        }
        assert!(Timestamp(253_402_300_800_000).rfc3339().is_none(), "year 10000 is humantime's");
    }

    proptest::proptest! {
        #[test]
        fn any_time_formats_as_humantime_does(ms in 0i64..253_402_300_800_000) {
            let t = Timestamp(ms);
            proptest::prop_assert_eq!(t.to_string(), humantime::format_rfc3339_millis(t.to_system()).to_string());
        }
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp(1_795_000_000_123);
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, "\"2026-11-18T11:06:40.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&s).unwrap(), t);
        assert_eq!(serde_json::from_str::<Timestamp>("1795000000123").unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}

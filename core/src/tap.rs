//! The wire tap: the messages exchanged with chosen devices, recorded as the adapters decode
//! them, for whoever asked (a conformance run shows "the exact message exchange" of each case).
//!
//! Off by default and free when off: an adapter asks [`WireTap::record`] with a closure that
//! renders the message, and the closure runs only while someone taps that device. Bounded: at
//! most [`WireTap::MAX_RECORDS`] records per tapped device (the oldest go first) and
//! [`WireTap::MAX_BODY`] bytes of text per record.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use unidm_models::{DeviceId, Timestamp};
use utoipa::ToSchema;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// From unidm to the device.
    ToDevice,
    /// From the device to unidm.
    FromDevice,
}

/// One message as the adapter saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WireRecord {
    /// When the adapter sent or received it.
    pub at: Timestamp,
    /// Which way it went.
    pub direction: Direction,
    /// One line: `GET /3/0 Accept: 11542`, `2.05 Content (110)`, `Inform`, `HTTP 200`.
    pub summary: String,
    /// The decoded body (SenML as JSON, TLV as records, a SOAP envelope), possibly empty.
    pub body: String,
}

#[derive(Default)]
struct TapInner {
    /// How many devices are tapped: the fast path when zero.
    tapped: AtomicUsize,
    records: Mutex<HashMap<DeviceId, VecDeque<WireRecord>>>,
}

/// Shared by the engine and every adapter ([`crate::AdapterHandle::wire_tap`],
/// [`crate::Engine::wire_tap`]); cheap to clone.
#[derive(Clone, Default)]
pub struct WireTap {
    inner: Arc<TapInner>,
}

impl std::fmt::Debug for WireTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireTap").field("tapped", &self.inner.tapped.load(Ordering::Relaxed)).finish()
    }
}

impl WireTap {
    /// Records kept per tapped device.
    pub const MAX_RECORDS: usize = 2_000;
    /// Bytes of body text kept per record.
    pub const MAX_BODY: usize = 16 * 1024;

    /// Starts recording `device`'s messages (again from empty when it already was).
    pub fn start(&self, device: &DeviceId) {
        let mut records = self.inner.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.insert(device.clone(), VecDeque::new()).is_none() {
            self.inner.tapped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Stops recording `device` and returns what was recorded since the last [`Self::take`].
    pub fn stop(&self, device: &DeviceId) -> Vec<WireRecord> {
        let mut records = self.inner.records.lock().unwrap_or_else(|p| p.into_inner());
        match records.remove(device) {
            Some(list) => {
                self.inner.tapped.fetch_sub(1, Ordering::Relaxed);
                list.into()
            }
            None => Vec::new(),
        }
    }

    /// What was recorded for `device` since the last call; recording goes on.
    pub fn take(&self, device: &DeviceId) -> Vec<WireRecord> {
        let mut records = self.inner.records.lock().unwrap_or_else(|p| p.into_inner());
        records.get_mut(device).map(|list| list.drain(..).collect()).unwrap_or_default()
    }

    /// Whether any device is being recorded (one atomic load: the adapters' fast path).
    pub fn is_tapped_any(&self) -> bool {
        self.inner.tapped.load(Ordering::Relaxed) > 0
    }

    /// Whether `device` is being recorded.
    pub fn is_tapped(&self, device: &DeviceId) -> bool {
        self.inner.tapped.load(Ordering::Relaxed) > 0
            && self.inner.records.lock().unwrap_or_else(|p| p.into_inner()).contains_key(device)
    }

    /// Records one message of `device` when it is tapped; `render` gives the summary and the
    /// body and runs only then.
    pub fn record(
        &self,
        device: &DeviceId,
        at: Timestamp,
        direction: Direction,
        render: impl FnOnce() -> (String, String),
    ) {
        if self.inner.tapped.load(Ordering::Relaxed) == 0 || !self.is_tapped(device) {
            return;
        }
        let (summary, mut body) = render();
        if body.len() > Self::MAX_BODY {
            let mut cut = Self::MAX_BODY;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            let dropped = body.len() - cut;
            body.truncate(cut);
            body.push_str(&format!("\n… ({dropped} more bytes)"));
        }
        let mut records = self.inner.records.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = records.get_mut(device) {
            if list.len() == Self::MAX_RECORDS {
                list.pop_front();
            }
            list.push_back(WireRecord { at, direction, summary, body });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    #[test]
    fn only_tapped_devices_are_recorded_and_rendering_is_skipped_otherwise() {
        let tap = WireTap::default();
        let (a, b) = (id("lwm2m:a"), id("lwm2m:b"));
        tap.record(&a, Timestamp(1), Direction::ToDevice, || panic!("rendered while nobody taps"));
        tap.start(&a);
        tap.record(&a, Timestamp(2), Direction::ToDevice, || ("GET /3/0".into(), String::new()));
        tap.record(&b, Timestamp(3), Direction::ToDevice, || panic!("b is not tapped"));
        tap.record(&a, Timestamp(4), Direction::FromDevice, || ("2.05 Content".into(), "x".into()));
        let first = tap.take(&a);
        assert_eq!(first.iter().map(|r| r.summary.as_str()).collect::<Vec<_>>(), ["GET /3/0", "2.05 Content"]);
        assert_eq!(first[1].direction, Direction::FromDevice);
        assert!(tap.take(&a).is_empty(), "take drains");
        tap.record(&a, Timestamp(5), Direction::ToDevice, || ("PUT".into(), String::new()));
        assert_eq!(tap.stop(&a).len(), 1);
        assert!(!tap.is_tapped(&a));
        tap.record(&a, Timestamp(6), Direction::ToDevice, || panic!("stopped"));
    }

    #[test]
    fn records_and_bodies_are_bounded() {
        let tap = WireTap::default();
        let a = id("lwm2m:a");
        tap.start(&a);
        for i in 0..WireTap::MAX_RECORDS + 5 {
            tap.record(&a, Timestamp(i as i64), Direction::ToDevice, || (format!("m{i}"), String::new()));
        }
        let list = tap.take(&a);
        assert_eq!(list.len(), WireTap::MAX_RECORDS);
        assert_eq!(list[0].summary, "m5", "the oldest went first");
        tap.record(&a, Timestamp(0), Direction::ToDevice, || ("big".into(), "é".repeat(WireTap::MAX_BODY)));
        let big = &tap.take(&a)[0].body;
        assert!(big.len() < WireTap::MAX_BODY + 40 && big.ends_with("more bytes)"), "{}", big.len());
    }
}

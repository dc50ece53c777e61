//! Diagnostics over a vendor DiagMon subtree. OMA's DiagMon architecture names no public node
//! structure (OMA DM fact sheet §16: devices carry vendor subtrees such as
//! `./ManagedObjects/DiagMon/...`), so a diagnostic is described per device type by a
//! [`DiagProfile`]: the leaves the request's fields are written to, the node an `Exec` of
//! which runs the test, and where its results are read.
//!
//! The procedure, in two phases of one operation:
//! 1. **Start**: a `Sequence` of `Replace` of each field the request sets (host, count,
//!    timeout, hop limit) then `Exec` of the profile's start node with the operation id as
//!    `Correlator`. A `200` means the test ran synchronously; a `202` that its end comes in a
//!    Generic Alert 1226 with that correlator (result code 200-299 or 1200-1299: completed).
//! 2. **Results**: a `Get` of the results (`<results>?list=StructData`, or the configured
//!    leaves one by one), answered as `{"test", "results": {relative URI: value}}`.

use unidm_models::{ErrorKind, OperationError};

use super::Outcome;
use crate::codec::Item;

/// The diagnostic a profile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiagTest {
    /// ICMP echo toward a host.
    Ping,
    /// Route tracing toward a host.
    Traceroute,
}

impl DiagTest {
    /// `ping` / `traceroute`.
    pub fn name(self) -> &'static str {
        match self {
            DiagTest::Ping => "ping",
            DiagTest::Traceroute => "traceroute",
        }
    }

    /// The test of a name (`ping`, `traceroute`, any case).
    pub fn parse(name: &str) -> Option<DiagTest> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ping" => Some(DiagTest::Ping),
            "traceroute" => Some(DiagTest::Traceroute),
            _ => None,
        }
    }
}

/// Where one diagnostic lives on the devices of one manufacturer (and model). Leaf names are
/// relative to [`DiagProfile::root`]; `None` leaves are not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagProfile {
    /// `./DevInfo/Man`, compared without case; `None`: every device.
    pub manufacturer: Option<String>,
    /// `./DevInfo/Mod`, compared without case; `None`: every model.
    pub model: Option<String>,
    /// The test.
    pub test: DiagTest,
    /// The subtree (`./Vendor/DiagMon/Ping`); its presence on a device gives the capability.
    pub root: String,
    /// The host leaf (default `Host`).
    pub host: String,
    /// The repetition count leaf (ping; default `NumberOfRepetitions`).
    pub count: Option<String>,
    /// The per-echo timeout leaf, milliseconds (ping; default `Timeout`).
    pub timeout: Option<String>,
    /// The hop limit leaf (traceroute; default `MaxHopCount`).
    pub max_hops: Option<String>,
    /// The node whose `Exec` runs the test (default `Operations/Start`).
    pub exec: String,
    /// The interior node read with `?list=StructData` after the test (default `Results`).
    pub results: String,
    /// Result leaves read one `Get` each instead, for clients without `StructData`.
    pub result_leaves: Vec<String>,
}

impl DiagProfile {
    /// A profile of `test` under `root` with the default leaf names, for every device.
    pub fn new(test: DiagTest, root: impl Into<String>) -> DiagProfile {
        let (count, timeout, max_hops) = match test {
            DiagTest::Ping => (Some("NumberOfRepetitions".into()), Some("Timeout".into()), None),
            DiagTest::Traceroute => (None, Some("Timeout".into()), Some("MaxHopCount".into())),
        };
        DiagProfile {
            manufacturer: None,
            model: None,
            test,
            root: root.into(),
            host: "Host".into(),
            count,
            timeout,
            max_hops,
            exec: "Operations/Start".into(),
            results: "Results".into(),
            result_leaves: Vec::new(),
        }
    }

    /// The root without a trailing `/`.
    pub fn root(&self) -> &str {
        self.root.trim().trim_end_matches('/')
    }

    /// The URI of a leaf below the root.
    pub fn node(&self, leaf: &str) -> String {
        format!("{}/{}", self.root(), leaf.trim().trim_matches('/'))
    }

    /// The nodes to `Replace` before the start: (URI, value) for each field the request sets
    /// and the profile has a leaf for.
    pub fn settings(
        &self,
        host: &str,
        count: Option<u32>,
        timeout_ms: Option<u32>,
        max_hops: Option<u32>,
    ) -> Vec<(String, String)> {
        let mut out = vec![(self.node(&self.host), host.trim().to_owned())];
        for (leaf, value) in [(&self.count, count), (&self.timeout, timeout_ms), (&self.max_hops, max_hops)] {
            if let (Some(leaf), Some(v)) = (leaf, value) {
                out.push((self.node(leaf), v.to_string()));
            }
        }
        out
    }

    /// The URIs the results phase reads.
    pub fn result_gets(&self) -> Vec<String> {
        if self.result_leaves.is_empty() {
            vec![format!("{}?list=StructData", self.node(&self.results))]
        } else {
            self.result_leaves.iter().map(|l| self.node(l)).collect()
        }
    }

    /// The results of the read: leaf URI (relative to the root) to value, interior nodes
    /// left out, at most [`MAX_RESULTS`] of them.
    pub fn results_of(&self, items: &[Item]) -> serde_json::Map<String, serde_json::Value> {
        let prefix = format!("{}/", self.root());
        items
            .iter()
            .filter(|i| i.meta.as_ref().and_then(|m| m.format.as_deref()) != Some("node"))
            .filter_map(|i| {
                let uri = i.source.as_ref()?.loc_uri.trim();
                let uri = uri.split_once('?').map_or(uri, |(u, _)| u);
                let key = uri.strip_prefix(&prefix).unwrap_or(uri);
                let value = i.data.as_ref()?.as_text()?;
                Some((super::scomo::bounded(key), serde_json::Value::String(super::scomo::bounded(value))))
            })
            .take(MAX_RESULTS)
            .collect()
    }
}

/// Most result leaves kept of one diagnostic.
pub const MAX_RESULTS: usize = 256;

/// What the result code of a diagnostic's Generic Alert means: 200-299 and 1200-1299 say it
/// ran (its results tell how it went), anything else that it could not.
pub fn outcome(code: u32) -> Outcome {
    match code {
        200..=299 | 1200..=1299 => Outcome::Succeeded,
        _ => Outcome::Failed(
            OperationError::new(ErrorKind::DeviceRefused, "the device could not run the diagnostic")
                .with_code(code.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Data, Location, Meta};

    #[test]
    fn settings_write_what_the_request_sets_and_the_profile_has() {
        let p = DiagProfile::new(DiagTest::Ping, "./Vendor/DiagMon/Ping/");
        assert_eq!(
            p.settings(" 10.0.0.1 ", Some(3), None, Some(9)),
            [
                ("./Vendor/DiagMon/Ping/Host".to_owned(), "10.0.0.1".to_owned()),
                ("./Vendor/DiagMon/Ping/NumberOfRepetitions".to_owned(), "3".to_owned())
            ]
        );
        let t = DiagProfile::new(DiagTest::Traceroute, "./T");
        assert_eq!(t.settings("h", Some(3), Some(500), Some(9)).len(), 3, "host, timeout, hops; no count");
        assert_eq!(t.result_gets(), ["./T/Results?list=StructData"]);
        let leaves = DiagProfile { result_leaves: vec!["Out/Avg".into(), "/Out/Min/".into()], ..t };
        assert_eq!(leaves.result_gets(), ["./T/Out/Avg", "./T/Out/Min"]);
        assert_eq!(DiagTest::parse(" Ping "), Some(DiagTest::Ping));
        assert_eq!(DiagTest::parse("iperf"), None);
    }

    #[test]
    fn results_are_leaves_relative_to_the_root() {
        let p = DiagProfile::new(DiagTest::Ping, "./D/Ping");
        let leaf = |u: &str, v: &str| Item {
            source: Some(Location::uri(u)),
            data: Some(Data::Text(v.into())),
            ..Item::default()
        };
        let interior = Item {
            source: Some(Location::uri("./D/Ping/Results")),
            meta: Some(Meta { format: Some("node".into()), ..Meta::default() }),
            ..Item::default()
        };
        let r = p.results_of(&[interior, leaf("./D/Ping/Results/SuccessCount", "4"), leaf("./Other/X", "1")]);
        assert_eq!(serde_json::Value::Object(r), serde_json::json!({"Results/SuccessCount": "4", "./Other/X": "1"}));
        let many: Vec<Item> = (0..1000).map(|i| leaf(&format!("./D/Ping/R/{i}"), "x")).collect();
        assert_eq!(p.results_of(&many).len(), MAX_RESULTS);
        assert_eq!(outcome(1200), Outcome::Succeeded);
        let Outcome::Failed(e) = outcome(1400) else { panic!() };
        assert_eq!(e.protocol_code.as_deref(), Some("1400"));
    }
}

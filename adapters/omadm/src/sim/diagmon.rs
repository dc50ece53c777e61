//! The simulated client's vendor DiagMon subtree (OMA publishes no node structure for DiagMon:
//! this one is the simulator's own, the kind a device maker defines): `./Vendor/DiagMon/Ping`
//! (`Host`, `NumberOfRepetitions`, `Timeout`) and `./Vendor/DiagMon/Traceroute` (`Host`,
//! `MaxHopCount`, `Timeout`), each run by an `Exec` of `Operations/Start` that writes
//! `Results/...`: at once (200) or, in [`SimDiagMon::Async`], answered 202 and reported by a
//! Generic Alert 1226 with `diagmon_result`. Hosts under `.invalid` (RFC 6761) never answer.

use super::{Pending, SimDevice, State, Tree};

/// The root of the simulator's DiagMon subtree.
pub const ROOT: &str = "./Vendor/DiagMon";
/// The Generic Alert type of a finished test.
pub const ALERT_TYPE: &str = "com.unidm.sim.diagmon.TestComplete";

/// How the simulated client runs its diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimDiagMon {
    /// The `Exec` runs the test and answers 200 with the results written.
    Sync,
    /// The `Exec` is answered 202; the end comes in a Generic Alert 1226.
    Async,
}

/// The DiagMon nodes of a fresh tree.
pub(super) fn add_to(t: &mut Tree) {
    for (k, v) in [
        ("Ping/Host", ""),
        ("Ping/NumberOfRepetitions", "4"),
        ("Ping/Timeout", "1000"),
        ("Ping/Operations/Start", ""),
        ("Traceroute/Host", ""),
        ("Traceroute/MaxHopCount", "30"),
        ("Traceroute/Timeout", "5000"),
        ("Traceroute/Operations/Start", ""),
    ] {
        t.set(&format!("{ROOT}/{k}"), v);
    }
}

impl SimDevice {
    /// A DiagMon `Exec`: the test's results written, 200 or (async) 202 with the alert queued.
    pub(super) fn diagmon_exec(&self, st: &mut State, norm: &str, correlator: Option<String>) -> Option<u16> {
        let mode = self.config.diagmon?;
        let root = Tree::norm(ROOT);
        let test = norm.strip_prefix(&format!("{root}/"))?.strip_suffix("/Operations/Start")?;
        let base = format!("{root}/{test}");
        let host = st.tree.get(&format!("{base}/Host"))?.trim().to_owned();
        let reachable = !host.is_empty() && !host.ends_with(".invalid");
        let results = format!("{base}/Results");
        st.tree.remove(&results);
        let state = if reachable { "Complete" } else { "Error_CannotResolveHostName" };
        st.tree.set(&format!("{results}/State"), state);
        match test {
            "Ping" => {
                let count: u32 =
                    st.tree.get(&format!("{base}/NumberOfRepetitions")).and_then(|c| c.parse().ok()).unwrap_or(4);
                let (ok, failed) = if reachable { (count, 0) } else { (0, count) };
                for (leaf, v) in [
                    ("SuccessCount", ok.to_string()),
                    ("FailureCount", failed.to_string()),
                    ("AverageResponseTime", if reachable { "1" } else { "0" }.to_owned()),
                    ("MinimumResponseTime", if reachable { "1" } else { "0" }.to_owned()),
                    ("MaximumResponseTime", if reachable { "2" } else { "0" }.to_owned()),
                ] {
                    st.tree.set(&format!("{results}/{leaf}"), &v);
                }
            }
            "Traceroute" => {
                let hops = if reachable { vec!["192.0.2.1", host.as_str()] } else { Vec::new() };
                st.tree.set(&format!("{results}/ResponseTime"), if reachable { "3" } else { "0" });
                st.tree.set(&format!("{results}/HopCount"), &hops.len().to_string());
                for (i, h) in hops.iter().enumerate() {
                    st.tree.set(&format!("{results}/Hops/{}/Host", i + 1), h);
                }
            }
            _ => return None,
        }
        match mode {
            SimDiagMon::Sync => Some(200),
            SimDiagMon::Async => {
                st.pending.push(Pending {
                    correlator,
                    source: format!("./{norm}"),
                    r#type: ALERT_TYPE.into(),
                    code: self.config.diagmon_result,
                });
                Some(202)
            }
        }
    }
}

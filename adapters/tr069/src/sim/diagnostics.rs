//! The simulated CPE's diagnostics (TR-181 `Device.IP.Diagnostics.{IPPing, TraceRoute}.`,
//! TR-098 `IPPingDiagnostics.` / `TraceRouteDiagnostics.`): results written once the ACS set
//! `DiagnosticsState=Requested`. A host ending in `.invalid` cannot be resolved.

use super::tree::ParameterTree;
use crate::soap::{Value, XsdType};

/// Writes the results of the test under `base` (the object path, ending in `.`).
pub(crate) fn complete(tree: &mut ParameterTree, base: &str) {
    let host = tree.get(&format!("{base}Host")).unwrap_or_default().to_owned();
    let unresolvable = host.is_empty() || host.ends_with(".invalid");
    let state = if unresolvable { "Error_CannotResolveHostName" } else { "Complete" };
    tree.set_text(&format!("{base}DiagnosticsState"), state);
    if base.contains("TraceRoute") {
        if unresolvable {
            return;
        }
        tree.set_text(&format!("{base}ResponseTime"), "25");
        // TR-098 prefixes the hop parameters with `Hop`.
        let prefix = if base.starts_with("InternetGatewayDevice.") { "Hop" } else { "" };
        let _ = tree.delete_object(&format!("{base}RouteHops.1."));
        let _ = tree.delete_object(&format!("{base}RouteHops.2."));
        for (n, (name, addr, rtt)) in
            [("gw.lan", "192.168.1.1", "1,1,2"), (host.as_str(), "203.0.113.7", "20,25,24")].into_iter().enumerate()
        {
            let hop = format!("{base}RouteHops.{}.{prefix}", n + 1);
            tree.insert(&format!("{hop}Host"), Value::string(name), false);
            tree.insert(&format!("{hop}HostAddress"), Value::string(addr), false);
            tree.insert(&format!("{hop}ErrorCode"), Value::new(XsdType::UnsignedInt, "0"), false);
            tree.insert(&format!("{hop}RTTimes"), Value::string(rtt), false);
        }
        return;
    }
    let count: u32 = tree.get(&format!("{base}NumberOfRepetitions")).and_then(|c| c.parse().ok()).unwrap_or(1);
    let count = count.max(1).to_string();
    let ok = if unresolvable { "0" } else { count.as_str() };
    for (leaf, v) in [
        ("SuccessCount", ok),
        ("FailureCount", if unresolvable { count.as_str() } else { "0" }),
        ("AverageResponseTime", "12"),
        ("MinimumResponseTime", "8"),
        ("MaximumResponseTime", "20"),
    ] {
        tree.set_text(&format!("{base}{leaf}"), v);
    }
}

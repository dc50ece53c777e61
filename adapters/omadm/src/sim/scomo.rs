//! The simulated client's SCOMO (OMA SCOMO 1.0 §5.3 `Download/<x>/Operations`, §5.5
//! `Inventory/Deployed/<x>/Operations`): installs put a component in `Inventory/Deployed`,
//! active or inactive; remove / activate / deactivate change it; each is answered 202 and
//! reported by an OperationComplete Generic Alert with `scomo_result`.

use super::{Pending, SimDevice, State};
use crate::mo::scomo;

impl SimDevice {
    /// SCOMO Execs (OMA SCOMO 1.0 §5.3, §5.5): accepted (202) when the node is there, the
    /// tree changed when `scomo_result` is 1200, and the OperationComplete alert queued.
    pub(super) fn scomo_exec(&self, st: &mut State, norm: &str, correlator: Option<String>) -> Option<u16> {
        let rest = norm.strip_prefix("SCOMO/")?;
        let segs: Vec<&str> = rest.split('/').collect();
        let code = self.config.scomo_result;
        let ok = code == 1200;
        match segs.as_slice() {
            ["Download", x, "Operations", op @ ("DownloadInstall" | "DownloadInstallInactive")] => {
                let node = format!("SCOMO/Download/{x}");
                if !st.tree.exists(&node) {
                    return Some(404);
                }
                if ok {
                    let name = st.tree.get(&format!("{node}/Name")).unwrap_or(x).to_owned();
                    let pkg = st.tree.get(&format!("{node}/PkgID")).unwrap_or(x).to_owned();
                    let d = format!("SCOMO/Inventory/Deployed/{x}");
                    st.tree.remove(&d);
                    let active = if *op == "DownloadInstall" { "20" } else { "10" };
                    for (leaf, v) in [
                        ("ID", x),
                        ("PkgIDRef", &pkg.as_str()),
                        ("Name", &name.as_str()),
                        ("Version", &"1.0"),
                        ("State", &active),
                        ("Status", &"10"),
                        ("Operations/Activate", &""),
                        ("Operations/Deactivate", &""),
                        ("Operations/Remove", &""),
                    ] {
                        st.tree.set(&format!("{d}/{leaf}"), v);
                    }
                    st.tree.remove(&node);
                }
            }
            ["Inventory", "Deployed", x, "Operations", op @ ("Remove" | "Activate" | "Deactivate")] => {
                let node = format!("SCOMO/Inventory/Deployed/{x}");
                if !st.tree.exists(&node) {
                    return Some(404);
                }
                if ok {
                    match *op {
                        "Remove" => {
                            st.tree.remove(&node);
                        }
                        "Activate" => st.tree.set(&format!("{node}/State"), "20"),
                        _ => st.tree.set(&format!("{node}/State"), "10"),
                    }
                }
            }
            _ => return None,
        }
        st.pending.push(Pending {
            correlator,
            source: format!("./{norm}"),
            r#type: scomo::ALERT_OPERATION_COMPLETE.into(),
            code,
        });
        Some(202)
    }
}

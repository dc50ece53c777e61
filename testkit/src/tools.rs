//! Third-party tools the tests run against, found or skipped: a tool missing where its
//! `UNIDM_REQUIRE_*` variable is `1` (CI) fails the test instead.

use std::path::PathBuf;

/// The directory with `node_modules/lwm2m-node-lib` (npm) that `UNIDM_NODE_LWM2M_DIR` names;
/// `None`, with a notice, when it is not set up, unless `UNIDM_REQUIRE_NODE_LWM2M=1`.
pub fn node_lwm2m_dir() -> Option<PathBuf> {
    let required = std::env::var("UNIDM_REQUIRE_NODE_LWM2M").is_ok_and(|v| v == "1");
    let dir = std::env::var_os("UNIDM_NODE_LWM2M_DIR").map(PathBuf::from);
    match dir.filter(|d| d.join("node_modules/lwm2m-node-lib/package.json").is_file()) {
        Some(d) => Some(d),
        None if required => {
            panic!("UNIDM_REQUIRE_NODE_LWM2M=1 but UNIDM_NODE_LWM2M_DIR has no node_modules/lwm2m-node-lib")
        }
        None => {
            eprintln!("skipping: set UNIDM_NODE_LWM2M_DIR to a directory with `npm install lwm2m-node-lib`");
            None
        }
    }
}

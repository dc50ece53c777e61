//! The simulated client's management tree.

use std::collections::BTreeMap;

use super::SimConfig;

/// A flat management tree: leaf URI (without `./`) -> value.
#[derive(Debug, Clone, Default)]
pub struct Tree(BTreeMap<String, String>);

impl Tree {
    /// The tree a fresh simulated client has.
    pub fn standard(c: &SimConfig) -> Tree {
        let mut t = Tree::default();
        for (k, v) in [
            ("./DevInfo/DevId", c.dev_id.as_str()),
            ("./DevInfo/Man", c.manufacturer.as_str()),
            ("./DevInfo/Mod", c.model.as_str()),
            ("./DevInfo/DmV", "1.2"),
            ("./DevInfo/Lang", "en-US"),
            ("./DevDetail/DevTyp", "simulator"),
            ("./DevDetail/OEM", c.manufacturer.as_str()),
            ("./DevDetail/FwV", c.fw_version.as_str()),
            ("./DevDetail/SwV", "1.0"),
            ("./DevDetail/HwV", "1.0"),
            ("./DevDetail/LrgObj", "false"),
            ("./DMAcc/unidm/ServerID", c.server_id.as_str()),
            ("./DMAcc/unidm/AppAddr/1/Addr", c.server_url.as_str()),
            ("./FUMO/PkgName", ""),
            ("./FUMO/PkgVersion", ""),
            ("./FUMO/DownloadAndUpdate/PkgURL", ""),
            ("./FUMO/DownloadAndUpdate", ""),
            ("./FUMO/State", "10"),
            ("./LAWMO/State", "30"),
            ("./LAWMO/Operations/FactoryReset", ""),
            ("./Reboot", ""),
        ] {
            t.set(k, v);
        }
        t
    }

    /// `./A/B`, `A/B` and `/A/B/` name the same node.
    pub fn norm(uri: &str) -> String {
        uri.trim().trim_start_matches("./").trim_matches('/').to_owned()
    }

    /// A leaf's value.
    pub fn get(&self, uri: &str) -> Option<&str> {
        self.0.get(&Tree::norm(uri)).map(String::as_str)
    }

    /// Sets a leaf.
    pub fn set(&mut self, uri: &str, value: &str) {
        self.0.insert(Tree::norm(uri), value.to_owned());
    }

    /// Removes a node and what is below it; answers whether anything was there.
    pub fn remove(&mut self, uri: &str) -> bool {
        let n = Tree::norm(uri);
        let prefix = format!("{n}/");
        let before = self.0.len();
        self.0.retain(|k, _| *k != n && !k.starts_with(&prefix));
        self.0.len() != before
    }
}

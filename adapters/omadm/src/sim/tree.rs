//! The simulated client's management tree.

use std::collections::{BTreeMap, BTreeSet};

use super::SimConfig;

/// A flat management tree: leaf URI (without `./`) -> value, and the interior nodes that have
/// no leaf below them yet (the others are implied by their leaves).
#[derive(Debug, Clone, Default)]
pub struct Tree(BTreeMap<String, String>, BTreeSet<String>);

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
            ("./Reboot", ""),
        ] {
            t.set(k, v);
        }
        if c.fumo {
            for (k, v) in [
                ("./FUMO/PkgName", ""),
                ("./FUMO/PkgVersion", ""),
                ("./FUMO/DownloadAndUpdate/PkgURL", ""),
                ("./FUMO/DownloadAndUpdate", ""),
                ("./FUMO/State", "10"),
            ] {
                t.set(k, v);
            }
        }
        if c.lawmo {
            t.set("./LAWMO/State", "30");
            t.set("./LAWMO/Operations/FactoryReset", "");
        }
        if c.scomo {
            for n in ["./SCOMO/Download", "./SCOMO/Inventory/Delivered", "./SCOMO/Inventory/Deployed"] {
                t.add_interior(n);
            }
        }
        if c.diagmon.is_some() {
            super::diagmon::add_to(&mut t);
        }
        t
    }

    /// Whether a node (leaf or interior) exists.
    pub fn exists(&self, uri: &str) -> bool {
        self.children(uri).is_some()
    }

    /// An interior node's child names (`None` when there is no such node; a leaf has none).
    pub fn children(&self, uri: &str) -> Option<Vec<String>> {
        let n = Tree::norm(uri);
        let prefix = if n.is_empty() { String::new() } else { format!("{n}/") };
        let mut found = n.is_empty() || self.0.contains_key(&n) || self.1.contains(&n);
        let mut names: Vec<String> = Vec::new();
        for k in self.0.keys().chain(self.1.iter()) {
            let Some(rest) = k.strip_prefix(&prefix) else { continue };
            found = true;
            let child = rest.split('/').next().unwrap_or_default();
            if !child.is_empty() && !names.iter().any(|c| c == child) {
                names.push(child.to_owned());
            }
        }
        found.then_some(names)
    }

    /// Adds an interior node; answers false when the node exists.
    pub fn add_interior(&mut self, uri: &str) -> bool {
        if self.exists(uri) {
            return false;
        }
        self.1.insert(Tree::norm(uri));
        true
    }

    /// `./A/B`, `A/B` and `/A/B/` name the same node; `.` is the root (the empty name).
    pub fn norm(uri: &str) -> String {
        let n = uri.trim().trim_start_matches("./").trim_matches('/');
        if n == "." {
            String::new()
        } else {
            n.to_owned()
        }
    }

    /// A leaf's value.
    pub fn get(&self, uri: &str) -> Option<&str> {
        self.0.get(&Tree::norm(uri)).map(String::as_str)
    }

    /// Sets a leaf.
    pub fn set(&mut self, uri: &str, value: &str) {
        self.0.insert(Tree::norm(uri), value.to_owned());
    }

    /// The node and every node below it, in URI order, each with its value when it is a leaf
    /// (`None` when there is no such node): what a Get with `?list=Struct` / `StructData`
    /// answers (OMA DM Protocol 1.2 §6.6.9, TNDS).
    pub fn structure(&self, uri: &str) -> Option<Vec<(String, Option<String>)>> {
        let n = Tree::norm(uri);
        if !n.is_empty() && !self.exists(&n) {
            return None;
        }
        let prefix = if n.is_empty() { String::new() } else { format!("{n}/") };
        let mut nodes: BTreeMap<String, Option<String>> = BTreeMap::new();
        for k in self.0.keys().chain(self.1.iter()).filter(|k| **k == n || k.starts_with(&prefix)) {
            // Interior nodes on the way down are nodes too.
            let mut at = k.len();
            while let Some(i) = k[..at].rfind('/') {
                if i < n.len() {
                    break;
                }
                nodes.entry(k[..i].to_owned()).or_insert(None);
                at = i;
            }
            nodes.insert(k.clone(), self.0.get(k).cloned());
        }
        Some(nodes.into_iter().map(|(k, v)| (format!("./{k}"), v)).collect())
    }

    /// Removes a node and what is below it; answers whether anything was there.
    pub fn remove(&mut self, uri: &str) -> bool {
        let n = Tree::norm(uri);
        let prefix = format!("{n}/");
        let before = self.0.len() + self.1.len();
        self.0.retain(|k, _| *k != n && !k.starts_with(&prefix));
        self.1.retain(|k| *k != n && !k.starts_with(&prefix));
        self.0.len() + self.1.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_lists_every_node_below() {
        let mut t = Tree::default();
        t.set("./A/B/c", "1");
        t.set("./A/d", "2");
        t.set("./Z", "3");
        let s = t.structure("./A").unwrap();
        let names: Vec<_> = s.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        assert_eq!(names, [("./A", None), ("./A/B", None), ("./A/B/c", Some("1")), ("./A/d", Some("2"))]);
        assert!(t.structure("./Nope").is_none());
    }

    #[test]
    fn interior_nodes_list_their_children() {
        let mut t = Tree::default();
        t.set("./A/B/c", "1");
        t.set("./A/d", "2");
        assert!(t.add_interior("./A/E"));
        assert!(!t.add_interior("A/B"), "implied by its leaf");
        assert_eq!(t.children("./A").unwrap(), ["B", "d", "E"]);
        assert_eq!(t.children(".").unwrap(), ["A"]);
        assert_eq!(t.children("./A/E").unwrap(), Vec::<String>::new());
        assert_eq!(t.children("./A/d").unwrap(), Vec::<String>::new(), "a leaf");
        assert_eq!(t.children("./Z"), None);
        assert!(t.remove("./A/E") && !t.exists("./A/E"));
    }
}

//! What a device has, asked by the server's own requests (no engine operation): its
//! management objects (a `Get` of each configured root, FUMO, SCOMO, LAWMO, the reboot node and
//! the DiagMon roots of its manufacturer / model)
//! decide its capabilities and are kept in the device record; its SCOMO inventory (`Get
//! <scomo>/Inventory/Deployed`, whose answer lists the components, OMA DM Protocol 1.2 §6.6.9,
//! then each one's `Name`, `Version` and `State`; and `Inventory/Delivered` with each package's `Name`,
//! as not installed) becomes `Device.snapshot.software`.
//!
//! The requests go through the session's one queue under [`RequestHandle::internal`] handles;
//! the pure parts ([`Probe`], [`InventoryRead`], [`capabilities`]) decide, [`Server`] glue sends
//! and stores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unidm_core::AdapterHandle;
use unidm_models::{DeviceId, Function, SoftwareModule};

use super::{OmadmConfig, Server, Slot};
use crate::codec::Item;
use crate::mo::devinfo::DeviceFacts;
use crate::mo::diagmon::DiagTest;
use crate::mo::scomo;
use crate::session::{Op, Request, RequestHandle};

/// The management objects found on a device (kept in its record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MoList {
    /// The node URIs asked (the configured roots then).
    #[serde(default)]
    pub probed: Vec<String>,
    /// Those the device has.
    #[serde(default)]
    pub present: Vec<String>,
    /// The DevInfo facts they were found with; other facts (a new model, new firmware) ask
    /// again.
    #[serde(default)]
    pub facts: String,
    /// The device changed since (its firmware was updated): ask again at its next session.
    #[serde(default)]
    pub stale: bool,
    /// The reboot node asked for this device's manufacturer / model
    /// ([`OmadmConfig::reboot_node_for`]), if any.
    #[serde(default)]
    pub reboot: Option<String>,
    /// The DiagMon ping root asked for this device ([`OmadmConfig::diag_profile_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<String>,
    /// The DiagMon traceroute root asked for this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceroute: Option<String>,
}

impl MoList {
    /// The device's reboot node, when it has it.
    pub(crate) fn reboot_node(&self) -> Option<&str> {
        self.has(self.reboot.as_deref())
    }

    /// The device's DiagMon root of `test`, when it has it.
    pub(crate) fn diag_root(&self, test: DiagTest) -> Option<&str> {
        self.has(match test {
            DiagTest::Ping => self.ping.as_deref(),
            DiagTest::Traceroute => self.traceroute.as_deref(),
        })
    }

    fn has<'a>(&self, node: Option<&'a str>) -> Option<&'a str> {
        node.filter(|r| self.present.iter().any(|p| p == &norm(r)))
    }
}

/// The device-type dependent nodes asked for a device (by its manufacturer and model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Candidates {
    pub reboot: Option<String>,
    pub ping: Option<String>,
    pub traceroute: Option<String>,
}

impl Candidates {
    /// The nodes of a device with this manufacturer and model.
    pub(crate) fn for_device(config: &OmadmConfig, man: Option<&str>, model: Option<&str>) -> Candidates {
        let diag = |t| config.diag_profile_for(t, man, model).map(|p| p.root().to_owned());
        Candidates {
            reboot: config.reboot_node_for(man, model).map(str::to_owned),
            ping: diag(DiagTest::Ping),
            traceroute: diag(DiagTest::Traceroute),
        }
    }
}

/// Longest facts key kept.
const MAX_FACTS: usize = 512;

/// The configured roots to ask for, with the device's own nodes, without duplicates.
pub(crate) fn roots(config: &OmadmConfig, own: &Candidates) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let all = [
        Some(config.fumo_root.as_str()),
        Some(&config.scomo_root),
        Some(&config.lawmo_root),
        own.reboot.as_deref(),
        own.ping.as_deref(),
        own.traceroute.as_deref(),
    ];
    for r in all.into_iter().flatten() {
        let r = norm(r);
        if !r.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn norm(uri: &str) -> String {
    uri.trim().trim_end_matches('/').to_owned()
}

/// What identifies the device's build in the facts of its Package 1 (empty when it sent
/// none).
pub(crate) fn facts_key(f: &DeviceFacts) -> String {
    let parts = [&f.manufacturer, &f.model, &f.dm_version, &f.fw_version, &f.sw_version, &f.hw_version];
    if parts.iter().all(|p| p.is_none()) {
        return String::new();
    }
    let key = parts.iter().map(|p| p.as_deref().unwrap_or_default()).collect::<Vec<_>>().join("|");
    scomo::bounded(&key).chars().take(MAX_FACTS).collect()
}

/// Whether the device's management objects must be asked (again); `own` are its own nodes.
pub(crate) fn needs_probe(config: &OmadmConfig, known: Option<&MoList>, facts: &str, own: &Candidates) -> bool {
    let Some(m) = known else { return true };
    m.stale || (!facts.is_empty() && m.facts != facts) || roots(config, own).iter().any(|r| !m.probed.contains(r))
}

/// The functions a device has: device info and native access always; firmware with FUMO,
/// software with SCOMO, factory reset with LAWMO, reboot with its reboot node, ping and
/// traceroute with their DiagMon roots. Before its
/// management objects are known, only the first two.
pub(crate) fn capabilities(config: &OmadmConfig, mos: Option<&MoList>) -> Vec<Function> {
    let mut f = vec![Function::DeviceInfo, Function::Native];
    let Some(m) = mos else { return f };
    let has = |root: &str| m.present.contains(&norm(root));
    if has(&config.fumo_root) {
        f.push(Function::Firmware);
    }
    if has(&config.scomo_root) {
        f.push(Function::Software);
    }
    if has(&config.lawmo_root) {
        f.push(Function::FactoryReset);
    }
    if m.reboot_node().is_some() {
        f.push(Function::Reboot);
    }
    if m.diag_root(DiagTest::Ping).is_some() {
        f.push(Function::Ping);
    }
    if m.diag_root(DiagTest::Traceroute).is_some() {
        f.push(Function::Traceroute);
    }
    f
}

/// Whether a Get's status says the node is there: 404 (not found), 405 (not allowed) and 406
/// (optional feature not supported) say no; anything else (a value, 425 permission denied, a
/// device error) says yes, and an operation on it will get the device's own answer.
pub(crate) fn present(status: u16) -> bool {
    !matches!(status, 404..=406)
}

/// One probe of the management objects in a session.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    waiting: Vec<String>,
    list: MoList,
}

impl Probe {
    pub(crate) fn new(roots: Vec<String>, facts: String, own: Candidates) -> Probe {
        let list = MoList {
            probed: roots.clone(),
            present: Vec::new(),
            facts,
            stale: false,
            reboot: own.reboot,
            ping: own.ping,
            traceroute: own.traceroute,
        };
        Probe { waiting: roots, list }
    }

    /// The answer for `root`; the list once every root answered.
    pub(crate) fn answer(&mut self, root: &str, status: u16) -> Option<MoList> {
        let before = self.waiting.len();
        self.waiting.retain(|r| r != root);
        if self.waiting.len() != before && present(status) {
            self.list.present.push(root.to_owned());
        }
        self.waiting.is_empty().then(|| std::mem::take(&mut self.list))
    }
}

/// The leaves read of each deployed component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    Name,
    Version,
    State,
}

impl Leaf {
    const ALL: [Leaf; 3] = [Leaf::Name, Leaf::Version, Leaf::State];

    fn node(self) -> &'static str {
        match self {
            Leaf::Name => "Name",
            Leaf::Version => "Version",
            Leaf::State => "State",
        }
    }
}

/// A read of the SCOMO inventory in a session.
#[derive(Debug, Clone, Default)]
pub(crate) struct InventoryRead {
    /// Which read this is (an answer of an older one is ignored).
    pub generation: u64,
    /// Leaf Gets not answered yet.
    waiting: usize,
    /// List Gets (`Deployed`, `Delivered`) not answered yet.
    pub lists: usize,
    modules: BTreeMap<String, Component>,
    /// Delivered packages by node, with their `Name` once read.
    delivered: BTreeMap<String, Option<String>>,
}

/// What was read of one deployed component: `Name`, `Version`, `State`.
type Component = (Option<String>, Option<String>, Option<i64>);

/// What the server asked with one of its own requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Own {
    /// A management object root.
    Probe(String),
    /// `Inventory/Deployed` of read `generation`.
    Deployed(u64),
    /// A leaf of a deployed component.
    Component { generation: u64, node: String, leaf: Leaf },
    /// `Inventory/Delivered` of read `generation`.
    Delivered(u64),
    /// The `Name` of a delivered package.
    DeliveredName { generation: u64, node: String },
    /// A `Delete` of a node the server created for an operation that ended (its answer is
    /// not needed: a device that removed it itself answers 404).
    Cleanup,
}

/// The child names of an interior node as a client answers its Get: one item listing them
/// (`a/b/c`, Format node), or one item per child.
fn listed_children(results: &[Item]) -> Vec<String> {
    match results {
        [one] => {
            scomo::child_names(one.data.as_ref().and_then(|d| d.as_text()).unwrap_or_default(), scomo::MAX_MODULES)
        }
        many => {
            let listed: Vec<String> = many
                .iter()
                .filter_map(|i| i.source.as_ref())
                .filter_map(|s| s.loc_uri.trim_end_matches('/').rsplit('/').next().map(str::to_owned))
                .collect();
            scomo::child_names(&listed.join("/"), scomo::MAX_MODULES)
        }
    }
}

fn first_text(results: &[Item]) -> Option<String> {
    results.first().and_then(|i| i.data.as_ref()).and_then(|d| d.as_text()).map(str::to_owned)
}

impl InventoryRead {
    /// The answer to `Get Inventory/Deployed`: the leaf Gets to send (component, leaf, URI).
    /// A client that lists the children as separate items is taken too.
    pub(crate) fn deployed(&mut self, root: &str, status: u16, results: &[Item]) -> Vec<(String, Leaf, String)> {
        self.lists = self.lists.saturating_sub(1);
        if !(200..300).contains(&status) {
            return Vec::new();
        }
        let base = scomo::deployed_root(root);
        let mut gets = Vec::new();
        for n in listed_children(results) {
            self.modules.insert(n.clone(), (None, None, None));
            for leaf in Leaf::ALL {
                gets.push((n.clone(), leaf, format!("{base}/{n}/{}", leaf.node())));
            }
        }
        self.waiting += gets.len();
        gets
    }

    /// The answer to `Get Inventory/Delivered`: the `Name` Gets to send (package, URI). A
    /// device without the node (404) has none delivered.
    pub(crate) fn delivered(&mut self, root: &str, status: u16, results: &[Item]) -> Vec<(String, String)> {
        self.lists = self.lists.saturating_sub(1);
        if !(200..300).contains(&status) {
            return Vec::new();
        }
        let base = scomo::delivered_root(root);
        let mut gets = Vec::new();
        for n in listed_children(results) {
            self.delivered.insert(n.clone(), None);
            gets.push((n.clone(), format!("{base}/{n}/Name")));
        }
        self.waiting += gets.len();
        gets
    }

    /// A delivered package's `Name` (absent when not 2xx).
    pub(crate) fn delivered_name(&mut self, node: &str, status: u16, results: &[Item]) {
        self.waiting = self.waiting.saturating_sub(1);
        let value = (200..300).contains(&status).then(|| first_text(results)).flatten();
        if let Some(name) = self.delivered.get_mut(node) {
            *name = value.map(|v| scomo::bounded(&v)).filter(|v| !v.is_empty());
        }
    }

    /// Whether the read expects nothing more.
    pub(crate) fn done(&self) -> bool {
        self.waiting == 0 && self.lists == 0
    }

    /// One leaf's answer (absent when not 2xx).
    pub(crate) fn component(&mut self, node: &str, leaf: Leaf, status: u16, results: &[Item]) {
        self.waiting = self.waiting.saturating_sub(1);
        let Some(m) = self.modules.get_mut(node) else { return };
        let value = (200..300).contains(&status).then(|| first_text(results)).flatten();
        let value = value.map(|v| scomo::bounded(&v)).filter(|v| !v.is_empty());
        match leaf {
            Leaf::Name => m.0 = value,
            Leaf::Version => m.1 = value,
            Leaf::State => m.2 = value.and_then(|v| v.parse().ok()),
        }
    }

    /// The components as software modules (named after their node when they have no
    /// `Name`), then the delivered packages, not installed, as `Delivered/<x>` (a deployed
    /// component's id is its node name, which install / activate / remove take).
    pub(crate) fn modules(&self) -> Vec<SoftwareModule> {
        let deployed = self.modules.iter().map(|(node, (name, version, state))| {
            scomo::deployed_module(node, name.as_deref().unwrap_or(node), version.as_deref(), *state)
        });
        let delivered = self
            .delivered
            .iter()
            .map(|(node, name)| scomo::delivered_module(&format!("Delivered/{node}"), name.as_deref().unwrap_or(node)));
        deployed.chain(delivered).collect()
    }
}

impl Server {
    /// Queues a Get of the server's own in the session (none when the session is full or
    /// closing: the read happens in a later session).
    fn enqueue_own(&self, slot: &mut Slot, uri: String, what: Own) -> bool {
        self.enqueue_own_op(slot, Op::Get { uri }, what)
    }

    /// Deletes the nodes the server created for operations that ended.
    pub(super) fn clean_up(&self, slot: &mut Slot, nodes: Vec<String>) {
        for uri in nodes {
            if !self.enqueue_own_op(slot, Op::Delete { uri }, Own::Cleanup) {
                return;
            }
        }
    }

    fn enqueue_own_op(&self, slot: &mut Slot, op: Op, what: Own) -> bool {
        slot.own_seq += 1;
        let handle = RequestHandle::internal(slot.own_seq);
        match slot.session.enqueue(Request::new(handle, op)) {
            Ok(()) => {
                slot.own.insert(handle.0, what);
                true
            }
            Err(e) => {
                tracing::debug!(device = ?slot.device, error = %e, "own read left for a later session");
                false
            }
        }
    }

    /// The device-type nodes for the device of `slot` by its manufacturer and model (from its
    /// Package 1, else as the registry knows it).
    pub(super) fn candidates(&self, slot: &Slot) -> Candidates {
        let known = slot.device.as_ref().and_then(|id| self.handle().and_then(|h| h.device(id)));
        let man =
            slot.facts.manufacturer.clone().or_else(|| known.as_ref().and_then(|d| d.identity.manufacturer.clone()));
        let model = slot.facts.model.clone().or_else(|| known.as_ref().and_then(|d| d.identity.model.clone()));
        Candidates::for_device(&self.config, man.as_deref(), model.as_deref())
    }

    /// Asks for the device's management objects.
    pub(super) fn start_probe(&self, slot: &mut Slot, facts: String) {
        let own = self.candidates(slot);
        let roots = roots(&self.config, &own);
        slot.probe = Some(Probe::new(roots.clone(), facts, own));
        for r in roots {
            if !self.enqueue_own(slot, r.clone(), Own::Probe(r)) {
                slot.probe = None;
                return;
            }
        }
    }

    /// Reads the SCOMO inventory into the software snapshot.
    pub(super) fn start_inventory(&self, slot: &mut Slot) {
        let generation = slot.inventory.as_ref().map_or(0, |i| i.generation) + 1;
        slot.inventory = Some(InventoryRead { generation, ..InventoryRead::default() });
        let root = &self.config.scomo_root;
        let lists = [
            (scomo::deployed_root(root), Own::Deployed(generation)),
            (scomo::delivered_root(root), Own::Delivered(generation)),
        ];
        for (uri, what) in lists {
            if !self.enqueue_own(slot, uri, what) {
                slot.inventory = None;
                return;
            }
            if let Some(read) = slot.inventory.as_mut() {
                read.lists += 1;
            }
        }
    }

    /// The answer to one of the server's own requests.
    pub(super) async fn on_own_response(
        &self,
        h: &AdapterHandle,
        slot: &mut Slot,
        request: RequestHandle,
        status: u16,
        results: &[Item],
    ) {
        let Some(what) = slot.own.remove(&request.0) else { return };
        let Some(id) = slot.device.clone() else { return };
        match what {
            Own::Probe(root) => {
                let Some(list) = slot.probe.as_mut().and_then(|p| p.answer(&root, status)) else { return };
                slot.probe = None;
                self.found_mos(h, &id, list.clone()).await;
                if capabilities(&self.config, Some(&list)).contains(&Function::Software) {
                    self.start_inventory(slot);
                }
            }
            Own::Deployed(generation) => {
                let root = self.config.scomo_root.clone();
                let Some(read) = slot.inventory.as_mut().filter(|r| r.generation == generation) else { return };
                let gets = read.deployed(&root, status, results);
                for (node, leaf, uri) in gets {
                    if !self.enqueue_own(slot, uri, Own::Component { generation, node, leaf }) {
                        slot.inventory = None;
                        return;
                    }
                }
                self.inventory_done(h, &id, slot).await;
            }
            Own::Component { generation, node, leaf } => {
                let Some(read) = slot.inventory.as_mut().filter(|r| r.generation == generation) else { return };
                read.component(&node, leaf, status, results);
                self.inventory_done(h, &id, slot).await;
            }
            Own::Delivered(generation) => {
                let root = self.config.scomo_root.clone();
                let Some(read) = slot.inventory.as_mut().filter(|r| r.generation == generation) else { return };
                for (node, uri) in read.delivered(&root, status, results) {
                    if !self.enqueue_own(slot, uri, Own::DeliveredName { generation, node }) {
                        slot.inventory = None;
                        return;
                    }
                }
                self.inventory_done(h, &id, slot).await;
            }
            Own::DeliveredName { generation, node } => {
                let Some(read) = slot.inventory.as_mut().filter(|r| r.generation == generation) else { return };
                read.delivered_name(&node, status, results);
                self.inventory_done(h, &id, slot).await;
            }
            Own::Cleanup => {
                if !(200..300).contains(&status) && status != 404 {
                    tracing::debug!(device = %id, status, "a node unidm created was not deleted");
                }
            }
        }
    }

    async fn inventory_done(&self, h: &AdapterHandle, id: &DeviceId, slot: &mut Slot) {
        let Some(modules) = slot.inventory.as_ref().filter(|r| r.done()).map(InventoryRead::modules) else { return };
        if let Err(e) = h.update_device(id, |d| d.snapshot.software = modules).await {
            tracing::warn!(device = %id, error = %e, "SCOMO inventory not recorded");
        }
    }

    /// Keeps the device's management objects and sets its capabilities from them.
    async fn found_mos(&self, h: &AdapterHandle, id: &DeviceId, list: MoList) {
        let functions = capabilities(&self.config, Some(&list));
        let record = self.accounts.update(id.native(), |r| r.mos = Some(list));
        self.store_record(id.native(), &record).await;
        if let Err(e) = h.update_device(id, |d| d.capabilities = AdapterHandle::functions(&functions)).await {
            tracing::warn!(device = %id, error = %e, "OMA DM capabilities not recorded");
        }
    }

    /// The device's firmware changed: its management objects are asked again next time.
    pub(super) async fn firmware_changed(&self, id: &DeviceId) {
        let record = self.accounts.update(id.native(), |r| {
            if let Some(m) = r.mos.as_mut() {
                m.stale = true;
            }
        });
        self.store_record(id.native(), &record).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Data, Location};

    fn item(uri: &str, v: &str) -> Item {
        Item { source: Some(Location::uri(uri)), data: Some(Data::Text(v.into())), ..Item::default() }
    }

    #[test]
    fn capabilities_follow_the_management_objects() {
        let config = OmadmConfig {
            reboot_node: Some("./Reboot/".into()),
            diagnostics: vec![crate::mo::diagmon::DiagProfile::new(DiagTest::Ping, "./Diag/Ping/")],
            ..OmadmConfig::default()
        };
        let own = Candidates::for_device(&config, Some("Acme"), Some("X1"));
        assert_eq!(own.traceroute, None, "no traceroute profile");
        assert_eq!(roots(&config, &own), ["./FUMO", "./SCOMO", "./LAWMO", "./Reboot", "./Diag/Ping"]);
        assert_eq!(capabilities(&config, None), [Function::DeviceInfo, Function::Native]);
        let mut p = Probe::new(roots(&config, &own), "Acme|X1".into(), own.clone());
        assert!(p.answer("./FUMO", 404).is_none());
        assert!(p.answer("./SCOMO", 200).is_none());
        assert!(p.answer("./Other", 200).is_none(), "not asked: ignored");
        assert!(p.answer("./LAWMO", 425).is_none());
        assert!(p.answer("./Diag/Ping", 200).is_none());
        let list = p.answer("./Reboot", 406).unwrap();
        assert_eq!(list.present, ["./SCOMO", "./LAWMO", "./Diag/Ping"]);
        assert_eq!(list.diag_root(DiagTest::Ping), Some("./Diag/Ping"));
        assert_eq!(
            capabilities(&config, Some(&list)),
            [Function::DeviceInfo, Function::Native, Function::Software, Function::FactoryReset, Function::Ping]
        );
        assert!(!needs_probe(&config, Some(&list), "Acme|X1", &own));
        assert!(!needs_probe(&config, Some(&list), "", &own), "no facts sent: no reason to ask");
        assert!(needs_probe(&config, Some(&list), "Acme|X2", &own));
        assert!(needs_probe(&config, None, "", &own));
        assert!(needs_probe(&config, Some(&MoList { stale: true, ..list.clone() }), "Acme|X1", &own));
        let moved = OmadmConfig { lawmo_root: "./ManagedObjects/LAWMO".into(), ..config };
        assert!(needs_probe(&moved, Some(&list), "Acme|X1", &own), "a root never asked");
        // A record stored before DiagMon existed still decodes.
        let old: MoList = serde_json::from_str(r#"{"probed":["./FUMO"],"present":["./FUMO"],"facts":""}"#).unwrap();
        assert_eq!((old.ping.as_deref(), old.diag_root(DiagTest::Traceroute)), (None, None));
    }

    #[test]
    fn facts_keys_are_bounded() {
        assert_eq!(facts_key(&DeviceFacts::default()), "");
        let f = DeviceFacts { manufacturer: Some("A".repeat(10_000)), ..DeviceFacts::default() };
        assert!(facts_key(&f).len() <= MAX_FACTS);
        let f = DeviceFacts { model: Some("X1".into()), fw_version: Some("2".into()), ..DeviceFacts::default() };
        assert_eq!(facts_key(&f), "|X1||2||");
    }

    #[test]
    fn an_inventory_read_becomes_software_modules() {
        let mut r = InventoryRead::default();
        let gets = r.deployed("./SCOMO", 200, &[item("./SCOMO/Inventory/Deployed", "app/bad name/tool")]);
        assert_eq!(gets.len(), 6, "{gets:?}");
        assert_eq!(gets[0].2, "./SCOMO/Inventory/Deployed/app/Name");
        for (node, leaf, uri) in gets {
            let v = match (node.as_str(), leaf) {
                ("app", Leaf::Name) => Some("App"),
                ("app", Leaf::Version) => Some("1.2"),
                ("app", Leaf::State) => Some("20"),
                ("tool", Leaf::State) => Some("10"),
                _ => None,
            };
            assert!(!r.done());
            match v {
                Some(v) => r.component(&node, leaf, 200, &[item(&uri, v)]),
                None => r.component(&node, leaf, 404, &[]),
            }
        }
        assert!(r.done());
        let m = r.modules();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].id.as_str(), m[0].name.as_str(), m[0].version.as_deref()), ("app", "App", Some("1.2")));
        assert!(m[0].active && m[0].installed);
        assert_eq!((m[1].name.as_str(), m[1].active), ("tool", false), "named after its node");

        let mut r = InventoryRead::default();
        assert!(r.deployed("./SCOMO", 404, &[]).is_empty());
        assert!(r.done() && r.modules().is_empty(), "no Deployed node: no modules");
        let mut r = InventoryRead::default();
        let split = [item("./SCOMO/Inventory/Deployed/a", ""), item("./SCOMO/Inventory/Deployed/b/", "")];
        assert_eq!(r.deployed("./SCOMO", 200, &split).len(), 6, "children as items");
        let mut r = InventoryRead::default();
        let many = (0..1000).map(|i| format!("m{i}")).collect::<Vec<_>>().join("/");
        assert_eq!(r.deployed("./SCOMO", 200, &[item("x", &many)]).len(), 3 * scomo::MAX_MODULES);
    }

    #[test]
    fn delivered_packages_are_listed_not_installed_and_the_read_waits_for_both_lists() {
        let mut r = InventoryRead { lists: 2, ..InventoryRead::default() };
        assert!(r.deployed("./SCOMO", 404, &[]).is_empty());
        assert!(!r.done(), "the Delivered list is still out");
        let gets = r.delivered("./SCOMO", 200, &[item("./SCOMO/Inventory/Delivered", "pkg1/pkg2")]);
        assert_eq!(
            gets,
            [
                ("pkg1".into(), "./SCOMO/Inventory/Delivered/pkg1/Name".into()),
                ("pkg2".into(), "./SCOMO/Inventory/Delivered/pkg2/Name".into())
            ]
        );
        r.delivered_name("pkg1", 200, &[item(&gets[0].1, "Navigator")]);
        assert!(!r.done());
        r.delivered_name("pkg2", 404, &[]);
        assert!(r.done());
        let m = r.modules();
        let seen: Vec<_> = m.iter().map(|m| (m.id.as_str(), m.name.as_str(), m.installed, m.active)).collect();
        assert_eq!(seen, [("Delivered/pkg1", "Navigator", false, false), ("Delivered/pkg2", "pkg2", false, false)]);
    }
}

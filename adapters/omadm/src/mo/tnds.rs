//! TNDS (OMA DM Tree and Description Serialization 1.2; `application/vnd.syncml.dmtnds+xml`
//! / `+wbxml`): a `MgmtTree` of nested `Node`s (`NodeName`, optional `Path`, `RTProperties`,
//! `Value`) carried as markup in an Item's `Data`, as a client answers `Get <uri>?list=TNDS`.
//! Read into the node URIs it names, each with its value when it has one; built from such a
//! list for the simulated client.

use crate::codec::{Element, Namespace};

/// Most nodes read from one tree.
pub const MAX_NODES: usize = 4096;

/// The nodes of the `MgmtTree`s (or bare `Node`s) in `markup`, in document order, at most
/// [`MAX_NODES`]: `(uri, value)`, URIs as `./A/B`.
pub fn nodes(markup: &[Element]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for el in markup {
        if el.is("MgmtTree") {
            for n in el.children_named("Node") {
                walk(n, ".", &mut out);
            }
        } else if el.is("Node") {
            walk(el, ".", &mut out);
        }
    }
    out
}

fn walk(node: &Element, parent: &str, out: &mut Vec<(String, Option<String>)>) {
    if out.len() >= MAX_NODES {
        return;
    }
    let text = |name: &str| node.child(name).and_then(|e| e.string().ok()).map(|s| s.trim().to_owned());
    let name = text("NodeName").unwrap_or_default();
    // `Path` names the node's parent, from the root (TNDS 1.2 §5.2).
    let base = text("Path").filter(|p| !p.is_empty()).map_or_else(|| parent.to_owned(), |p| absolute(&p));
    let uri = join(&base, &name);
    out.push((uri.clone(), text("Value")));
    for child in node.children_named("Node") {
        walk(child, &uri, out);
    }
}

fn absolute(path: &str) -> String {
    let p = path.trim_end_matches('/');
    if p == "." || p.starts_with("./") {
        p.to_owned()
    } else {
        format!("./{}", p.trim_start_matches('/'))
    }
}

fn join(base: &str, name: &str) -> String {
    match (base, name) {
        (b, "") => b.to_owned(),
        (".", n) => format!("./{n}"),
        (b, n) => format!("{b}/{n}"),
    }
}

/// A `MgmtTree` for `(uri, value)` nodes in URI order, parents before their children (as
/// [`nodes`] reads it back): interior nodes without a value.
pub fn tree(nodes: &[(String, Option<String>)]) -> Element {
    let mut root = Element::new(Namespace::DmDdf, "MgmtTree");
    root.push(Element::text(Namespace::DmDdf, "VerDTD", "1.2"));
    // The open chain of (uri, element) from the outermost node in.
    let mut open: Vec<(String, Element)> = Vec::new();
    let close = |open: &mut Vec<(String, Element)>, root: &mut Element| {
        let Some((_, done)) = open.pop() else { return };
        match open.last_mut() {
            Some((_, parent)) => parent.push(done),
            None => root.push(done),
        }
    };
    for (uri, value) in nodes {
        while open.last().is_some_and(|(u, _)| !uri.starts_with(&format!("{u}/"))) {
            close(&mut open, &mut root);
        }
        let name = uri.rsplit('/').next().unwrap_or_default();
        let mut node = Element::new(Namespace::DmDdf, "Node");
        node.push(Element::text(Namespace::DmDdf, "NodeName", name));
        if open.is_empty() {
            let parent = uri.rsplit_once('/').map_or(".", |(p, _)| p);
            node.push(Element::text(Namespace::DmDdf, "Path", parent));
        }
        if let Some(v) = value {
            node.push(Element::text(Namespace::DmDdf, "Value", v.clone()));
        }
        open.push((uri.clone(), node));
    }
    while !open.is_empty() {
        close(&mut open, &mut root);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(uri: &str, v: Option<&str>) -> (String, Option<String>) {
        (uri.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn a_tree_reads_back_as_its_nodes() {
        let list = [
            n("./DevInfo", None),
            n("./DevInfo/Ext", None),
            n("./DevInfo/Ext/X", Some("1")),
            n("./DevInfo/Man", Some("Acme")),
        ];
        let t = tree(&list);
        assert_eq!(t.children_named("Node").count(), 1, "one top node");
        assert_eq!(nodes(&[t]), list);
    }

    #[test]
    fn paths_names_and_bounds() {
        let mut a = Element::new(Namespace::DmDdf, "Node");
        a.push(Element::text(Namespace::DmDdf, "NodeName", "Man"));
        a.push(Element::text(Namespace::DmDdf, "Path", "DevInfo/"));
        a.push(Element::text(Namespace::DmDdf, "Value", " Acme "));
        assert_eq!(nodes(&[a]), [n("./DevInfo/Man", Some("Acme"))]);
        let mut wide = Element::new(Namespace::DmDdf, "MgmtTree");
        for i in 0..(MAX_NODES + 10) {
            let mut x = Element::new(Namespace::DmDdf, "Node");
            x.push(Element::text(Namespace::DmDdf, "NodeName", format!("n{i}")));
            wide.push(x);
        }
        assert_eq!(nodes(&[wide]).len(), MAX_NODES);
    }
}

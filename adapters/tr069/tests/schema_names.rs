//! Every element name the encoder writes is declared in the BBF schemas
//! (`models/data/cwmp/cwmp-1-2.xsd`, plus `cwmp-1-3.xsd` / `cwmp-1-4.xsd` for the 1.3 and
//! 1.4 header elements), apart from the SOAP 1.1 envelope's own elements.

mod common;

use std::collections::BTreeSet;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use unidm_tr069::{encode_envelope, Header, Rpc};

/// The BBF schemas kept in the repository (`models/data/README.md` says where they come from).
const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/data/cwmp");

fn schema(name: &str) -> String {
    let path = format!("{SCHEMAS}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The schemas are read from inside the repository, never from a folder beside it.
#[test]
fn schemas_live_in_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root");
    let dir = std::path::Path::new(SCHEMAS).canonicalize().expect("models/data/cwmp");
    assert!(dir.starts_with(&root), "{} is outside {}", dir.display(), root.display());
    assert!(root.join("Cargo.lock").is_file(), "{} is not the workspace root", root.display());
}

/// Names in `<xs:element name="…"`.
fn declared(xsd: &str) -> BTreeSet<String> {
    xsd.split("<xs:element name=\"").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

/// Local names of every start tag in an encoded envelope.
fn written(xml: &str) -> BTreeSet<String> {
    xml.split('<')
        .skip(1)
        .filter(|t| !t.starts_with('/') && !t.starts_with('?'))
        .filter_map(|t| t.split([' ', '>', '/']).next())
        .map(|qname| qname.rsplit(':').next().unwrap_or(qname).to_owned())
        .collect()
}

/// SOAP 1.1 envelope and fault elements (not CWMP's to declare).
const SOAP: &[&str] = &["Envelope", "Header", "Body", "Fault", "faultcode", "faultstring", "detail"];

#[test]
fn every_written_element_is_declared_by_bbf() {
    let v12 = declared(&schema("cwmp-1-2.xsd"));
    let mut allowed = v12.clone();
    allowed.extend(declared(&schema("cwmp-1-3.xsd")));
    allowed.extend(declared(&schema("cwmp-1-4.xsd")));
    allowed.extend(SOAP.iter().map(|s| s.to_string()));

    let mut runner = TestRunner::deterministic();
    let strategy = common::envelope();
    let mut names = BTreeSet::new();
    let mut methods = BTreeSet::new();
    for _ in 0..3000 {
        let mut env = strategy.new_tree(&mut runner).expect("strategy").current();
        env.header = Header {
            id: Some("1".into()),
            hold_requests: Some(true),
            session_timeout: Some(30),
            supported_cwmp_versions: Some("1.4".into()),
            use_cwmp_version: Some("1.4".into()),
            no_more_requests: None,
        };
        methods.insert(env.rpc.name());
        let xml = String::from_utf8(encode_envelope(&env)).expect("utf-8");
        names.extend(written(&xml));
    }
    for m in Rpc::METHOD_NAMES {
        assert!(methods.contains(m), "no sample of {m}");
        assert!(v12.contains(*m), "{m} not declared in cwmp-1-2.xsd");
    }
    let undeclared: Vec<_> = names.difference(&allowed).collect();
    assert!(undeclared.is_empty(), "undeclared: {undeclared:?}");
    // Sanity: the scan really saw the RPC structures' members.
    for member in
        ["ParameterValueStruct", "EventStruct", "SetParameterValuesFault", "TimeWindowStruct", "OperationPerformed"]
    {
        assert!(names.contains(member), "{member} never written");
    }
}

#[test]
fn no_more_requests_is_the_only_header_outside_the_schemas() {
    let mut allowed = declared(&schema("cwmp-1-2.xsd"));
    allowed.extend(declared(&schema("cwmp-1-4.xsd")));
    allowed.extend(declared(&schema("cwmp-1-3.xsd")));
    assert!(!allowed.contains("NoMoreRequests"));
    for h in ["ID", "HoldRequests", "SessionTimeout", "SupportedCWMPVersions", "UseCWMPVersion"] {
        assert!(allowed.contains(h), "{h}");
    }
    assert!(declared(&schema("cwmp-1-0.xsd")).contains("HoldRequests"));
}

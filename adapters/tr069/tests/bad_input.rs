//! Untrusted input: every refusal is a typed error, never a panic.

use unidm_tr069::rpc::fault::FaultCode;
use unidm_tr069::{parse_envelope, parse_envelope_with, CwmpError, CwmpNamespace, Limits};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn wrap(ns: &str, body: &str) -> Vec<u8> {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="{ns}"><soap:Header><cwmp:ID soap:mustUnderstand="1">77</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
    .into_bytes()
}

const NS: &str = "urn:dslforum-org:cwmp-1-0";

#[test]
fn billion_laughs_is_refused_not_expanded() {
    let err = parse_envelope(&fixture("billion_laughs.xml")).unwrap_err();
    assert_eq!(err, CwmpError::DoctypeRefused { has_entities: true });
    assert!(err.is_refused_dtd());
    assert!(err.is_malformed());
}

#[test]
fn any_doctype_is_refused() {
    let doc = br#"<?xml version="1.0"?><!DOCTYPE Envelope SYSTEM "http://evil/x.dtd"><Envelope/>"#;
    assert_eq!(parse_envelope(doc), Err(CwmpError::DoctypeRefused { has_entities: false }));
    let xxe = br#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
    assert!(parse_envelope(xxe).unwrap_err().is_refused_dtd());
}

#[test]
fn malformed_xml() {
    for doc in [
        &b"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"[..],
        b"<a><b></a></b>",
        b"not xml at all",
        b"",
        b"<a x='1' x='2'/>",
        b"\xff\xfe<\x00a\x00/\x00>\x00",
    ] {
        let err = parse_envelope(doc).unwrap_err();
        assert!(err.is_malformed(), "{err:?} for {:?}", String::from_utf8_lossy(doc));
    }
}

#[test]
fn wrong_namespaces() {
    let soap12 = br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>"#;
    assert!(matches!(parse_envelope(soap12), Err(CwmpError::WrongNamespace { .. })));
    let other_cwmp =
        wrap("urn:dslforum-org:cwmp-9-9", "<cwmp:GetRPCMethods xmlns:cwmp=\"urn:dslforum-org:cwmp-9-9\"/>");
    assert!(matches!(
        parse_envelope(&other_cwmp),
        Err(CwmpError::WrongNamespace { .. }) | Err(CwmpError::MustUnderstand(_))
    ));
    let unqualified_rpc = wrap(NS, "<GetRPCMethods/>");
    assert!(matches!(parse_envelope(&unqualified_rpc), Err(CwmpError::WrongNamespace { .. })));
    let mixed = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="urn:dslforum-org:cwmp-1-0" xmlns:b="urn:dslforum-org:cwmp-1-2"><s:Header><a:ID s:mustUnderstand="1">1</a:ID></s:Header><s:Body><b:GetRPCMethods/></s:Body></s:Envelope>"#;
    assert!(matches!(parse_envelope(mixed), Err(CwmpError::MixedCwmpNamespaces { .. })));
}

#[test]
fn unknown_rpc_is_method_not_supported_with_id() {
    let err = parse_envelope(&wrap(NS, "<cwmp:GetQueuedTransfersX/>")).unwrap_err();
    assert!(err.is_method_not_supported());
    assert_eq!(err.acs_fault_code(), FaultCode::AcsMethodNotSupported);
    assert_eq!(err.acs_fault_code().code(), 8000);
    assert_eq!(
        err,
        CwmpError::UnknownMethod {
            method: "GetQueuedTransfersX".into(),
            id: Some("77".into()),
            namespace: Some(CwmpNamespace::V1_0),
        }
    );
}

#[test]
fn oversized_envelope() {
    let mut big = wrap(NS, "<cwmp:GetRPCMethods/>");
    big.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    let err = parse_envelope(&big).unwrap_err();
    assert!(matches!(err, CwmpError::TooLarge { limit: 1048576, .. }));
    assert!(err.is_too_large());
    let small = Limits { max_envelope_bytes: 64, ..Limits::default() };
    assert!(parse_envelope_with(&wrap(NS, "<cwmp:GetRPCMethods/>"), &small).unwrap_err().is_too_large());
}

#[test]
fn arrays_are_bounded_whatever_arraytype_says() {
    // arrayType claims a huge count: nothing is allocated from it, members are counted.
    let lying = wrap(
        NS,
        r#"<cwmp:GetParameterValues><ParameterNames xmlns:e="http://schemas.xmlsoap.org/soap/encoding/" e:arrayType="xsd:string[4294967295]"><string>A.</string></ParameterNames></cwmp:GetParameterValues>"#,
    );
    let env = parse_envelope(&lying).expect("wrong count accepted");
    assert!(matches!(env.rpc, unidm_tr069::Rpc::GetParameterValues(ref g) if g.parameter_names == ["A."]));
    let many: String = (0..100).map(|i| format!("<string>P{i}</string>")).collect();
    let doc = wrap(
        NS,
        &format!("<cwmp:GetParameterValues><ParameterNames>{many}</ParameterNames></cwmp:GetParameterValues>"),
    );
    let limits = Limits { max_children: 50, ..Limits::default() };
    assert_eq!(
        parse_envelope_with(&doc, &limits),
        Err(CwmpError::TooManyChildren { element: "ParameterNames".into(), limit: 50 })
    );
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    assert_eq!(parse_envelope(deep.as_bytes()), Err(CwmpError::TooDeep { limit: 32 }));
}

#[test]
fn inform_without_device_id() {
    let doc = wrap(
        NS,
        r#"<cwmp:Inform><Event/><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2024-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList/></cwmp:Inform>"#,
    );
    let err = parse_envelope(&doc).unwrap_err();
    assert_eq!(err, CwmpError::MissingElement { parent: "Inform", child: "DeviceId" });
    assert_eq!(err.acs_fault_code(), FaultCode::AcsInvalidArguments);
}

#[test]
fn bad_values_are_typed_errors() {
    let doc = wrap(NS, "<cwmp:SetParameterValuesResponse><Status>-1</Status></cwmp:SetParameterValuesResponse>");
    assert!(matches!(parse_envelope(&doc), Err(CwmpError::InvalidValue { .. })));
    let doc = wrap(NS, "<cwmp:GetParameterNames><ParameterPath/><NextLevel>maybe</NextLevel></cwmp:GetParameterNames>");
    assert!(matches!(parse_envelope(&doc), Err(CwmpError::InvalidValue { .. })));
}

#[test]
fn body_shape() {
    assert_eq!(parse_envelope(&wrap(NS, "")), Err(CwmpError::EmptyBody));
    assert_eq!(
        parse_envelope(&wrap(NS, "<cwmp:GetRPCMethods/><cwmp:GetRPCMethods/>")),
        Err(CwmpError::MultipleBodyElements)
    );
    let no_body = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>"#;
    assert!(matches!(parse_envelope(no_body), Err(CwmpError::NotAnEnvelope(_))));
}

#[test]
fn unknown_mandatory_header_is_refused() {
    let doc = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0" xmlns:x="urn:example"><s:Header><x:Secret s:mustUnderstand="1">1</x:Secret></s:Header><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#;
    assert_eq!(parse_envelope(doc), Err(CwmpError::MustUnderstand("Secret".into())));
    let optional = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0" xmlns:x="urn:example"><s:Header><x:Hint>1</x:Hint></s:Header><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#;
    assert!(parse_envelope(optional).is_ok());
}

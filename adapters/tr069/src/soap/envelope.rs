//! The SOAP envelope as a whole (TR-069 Amendment 6, A.2 "Use of SOAP"; SOAP 1.1 §4): one
//! optional Header and a Body holding exactly one CWMP message or a SOAP Fault.

use super::header::Header;
use super::writer::XmlWriter;
use super::xml::{parse_document, Element, Ns};
use super::{CwmpNamespace, Limits, NS_SOAP_ENC, NS_SOAP_ENV, NS_XSD, NS_XSI};
use crate::error::CwmpError;
use crate::rpc::fault::Fault;
use crate::rpc::Rpc;

/// One CWMP SOAP envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The CWMP namespace the envelope uses; replies should use the same one.
    pub namespace: CwmpNamespace,
    /// The CWMP header elements.
    pub header: Header,
    /// The single body element.
    pub rpc: Rpc,
}

impl Envelope {
    /// An envelope with an empty header.
    pub fn new(namespace: CwmpNamespace, rpc: impl Into<Rpc>) -> Self {
        Envelope { namespace, header: Header::default(), rpc: rpc.into() }
    }

    /// Sets `cwmp:ID`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.header.id = Some(id.into());
        self
    }

    /// The CWMP protocol version this envelope implies, as (major, minor): the namespace gives
    /// 1.0 / 1.1 / 1.2 (or 1.3 / 1.4 for the unofficial namespaces); within `cwmp-1-2`,
    /// `SessionTimeout` means at least 1.3 and `SupportedCWMPVersions` / `UseCWMPVersion`
    /// mean 1.4 (BBF `cwmp-1-3.xsd`, `cwmp-1-4.xsd`).
    pub fn protocol_version(&self) -> (u8, u8) {
        let h = &self.header;
        match self.namespace {
            CwmpNamespace::V1_0 => (1, 0),
            CwmpNamespace::V1_1 => (1, 1),
            CwmpNamespace::V1_4 => (1, 4),
            ns => {
                if h.supported_cwmp_versions.is_some() || h.use_cwmp_version.is_some() {
                    (1, 4)
                } else if h.session_timeout.is_some() || ns == CwmpNamespace::V1_3 {
                    (1, 3)
                } else {
                    (1, 2)
                }
            }
        }
    }
}

/// Parses an envelope with the default [`Limits`] (1 MiB, depth 32, …).
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, CwmpError> {
    parse_envelope_with(bytes, &Limits::default())
}

fn wrong_ns(el: &Element, expected: &'static str) -> CwmpError {
    CwmpError::WrongNamespace { element: el.name.clone(), expected, found: el.ns.uri() }
}

/// Parses an envelope from untrusted bytes, enforcing `limits`. Namespaces are matched by
/// URI, never by prefix.
pub fn parse_envelope_with(bytes: &[u8], limits: &Limits) -> Result<Envelope, CwmpError> {
    let root = parse_document(bytes, limits)?;
    if root.name != "Envelope" {
        return Err(CwmpError::NotAnEnvelope("root element is not Envelope"));
    }
    if root.ns != Ns::SoapEnv {
        return Err(wrong_ns(&root, NS_SOAP_ENV));
    }
    let (header, header_ns) = match root.child("Header") {
        Some(h) if h.ns == Ns::SoapEnv => Header::parse(h)?,
        Some(h) => return Err(wrong_ns(h, NS_SOAP_ENV)),
        None => (Header::default(), None),
    };
    let body = root.child("Body").ok_or(CwmpError::NotAnEnvelope("no Body"))?;
    if body.ns != Ns::SoapEnv {
        return Err(wrong_ns(body, NS_SOAP_ENV));
    }
    let el = match body.children.as_slice() {
        [] => return Err(CwmpError::EmptyBody),
        [el] => el,
        _ => return Err(CwmpError::MultipleBodyElements),
    };
    let (rpc, body_ns) = match &el.ns {
        Ns::SoapEnv if el.name == "Fault" => {
            let (fault, ns) = Fault::parse(el)?;
            (Rpc::Fault(fault), ns)
        }
        Ns::Cwmp(ns) => match Rpc::parse_cwmp(el) {
            Ok(rpc) => (rpc, Some(*ns)),
            Err(CwmpError::UnknownMethod { method, .. }) => {
                return Err(CwmpError::UnknownMethod { method, id: header.id.clone(), namespace: Some(*ns) })
            }
            Err(e) => return Err(e),
        },
        _ => return Err(wrong_ns(el, "a CWMP namespace")),
    };
    let namespace = match (header_ns, body_ns) {
        (Some(h), Some(b)) if h != b => return Err(CwmpError::MixedCwmpNamespaces { first: h.uri(), second: b.uri() }),
        (_, Some(ns)) | (Some(ns), None) => ns,
        (None, None) => return Err(CwmpError::MissingCwmpNamespace),
    };
    Ok(Envelope { namespace, header, rpc })
}

/// Writes an envelope with prefixes `soap-env`, `soap-enc`, `xsd`, `xsi` and `cwmp` (bound to
/// `envelope.namespace`). Never fails: every value is escaped.
pub fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.start_with(
        "soap-env:Envelope",
        &[
            ("xmlns:soap-env", NS_SOAP_ENV),
            ("xmlns:soap-enc", NS_SOAP_ENC),
            ("xmlns:xsd", NS_XSD),
            ("xmlns:xsi", NS_XSI),
            ("xmlns:cwmp", envelope.namespace.uri()),
        ],
    );
    envelope.header.encode(&mut w);
    w.start("soap-env:Body");
    envelope.rpc.encode(&mut w);
    w.end("soap-env:Body");
    w.end("soap-env:Envelope");
    w.finish()
}

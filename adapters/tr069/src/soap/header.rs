//! CWMP SOAP header elements (TR-069 Amendment 6, A.2.2 "SOAP Headers"; BBF `cwmp-1-2.xsd`
//! `ID`, `HoldRequests`; `cwmp-1-3.xsd` `SessionTimeout`; `cwmp-1-4.xsd`
//! `SupportedCWMPVersions`, `UseCWMPVersion`).

use super::value::parse_bool;
use super::writer::XmlWriter;
use super::xml::{Element, Ns};
use super::CwmpNamespace;
use crate::error::CwmpError;

/// The CWMP header of one envelope. Every field is optional; absent fields are not written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `cwmp:ID` (mustUnderstand 1): correlates a response with its request; the response
    /// echoes the request's ID.
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (mustUnderstand 1), ACS to CPE: while true the CPE sends no requests.
    pub hold_requests: Option<bool>,
    /// `cwmp:SessionTimeout` (protocol 1.3+), CPE to ACS: proposed session timeout in seconds.
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (protocol 1.4), e.g. `"1.0,1.1,1.2,1.3,1.4"`.
    pub supported_cwmp_versions: Option<String>,
    /// `cwmp:UseCWMPVersion` (protocol 1.4), ACS to CPE: the version chosen for the session.
    pub use_cwmp_version: Option<String>,
    /// `cwmp:NoMoreRequests` from TR-069 Amendment 1 (deprecated; absent from every published
    /// cwmp-1-x.xsd). Tolerated on input and written only when set.
    pub no_more_requests: Option<bool>,
}

impl Header {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Header::default()
    }

    /// Reads a SOAP `Header` element. Returns the header and the CWMP namespace its elements
    /// used, if any. Unknown elements are skipped unless they carry `mustUnderstand="1"`.
    pub(crate) fn parse(el: &Element) -> Result<(Header, Option<CwmpNamespace>), CwmpError> {
        let mut header = Header::default();
        let mut seen_ns = None;
        for child in &el.children {
            let must_understand = child.attr(&Ns::SoapEnv, "mustUnderstand").and_then(parse_bool).unwrap_or(false);
            let Ns::Cwmp(ns) = child.ns else {
                if must_understand {
                    return Err(CwmpError::MustUnderstand(child.name.clone()));
                }
                continue;
            };
            match seen_ns {
                Some(prev) if prev != ns => {
                    return Err(CwmpError::MixedCwmpNamespaces { first: CwmpNamespace::uri(prev), second: ns.uri() })
                }
                _ => seen_ns = Some(ns),
            }
            let text = child.text.as_str();
            let boolean = |name: &str| parse_bool(text).ok_or_else(|| CwmpError::invalid(name, "not an xsd:boolean"));
            match child.name.as_str() {
                "ID" => header.id = Some(text.to_owned()),
                "HoldRequests" => header.hold_requests = Some(boolean("HoldRequests")?),
                "NoMoreRequests" => header.no_more_requests = Some(boolean("NoMoreRequests")?),
                "SessionTimeout" => {
                    let t = text
                        .trim()
                        .parse()
                        .map_err(|_| CwmpError::invalid("SessionTimeout", "not an xsd:unsignedInt"))?;
                    header.session_timeout = Some(t);
                }
                "SupportedCWMPVersions" => header.supported_cwmp_versions = Some(text.to_owned()),
                "UseCWMPVersion" => header.use_cwmp_version = Some(text.to_owned()),
                other if must_understand => return Err(CwmpError::MustUnderstand(other.to_owned())),
                _ => {}
            }
        }
        Ok((header, seen_ns))
    }

    /// Writes `<soap-env:Header>` with the set fields, in schema order, with the
    /// `mustUnderstand` values the schemas fix (1 for ID, HoldRequests, UseCWMPVersion; 0 for
    /// SessionTimeout and SupportedCWMPVersions).
    pub(crate) fn encode(&self, w: &mut XmlWriter) {
        if self.is_empty() {
            return;
        }
        const MU1: &[(&str, &str)] = &[("soap-env:mustUnderstand", "1")];
        const MU0: &[(&str, &str)] = &[("soap-env:mustUnderstand", "0")];
        let bool_text = |b: bool| if b { "1" } else { "0" };
        w.start("soap-env:Header");
        if let Some(id) = &self.id {
            leaf(w, "cwmp:ID", MU1, id);
        }
        if let Some(b) = self.hold_requests {
            leaf(w, "cwmp:HoldRequests", MU1, bool_text(b));
        }
        if let Some(t) = self.session_timeout {
            leaf(w, "cwmp:SessionTimeout", MU0, &t.to_string());
        }
        if let Some(v) = &self.supported_cwmp_versions {
            leaf(w, "cwmp:SupportedCWMPVersions", MU0, v);
        }
        if let Some(v) = &self.use_cwmp_version {
            leaf(w, "cwmp:UseCWMPVersion", MU1, v);
        }
        if let Some(b) = self.no_more_requests {
            leaf(w, "cwmp:NoMoreRequests", &[], bool_text(b));
        }
        w.end("soap-env:Header");
    }
}

fn leaf(w: &mut XmlWriter, name: &str, attrs: &[(&str, &str)], text: &str) {
    w.start_with(name, attrs);
    w.text(text);
    w.end(name);
}

//! SOAP 1.1 envelope layer of CWMP (TR-069 Amendment 6, A.2 "Use of SOAP").
//!
//! Reading matches namespaces by URI, never by prefix, so `soap:`, `SOAP-ENV:`, `soapenv:` or a
//! default namespace all work. Writing uses the prefixes `soap-env`, `soap-enc`, `xsd`, `xsi` and
//! `cwmp`, with `cwmp` bound to the namespace the peer used.

mod envelope;
mod header;
pub(crate) mod value;
pub(crate) mod writer;
pub(crate) mod xml;

pub use envelope::{encode_envelope, parse_envelope, parse_envelope_with, Envelope};
pub use header::Header;
pub use value::{TypedValue, Value, XsdType};

/// SOAP 1.1 envelope namespace (`soap-env`).
pub const NS_SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.1 encoding namespace (`soap-enc`), used for arrays.
pub const NS_SOAP_ENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";
/// XML Schema namespace (`xsd`), used in `xsi:type` values.
pub const NS_XSD: &str = "http://www.w3.org/2001/XMLSchema";
/// XML Schema instance namespace (`xsi`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The CWMP namespace an envelope uses (TR-069 Amendment 6, A.2.1; BBF `cwmp-1-x.xsd`).
///
/// BBF defined `cwmp-1-0`, `cwmp-1-1` and `cwmp-1-2`; protocol versions 1.3 and 1.4 keep the
/// `cwmp-1-2` namespace. `cwmp-1-3` and `cwmp-1-4` were never defined by BBF but real stacks send
/// them, so they are accepted and echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CwmpNamespace {
    /// `urn:dslforum-org:cwmp-1-0` (TR-069 Amendment 1).
    V1_0,
    /// `urn:dslforum-org:cwmp-1-1` (TR-069 Amendment 2).
    V1_1,
    /// `urn:dslforum-org:cwmp-1-2` (TR-069 Amendment 3, also used by protocol 1.3 and 1.4).
    V1_2,
    /// `urn:dslforum-org:cwmp-1-3` (unofficial).
    V1_3,
    /// `urn:dslforum-org:cwmp-1-4` (unofficial).
    V1_4,
}

impl CwmpNamespace {
    /// All namespaces, oldest first.
    pub const ALL: [CwmpNamespace; 5] =
        [CwmpNamespace::V1_0, CwmpNamespace::V1_1, CwmpNamespace::V1_2, CwmpNamespace::V1_3, CwmpNamespace::V1_4];

    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            CwmpNamespace::V1_0 => "urn:dslforum-org:cwmp-1-0",
            CwmpNamespace::V1_1 => "urn:dslforum-org:cwmp-1-1",
            CwmpNamespace::V1_2 => "urn:dslforum-org:cwmp-1-2",
            CwmpNamespace::V1_3 => "urn:dslforum-org:cwmp-1-3",
            CwmpNamespace::V1_4 => "urn:dslforum-org:cwmp-1-4",
        }
    }

    /// Recognises a CWMP namespace URI.
    pub fn from_uri(uri: &[u8]) -> Option<CwmpNamespace> {
        CwmpNamespace::ALL.into_iter().find(|v| v.uri().as_bytes() == uri)
    }

    /// Whether BBF published this namespace (`1-0` .. `1-2`).
    pub fn is_official(self) -> bool {
        self <= CwmpNamespace::V1_2
    }
}

/// Bounds applied to untrusted input before and while it is parsed.
///
/// Nothing is allocated from a count the peer announces (e.g. `arrayType="…[N]"`); arrays are
/// counted as they are read and stopped at `max_children`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted envelope, in bytes (default 1 MiB).
    pub max_envelope_bytes: usize,
    /// Deepest accepted element nesting (default 32; CWMP needs about 8).
    pub max_depth: usize,
    /// Most children (and attributes) of any one element, which bounds every array
    /// (default 16 384).
    pub max_children: usize,
    /// Most elements in one document (default 131 072).
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_envelope_bytes: 1024 * 1024, max_depth: 32, max_children: 16 * 1024, max_elements: 128 * 1024 }
    }
}

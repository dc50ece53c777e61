//! Errors of the CWMP codec: one type, with kinds a caller can branch on.

use thiserror::Error;

use crate::rpc::fault::FaultCode;
use crate::soap::CwmpNamespace;

/// Everything that can go wrong while reading or writing a CWMP envelope.
///
/// Every variant describes bad or unsupported input from the peer; the codec never panics.
/// Use the predicates ([`CwmpError::is_method_not_supported`], [`CwmpError::is_too_large`],
/// [`CwmpError::is_refused_dtd`]) or [`CwmpError::acs_fault_code`] to decide what to answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CwmpError {
    /// The envelope exceeds the configured maximum size.
    #[error("envelope of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// Configured limit in bytes.
        limit: usize,
    },
    /// The input is not well-formed XML (or not UTF-8).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The document carries a `<!DOCTYPE>`; SOAP 1.1 forbids it and it is never processed,
    /// so entity declarations (entity-expansion attacks) are never expanded.
    #[error("DOCTYPE refused (entity declarations: {has_entities})")]
    DoctypeRefused {
        /// Whether the refused DOCTYPE declared entities (`<!ENTITY`).
        has_entities: bool,
    },
    /// Elements nest deeper than the configured limit.
    #[error("XML nesting deeper than {limit}")]
    TooDeep {
        /// Configured maximum depth.
        limit: usize,
    },
    /// An element (an array, usually) has more children than the configured limit.
    #[error("element <{element}> has more than {limit} children")]
    TooManyChildren {
        /// Local name of the element.
        element: String,
        /// Configured limit.
        limit: usize,
    },
    /// The document has more elements than the configured limit.
    #[error("document has more than {limit} elements")]
    TooManyElements {
        /// Configured limit.
        limit: usize,
    },
    /// An element is not in the namespace it must be in (e.g. an `Envelope` outside SOAP 1.1).
    #[error("<{element}> is in namespace {found:?}, expected {expected}")]
    WrongNamespace {
        /// Local name of the element.
        element: String,
        /// Namespace expected there.
        expected: &'static str,
        /// Namespace found (empty when none).
        found: String,
    },
    /// Header and body use two different CWMP namespaces.
    #[error("envelope mixes CWMP namespaces {first} and {second}")]
    MixedCwmpNamespaces {
        /// First namespace seen.
        first: &'static str,
        /// Conflicting namespace.
        second: &'static str,
    },
    /// No element of the envelope is in a CWMP namespace, so the version is unknown.
    #[error("no element in a CWMP namespace")]
    MissingCwmpNamespace,
    /// The root is not a SOAP `Envelope`, or it has no `Body`.
    #[error("not a SOAP envelope: {0}")]
    NotAnEnvelope(&'static str),
    /// The SOAP `Body` holds no element.
    #[error("SOAP Body is empty")]
    EmptyBody,
    /// The SOAP `Body` holds more than one element.
    #[error("SOAP Body holds more than one element")]
    MultipleBodyElements,
    /// A header element with `mustUnderstand="1"` that this codec does not know (SOAP 1.1 §4.2.3).
    #[error("header <{0}> has mustUnderstand=\"1\" and is not understood")]
    MustUnderstand(String),
    /// The body element is a CWMP method this codec does not know or support.
    /// An ACS answers this with fault 8000, a CPE with 9000.
    /// `id` and `namespace` come from the same envelope so that the fault can echo them.
    #[error("method {method} not supported")]
    UnknownMethod {
        /// Local name of the body element.
        method: String,
        /// The envelope's `cwmp:ID`, if it had one.
        id: Option<String>,
        /// The CWMP namespace of the body element.
        namespace: Option<CwmpNamespace>,
    },
    /// A required child element is missing.
    #[error("<{parent}> lacks required <{child}>")]
    MissingElement {
        /// Local name of the parent element.
        parent: &'static str,
        /// Local name of the missing child.
        child: &'static str,
    },
    /// An element's content does not match its schema type.
    #[error("invalid value for <{element}>: {reason}")]
    InvalidValue {
        /// Local name of the element.
        element: String,
        /// What is wrong.
        reason: String,
    },
}

impl CwmpError {
    /// True when the body names a method the codec does not implement (fault 8000 / 9000).
    pub fn is_method_not_supported(&self) -> bool {
        matches!(self, CwmpError::UnknownMethod { .. })
    }

    /// True when the envelope or one of its parts exceeds a configured limit.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            CwmpError::TooLarge { .. }
                | CwmpError::TooDeep { .. }
                | CwmpError::TooManyChildren { .. }
                | CwmpError::TooManyElements { .. }
        )
    }

    /// True when a DOCTYPE (possibly with entity declarations) was refused.
    pub fn is_refused_dtd(&self) -> bool {
        matches!(self, CwmpError::DoctypeRefused { .. })
    }

    /// True when the input is not well-formed XML or not a SOAP envelope at all.
    pub fn is_malformed(&self) -> bool {
        matches!(self, CwmpError::Xml(_) | CwmpError::NotAnEnvelope(_) | CwmpError::DoctypeRefused { .. })
    }

    /// The ACS fault an ACS should answer a CPE request with when parsing failed
    /// (TR-069 Amendment 6, A.5 Fault Handling, ACS fault codes): 8000 for an unknown method,
    /// 8004 for exceeded limits, 8003 otherwise.
    pub fn acs_fault_code(&self) -> FaultCode {
        if self.is_method_not_supported() {
            FaultCode::AcsMethodNotSupported
        } else if self.is_too_large() {
            FaultCode::AcsResourcesExceeded
        } else {
            FaultCode::AcsInvalidArguments
        }
    }

    pub(crate) fn invalid(element: &str, reason: impl Into<String>) -> Self {
        CwmpError::InvalidValue { element: element.to_owned(), reason: reason.into() }
    }
}

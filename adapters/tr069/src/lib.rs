//! TR-069 (CWMP) adapter for unidm.
//!
//! Scope: an ACS speaking CWMP 1.0-1.4 (SOAP 1.1 over HTTP): the SOAP codec with one module per
//! RPC, the sans-I/O session engine (Inform, ACS requests, HoldRequests, faults), connection
//! requests (HTTP with Digest / Basic, UDP per Annex G), a file server for Download / Upload, the
//! mapping of `Device.` (TR-181) and `InternetGatewayDevice.` (TR-098) to the common model, and a
//! simulated CPE.
//!
//! What is here so far:
//! - [`soap`]: the SOAP 1.1 envelope reader / writer on quick-xml (namespaces matched by URI,
//!   CWMP `cwmp-1-0` .. `cwmp-1-2` plus the unofficial `cwmp-1-3` / `cwmp-1-4`, the CWMP header
//!   elements, SOAP-ENC arrays, `xsi:type`d values) with bounds for untrusted input
//!   ([`Limits`]: size, depth, children, elements; any `<!DOCTYPE>` is refused, so entities are
//!   never expanded).
//! - [`rpc`]: one module per RPC of TR-069 Amendment 6 Annex A (plus the CWMP 1.2 DU state
//!   change messages), the [`Rpc`] enum over all of them and the fault code table.
//! - [`session`]: the sans-I/O ACS session state machine (`now` goes in, envelopes come out).
//!
//! Entry points: [`parse_envelope`] / [`parse_envelope_with`] and [`encode_envelope`]. Errors
//! are one [`CwmpError`] with predicates for the session layer (e.g. an unknown method maps to
//! ACS fault 8000 through [`CwmpError::acs_fault_code`]).
#![deny(missing_docs)]

pub mod error;
pub mod rpc;
pub mod session;
pub mod soap;

pub use error::CwmpError;
pub use rpc::Rpc;
pub use soap::{encode_envelope, parse_envelope, parse_envelope_with, CwmpNamespace, Envelope, Header, Limits};

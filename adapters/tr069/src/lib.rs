//! TR-069 (CWMP) adapter for unidm.
//!
//! Scope: an ACS speaking CWMP 1.0-1.4 (SOAP 1.1 over HTTP): the SOAP codec with one module per
//! RPC, the sans-I/O session engine (Inform, ACS requests, HoldRequests, faults), connection
//! requests (HTTP with Digest / Basic, UDP per Annex G), a file server for Download / Upload, the
//! mapping of `Device.` (TR-181) and `InternetGatewayDevice.` (TR-098) to the common model, and a
//! simulated CPE.
//!
//! Modules:
//! - [`soap`]: the SOAP 1.1 envelope reader / writer on quick-xml (namespaces matched by URI,
//!   CWMP `cwmp-1-0` .. `cwmp-1-2` plus the unofficial `cwmp-1-3` / `cwmp-1-4`, the CWMP header
//!   elements, SOAP-ENC arrays, `xsi:type`d values) with bounds for untrusted input
//!   ([`Limits`]: size, depth, children, elements; any `<!DOCTYPE>` is refused, so entities are
//!   never expanded).
//! - [`rpc`]: one module per RPC of TR-069 Amendment 6 Annex A (plus the CWMP 1.2 DU state
//!   change messages), the [`Rpc`] enum over all of them and the fault code table.
//! - [`session`]: the sans-I/O ACS session state machine (`now` goes in, envelopes come out).
//! - [`ops`]: sans-I/O mapping of the common model's actions to RPCs and of the CPE's answers
//!   to outcomes; [`model`]: data-model root detection and what parameters say about a device.
//! - [`acs`]: the adapter itself, [`Tr069Adapter`] (`unidm_core::Adapter`): the axum HTTP
//!   endpoint, sessions by cookie, CPE authentication, connection requests (title-case
//!   headers), the file server, the CPE messages that end durable waits (TransferComplete,
//!   `M Reboot`, diagnostics; the waits, queues and attempts themselves are the engine's
//!   `Delivery`), unanswered requests counted as attempts, partial paths learned per CPE, the device
//!   snapshot read on contact, and secrets from the OS random source.
//! - [`udp_cr`]: UDP connection requests (Annex G), signed with HMAC-SHA1.
//! - [`digest`]: HTTP Digest (RFC 7616 / 2617, MD5, `qop=auth`) and Basic, both directions.
//! - [`load`]: a population of cheap simulated CPEs that loads any ACS over HTTP
//!   (`unidm bench tr069`, `benches/acs_load.rs`).
//! - [`sim`]: a simulated CPE (TR-098 tree of a real gateway or a small TR-181 tree) over real
//!   HTTP, with a Digest-protected connection-request listener.
//!
//! Starting the ACS inside an engine:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use unidm_tr069::{Tr069Adapter, Tr069Config};
//!
//! let acs = Arc::new(Tr069Adapter::new(Tr069Config::default())); // 0.0.0.0:7547, path "/"
//! let engine = unidm_core::Engine::builder()
//!     .store(unidm_core::SqliteStore::open("unidm.db")?)
//!     .adapter_arc(acs.clone())
//!     .start()
//!     .await?;
//! println!("ACS at {:?}", acs.acs_url());
//! # engine.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Codec entry points: [`parse_envelope`] / [`parse_envelope_with`] and [`encode_envelope`].
//! Errors are one [`CwmpError`] with predicates for the session layer (e.g. an unknown method
//! maps to ACS fault 8000 through [`CwmpError::acs_fault_code`]).
#![deny(missing_docs)]

pub mod acs;
pub mod digest;
pub mod error;
pub mod load;
pub mod model;
pub mod ops;
pub mod rpc;
pub mod session;
pub mod sim;
pub mod soap;
pub mod udp_cr;

pub use acs::{CpeAuth, FileServerConfig, Tr069Adapter, Tr069Config};
pub use error::CwmpError;
pub use rpc::Rpc;
pub use soap::{encode_envelope, parse_envelope, parse_envelope_with, CwmpNamespace, Envelope, Header, Limits};

//! LwM2M adapter for unidm (OMA LightweightM2M 1.0 / 1.1 / 1.2).
//!
//! Scope: a LwM2M server and bootstrap server over CoAP/UDP (DTLS later, behind a transport trait),
//! the content-format codecs (text, opaque, link-format, TLV, LwM2M JSON, SenML JSON / CBOR,
//! LwM2M CBOR), observe and queue mode, the mapping of objects /3, /4, /5, /6, /9 and /25 to the
//! common model, and a simulated LwM2M client. Protocol logic is sans-I/O: codecs and state
//! machines take bytes and `now`; only a thin tokio shell owns sockets.
//!
//! Modules so far (the codec layer and the CoAP machinery under it):
//! - [`path`]: LwM2M paths `/o/i/r/ri`.
//! - [`codec`]: one module per content format (TS Core §7.4), all decoding to and encoding from
//!   [`codec::Content`], typed by caller-supplied [`codec::TypeHints`]; link-format for Register
//!   and Discover.
//! - [`coap`]: sans-I/O CoAP over `coap-lite` packets: deduplication, CON retransmission and
//!   matching, client-side observe, block-wise transfers. Callers pass `now` and random factors.
#![deny(missing_docs)]

pub mod coap;
pub mod codec;
pub mod path;

pub use path::{Path, PathError};

//! LwM2M adapter for unidm (OMA LightweightM2M 1.0 / 1.1 / 1.2).
//!
//! Scope: a LwM2M server and bootstrap server over CoAP/UDP (DTLS later, behind a transport trait),
//! the content-format codecs (text, opaque, link-format, TLV, LwM2M JSON, SenML JSON / CBOR,
//! LwM2M CBOR), observe and queue mode, the mapping of objects /3, /4, /5, /6, /9 and /25 to the
//! common model, and a simulated LwM2M client. Protocol logic is sans-I/O: codecs and state
//! machines take bytes and `now`; only a thin tokio shell owns sockets.
#![deny(missing_docs)]

//! TR-069 (CWMP) adapter for unidm.
//!
//! Scope: an ACS speaking CWMP 1.0-1.4 (SOAP 1.1 over HTTP): the SOAP codec with one module per
//! RPC, the sans-I/O session engine (Inform, ACS requests, HoldRequests, faults), connection
//! requests (HTTP with Digest / Basic, UDP per Annex G), a file server for Download / Upload, the
//! mapping of `Device.` (TR-181) and `InternetGatewayDevice.` (TR-098) to the common model, and a
//! simulated CPE.
#![deny(missing_docs)]

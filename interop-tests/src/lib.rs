//! unidm's conformance catalog, runner and cross-protocol end-to-end tests.
//!
//! Whole-system tests live in `tests/`; third-party interop runs (libcoap, aiocoap,
//! lwm2m-node-lib, libwbxml) are added with each protocol adapter.
#![deny(missing_docs)]

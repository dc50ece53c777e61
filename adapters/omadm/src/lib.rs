//! OMA DM 1.2 / 1.3 adapter for unidm.
//!
//! Scope: a DM server exchanging SyncML DM packages over HTTP in XML and WBXML (Package 0
//! notification, Packages 1-4), the management objects DevInfo, DevDetail, DMAcc, FUMO, SCOMO and
//! LAWMO mapped to the common model, and a simulated DM client. Nothing of this is implemented
//! yet: the crate exists so that the workspace and the dependency direction are in place.
#![deny(missing_docs)]

pub mod auth;
pub mod mo;
pub mod package0;

//! The LwM2M bootstrap server (TS Core 1.1 §5.2 "Bootstrap Interface"): the
//! per-endpoint configurations it provisions ([`config`]) and its sans-I/O protocol logic
//! ([`server`]). The adapter runs it on its own UDP port (`Lwm2mConfig::bootstrap_listen`).

pub mod config;
pub mod server;

pub use config::{BootstrapConfig, BootstrapConfigError, SecurityMode, ServerAccount};
pub use server::{BootstrapEvent, BootstrapLimits, BootstrapServer};

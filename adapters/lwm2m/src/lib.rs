//! LwM2M adapter for unidm (OMA LightweightM2M 1.0 / 1.1 / 1.2).
//!
//! Scope: a LwM2M server over CoAP/UDP and CoAP over DTLS-PSK, a bootstrap server, the content-format codecs (text, opaque, link-format, TLV, LwM2M JSON, SenML JSON /
//! CBOR, LwM2M CBOR), observe and queue mode, the mapping of the registered objects to the common
//! model, and a simulated LwM2M client. Protocol logic is sans-I/O: codecs and state machines take
//! bytes and `now`; only a thin tokio shell owns sockets and reads the clock.
//!
//! Modules:
//! - [`path`]: LwM2M paths `/o/i/r/ri`.
//! - [`codec`]: one module per content format (TS Core §7.4), all decoding to and encoding from
//!   [`codec::Content`], typed by caller-supplied [`codec::TypeHints`]; link-format for Register
//!   and Discover.
//! - [`dtls`]: DTLS 1.2 with PSK, raw public keys (RFC 7250) and X.509 over OpenSSL (vendored
//!   3.6), without I/O: a server for many
//!   peers on one socket (cookies, bounded half-open handshakes and sessions) and a client; the
//!   shell binds each DTLS identity to its endpoint before the server sees a registration.
//! - [`coap`]: sans-I/O CoAP over `coap-lite` packets: deduplication, CON retransmission and
//!   matching, client-side observe, block-wise transfers. Callers pass `now` and random factors.
//! - [`model`]: object definitions (built-in /1, /3, /4, /5, /6, /7, /9 from the OMA registry,
//!   more from DDF XML files) that type TLV / text payloads and JSON writes.
//! - [`server`]: the sans-I/O LwM2M server: Client Registration interface (TS Core §6.2) with
//!   its bounds and deny-list, Device Management requests and notifications (§6.3, §6.4),
//!   queue mode (§6.5), Block1 / Block2.
//! - [`adapter`]: [`Lwm2mAdapter`], the `unidm_core::Adapter` around it: UDP shell, engine
//!   reporting, persistence of registrations, operations (native read / write / execute /
//!   observe / discover / write-attributes / create / delete, the LwM2M 1.1 composite
//!   operations, reboot, factory reset, device
//!   info, firmware by pull or push as /5/0/9 asks, software management /9, gateway end
//!   devices /25), and the bootstrap
//!   server's configurations (`bootstrap_configs`, `put_bootstrap_config`, ...).
//! - [`bootstrap`]: the bootstrap server (TS Core 1.1 §5.2): per-endpoint configurations and
//!   the sans-I/O Bootstrap-Request / Delete / Discover / Write / Finish sequence.
//! - [`procedure`]: multi-step procedures on a device as sans-I/O state machines (the firmware
//!   update by pull or push with its no-progress limit per step, the software install, a
//!   gateway's end device discovery, the device info reads): answers, notifications,
//!   registrations and `now` in; requests, timers and progress out. The adapter's shell only
//!   executes their requests.
//! - [`sim`]: a simulated LwM2M client over real UDP for tests, demos and load.
//!
//! # Starting the adapter
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};
//!
//! let mut config = Lwm2mConfig::new("0.0.0.0:5683".parse()?);
//! config.server.registration.deny = vec!["test-*".into()];
//! let adapter = Arc::new(Lwm2mAdapter::new(config));
//! let engine = unidm_core::Engine::builder()
//!     .store(unidm_core::SqliteStore::open("unidm.db")?)
//!     .adapter_arc(adapter.clone())
//!     .start()
//!     .await?;
//! println!("LwM2M server on udp/{}", adapter.local_addr().expect("started"));
//! # engine.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Registrations are durable before they are acknowledged
//! The reply to a Register, Update or De-register (2.01 / 2.04 / 2.02) is held by the server
//! until the registration is stored with its device in one commit (`ServerConfig::
//! confirm_registrations`, on in [`Lwm2mConfig`]): a client told 2.01 is registered after a
//! crash of the server a moment later. The registration is the device's record in the store
//! (`AdapterHandle::device_contact_with_record`), so a Register is one row written; registrations
//! from many clients share a commit (group commit). If storing fails the client gets 5.00 and
//! registers again; while more than `max_unconfirmed` replies wait for storage, further
//! registration requests get 5.03 (the client retries) without being processed. On restart the
//! adapter restores every unexpired registration, so the clients' next Update is accepted.
//!
//! # Operations: the engine delivers, the adapter speaks LwM2M
//! Operations are held by the engine's protocol-free delivery layer (`unidm_core::Delivery`):
//! duplicate submissions (the engine's hand-back after a restart included) are refused there;
//! an operation for an endpoint that has not registered waits there, shown `waiting` ("waiting
//! for the device to register") in the API, and that endpoint's registration starts its
//! operations and no other's; a request left unanswered after the CoAP retransmission schedule
//! is a failed attempt the engine retries per the operation's policy. The adapter keeps the
//! protocol: the requests and procedures, the server's own queue for a sleeping queue-mode
//! client (TS Core 1.1 §6.5), notifications routed to the procedure waiting on that endpoint
//! and path, and the firmware procedure's step, stored with the operation so that a restart
//! resumes an update where it was instead of writing the Package URI or executing Update again.
//!
//! # Results of native operations
//! A read (or the first answer of an observe) of a single resource yields its value as JSON; of
//! a multiple resource, `{"<instance>": value}`; of an instance or object, a map from full path
//! to value (`{"/3/0/0": "Acme", "/3/0/11/0": 0}`). Opaque values are base64, object links
//! `"3:0"`. A write takes the same shapes: a value for a resource, `{"<resource>": value}` for
//! an object instance (partial update, POST). Observation events carry the same JSON.
//! Discover yields `[{"path": "/3/0/7", "attributes": {"dim": 2}}]`, Create `{"path": "/9/1"}`;
//! Write-Attributes takes `{"pmin": 10, "gt": 2.5}` (`null` removes one); see
//! [`adapter::native`].
//!
//! The composite operations (LwM2M 1.1 clients only; a 1.0 client gets `NotSupported`) take
//! `path` `/` and list their paths in `value` ([`adapter::composite`]):
//! - `readComposite`, `value` `["/3/0/0", "/1/0/1", "/3/0/7/1"]` (`"/"` for everything):
//!   `{"/3/0/0": "Acme", "/1/0/1": 300, "/3/0/7/1": 5000}`, the paths present only.
//! - `writeComposite`, `value` `{"/3/0/14": "+02:00", "/1/0": {"1": 300}}`: each entry as a
//!   write on that path takes it, all in one iPATCH.
//! - `observeComposite` with a path list: the first answer as for `readComposite`; each
//!   notification (SenML of all the paths) gives one observation event per resource, e.g.
//!   `("/3/0/9", 42)` and `("/3/0/20", 0)`. `cancelObserveComposite` with the same paths, in
//!   any order, ends it. Like single observations, they are made again after the client
//!   registers anew or the adapter restarts.
//!
//! Software actions address `/9` instances by id (`"module": "1"`); end devices behind a LwM2M
//! Gateway are devices `lwm2m:{gateway}/{device id}` ([`adapter::gateway`]).
#![deny(missing_docs)]

pub mod adapter;
pub mod bootstrap;
pub mod coap;
pub mod codec;
pub mod dtls;
pub mod load;
pub mod model;
pub mod northbound;
pub mod path;
pub mod procedure;
pub mod server;
pub mod sim;

pub use adapter::{DtlsSettings, Lwm2mAdapter, Lwm2mConfig, WAITING_FOR_REGISTRATION, WAITING_FOR_WAKE};
pub use bootstrap::{BootstrapConfig, BootstrapConfigError};
pub use path::{Path, PathError};

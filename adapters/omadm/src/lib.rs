//! OMA DM 1.2 / 1.3 adapter for unidm.
//!
//! Scope: a DM server exchanging SyncML DM packages over HTTP in XML and WBXML (Package 0
//! notification, Packages 1-4), the management objects DevInfo, DevDetail, DMAcc, FUMO, SCOMO and
//! LAWMO mapped to the common model, and a simulated DM client. So far the codec, the
//! authentication functions ([`auth`]: basic, MD5 digest, HMAC), Package #0 ([`package0`]), the
//! management objects' meaning ([`mo`]: FUMO, SCOMO, LAWMO, DevInfo / DevDetail) and the
//! sans-I/O session engine ([`session`]), the server adapter ([`server`]), a simulated client
//! ([`sim`]) and a population of cheap simulated clients for load tools ([`load`]) exist.
//!
//! # The adapter ([`server`])
//!
//! [`server::OmadmAdapter`] is a `unidm_core::Adapter`: an axum HTTP server (default
//! `0.0.0.0:8081`, path `/dm`) that runs one [`session::DmSession`] per device and carries the
//! engine's operations on `unidm_core::Delivery`. Configure it with [`server::OmadmConfig`]:
//! client credentials (one pair for every device and / or per DevId) and what clients must
//! prove (md5 by default, basic, none), the server's password (its md5 `Cred` and the Package
//! #0 digest), whether unknown devices may enrol, the session timeout, the FUMO, SCOMO and LAWMO
//! roots (and a fixed SCOMO `Download/<x>` node for clients that refuse an `Add`), the Exec node
//! for reboot (none by default: reboot is not supported), DiagMon profiles for ping and
//! traceroute (none by default), a no-progress limit for FUMO / SCOMO / LAWMO / DiagMon
//! waits, and Package #0 (push port, attempts, backoff).
//!
//! - A POST without a known `s=` route token must be a Package 1; later messages come to the
//!   session's `RespURI`. A device has one session at a time (a new one ends the old).
//! - Devices are `omadm:<DevId>`; identity from DevInfo / DevDetail; nonces, the push address
//!   and the device's management objects are the device record.
//! - `refreshDeviceInfo` `Get`s the DevInfo / DevDetail leaves (a 404 leaf is skipped) into the
//!   identity, and asks for the management objects again.
//! - Capabilities come from the management objects the device has: on first contact, when its
//!   DevInfo facts change, after a firmware update, on `refreshDeviceInfo`, or when the
//!   configured roots change, the server `Get`s each root (FUMO, SCOMO, LAWMO, the reboot
//!   node, the DiagMon roots of the device's manufacturer / model) with requests of its own ([`session::RequestHandle::internal`], no engine
//!   operation, in the session's one queue): a 404 / 405 / 406 says absent, anything else
//!   present. Device info and native always;
//!   firmware with FUMO, software with SCOMO, factory reset with LAWMO, reboot with the node,
//!   ping / traceroute with their DiagMon root.
//!   The engine refuses the others at submit (not supported). What a device can make the
//!   server keep is bounded (roots come from the configuration; 64 SCOMO components, names of
//!   128 bytes, values of 256).
//! - Native `read` / `write` / `create` / `delete` / `execute` are Get / Replace / Add / Delete
//!   / Exec on the path; a non-2xx SyncML status fails the operation with the status as
//!   `protocolCode` (404 = not found, 405 / 406 = not supported, ...).
//! - Firmware is FUMO: `Sequence { Replace <fumo>/DownloadAndUpdate/PkgURL, Exec
//!   <fumo>/DownloadAndUpdate }` with the operation id as `Correlator`; a 202 parks it until the
//!   Generic Alert 1226 carrying that correlator, whose result decides
//!   ([`mo::fumo::outcome`]). Factory reset is LAWMO `Exec <lawmo>/Operations/FactoryReset` the
//!   same way ([`mo::lawmo::outcome`]). The firmware snapshot moves through
//!   `FirmwareStatus::advance`.
//! - Software is SCOMO (OMA SCOMO 1.0): install is a `Sequence` that `Add`s
//!   `<scomo>/Download/unidm<operation id>` with `PkgID`, `PkgURL` and `Name` (a 418 of a retry
//!   is taken as done) and `Exec`s its `Operations/DownloadInstall` with the Correlator;
//!   uninstall / activate / deactivate `Exec` `<scomo>/Inventory/Deployed/<module>/Operations/
//!   Remove` / `Activate` / `Deactivate` (the module is its node name, or the whole node URI).
//!   A 202 waits for the OperationComplete Generic Alert ([`mo::scomo::outcome`]: 1200 ok,
//!   1405 install failed, ...). After one ends, and when SCOMO is found, the server reads
//!   `Inventory/Deployed` (the Get of an interior node lists its children) and each
//!   component's `Name`, `Version`, `State` into `Device.snapshot.software`. Once an install
//!   ended (either way) the server `Delete`s the `Download/unidm<id>` node it created.
//! - Ping and traceroute run over a vendor DiagMon subtree (OMA publishes no DiagMon node
//!   structure) described per manufacturer / model by a [`mo::diagmon::DiagProfile`]: a
//!   `Sequence` of `Replace`s of the request's fields and the `Exec` of the start node with the
//!   Correlator; a 200 means it ran, a 202 parks the operation until its Generic Alert 1226
//!   (200-299 / 1200-1299: it ran); then, in the same session, a `Get` of the results
//!   (`?list=StructData`, or configured leaves) ends it with `{test, host, results: {leaf:
//!   value}}`. The results phase is the operation's stored adapter state, so a restart
//!   resumes it.
//! - A Generic Alert for no parked operation is kept a while (bounded): after a restart the
//!   engine resubmits the parked operations once the adapter started, and the device's
//!   session with the result may come first.
//! - An operation for a device without a session waits (`waiting for the device's next DM
//!   session`) and triggers Package #0 over UDP to the device's push address (set with
//!   [`server::OmadmAdapter::set_push_address`] or the HTTP source address with
//!   `push_port`), sent up to `push_attempts` times with doubling delays;
//!   [`server::OmadmAdapter::package0`] gives the bytes for another transport. A Package 1
//!   answering it (Alert 1200) must carry its session id.
//! - Limits: open sessions (`max_sessions`, then HTTP 503), message size (`max_message`, then
//!   HTTP 413; the codec's limits), requests per session (the session's `max_queued`),
//!   operations queued per device, Package #0 attempts. Other media types get HTTP 415.
//!
//! # The codec ([`codec`])
//!
//! Pure functions of bytes, no I/O and no clock, like the other adapters' codecs.
//!
//! - **Model** ([`codec::SyncML`]): SyncHdr, SyncBody and the commands DM uses (Alert, Add,
//!   Replace, Delete, Copy, Get, Exec with Correlator, Atomic, Sequence, Status with Chal,
//!   Results), Item with Meta and Data; per SyncML Representation Protocol 1.2 ("Mark-up
//!   Language Description" and its DTD), SyncML Meta-Information 1.2 and OMA DM Representation
//!   Protocol 1.2.1. Unknown elements are skipped; unknown commands are kept as
//!   [`codec::Command::Unknown`] so that a server can still answer them with a Status.
//! - **XML** ([`codec::xml`]): quick-xml; namespaces matched by URI, never by prefix
//!   (`SYNCML:SYNCML1.1` / `1.2`, `syncml:metinf`, `syncml:dmddf1.2`); element names matched
//!   without regard to ASCII case; whitespace between elements dropped and leaf text trimmed;
//!   a DOCTYPE with an internal subset is refused, so no entity is ever declared or expanded (one
//!   with only an external identifier, as SyncML stacks write it, is skipped and never fetched).
//!   Output is canonical.
//! - **WBXML** ([`codec::wbxml`]): our own, per WBXML 1.3 (WAP-192-WBXML) with the code pages
//!   SyncML (0), MetInf (1) and DM DDF (2): WBXML 1.1-1.3 in, 1.2 out; public ids 0x1201
//!   (SyncML 1.2), 0x0FD3 (SyncML 1.1), "unknown", and the literal form; string table,
//!   `STR_I`, `STR_T`, `ENTITY`, `OPAQUE`, `LITERAL` tags. Checked against libwbxml.
//! - Both encodings go through one [`codec::Element`] tree, so XML -> model -> WBXML -> model
//!   -> XML is the identity.
//! - **Media types** ([`codec::MediaType`]): `application/vnd.syncml.dm+xml` / `+wbxml` and the
//!   older `application/vnd.syncml+xml` / `+wbxml`, parameters and case ignored;
//!   [`codec::decode`] picks the decoder by `Content-Type`.
//! - **Limits** ([`codec::Limits`]): message size (1 MiB), nesting depth (48), element count
//!   (65 536) and WBXML text expansion through the string table (4 MiB) by default; exceeding
//!   one is [`codec::ErrorKind::TooLarge`].
//!
//! No input makes a decoder panic; errors are [`codec::CodecError`] with a
//! [`kind`](codec::CodecError::kind) (too large, malformed, unsupported) a caller can branch on.
//!
//! Interop notes: WBXML encoders (libwbxml among them) write text `Data` as `OPAQUE`, so read a
//! value with [`codec::Data::as_text`] rather than by matching [`codec::Data::Text`]; libwbxml
//! also embeds a TNDS tree as a WBXML document of its own inside `OPAQUE` Data (Meta Type
//! `application/vnd.syncml.dmtnds+wbxml`), which [`codec::wbxml::read_element`] decodes.
//!
//! # The session engine ([`session`])
//!
//! [`session::DmSession`] is the server side of one DM session, without sockets or clocks: the
//! shell feeds each POST body in (`handle_message(now, content_type, bytes)`, or
//! `handle_message_with_hmac` with the `x-syncml-hmac` header), drains `poll_event`, and answers
//! with the one `poll_reply` (always an HTTP 200: refusals are SyncML statuses). The adapter
//! queues management commands with `enqueue` (Get, Replace, Add, Delete, Exec with Correlator,
//! Copy, Atomic / Sequence), each under a handle it chooses, and gets one
//! `SessionEvent::Response` per request with the Status code and the Results items.
//!
//! - **Packages** (OMA DM Protocol 1.2 §8.3): Package 1 (Alert 1201 or 1200 with the Package 0
//!   session id, DevInfo Replace -> `SessionEvent::DeviceInfo`), then server and client
//!   packages until a server package carries nothing but Statuses and `Final`. A Status goes back
//!   for the SyncHdr and every client command except Status and unchunked Results; Results are
//!   matched to their Get by `MsgRef` / `CmdRef`; `RespURI` routes later messages; Alert 1223
//!   aborts; Generic Alert 1226 becomes `SessionEvent::GenericAlert` (answered 200).
//! - **Multiple messages** (OMA DM Protocol 1.2 §6.1): server packages are split to the
//!   client's `MaxMsgSize` and continued when the client sends Alert 1222; a client package
//!   without `Final` is answered with Alert 1222. Replies use the client's media type (XML or
//!   WBXML).
//! - **Large objects** (OMA DM Protocol 1.2 §6.2): `MoreData` chunks of the client's Results or
//!   Replace are assembled (213 per chunk, 424 on a `Size` mismatch, 413 above `MaxObjSize`,
//!   Alert 1225 when the next chunk does not follow); a Replace or Add value that cannot fit
//!   the client's `MaxMsgSize` goes out in chunks (`Size` first, `MoreData`, one chunk per
//!   message), and one beyond the client's `MaxObjSize` is not sent
//!   (`SessionEvent::TooLarge`).
//! - **Authentication** (OMA DM Security 1.2 §5.1): the client's `Cred` (basic, md5 with both
//!   nonce forms) or HMAC (`syncml:auth-MAC` on every message) checked against a
//!   `CredentialStore`; 401 / 407 with a `Chal` and a fresh `NextNonce`, 212 on success; the
//!   server's own md5 `Cred` built from the client's nonce and sent until accepted; the reply's
//!   `x-syncml-hmac` computed when HMAC is in use. Nonces come from a function the caller gives
//!   and go out as `SessionEvent::NonceUpdated` for the adapter to store.
//! - **Bounds**: requests queued and in flight (`max_queued`), one large object at a time up
//!   to `MaxObjSize`, authentication failures and protocol errors (MsgID out of order or
//!   repeated, undecodable bodies) before the session ends, a session timeout, the codec's
//!   `Limits` on every message. No input panics.
#![deny(missing_docs)]

pub mod auth;
pub mod codec;
pub mod load;
pub mod mo;
pub mod package0;
pub mod server;
pub mod session;
pub mod sim;

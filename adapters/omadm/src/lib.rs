//! OMA DM 1.2 / 1.3 adapter for unidm.
//!
//! Scope: a DM server exchanging SyncML DM packages over HTTP in XML and WBXML (Package 0
//! notification, Packages 1-4), the management objects DevInfo, DevDetail, DMAcc, FUMO, SCOMO and
//! LAWMO mapped to the common model, and a simulated DM client. So far the codec, the
//! authentication functions ([`auth`]: basic, MD5 digest, HMAC), Package #0 ([`package0`]) and
//! the management objects' meaning ([`mo`]: FUMO, SCOMO, LAWMO, DevInfo / DevDetail) exist; the
//! session engine, server and client come next.
//!
//! # The codec ([`codec`])
//!
//! - **Model** ([`codec::SyncML`]): SyncHdr, SyncBody and the commands DM uses (Alert, Add,
//!   Replace, Delete, Copy, Get, Exec with Correlator, Atomic, Sequence, Status with Chal,
//!   Results), Item with Meta and Data, per SyncML Representation Protocol 1.2 (sections 5 and 6),
//!   OMA DM Representation Protocol 1.2 and the SyncML Meta-Information DTD 1.2. Unknown elements
//!   are skipped, unknown commands kept as [`codec::Command::Unknown`].
//! - **XML** ([`codec::xml`]): quick-xml, namespaces matched by URI (`SYNCML:SYNCML1.1` / `1.2`,
//!   `syncml:metinf`, any prefix), element names without regard to ASCII case, leaf text trimmed,
//!   DOCTYPE refused (no entity is ever expanded); canonical output.
//! - **WBXML** ([`codec::wbxml`]): our own, WBXML 1.1-1.3 in, 1.2 out; public ids 0x1201,
//!   0x0FD3 and the literal form; string table; code pages SyncML, MetInf and DM DDF; `OPAQUE`
//!   for binary `Data`.
//! - **Media types** ([`codec::MediaType`]): `application/vnd.syncml.dm+xml` / `+wbxml` and the
//!   older `application/vnd.syncml+xml` / `+wbxml`; [`codec::decode`] picks the decoder by
//!   `Content-Type`.
//! - **Limits** ([`codec::Limits`]): message size (1 MiB), depth (48), element count (65 536)
//!   and WBXML text expansion (4 MiB) by default; exceeding one is [`codec::ErrorKind::TooLarge`].
//!
//! No input makes a decoder panic; errors are [`codec::CodecError`] with a
//! [`kind`](codec::CodecError::kind) a caller can branch on.
#![deny(missing_docs)]

pub mod auth;
pub mod codec;
pub mod mo;
pub mod package0;
pub mod session;

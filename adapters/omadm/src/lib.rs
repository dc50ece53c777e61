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
#![deny(missing_docs)]

pub mod auth;
pub mod codec;
pub mod mo;
pub mod package0;

//! Device identity: the protocol a device speaks and its stable `DeviceId`.
//!
//! The id is `<protocol>:<native id>`:
//! - `lwm2m:<endpoint name>` (the `ep` of the Register request, LwM2M TS Core §6.2.1);
//! - `tr069:<OUI>-<ProductClass>-<SerialNumber>` from the Inform `DeviceId` struct (TR-069 A.3.3.1),
//!   each part escaped so that `-` only ever separates parts;
//! - `omadm:<DevId>` (`./DevInfo/DevId`, oneM2M TS-0005 Table 5.2-1).
//!
//! The canonical form is the raw string; [`DeviceId::url_safe`] percent-encodes the native part so
//! that the id fits in one URL path segment, and [`DeviceId::parse`] accepts either form once
//! percent-decoded by the HTTP layer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The management protocol a device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OMA LightweightM2M over CoAP.
    Lwm2m,
    /// Broadband Forum TR-069 CWMP.
    Tr069,
    /// OMA Device Management 1.2 / 1.3.
    Omadm,
}

impl Protocol {
    /// Every protocol, in a stable order.
    pub const ALL: [Protocol; 3] = [Protocol::Lwm2m, Protocol::Tr069, Protocol::Omadm];

    /// The scheme used as the `DeviceId` prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Lwm2m => "lwm2m",
            Protocol::Tr069 => "tr069",
            Protocol::Omadm => "omadm",
        }
    }

    /// The protocol's name as oneM2M `dvi.ptl` reports it.
    pub fn display_name(self) -> &'static str {
        match self {
            Protocol::Lwm2m => "LWM2M",
            Protocol::Tr069 => "TR-069",
            Protocol::Omadm => "OMA-DM",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "lwm2m" => Ok(Protocol::Lwm2m),
            "tr069" | "tr-069" | "cwmp" => Ok(Protocol::Tr069),
            "omadm" | "oma-dm" => Ok(Protocol::Omadm),
            _ => Err(IdError::UnknownProtocol(s.to_owned())),
        }
    }
}

/// Why a string is not a valid [`DeviceId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The prefix before `:` names no protocol unidm knows.
    #[error("unknown protocol `{0}` (expected lwm2m, tr069 or omadm)")]
    UnknownProtocol(String),
    /// There is no `:` separating protocol and native id.
    #[error("a device id has the form <protocol>:<native id>")]
    MissingSeparator,
    /// The native part is empty.
    #[error("the native id is empty")]
    EmptyNativeId,
    /// The id is longer than [`DeviceId::MAX_LEN`].
    #[error("the device id is longer than {} bytes", DeviceId::MAX_LEN)]
    TooLong,
    /// The id holds a control character.
    #[error("the device id holds a control character")]
    ControlCharacter,
}

/// A device's stable identifier, `<protocol>:<native id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "lwm2m:urn:imei:490154203237518")]
pub struct DeviceId(String);

impl DeviceId {
    /// Longest accepted id, in bytes: enough for any endpoint name seen in practice, small
    /// enough that an untrusted peer cannot make us store megabytes per device.
    pub const MAX_LEN: usize = 256;

    /// Parses the canonical form `<protocol>:<native id>`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let (proto, native) = s.split_once(':').ok_or(IdError::MissingSeparator)?;
        let protocol: Protocol = proto.parse()?;
        Self::new(protocol, native)
    }

    /// Builds an id from a protocol and its native id, as the device gave it.
    pub fn new(protocol: Protocol, native: &str) -> Result<Self, IdError> {
        if native.is_empty() {
            return Err(IdError::EmptyNativeId);
        }
        if native.chars().any(char::is_control) {
            return Err(IdError::ControlCharacter);
        }
        let id = format!("{}:{}", protocol.as_str(), native);
        if id.len() > Self::MAX_LEN {
            return Err(IdError::TooLong);
        }
        Ok(DeviceId(id))
    }

    /// The LwM2M id of an endpoint name.
    pub fn lwm2m(endpoint: &str) -> Result<Self, IdError> {
        Self::new(Protocol::Lwm2m, endpoint)
    }

    /// The TR-069 id `OUI-ProductClass-SerialNumber` (or `OUI-SerialNumber` without a product
    /// class). Characters outside `[A-Za-z0-9_]` in each part are percent-escaped, so `-`
    /// separates parts unambiguously.
    pub fn tr069(oui: &str, product_class: Option<&str>, serial: &str) -> Result<Self, IdError> {
        let mut native = escape_part(oui);
        if let Some(pc) = product_class.filter(|pc| !pc.is_empty()) {
            native.push('-');
            native.push_str(&escape_part(pc));
        }
        native.push('-');
        native.push_str(&escape_part(serial));
        Self::new(Protocol::Tr069, &native)
    }

    /// The OMA DM id of a `./DevInfo/DevId` value.
    pub fn omadm(dev_id: &str) -> Result<Self, IdError> {
        Self::new(Protocol::Omadm, dev_id)
    }

    /// The protocol named by the prefix.
    pub fn protocol(&self) -> Protocol {
        // The constructor only builds ids with a known prefix.
        let proto = self.0.split_once(':').map_or("", |(p, _)| p);
        proto.parse().unwrap_or(Protocol::Lwm2m)
    }

    /// The native id: what the device calls itself.
    pub fn native(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, n)| n)
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that fits in one URL path segment: the native part percent-encoded, keeping
    /// RFC 3986 unreserved characters.
    pub fn url_safe(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 8);
        out.push_str(self.protocol().as_str());
        out.push(':');
        for b in self.native().bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

fn escape_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DeviceId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DeviceId {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_protocol() {
        let id = DeviceId::parse("lwm2m:urn:imei:490154203237518").unwrap();
        assert_eq!(id.protocol(), Protocol::Lwm2m);
        assert_eq!(id.native(), "urn:imei:490154203237518");
        assert_eq!(DeviceId::parse("omadm:IMEI:1").unwrap().protocol(), Protocol::Omadm);
        assert_eq!(DeviceId::parse("TR069:00259E-X-1").unwrap().as_str(), "tr069:00259E-X-1");
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(DeviceId::parse("nope"), Err(IdError::MissingSeparator));
        assert_eq!(DeviceId::parse("mqtt:x"), Err(IdError::UnknownProtocol("mqtt".into())));
        assert_eq!(DeviceId::parse("lwm2m:"), Err(IdError::EmptyNativeId));
        assert_eq!(DeviceId::parse("lwm2m:a\nb"), Err(IdError::ControlCharacter));
        assert_eq!(DeviceId::parse(&format!("lwm2m:{}", "a".repeat(300))), Err(IdError::TooLong));
    }

    #[test]
    fn tr069_escapes_separators() {
        let id = DeviceId::tr069("202BC1", Some("BM632w"), "0000-42").unwrap();
        assert_eq!(id.as_str(), "tr069:202BC1-BM632w-0000%2D42");
        let id = DeviceId::tr069("202BC1", None, "S 1").unwrap();
        assert_eq!(id.as_str(), "tr069:202BC1-S%201");
    }

    #[test]
    fn url_safe_encodes_path_characters() {
        let id = DeviceId::lwm2m("gw/child 1?").unwrap();
        assert_eq!(id.url_safe(), "lwm2m:gw%2Fchild%201%3F");
    }

    proptest! {
        #[test]
        fn url_safe_round_trips(native in "[^\\p{Cc}]{1,60}") {
            let id = DeviceId::lwm2m(&native).unwrap();
            let url = id.url_safe();
            prop_assert!(url.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'?' && b != b'#'));
            let decoded = percent_decode(&url);
            prop_assert_eq!(DeviceId::parse(&decoded).unwrap(), id);
        }
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}

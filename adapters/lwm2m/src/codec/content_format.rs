//! CoAP Content-Format numbers used by LwM2M (TS Core 1.1 §7.4 "Data Formats"; IANA CoAP
//! Content-Formats registry).
//!
//! LwM2M 1.0 clients may still send the pre-registration numbers 1542 (TLV) and 1543 (JSON);
//! they map to the same variants. LwM2M CBOR (1.2) never had an old number.

/// A content format a LwM2M payload can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentFormat {
    /// `text/plain` (0): one value.
    Text,
    /// `application/link-format` (40, RFC 6690): Register payload, Discover answer.
    LinkFormat,
    /// `application/octet-stream` (42): one opaque value.
    Opaque,
    /// `application/cbor` (60): one value (LwM2M 1.1).
    Cbor,
    /// `application/senml+json` (110, LwM2M 1.1).
    SenmlJson,
    /// `application/senml+cbor` (112, LwM2M 1.1).
    SenmlCbor,
    /// `application/vnd.oma.lwm2m+tlv` (11542, legacy 1542).
    Tlv,
    /// `application/vnd.oma.lwm2m+json` (11543, legacy 1543): LwM2M 1.0 JSON.
    Lwm2mJson,
    /// `application/vnd.oma.lwm2m+cbor` (11544, LwM2M 1.2).
    Lwm2mCbor,
    /// Any other number, kept so that a caller can answer 4.15 with it.
    Other(u16),
}

impl ContentFormat {
    /// The number to send; the registered one, never a legacy number.
    pub fn code(self) -> u16 {
        match self {
            ContentFormat::Text => 0,
            ContentFormat::LinkFormat => 40,
            ContentFormat::Opaque => 42,
            ContentFormat::Cbor => 60,
            ContentFormat::SenmlJson => 110,
            ContentFormat::SenmlCbor => 112,
            ContentFormat::Tlv => 11542,
            ContentFormat::Lwm2mJson => 11543,
            ContentFormat::Lwm2mCbor => 11544,
            ContentFormat::Other(code) => code,
        }
    }

    /// The legacy number LwM2M 1.0 clients used, where there was one.
    pub fn legacy_code(self) -> Option<u16> {
        match self {
            ContentFormat::Tlv => Some(1542),
            ContentFormat::Lwm2mJson => Some(1543),
            _ => None,
        }
    }

    /// The media type name.
    pub fn media_type(self) -> Option<&'static str> {
        Some(match self {
            ContentFormat::Text => "text/plain",
            ContentFormat::LinkFormat => "application/link-format",
            ContentFormat::Opaque => "application/octet-stream",
            ContentFormat::Cbor => "application/cbor",
            ContentFormat::SenmlJson => "application/senml+json",
            ContentFormat::SenmlCbor => "application/senml+cbor",
            ContentFormat::Tlv => "application/vnd.oma.lwm2m+tlv",
            ContentFormat::Lwm2mJson => "application/vnd.oma.lwm2m+json",
            ContentFormat::Lwm2mCbor => "application/vnd.oma.lwm2m+cbor",
            ContentFormat::Other(_) => return None,
        })
    }
}

impl ContentFormat {
    /// A format by the short name an API caller gives (`text`, `opaque`, `tlv`, `json` for
    /// LwM2M 1.0 JSON, `senml+json`, `senml+cbor`, `cbor`, `lwm2m+cbor`, `link`), by its media
    /// type, or by number (`11542`, legacy numbers too).
    pub fn parse_name(name: &str) -> Option<ContentFormat> {
        let name = name.trim().to_ascii_lowercase();
        if let Ok(code) = name.parse::<u16>() {
            return Some(ContentFormat::from(code));
        }
        let short = name.strip_prefix("application/").unwrap_or(&name);
        Some(match short.strip_prefix("vnd.oma.").unwrap_or(short) {
            "text" | "text/plain" | "plain" => ContentFormat::Text,
            "opaque" | "octet-stream" => ContentFormat::Opaque,
            "tlv" | "lwm2m+tlv" => ContentFormat::Tlv,
            "json" | "lwm2m+json" => ContentFormat::Lwm2mJson,
            "senml+json" | "senml-json" | "senmljson" => ContentFormat::SenmlJson,
            "senml+cbor" | "senml-cbor" | "senmlcbor" => ContentFormat::SenmlCbor,
            "cbor" => ContentFormat::Cbor,
            "lwm2m+cbor" => ContentFormat::Lwm2mCbor,
            "link" | "link-format" => ContentFormat::LinkFormat,
            _ => return None,
        })
    }
}

impl From<u16> for ContentFormat {
    fn from(code: u16) -> ContentFormat {
        match code {
            // 1541 - 1544: the numbers of LwM2M 1.0 drafts, still sent by some clients and
            // servers (lwm2m-node-lib): text, TLV, JSON, opaque.
            0 | 1541 => ContentFormat::Text,
            40 => ContentFormat::LinkFormat,
            42 | 1544 => ContentFormat::Opaque,
            60 => ContentFormat::Cbor,
            110 => ContentFormat::SenmlJson,
            112 => ContentFormat::SenmlCbor,
            11542 | 1542 => ContentFormat::Tlv,
            11543 | 1543 => ContentFormat::Lwm2mJson,
            11544 => ContentFormat::Lwm2mCbor,
            other => ContentFormat::Other(other),
        }
    }
}

impl From<ContentFormat> for u16 {
    fn from(cf: ContentFormat) -> u16 {
        cf.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_by_short_name_media_type_or_number() {
        assert_eq!(ContentFormat::parse_name("TLV"), Some(ContentFormat::Tlv));
        assert_eq!(ContentFormat::parse_name("application/vnd.oma.lwm2m+tlv"), Some(ContentFormat::Tlv));
        assert_eq!(ContentFormat::parse_name("senml+cbor"), Some(ContentFormat::SenmlCbor));
        assert_eq!(ContentFormat::parse_name("application/senml+json"), Some(ContentFormat::SenmlJson));
        assert_eq!(ContentFormat::parse_name("1543"), Some(ContentFormat::Lwm2mJson));
        assert_eq!(ContentFormat::parse_name("text"), Some(ContentFormat::Text));
        assert_eq!(ContentFormat::parse_name("yaml"), None);
    }

    #[test]
    fn legacy_numbers_map_to_current_ones() {
        assert_eq!(ContentFormat::from(1542), ContentFormat::Tlv);
        assert_eq!(ContentFormat::from(1543), ContentFormat::Lwm2mJson);
        assert_eq!(ContentFormat::from(1541), ContentFormat::Text);
        assert_eq!(ContentFormat::from(1544), ContentFormat::Opaque);
        assert_eq!(ContentFormat::Tlv.code(), 11542);
        assert_eq!(ContentFormat::Tlv.legacy_code(), Some(1542));
    }

    #[test]
    fn codes_roundtrip() {
        for code in [0u16, 40, 42, 60, 110, 112, 11542, 11543, 11544, 7] {
            assert_eq!(ContentFormat::from(code).code(), code);
        }
    }
}

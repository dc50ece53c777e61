//! The HTTP media types of SyncML DM (OMA DM Representation Protocol 1.2.1, "MIME Usage"; OMA
//! SyncML HTTP Binding 1.2 for the older SyncML DS types, which some DM clients send).

use super::error::CodecError;

/// The encoding of a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Clear-text XML.
    Xml,
    /// WBXML.
    Wbxml,
}

/// A SyncML media type a DM peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `application/vnd.syncml.dm+xml`.
    DmXml,
    /// `application/vnd.syncml.dm+wbxml`.
    DmWbxml,
    /// `application/vnd.syncml+xml` (the SyncML DS type; some DM clients send it).
    SyncMlXml,
    /// `application/vnd.syncml+wbxml`.
    SyncMlWbxml,
}

impl MediaType {
    /// The DM media type of an encoding, as a server answers.
    pub fn dm(encoding: Encoding) -> MediaType {
        match encoding {
            Encoding::Xml => MediaType::DmXml,
            Encoding::Wbxml => MediaType::DmWbxml,
        }
    }

    /// Recognises a `Content-Type` value: case-insensitive, parameters (`; charset=utf-8`) and
    /// surrounding whitespace ignored.
    pub fn parse(content_type: &str) -> Result<MediaType, CodecError> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        [MediaType::DmXml, MediaType::DmWbxml, MediaType::SyncMlXml, MediaType::SyncMlWbxml]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(essence))
            .ok_or_else(|| CodecError::UnsupportedMediaType(content_type.to_owned()))
    }

    /// The media type as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::DmXml => "application/vnd.syncml.dm+xml",
            MediaType::DmWbxml => "application/vnd.syncml.dm+wbxml",
            MediaType::SyncMlXml => "application/vnd.syncml+xml",
            MediaType::SyncMlWbxml => "application/vnd.syncml+wbxml",
        }
    }

    /// The encoding the media type names.
    pub fn encoding(self) -> Encoding {
        match self {
            MediaType::DmXml | MediaType::SyncMlXml => Encoding::Xml,
            MediaType::DmWbxml | MediaType::SyncMlWbxml => Encoding::Wbxml,
        }
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_parameters_and_any_case() {
        assert_eq!(MediaType::parse("application/vnd.syncml.dm+xml; charset=utf-8"), Ok(MediaType::DmXml));
        assert_eq!(MediaType::parse(" Application/VND.SyncML.DM+WBXML "), Ok(MediaType::DmWbxml));
        assert_eq!(MediaType::parse("application/vnd.syncml+xml;charset=UTF-8"), Ok(MediaType::SyncMlXml));
        assert_eq!(MediaType::parse("application/vnd.syncml+wbxml").map(MediaType::encoding), Ok(Encoding::Wbxml));
        assert!(MediaType::parse("application/xml").unwrap_err().is_unsupported());
        assert!(MediaType::parse("application/vnd.syncml.notification").is_err());
    }
}

//! Parameter values with their `xsi:type` (TR-069 Amendment 6, A.2.3 "Data Types";
//! BBF `cwmp-1-2.xsd` `ParameterValueStruct/Value` is `xs:anySimpleType`).
//!
//! A [`Value`] keeps the lexical text exactly as received plus its declared type, so nothing is
//! lost between the device and the ACS; [`Value::typed`] checks and converts it on demand.

use base64::Engine as _;

use crate::error::CwmpError;

/// The `xsi:type` of a value: the XML Schema types CWMP uses, or another local name kept as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum XsdType {
    /// `xsd:string`.
    String,
    /// `xsd:int` (32-bit signed).
    Int,
    /// `xsd:unsignedInt` (32-bit unsigned).
    UnsignedInt,
    /// `xsd:long` (64-bit signed).
    Long,
    /// `xsd:unsignedLong` (64-bit unsigned; TR-181 StatsCounter64).
    UnsignedLong,
    /// `xsd:boolean` (`0`, `1`, `true`, `false`).
    Boolean,
    /// `xsd:dateTime`.
    DateTime,
    /// `xsd:base64` / `xsd:base64Binary` / `soap-enc:base64`.
    Base64,
    /// `xsd:hexBinary`.
    HexBinary,
    /// `xsd:decimal`.
    Decimal,
    /// Any other type, by local name.
    Other(String),
}

impl XsdType {
    /// Recognises a type by local name (the prefix has already been resolved and dropped).
    pub fn from_local_name(name: &str) -> XsdType {
        match name {
            "string" => XsdType::String,
            "int" => XsdType::Int,
            "unsignedInt" => XsdType::UnsignedInt,
            "long" => XsdType::Long,
            "unsignedLong" => XsdType::UnsignedLong,
            "boolean" => XsdType::Boolean,
            "dateTime" => XsdType::DateTime,
            "base64" | "base64Binary" => XsdType::Base64,
            "hexBinary" => XsdType::HexBinary,
            "decimal" => XsdType::Decimal,
            other => XsdType::Other(other.to_owned()),
        }
    }

    /// The local name written after `xsd:`.
    pub fn local_name(&self) -> &str {
        match self {
            XsdType::String => "string",
            XsdType::Int => "int",
            XsdType::UnsignedInt => "unsignedInt",
            XsdType::Long => "long",
            XsdType::UnsignedLong => "unsignedLong",
            XsdType::Boolean => "boolean",
            XsdType::DateTime => "dateTime",
            XsdType::Base64 => "base64",
            XsdType::HexBinary => "hexBinary",
            XsdType::Decimal => "decimal",
            XsdType::Other(s) => s,
        }
    }
}

/// A parameter value as it travels: declared type plus lexical text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value {
    /// The declared `xsi:type`; [`XsdType::String`] when the peer sent none.
    pub xsd_type: XsdType,
    /// The text exactly as received (or to be sent).
    pub text: String,
}

/// A value checked against its declared type and converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedValue {
    /// `xsd:string`.
    String(String),
    /// `xsd:int`.
    Int(i32),
    /// `xsd:unsignedInt`.
    UnsignedInt(u32),
    /// `xsd:long`.
    Long(i64),
    /// `xsd:unsignedLong`.
    UnsignedLong(u64),
    /// `xsd:boolean`.
    Boolean(bool),
    /// `xsd:dateTime`, lexically checked, kept as text.
    DateTime(String),
    /// `xsd:base64`, decoded.
    Base64(Vec<u8>),
    /// `xsd:hexBinary`, decoded.
    HexBinary(Vec<u8>),
    /// `xsd:decimal`, lexically checked, kept as text.
    Decimal(String),
    /// A type this codec does not interpret.
    Other {
        /// Local name of the type.
        type_name: String,
        /// Text as received.
        text: String,
    },
}

/// Parses an xsd:boolean leniently: `1`/`true`/`0`/`false`, ASCII case-insensitive, trimmed.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    if t == "1" || t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t == "0" || t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Lexical check of xsd:dateTime: `[-]YYYY-MM-DDThh:mm:ss[.f+][Z|(+|-)hh:mm]`.
pub(crate) fn is_date_time(text: &str) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    let Some((date, time)) = t.split_once('T') else {
        return false;
    };
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return false;
    };
    if y.len() < 4 || !y.bytes().all(|b| b.is_ascii_digit()) || !digits(mo, 2) || !digits(da, 2) {
        return false;
    }
    let (clock, zone) = if let Some(c) = time.strip_suffix('Z') {
        (c, None)
    } else if time.len() > 6 && matches!(time.as_bytes()[time.len() - 6], b'+' | b'-') {
        let (c, z) = time.split_at(time.len() - 6);
        (c, Some(&z[1..]))
    } else {
        (time, None)
    };
    if let Some(z) = zone {
        let ok = z.len() == 5 && z.is_ascii() && digits(&z[..2], 2) && &z[2..3] == ":" && digits(&z[3..], 2);
        if !ok {
            return false;
        }
    }
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (clock, None),
    };
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let mut p = hms.split(':');
    matches!(
        (p.next(), p.next(), p.next(), p.next()),
        (Some(h), Some(m), Some(s), None) if digits(h, 2) && digits(m, 2) && digits(s, 2)
    )
}

fn is_decimal(text: &str) -> bool {
    let t = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

impl Value {
    /// A value with an explicit type.
    pub fn new(xsd_type: XsdType, text: impl Into<String>) -> Self {
        Value { xsd_type, text: text.into() }
    }

    /// An `xsd:string` value.
    pub fn string(text: impl Into<String>) -> Self {
        Value::new(XsdType::String, text)
    }

    /// Checks the text against the declared type and converts it. Numbers and booleans are
    /// trimmed first; strings are returned untouched.
    pub fn typed(&self) -> Result<TypedValue, CwmpError> {
        let t = self.text.trim();
        let bad = || CwmpError::invalid("Value", format!("{:?} is not an {:?}", t, self.xsd_type));
        Ok(match &self.xsd_type {
            XsdType::String => TypedValue::String(self.text.clone()),
            XsdType::Int => TypedValue::Int(t.parse().map_err(|_| bad())?),
            XsdType::UnsignedInt => TypedValue::UnsignedInt(t.parse().map_err(|_| bad())?),
            XsdType::Long => TypedValue::Long(t.parse().map_err(|_| bad())?),
            XsdType::UnsignedLong => TypedValue::UnsignedLong(t.parse().map_err(|_| bad())?),
            XsdType::Boolean => TypedValue::Boolean(parse_bool(t).ok_or_else(bad)?),
            XsdType::DateTime if is_date_time(t) => TypedValue::DateTime(t.to_owned()),
            XsdType::DateTime => return Err(bad()),
            XsdType::Base64 => {
                let compact: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                TypedValue::Base64(base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| bad())?)
            }
            XsdType::HexBinary => TypedValue::HexBinary(hex_decode(t).ok_or_else(bad)?),
            XsdType::Decimal if is_decimal(t) => TypedValue::Decimal(t.to_owned()),
            XsdType::Decimal => return Err(bad()),
            XsdType::Other(name) => TypedValue::Other { type_name: name.clone(), text: self.text.clone() },
        })
    }
}

impl From<TypedValue> for Value {
    /// Writes the canonical lexical form (booleans as `true`/`false`, hex in upper case).
    fn from(v: TypedValue) -> Self {
        match v {
            TypedValue::String(s) => Value::new(XsdType::String, s),
            TypedValue::Int(n) => Value::new(XsdType::Int, n.to_string()),
            TypedValue::UnsignedInt(n) => Value::new(XsdType::UnsignedInt, n.to_string()),
            TypedValue::Long(n) => Value::new(XsdType::Long, n.to_string()),
            TypedValue::UnsignedLong(n) => Value::new(XsdType::UnsignedLong, n.to_string()),
            TypedValue::Boolean(b) => Value::new(XsdType::Boolean, b.to_string()),
            TypedValue::DateTime(s) => Value::new(XsdType::DateTime, s),
            TypedValue::Base64(b) => Value::new(XsdType::Base64, base64::engine::general_purpose::STANDARD.encode(b)),
            TypedValue::HexBinary(b) => {
                Value::new(XsdType::HexBinary, b.iter().map(|x| format!("{x:02X}")).collect::<String>())
            }
            TypedValue::Decimal(s) => Value::new(XsdType::Decimal, s),
            TypedValue::Other { type_name, text } => Value::new(XsdType::Other(type_name), text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_digits_and_words() {
        for (t, b) in [("1", true), ("true", true), (" 0 ", false), ("false", false)] {
            assert_eq!(Value::new(XsdType::Boolean, t).typed(), Ok(TypedValue::Boolean(b)));
        }
        assert!(Value::new(XsdType::Boolean, "yes").typed().is_err());
    }

    #[test]
    fn numbers_respect_their_width() {
        assert!(Value::new(XsdType::Int, "2147483648").typed().is_err());
        assert_eq!(
            Value::new(XsdType::UnsignedLong, "18446744073709551615").typed(),
            Ok(TypedValue::UnsignedLong(u64::MAX))
        );
        assert!(Value::new(XsdType::UnsignedInt, "-1").typed().is_err());
        assert_eq!(Value::new(XsdType::Long, "-5").typed(), Ok(TypedValue::Long(-5)));
    }

    #[test]
    fn date_times() {
        for ok in ["0001-01-01T00:00:00Z", "2024-02-29T12:34:56.789+01:00", "2024-02-29T12:34:56"] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in ["2024-02-29", "2024-2-29T12:34:56Z", "2024-02-29T12:34Z", "x", "2024-02-29T12:34:56+0\u{e9}:0"] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn binary_and_decimal() {
        assert_eq!(Value::new(XsdType::HexBinary, "0aFF").typed(), Ok(TypedValue::HexBinary(vec![0x0a, 0xff])));
        assert!(Value::new(XsdType::HexBinary, "0g").typed().is_err());
        assert_eq!(Value::new(XsdType::Base64, "aGk=").typed(), Ok(TypedValue::Base64(b"hi".to_vec())));
        assert!(Value::new(XsdType::Decimal, "-1.50").typed().is_ok());
        assert!(Value::new(XsdType::Decimal, "1e5").typed().is_err());
        let v: Value = TypedValue::HexBinary(vec![1, 171]).into();
        assert_eq!(v.text, "01AB");
    }
}

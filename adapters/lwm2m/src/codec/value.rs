//! The value model shared by every content format: LwM2M data types (TS Core 1.1 Appendix C
//! "Data Types") and the records a payload decodes to.

use std::fmt;
use std::str::FromStr;

use crate::path::Path;

/// A resource value, one variant per LwM2M data type (Core 1.1 Appendix C).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UTF-8 string.
    String(String),
    /// Signed 64-bit integer.
    Integer(i64),
    /// Unsigned 64-bit integer (LwM2M 1.1).
    UnsignedInteger(u64),
    /// IEEE-754 float, carried as 64 bits whatever the wire width.
    Float(f64),
    /// Boolean.
    Boolean(bool),
    /// Raw bytes.
    Opaque(Vec<u8>),
    /// Unix time in seconds (signed, as the spec allows dates before 1970).
    Time(i64),
    /// Object link: object id and object instance id, written `3:0` in text formats.
    ObjectLink(u16, u16),
    /// CoRE link (RFC 6690 text), LwM2M 1.1 `Corelnk`.
    CoreLink(String),
}

impl Value {
    /// The data type of this value.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Value::String(_) => ResourceType::String,
            Value::Integer(_) => ResourceType::Integer,
            Value::UnsignedInteger(_) => ResourceType::UnsignedInteger,
            Value::Float(_) => ResourceType::Float,
            Value::Boolean(_) => ResourceType::Boolean,
            Value::Opaque(_) => ResourceType::Opaque,
            Value::Time(_) => ResourceType::Time,
            Value::ObjectLink(..) => ResourceType::Objlnk,
            Value::CoreLink(_) => ResourceType::Corelnk,
        }
    }
}

/// The type a resource has in its object definition (DDF `<Type>`), used as a decoding hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `String`.
    String,
    /// `Integer`.
    Integer,
    /// `Unsigned Integer`.
    UnsignedInteger,
    /// `Float`.
    Float,
    /// `Boolean`.
    Boolean,
    /// `Opaque`.
    Opaque,
    /// `Time`.
    Time,
    /// `Objlnk`.
    Objlnk,
    /// `Corelnk`.
    Corelnk,
    /// Executable resources: they have no value.
    None,
}

impl ResourceType {
    /// Reads the `<Type>` of a DDF resource (`"Unsigned Integer"`, `"Objlnk"`, ...); the empty
    /// type of executable resources is [`ResourceType::None`]. Unknown names give `None`.
    pub fn from_ddf(name: &str) -> Option<ResourceType> {
        Some(match name.trim() {
            "String" => ResourceType::String,
            "Integer" => ResourceType::Integer,
            "Unsigned Integer" => ResourceType::UnsignedInteger,
            "Float" => ResourceType::Float,
            "Boolean" => ResourceType::Boolean,
            "Opaque" => ResourceType::Opaque,
            "Time" => ResourceType::Time,
            "Objlnk" => ResourceType::Objlnk,
            "Corelnk" => ResourceType::Corelnk,
            "" | "none" | "None" => ResourceType::None,
            _ => return None,
        })
    }
}

/// Supplies the type of a resource from an object model, so that formats which do not carry the
/// type on the wire (TLV, text, CBOR numbers) can decode precisely.
pub trait TypeHints {
    /// The type of the resource at `path` (a resource or resource instance), if known.
    fn resource_type(&self, path: &Path) -> Option<ResourceType>;
}

impl<F> TypeHints for F
where
    F: Fn(&Path) -> Option<ResourceType>,
{
    fn resource_type(&self, path: &Path) -> Option<ResourceType> {
        self(path)
    }
}

/// No object model: every value decodes with what the wire says (TLV values stay opaque).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHints;

impl TypeHints for NoHints {
    fn resource_type(&self, _path: &Path) -> Option<ResourceType> {
        None
    }
}

/// Looks a hint up for a resource instance through its resource, as DDFs type the resource.
pub(crate) fn hint_for(hints: &dyn TypeHints, path: &Path) -> Option<ResourceType> {
    hints.resource_type(path).or_else(|| match path {
        Path::ResourceInstance(..) => path.parent().and_then(|p| hints.resource_type(&p)),
        _ => None,
    })
}

/// One value at one path: a single-instance resource or one resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `/o/i/r` or `/o/i/r/ri`.
    pub path: Path,
    /// The value.
    pub value: Value,
    /// Absolute time of the measurement (seconds), for formats that carry one (SenML, LwM2M
    /// JSON); other formats ignore it.
    pub time: Option<f64>,
}

impl Record {
    /// A record without time.
    pub fn new(path: Path, value: Value) -> Record {
        Record { path, value, time: None }
    }
}

/// A decoded payload: the records in wire order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Content {
    /// The records.
    pub records: Vec<Record>,
}

impl Content {
    /// Wraps records.
    pub fn new(records: Vec<Record>) -> Content {
        Content { records }
    }

    /// The value at exactly `path`, if present.
    pub fn get(&self, path: &Path) -> Option<&Value> {
        self.records.iter().find(|r| &r.path == path).map(|r| &r.value)
    }
}

/// An object link written `objectId:instanceId` (Core 1.1 Appendix C, Objlnk in text formats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLinkText(pub u16, pub u16);

impl FromStr for ObjectLinkText {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (o, i) = s.trim().split_once(':').ok_or(())?;
        let parse = |x: &str| {
            if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            x.parse::<u16>().map_err(|_| ())
        };
        Ok(ObjectLinkText(parse(o)?, parse(i)?))
    }
}

impl fmt::Display for ObjectLinkText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `<Type>` spelling found in the OMA registry DDFs (`OpenMobileAlliance/lwm2m-registry`).
    #[test]
    fn ddf_type_names() {
        for (name, ty) in [
            ("String", ResourceType::String),
            ("Integer", ResourceType::Integer),
            ("Unsigned Integer", ResourceType::UnsignedInteger),
            ("Float", ResourceType::Float),
            ("Boolean", ResourceType::Boolean),
            ("Opaque", ResourceType::Opaque),
            ("Time", ResourceType::Time),
            ("Objlnk", ResourceType::Objlnk),
            ("Corelnk", ResourceType::Corelnk),
            ("", ResourceType::None),
        ] {
            assert_eq!(ResourceType::from_ddf(name), Some(ty));
        }
        assert_eq!(ResourceType::from_ddf("Decimal"), None);
    }

    #[test]
    fn object_link_text() {
        assert_eq!("3:0".parse(), Ok(ObjectLinkText(3, 0)));
        assert_eq!(ObjectLinkText(65535, 65535).to_string(), "65535:65535");
        for bad in ["3", "3:", ":0", "3:-1", "3:65536", "+3:0", "a:b"] {
            assert!(bad.parse::<ObjectLinkText>().is_err(), "{bad}");
        }
    }
}

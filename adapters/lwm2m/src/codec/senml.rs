//! The SenML data model shared by SenML JSON and SenML CBOR (RFC 8428 §4; LwM2M TS Core 1.1
//! §7.4.5/§7.4.6 on how LwM2M uses it).
//!
//! A pack is a list of records; `bn`/`bt` apply to their record and every later one until
//! replaced (RFC 8428 §4.5.1), the full name is `bn + n` and the time `bt + t`. LwM2M names
//! are paths (`/3/0/0`); Objlnk values travel in the LwM2M-specific label `vlo` as `"3:0"`.

use super::{hint_for, CodecError, Content, Limits, ObjectLinkText, Record, ResourceType};
use super::{TypeHints, Value};
use crate::path::Path;

/// A SenML numeric value as it appeared on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Integer that fits `i64`.
    Int(i64),
    /// Integer above `i64::MAX`.
    UInt(u64),
    /// Floating point.
    Float(f64),
}

/// The one value a SenML record carries (`v`, `vs`, `vb`, `vd` or `vlo`).
#[derive(Debug, Clone, PartialEq)]
pub enum SenmlValue {
    /// `v`.
    Number(Number),
    /// `vs`.
    String(String),
    /// `vb`.
    Boolean(bool),
    /// `vd` (base64url text in JSON, byte string in CBOR).
    Data(Vec<u8>),
    /// `vlo`: `"objectId:instanceId"`.
    ObjectLink(String),
}

/// One SenML record with the labels LwM2M uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SenmlRecord {
    /// `bn`.
    pub base_name: Option<String>,
    /// `bt`.
    pub base_time: Option<f64>,
    /// `n`.
    pub name: Option<String>,
    /// `t`.
    pub time: Option<f64>,
    /// The value; absent in the path lists of composite requests.
    pub value: Option<SenmlValue>,
}

/// A record with base name and base time applied: path, absolute time, value.
type Resolved<'a> = (Path, Option<f64>, Option<&'a SenmlValue>);

/// Applies base name and base time, in pack order.
fn resolve_names(records: &[SenmlRecord]) -> Result<Vec<Resolved<'_>>, CodecError> {
    let mut base_name = String::new();
    let mut base_time: Option<f64> = None;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if let Some(bn) = &r.base_name {
            base_name.clone_from(bn);
        }
        if let Some(bt) = r.base_time {
            base_time = Some(bt);
        }
        let name = format!("{base_name}{}", r.name.as_deref().unwrap_or(""));
        let path: Path = name.parse()?;
        let time = match (base_time, r.time) {
            (None, None) => None,
            (b, t) => Some(b.unwrap_or(0.0) + t.unwrap_or(0.0)),
        };
        out.push((path, time, r.value.as_ref()));
    }
    Ok(out)
}

/// Resolves a pack into records, typing values through `hints`.
pub fn resolve(records: &[SenmlRecord], hints: &dyn TypeHints, limits: &Limits) -> Result<Content, CodecError> {
    limits.check(records.len())?;
    let mut out = Vec::with_capacity(records.len());
    for (path, time, value) in resolve_names(records)? {
        if !path.is_resource_level() {
            return Err(CodecError::malformed(format!("SenML record {path} is not a resource or resource instance")));
        }
        let value = value.ok_or_else(|| CodecError::invalid(path, "record has no value"))?;
        let value = to_value(value, hint_for(hints, &path), &path)?;
        out.push(Record { path, value, time });
    }
    Ok(Content::new(out))
}

/// Resolves the path list of a Read-Composite / Observe-Composite request, where records carry
/// names only (TS Core 1.1 §6.3, Read-Composite: a SenML list of names).
pub fn resolve_paths(records: &[SenmlRecord], limits: &Limits) -> Result<Vec<Path>, CodecError> {
    limits.check(records.len())?;
    Ok(resolve_names(records)?.into_iter().map(|(path, _, _)| path).collect())
}

fn integral(f: f64) -> Option<i128> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1.9e19).then_some(f as i128)
}

pub(crate) fn to_value(v: &SenmlValue, ty: Option<ResourceType>, path: &Path) -> Result<Value, CodecError> {
    let mismatch = |wire: &str| CodecError::invalid(*path, format!("{wire} value for a resource of type {ty:?}"));
    let as_i128 = |n: &Number| match *n {
        Number::Int(i) => Some(i128::from(i)),
        Number::UInt(u) => Some(i128::from(u)),
        Number::Float(f) => integral(f),
    };
    let out_of_range = || CodecError::invalid(*path, "number out of range for its type");
    Ok(match (v, ty) {
        (SenmlValue::Number(n), None) => match *n {
            Number::Int(i) => Value::Integer(i),
            Number::UInt(u) => Value::UnsignedInteger(u),
            Number::Float(f) => Value::Float(f),
        },
        (SenmlValue::Number(n), Some(ResourceType::Float)) => Value::Float(match *n {
            Number::Int(i) => i as f64,
            Number::UInt(u) => u as f64,
            Number::Float(f) => f,
        }),
        (SenmlValue::Number(n), Some(ResourceType::Integer)) => {
            Value::Integer(as_i128(n).and_then(|i| i64::try_from(i).ok()).ok_or_else(out_of_range)?)
        }
        (SenmlValue::Number(n), Some(ResourceType::Time)) => {
            Value::Time(as_i128(n).and_then(|i| i64::try_from(i).ok()).ok_or_else(out_of_range)?)
        }
        (SenmlValue::Number(n), Some(ResourceType::UnsignedInteger)) => {
            Value::UnsignedInteger(as_i128(n).and_then(|i| u64::try_from(i).ok()).ok_or_else(out_of_range)?)
        }
        (SenmlValue::Number(_), Some(_)) => return Err(mismatch("numeric")),
        (SenmlValue::String(s), Some(ResourceType::Corelnk)) => Value::CoreLink(s.clone()),
        (SenmlValue::String(s), None | Some(ResourceType::String | ResourceType::None)) => Value::String(s.clone()),
        (SenmlValue::String(_), Some(_)) => return Err(mismatch("string")),
        (SenmlValue::Boolean(b), None | Some(ResourceType::Boolean)) => Value::Boolean(*b),
        (SenmlValue::Boolean(_), Some(_)) => return Err(mismatch("boolean")),
        (SenmlValue::Data(d), None | Some(ResourceType::Opaque | ResourceType::None)) => Value::Opaque(d.clone()),
        (SenmlValue::Data(_), Some(_)) => return Err(mismatch("data")),
        (SenmlValue::ObjectLink(s), None | Some(ResourceType::Objlnk)) => {
            let ObjectLinkText(o, i) =
                s.parse().map_err(|_| CodecError::invalid(*path, format!("bad object link {s:?}")))?;
            Value::ObjectLink(o, i)
        }
        (SenmlValue::ObjectLink(_), Some(_)) => return Err(mismatch("object link")),
    })
}

fn from_value(v: &Value) -> SenmlValue {
    match v {
        Value::String(s) | Value::CoreLink(s) => SenmlValue::String(s.clone()),
        Value::Integer(i) | Value::Time(i) => SenmlValue::Number(Number::Int(*i)),
        Value::UnsignedInteger(u) => SenmlValue::Number(match i64::try_from(*u) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::UInt(*u),
        }),
        Value::Float(f) => SenmlValue::Number(Number::Float(*f)),
        Value::Boolean(b) => SenmlValue::Boolean(*b),
        Value::Opaque(d) => SenmlValue::Data(d.clone()),
        Value::ObjectLink(o, i) => SenmlValue::ObjectLink(ObjectLinkText(*o, *i).to_string()),
    }
}

/// The longest common prefix of the names, cut after a `/` so that it ends on a segment.
fn common_base(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut len = first.len();
    for n in &names[1..] {
        len = first.bytes().zip(n.bytes()).take(len).take_while(|(a, b)| a == b).count();
    }
    // Keep at least one character of name so that `n` is never empty.
    let shortest = names.iter().map(String::len).min().unwrap_or(0);
    let len = len.min(shortest.saturating_sub(1));
    match first[..len].rfind('/') {
        Some(0) | None => String::new(),
        Some(i) => first[..=i].to_owned(),
    }
}

fn packed(names: Vec<String>) -> Vec<SenmlRecord> {
    let base = common_base(&names);
    names
        .into_iter()
        .enumerate()
        .map(|(idx, name)| SenmlRecord {
            base_name: (idx == 0 && !base.is_empty()).then(|| base.clone()),
            name: Some(name[base.len()..].to_owned()),
            ..SenmlRecord::default()
        })
        .collect()
}

/// Turns content into a pack, factoring the common path prefix into `bn` of the first record.
pub fn from_content(content: &Content) -> Vec<SenmlRecord> {
    let names = content.records.iter().map(|r| r.path.to_string()).collect();
    let mut pack = packed(names);
    for (rec, r) in pack.iter_mut().zip(&content.records) {
        rec.time = r.time;
        rec.value = Some(from_value(&r.value));
    }
    pack
}

/// Turns a path list into the name-only pack of a composite request.
pub fn from_paths(paths: &[Path]) -> Vec<SenmlRecord> {
    packed(paths.iter().map(Path::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_name_is_cut_on_a_segment() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(common_base(&names(&["/3/0/1", "/3/0/10"])), "/3/0/");
        assert_eq!(common_base(&names(&["/3/0/0", "/3/10/0"])), "/3/");
        assert_eq!(common_base(&names(&["/3/0/0"])), "/3/0/");
        assert_eq!(common_base(&names(&["/3/0/0", "/4/0/0"])), "");
    }

    #[test]
    fn base_values_carry_over_records() {
        let pack = vec![
            SenmlRecord {
                base_name: Some("/3/0/".into()),
                base_time: Some(100.0),
                name: Some("0".into()),
                value: Some(SenmlValue::String("a".into())),
                ..Default::default()
            },
            SenmlRecord {
                name: Some("9".into()),
                time: Some(5.0),
                value: Some(SenmlValue::Number(Number::Int(7))),
                ..Default::default()
            },
        ];
        let c = resolve(&pack, &super::super::NoHints, &Limits::default()).unwrap();
        assert_eq!(c.records[1].path, Path::Resource(3, 0, 9));
        assert_eq!(c.records[1].time, Some(105.0));
        assert_eq!(c.records[0].time, Some(100.0));
    }

    #[test]
    fn typed_numbers_are_checked() {
        let p = Path::Resource(3, 0, 9);
        let n = SenmlValue::Number(Number::Float(1.5));
        assert!(to_value(&n, Some(ResourceType::Integer), &p).is_err());
        let n = SenmlValue::Number(Number::Int(-1));
        assert!(to_value(&n, Some(ResourceType::UnsignedInteger), &p).is_err());
        assert_eq!(to_value(&n, Some(ResourceType::Float), &p).unwrap(), Value::Float(-1.0));
    }
}

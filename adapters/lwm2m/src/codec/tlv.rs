//! `application/vnd.oma.lwm2m+tlv` (content format 11542, legacy 1542): the LwM2M binary
//! Type-Length-Value format (TS Core 1.1 §7.4.4 "TLV"; LwM2M 1.0 §6.4.3). Some texts number the
//! 1.1.1 section §7.4.3: the numbering moved when 1.1 inserted CBOR as §7.4.3, so trust the
//! section title over either number.
//!
//! ```text
//! type byte:  7-6 identifier type  00 Object Instance (value = nested TLVs)
//!                                  01 Resource Instance
//!                                  10 Multiple Resource (value = nested Resource Instances)
//!                                  11 Resource with value
//!             5   identifier length  0 = 8 bit, 1 = 16 bit
//!             4-3 length type  00 = length in bits 2-0, 01/10/11 = 8/16/24-bit length field
//!             2-0 length when bits 4-3 are 00
//! then identifier (1 or 2 bytes), optional length field, value. Big-endian throughout.
//! ```
//!
//! The wire carries no data type, so values are typed through [`TypeHints`]; a value with no
//! hint stays [`Value::Opaque`] with its raw bytes.

use std::collections::HashMap;

use super::{hint_for, CodecError, Content, Limits, Record, ResourceType, TypeHints, Value};
use crate::path::Path;

const OBJECT_INSTANCE: u8 = 0b00;
const RESOURCE_INSTANCE: u8 = 0b01;
const MULTIPLE_RESOURCE: u8 = 0b10;
const RESOURCE: u8 = 0b11;

/// Largest value the 24-bit length field can announce.
const MAX_LEN: usize = 0xFF_FFFF;

struct Tlv<'a> {
    kind: u8,
    id: u16,
    value: &'a [u8],
}

impl Tlv<'_> {
    /// The path depth an entry of this kind sits at.
    fn level(&self) -> usize {
        match self.kind {
            OBJECT_INSTANCE => 2,
            RESOURCE_INSTANCE => 4,
            _ => 3,
        }
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
    if input.len() < n {
        return Err(CodecError::Truncated(what));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn read_tlv<'a>(input: &mut &'a [u8]) -> Result<Tlv<'a>, CodecError> {
    let [t] = take(input, 1, "type byte")? else {
        return Err(CodecError::Truncated("type byte"));
    };
    let t = *t;
    let id_bytes = take(input, if t & 0x20 != 0 { 2 } else { 1 }, "identifier")?;
    let id = id_bytes.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b));
    let len = match (t >> 3) & 0b11 {
        0 => usize::from(t & 0b111),
        n => take(input, usize::from(n), "length field")?.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
    };
    let value = take(input, len, "value shorter than its length")?;
    Ok(Tlv { kind: t >> 6, id, value })
}

/// Decodes a TLV payload sent for a request on `base`.
///
/// Top-level entries are placed under `base` by their kind (an Object Instance entry needs
/// `base` to name the object, a Resource Instance entry needs it to name the resource); an entry
/// that repeats a level `base` already names must carry the same id.
pub fn decode(bytes: &[u8], base: &Path, hints: &dyn TypeHints, limits: &Limits) -> Result<Content, CodecError> {
    let mut out = Vec::new();
    let mut input = bytes;
    while !input.is_empty() {
        let tlv = read_tlv(&mut input)?;
        let level = tlv.level();
        let parent = base
            .truncate(level - 1)
            .ok_or_else(|| CodecError::malformed(format!("TLV entry below {base} needs a deeper request path")))?;
        if let Some(expected) = base.id_at(level) {
            if expected != tlv.id {
                return Err(CodecError::malformed(format!("TLV id {} does not match request path {base}", tlv.id)));
            }
        }
        decode_entry(&tlv, &parent, hints, limits, &mut out)?;
    }
    Ok(Content::new(out))
}

fn decode_entry(
    tlv: &Tlv<'_>,
    parent: &Path,
    hints: &dyn TypeHints,
    limits: &Limits,
    out: &mut Vec<Record>,
) -> Result<(), CodecError> {
    let path = parent.child(tlv.id).ok_or_else(|| CodecError::malformed("TLV nested below a resource instance"))?;
    if tlv.level() != path.depth() {
        return Err(CodecError::malformed(format!("TLV entry of kind {:02b} cannot sit at {path}", tlv.kind)));
    }
    match tlv.kind {
        OBJECT_INSTANCE | MULTIPLE_RESOURCE => {
            let mut input = tlv.value;
            while !input.is_empty() {
                let child = read_tlv(&mut input)?;
                decode_entry(&child, &path, hints, limits, out)?;
            }
        }
        _ => {
            limits.check(out.len() + 1)?;
            let value = decode_value(tlv.value, hint_for(hints, &path), &path)?;
            out.push(Record::new(path, value));
        }
    }
    Ok(())
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Reads a value of type `ty`; see the module doc for widths.
fn decode_value(bytes: &[u8], ty: Option<ResourceType>, path: &Path) -> Result<Value, CodecError> {
    let bad = |what: &str| CodecError::invalid(*path, format!("{what} ({} bytes)", bytes.len()));
    let utf8 = || String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::invalid(*path, "not UTF-8"));
    let signed = || match *bytes {
        [a] => Ok(i64::from(a as i8)),
        [a, b] => Ok(i64::from(i16::from_be_bytes([a, b]))),
        [a, b, c, d] => Ok(i64::from(i32::from_be_bytes([a, b, c, d]))),
        [_, _, _, _, _, _, _, _] => Ok(be_u64(bytes) as i64),
        _ => Err(bad("integer must be 1, 2, 4 or 8 bytes")),
    };
    Ok(match ty {
        None | Some(ResourceType::Opaque) | Some(ResourceType::None) => Value::Opaque(bytes.to_vec()),
        Some(ResourceType::String) => Value::String(utf8()?),
        Some(ResourceType::Corelnk) => Value::CoreLink(utf8()?),
        Some(ResourceType::Integer) => Value::Integer(signed()?),
        Some(ResourceType::Time) => Value::Time(signed()?),
        Some(ResourceType::UnsignedInteger) => match bytes.len() {
            1 | 2 | 4 | 8 => Value::UnsignedInteger(be_u64(bytes)),
            _ => return Err(bad("unsigned integer must be 1, 2, 4 or 8 bytes")),
        },
        Some(ResourceType::Float) => match *bytes {
            [a, b, c, d] => Value::Float(f64::from(f32::from_be_bytes([a, b, c, d]))),
            [a, b, c, d, e, f, g, h] => Value::Float(f64::from_be_bytes([a, b, c, d, e, f, g, h])),
            _ => return Err(bad("float must be 4 or 8 bytes")),
        },
        Some(ResourceType::Boolean) => match bytes {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            _ => return Err(bad("boolean must be one byte 0 or 1")),
        },
        Some(ResourceType::Objlnk) => match *bytes {
            [a, b, c, d] => Value::ObjectLink(u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])),
            _ => return Err(bad("object link must be 4 bytes")),
        },
    })
}

/// Writes a value in its smallest TLV form (integers in 1, 2, 4 or 8 bytes, floats in 4 bytes
/// when that is exact).
fn encode_value(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) | Value::CoreLink(s) => s.as_bytes().to_vec(),
        Value::Opaque(b) => b.clone(),
        Value::Integer(i) | Value::Time(i) => {
            let i = *i;
            if let Ok(v) = i8::try_from(i) {
                v.to_be_bytes().to_vec()
            } else if let Ok(v) = i16::try_from(i) {
                v.to_be_bytes().to_vec()
            } else if let Ok(v) = i32::try_from(i) {
                v.to_be_bytes().to_vec()
            } else {
                i.to_be_bytes().to_vec()
            }
        }
        Value::UnsignedInteger(u) => {
            let u = *u;
            if let Ok(v) = u8::try_from(u) {
                vec![v]
            } else if let Ok(v) = u16::try_from(u) {
                v.to_be_bytes().to_vec()
            } else if let Ok(v) = u32::try_from(u) {
                v.to_be_bytes().to_vec()
            } else {
                u.to_be_bytes().to_vec()
            }
        }
        Value::Float(f) => {
            let narrow = *f as f32;
            if f64::from(narrow) == *f {
                narrow.to_be_bytes().to_vec()
            } else {
                f.to_be_bytes().to_vec()
            }
        }
        Value::Boolean(b) => vec![u8::from(*b)],
        Value::ObjectLink(o, i) => {
            let mut v = o.to_be_bytes().to_vec();
            v.extend_from_slice(&i.to_be_bytes());
            v
        }
    }
}

fn write_tlv(out: &mut Vec<u8>, kind: u8, id: u16, value: &[u8]) -> Result<(), CodecError> {
    let len = value.len();
    if len > MAX_LEN {
        return Err(CodecError::Unencodable(format!("TLV value of {len} bytes exceeds the 24-bit length field")));
    }
    let mut t = kind << 6;
    if id > 0xFF {
        t |= 0x20;
    }
    let len_bytes: &[u8] = &(len as u32).to_be_bytes();
    let len_field = match len {
        0..=7 => {
            t |= len as u8;
            &[][..]
        }
        8..=0xFF => {
            t |= 0b01 << 3;
            &len_bytes[3..]
        }
        0x100..=0xFFFF => {
            t |= 0b10 << 3;
            &len_bytes[2..]
        }
        _ => {
            t |= 0b11 << 3;
            &len_bytes[1..]
        }
    };
    out.push(t);
    if id > 0xFF {
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        out.push(id as u8);
    }
    out.extend_from_slice(len_field);
    out.extend_from_slice(value);
    Ok(())
}

/// Encodes `content` as the payload for `base`: object instances for `/o`, resources for
/// `/o/i`, the resource itself for `/o/i/r` (a Multiple Resource entry when it has instances),
/// a Resource Instance entry for `/o/i/r/ri`. The root cannot be expressed in TLV.
pub fn encode(content: &Content, base: &Path) -> Result<Vec<u8>, CodecError> {
    if *base == Path::Root {
        return Err(CodecError::Unencodable("TLV cannot carry object ids: use a path of at least /o".into()));
    }
    for r in &content.records {
        if !base.is_prefix_of(&r.path) || !r.path.is_resource_level() {
            return Err(CodecError::OutsideBase { path: r.path, base: *base });
        }
    }
    let level = if base.depth() <= 2 { base.depth() + 1 } else { base.depth() };
    let records: Vec<&Record> = content.records.iter().collect();
    let mut out = Vec::new();
    encode_level(&records, level, &mut out)?;
    Ok(out)
}

/// Groups records by their id at `level`, keeping the order of first appearance.
fn group<'a>(records: &[&'a Record], level: usize) -> Vec<(u16, Vec<&'a Record>)> {
    let mut groups: Vec<(u16, Vec<&'a Record>)> = Vec::new();
    let mut index: HashMap<u16, usize> = HashMap::new();
    for r in records {
        let id = r.path.id_at(level).unwrap_or_default();
        let slot = *index.entry(id).or_insert_with(|| {
            groups.push((id, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(r);
    }
    groups
}

fn encode_level(records: &[&Record], level: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    for (id, members) in group(records, level) {
        match level {
            2 => {
                let mut inner = Vec::new();
                encode_level(&members, 3, &mut inner)?;
                write_tlv(out, OBJECT_INSTANCE, id, &inner)?;
            }
            3 => match members.as_slice() {
                [single] if single.path.depth() == 3 => write_tlv(out, RESOURCE, id, &encode_value(&single.value))?,
                _ if members.iter().all(|r| r.path.depth() == 4) => {
                    let mut inner = Vec::new();
                    encode_level(&members, 4, &mut inner)?;
                    write_tlv(out, MULTIPLE_RESOURCE, id, &inner)?;
                }
                _ => {
                    return Err(CodecError::Unencodable(format!(
                        "resource {id} is given both as single value and as instances"
                    )))
                }
            },
            _ => {
                for r in members {
                    write_tlv(out, RESOURCE_INSTANCE, id, &encode_value(&r.value))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

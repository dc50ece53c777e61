//! Proptest strategies shared by the codec tests.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::{Content, Record, ResourceType, Value};
use crate::path::Path;

/// Every hint a decoder can be given.
pub const ALL_TYPES: [ResourceType; 10] = [
    ResourceType::String,
    ResourceType::Integer,
    ResourceType::UnsignedInteger,
    ResourceType::Float,
    ResourceType::Boolean,
    ResourceType::Opaque,
    ResourceType::Time,
    ResourceType::Objlnk,
    ResourceType::Corelnk,
    ResourceType::None,
];

/// Any value with a finite float (NaN never equals itself).
pub fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "\\PC{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(Value::Integer),
        any::<u64>().prop_map(Value::UnsignedInteger),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        any::<f32>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| Value::Float(f64::from(f))),
        any::<bool>().prop_map(Value::Boolean),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Opaque),
        any::<i64>().prop_map(Value::Time),
        (any::<u16>(), any::<u16>()).prop_map(|(o, i)| Value::ObjectLink(o, i)),
        "</[0-9]{1,3}/[0-9]>(,</[0-9]{1,3}>)?".prop_map(Value::CoreLink),
    ]
}

/// A resource is single-valued or a non-empty set of instances.
fn any_resource() -> impl Strategy<Value = Result<Value, BTreeMap<u16, Value>>> {
    prop_oneof![
        3 => any_value().prop_map(Ok),
        1 => proptest::collection::btree_map(any::<u16>(), any_value(), 1..4).prop_map(Err),
    ]
}

type Instances = BTreeMap<u16, BTreeMap<u16, Result<Value, BTreeMap<u16, Value>>>>;

fn any_instances() -> impl Strategy<Value = Instances> {
    proptest::collection::btree_map(
        any::<u16>(),
        proptest::collection::btree_map(any::<u16>(), any_resource(), 1..5),
        1..4,
    )
}

fn flatten(object: u16, instances: Instances, out: &mut Vec<Record>) {
    for (i, resources) in instances {
        for (r, res) in resources {
            match res {
                Ok(v) => out.push(Record::new(Path::Resource(object, i, r), v)),
                Err(multi) => {
                    for (ri, v) in multi {
                        out.push(Record::new(Path::ResourceInstance(object, i, r, ri), v));
                    }
                }
            }
        }
    }
}

/// Well-formed content for one object, in path order.
pub fn any_object_content(object: u16) -> impl Strategy<Value = Content> {
    any_instances().prop_map(move |instances| {
        let mut records = Vec::new();
        flatten(object, instances, &mut records);
        Content::new(records)
    })
}

/// Well-formed content over several objects, in path order.
pub fn any_content() -> impl Strategy<Value = Content> {
    proptest::collection::btree_map(any::<u16>(), any_instances(), 1..3).prop_map(|objects| {
        let mut records = Vec::new();
        for (o, instances) in objects {
            flatten(o, instances, &mut records);
        }
        Content::new(records)
    })
}

/// Hints that give every record the type of the value it holds, as an object model would.
pub fn hints_of(content: &Content) -> impl Fn(&Path) -> Option<ResourceType> {
    let map: HashMap<Path, ResourceType> = content.records.iter().map(|r| (r.path, r.value.resource_type())).collect();
    move |p: &Path| map.get(p).copied()
}

/// Any list of paths at any level, the root included, as a composite request lists them.
pub fn any_paths() -> impl Strategy<Value = Vec<Path>> {
    let path = proptest::collection::vec(0u16..12, 0..=4).prop_map(|ids| Path::from_ids(&ids).unwrap_or(Path::Root));
    proptest::collection::vec(path, 0..8)
}

//! TLV and SenML encode/decode throughput on a Device-object-sized payload and on a large
//! multi-instance one. Run by hand: `cargo bench -p unidm-lwm2m`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use unidm_lwm2m::codec::{senml_cbor, senml_json, tlv, Content, Limits, Record, ResourceType, Value};
use unidm_lwm2m::Path;

fn device_object() -> Content {
    let s = |x: &str| Value::String(x.into());
    let mut records = vec![
        Record::new(Path::Resource(3, 0, 0), s("Open Mobile Alliance")),
        Record::new(Path::Resource(3, 0, 1), s("Lightweight M2M Client")),
        Record::new(Path::Resource(3, 0, 2), s("345000123")),
        Record::new(Path::Resource(3, 0, 3), s("1.0")),
        Record::new(Path::Resource(3, 0, 9), Value::Integer(100)),
        Record::new(Path::Resource(3, 0, 13), Value::Time(1_367_491_215)),
    ];
    for i in 0..8 {
        records.push(Record::new(Path::ResourceInstance(3, 0, 7, i), Value::Integer(3800 + i64::from(i))));
    }
    Content::new(records)
}

/// 200 sensor instances of object 3303 with a float value and a unit string each.
fn many_instances() -> Content {
    let mut records = Vec::new();
    for i in 0..200u16 {
        records.push(Record::new(Path::Resource(3303, i, 5700), Value::Float(20.5 + f64::from(i) / 8.0)));
        records.push(Record::new(Path::Resource(3303, i, 5701), Value::String("Cel".into())));
    }
    Content::new(records)
}

fn hints(p: &Path) -> Option<ResourceType> {
    Some(match (p.object_id()?, p.resource_id()?) {
        (3, 0..=3) | (3303, 5701) => ResourceType::String,
        (3, 13) => ResourceType::Time,
        (3, _) => ResourceType::Integer,
        (3303, 5700) => ResourceType::Float,
        _ => return None,
    })
}

fn bench_codecs(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, content, base) in
        [("device", device_object(), Path::ObjectInstance(3, 0)), ("3303x200", many_instances(), Path::Object(3303))]
    {
        let tlv_bytes = tlv::encode(&content, &base).expect("bench content encodes");
        let json_bytes = senml_json::encode(&content).expect("bench content encodes");
        let cbor_bytes = senml_cbor::encode(&content).expect("bench content encodes");

        c.bench_function(&format!("tlv/encode/{name}"), |b| b.iter(|| tlv::encode(black_box(&content), &base)));
        c.bench_function(&format!("tlv/decode/{name}"), |b| {
            b.iter(|| tlv::decode(black_box(&tlv_bytes), &base, &hints, &limits))
        });
        c.bench_function(&format!("senml_json/encode/{name}"), |b| b.iter(|| senml_json::encode(black_box(&content))));
        c.bench_function(&format!("senml_json/decode/{name}"), |b| {
            b.iter(|| senml_json::decode(black_box(&json_bytes), &hints, &limits))
        });
        c.bench_function(&format!("senml_cbor/encode/{name}"), |b| b.iter(|| senml_cbor::encode(black_box(&content))));
        c.bench_function(&format!("senml_cbor/decode/{name}"), |b| {
            b.iter(|| senml_cbor::decode(black_box(&cbor_bytes), &hints, &limits))
        });
    }
}

criterion_group!(benches, bench_codecs);
criterion_main!(benches);

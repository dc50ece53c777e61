//! Codec throughput: parse and encode a TR-098 boot Inform and a 100-entry
//! GetParameterValuesResponse. Run by hand with `cargo bench -p unidm-tr069`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use unidm_tr069::rpc::common::ParameterValueStruct;
use unidm_tr069::rpc::get_parameter_values::GetParameterValuesResponse;
use unidm_tr069::soap::Value;
use unidm_tr069::{encode_envelope, parse_envelope, CwmpNamespace, Envelope};

fn inform_bytes() -> Vec<u8> {
    let path = format!("{}/tests/data/inform_tr098_boot.xml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap_or_default()
}

fn gpv_response() -> Envelope {
    let parameter_list = (0..100)
        .map(|i| {
            ParameterValueStruct::new(format!("Device.Hosts.Host.{i}.HostName"), Value::string(format!("host-{i}")))
        })
        .collect();
    Envelope::new(CwmpNamespace::V1_2, GetParameterValuesResponse { parameter_list }).with_id("1")
}

fn bench(c: &mut Criterion) {
    let inform = inform_bytes();
    c.bench_function("parse inform", |b| b.iter(|| parse_envelope(black_box(&inform))));
    let gpv = gpv_response();
    let gpv_bytes = encode_envelope(&gpv);
    c.bench_function("encode gpv response 100", |b| b.iter(|| encode_envelope(black_box(&gpv))));
    c.bench_function("parse gpv response 100", |b| b.iter(|| parse_envelope(black_box(&gpv_bytes))));
}

criterion_group!(benches, bench);
criterion_main!(benches);

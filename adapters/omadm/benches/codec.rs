//! Codec throughput: a client Package 1 (Alert 1201, DevInfo Replace, Cred) decoded and encoded
//! in XML and WBXML. Run by hand with `cargo bench -p unidm-omadm`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use unidm_omadm::codec::{wbxml, xml, Limits};

fn bench(c: &mut Criterion) {
    let path = format!("{}/tests/data/pkg1_client.xml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(path).unwrap_or_default();
    let Ok(msg) = xml::decode(&text, &Limits::default()) else { return };
    let (Ok(xml_bytes), Ok(wbxml_bytes)) = (xml::encode(&msg), wbxml::encode(&msg)) else { return };
    let limits = Limits::default();
    c.bench_function("decode package 1 xml", |b| b.iter(|| xml::decode(black_box(&xml_bytes), &limits)));
    c.bench_function("decode package 1 wbxml", |b| b.iter(|| wbxml::decode(black_box(&wbxml_bytes), &limits)));
    c.bench_function("encode package 1 xml", |b| b.iter(|| xml::encode(black_box(&msg))));
    c.bench_function("encode package 1 wbxml", |b| b.iter(|| wbxml::encode(black_box(&msg))));
}

criterion_group!(benches, bench);
criterion_main!(benches);

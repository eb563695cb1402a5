//! The native cost of turning one AxeOS reply into a record (no WASM, no I/O), for comparison
//! with the full path measured by `solomon bench drivers`.

use criterion::{Criterion, criterion_group, criterion_main};

const SAMPLE: &str =
    include_str!("../../../tests/fixtures/axeos/bitaxe-gamma-601-bm1370_v2.12.0_system_info.json");

fn bench(c: &mut Criterion) {
    c.bench_function(
        "axeos: parse JSON (borrowed Json, as the driver does) + build record + serialize (native)",
        |b| {
            b.iter(|| {
                let v =
                    solomon_plugin_sdk::json::Json::parse(std::hint::black_box(SAMPLE).as_bytes())
                        .expect("fixture");
                let r = solomon_driver_axeos::parse::system_info(&v, "10.0.0.2").expect("decodes");
                r.to_json()
            })
        },
    );
    c.bench_function("axeos: the same through serde_json::Value (native)", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_str(std::hint::black_box(SAMPLE)).expect("fixture");
            let r = solomon_driver_axeos::parse::system_info(&v, "10.0.0.2").expect("decodes");
            r.to_json()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The native cost of turning one stock Antminer poll (version, summary, pools, stats) into a
//! record (no WASM, no I/O), for comparison with `solomon bench drivers`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;

const REPLIES: [(&str, &str); 4] = [
    (
        "version",
        include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_version.json"),
    ),
    (
        "summary",
        include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_summary.json"),
    ),
    (
        "pools",
        include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_pools.json"),
    ),
    (
        "stats",
        include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_stats.json"),
    ),
];

fn bench(c: &mut Criterion) {
    c.bench_function(
        "antminer: parse 4 replies + build record + serialize (native)",
        |b| {
            b.iter(|| {
                let replies: BTreeMap<String, serde_json::Value> = REPLIES
                    .iter()
                    .map(|(k, text)| {
                        (
                            k.to_string(),
                            solomon_plugin_sdk::cgminer::parse(
                                std::hint::black_box(text).as_bytes(),
                            )
                            .expect("fixture"),
                        )
                    })
                    .collect();
                let r =
                    solomon_driver_cgminer::parse::record(&replies, "10.0.0.7").expect("decodes");
                r.to_json()
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

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
        "antminer: parse 4 replies (borrowed Json, as the driver does) + build record + serialize (native)",
        |b| {
            b.iter(|| {
                let mut fixes = [const { String::new() }; 4];
                let docs: Vec<(&str, solomon_plugin_sdk::json::Json<'_>)> = REPLIES
                    .iter()
                    .zip(fixes.iter_mut())
                    .map(|((k, text), fix)| {
                        let raw = std::hint::black_box(text).as_bytes();
                        (*k, solomon_plugin_sdk::cgminer::parse_json(raw, fix).expect("fixture"))
                    })
                    .collect();
                let replies: BTreeMap<&str, &solomon_plugin_sdk::json::Json<'_>> =
                    docs.iter().map(|(k, d)| (*k, d)).collect();
                let r =
                    solomon_driver_cgminer::parse::record(&replies, "10.0.0.7").expect("decodes");
                r.to_json()
            })
        },
    );
    c.bench_function(
        "antminer: the same through serde_json::Value (native)",
        |b| {
            b.iter(|| {
                let values: Vec<(&str, serde_json::Value)> = REPLIES
                    .iter()
                    .map(|(k, text)| {
                        let raw = std::hint::black_box(text).as_bytes();
                        (
                            *k,
                            solomon_plugin_sdk::cgminer::parse(raw).expect("fixture"),
                        )
                    })
                    .collect();
                let replies: BTreeMap<&str, &serde_json::Value> =
                    values.iter().map(|(k, v)| (*k, v)).collect();
                let r =
                    solomon_driver_cgminer::parse::record(&replies, "10.0.0.7").expect("decodes");
                r.to_json()
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

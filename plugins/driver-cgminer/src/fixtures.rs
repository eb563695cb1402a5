//! The stock S19 Pro replies of `tests/fixtures/antminer`, for the unit tests.

use serde_json::Value;

/// The reply to `command`, repaired and parsed as the driver reads it (`{}` for an unknown one).
pub fn antminer(command: &str) -> Value {
    let text = match command {
        "version" => {
            include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_version.json")
        }
        "summary" => {
            include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_summary.json")
        }
        "pools" => {
            include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_pools.json")
        }
        "stats" => {
            include_str!("../../../tests/fixtures/antminer/s19pro_stock-49.0.1.3_stats.json")
        }
        _ => "{}",
    };
    solomon_plugin_sdk::cgminer::parse(text.as_bytes()).expect("fixture parses")
}

//! `GET /api/system/info` of a simulated Bitaxe Gamma (AxeOS v2.12), from the captured sample.

use super::miner::{Reading, SimMiner};
use serde_json::{Value, json};
use std::sync::OnceLock;

const SAMPLE: &str =
    include_str!("../../../tests/fixtures/axeos/bitaxe-gamma-601-bm1370_v2.12.0_system_info.json");

fn template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(SAMPLE).unwrap_or_else(|_| json!({})))
}

/// The info JSON for one poll.
pub fn system_info(m: &SimMiner, r: &Reading) -> String {
    let mut v = template().clone();
    if let Some(o) = v.as_object_mut() {
        let gh = r.hashrate_hs / 1e9;
        o.insert("hashRate".into(), json!(gh));
        o.insert("hashRate_1m".into(), json!(gh * 0.995));
        o.insert("hashRate_10m".into(), json!(gh * 0.998));
        o.insert("hashRate_1h".into(), json!(gh * 1.001));
        o.insert("temp".into(), json!(r.temp_c));
        o.insert("vrTemp".into(), json!(r.vr_temp_c.round()));
        o.insert("power".into(), json!(r.power_w));
        o.insert("sharesAccepted".into(), json!(r.accepted));
        o.insert("sharesRejected".into(), json!(r.rejected));
        o.insert("fanrpm".into(), json!((4415.0 * r.fan).round()));
        o.insert("bestDiff".into(), json!(r.best_diff));
        o.insert("bestSessionDiff".into(), json!(r.best_diff / 10.0));
        o.insert("blockFound".into(), json!(r.blocks));
        o.insert("uptimeSeconds".into(), json!(r.uptime_s));
        o.insert("overheat_mode".into(), json!(u8::from(r.overheat)));
        o.insert("macAddr".into(), json!(m.mac()));
        o.insert("hostname".into(), json!(format!("bitaxe-sim-{}", m.index)));
        o.insert("ipv4".into(), json!(m.ip.to_string()));
        let (host, port) = r
            .pool_url
            .trim_start_matches("stratum+tcp://")
            .split_once(':')
            .unwrap_or((r.pool_url, "3333"));
        o.insert("stratumURL".into(), json!(host));
        o.insert(
            "stratumPort".into(),
            json!(port.parse::<u16>().unwrap_or(3333)),
        );
    }
    v.to_string()
}

/// The page at `/`, which auto-detection recognises.
pub const INDEX_HTML: &str = "<!doctype html><html><head><title>AxeOS</title></head><body><app-root></app-root></body></html>";

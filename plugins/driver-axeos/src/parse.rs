//! `GET /api/system/info` to the miner record, across AxeOS v2.0 .. v2.15 and the NerdQAxe fork.

use crate::models;
use solomon_plugin_sdk::driver::PollError;
use solomon_plugin_sdk::json::JsonValue;
use solomon_plugin_sdk::lenient::{
    bool_field, count_field, field, field_any, number, string_field,
};
use solomon_plugin_sdk::{Board, Fan, MinerError, MinerRecord, MinerState, Pool};
use std::fmt::Write as _;

const GH: f64 = 1e9;

/// Decodes one `/api/system/info` reply. `ts_ms` is left for the caller.
pub fn system_info<V: JsonValue>(v: &V, host: &str) -> Result<MinerRecord, PollError> {
    if !v.is_object_value() {
        return Err(PollError::Malformed(
            "system info is not a JSON object".into(),
        ));
    }
    // Every AxeOS since v2.0 sends hashRate; without it this is not an AxeOS reply.
    let hashrate = field(v, "hashRate")
        .ok_or_else(|| PollError::Malformed("system info has no hashRate".into()))?;

    let device_model = string_field(v, "deviceModel");
    let is_nerd = device_model.as_deref().is_some_and(|m| m.contains("Nerd"))
        || v.member("stratum").is_some_and(V::is_object_value);
    let chip = string_field(v, "ASICModel");
    let board = string_field(v, "boardVersion").and_then(|b| models::from_board_version(&b));
    let model = device_model
        .clone()
        .or_else(|| board.map(|b| b.name.to_string()))
        .or_else(|| {
            chip.as_deref()
                .and_then(models::from_chip)
                .map(str::to_string)
        });
    let chips = count_field(v, "asicCount")
        .map(|c| c as u32)
        .or(board.map(|b| b.chips));

    let mac = string_field(v, "macAddr");
    let mut r = MinerRecord {
        id: mac.clone().unwrap_or_else(|| host.to_string()),
        host: host.to_string(),
        mac,
        hostname: string_field(v, "hostname"),
        make: if is_nerd { "NerdQAxe" } else { "Bitaxe" }.to_string(),
        model,
        chip: chip.clone(),
        firmware: Some("AxeOS".to_string()),
        firmware_version: string_field(v, "version").or_else(|| string_field(v, "axeOSVersion")),
        uptime_s: count_field(v, "uptimeSeconds"),
        hashrate_hs: Some(hashrate * GH),
        ..Default::default()
    };

    for (key, window) in [
        ("hashRate_1m", "1m"),
        ("hashRate_10m", "10m"),
        ("hashRate_1h", "1h"),
        ("hashRate_1d", "1d"),
    ] {
        if let Some(h) = field(v, key) {
            r.hashrate_avg_hs.insert(window.to_string(), h * GH);
        }
    }
    r.expected_hashrate_hs = field(v, "expectedHashrate").map(|e| e * GH).or_else(|| {
        // Before v2.8: small cores x chips x MHz = MH/s (pyasic's formula).
        let cores = field(v, "smallCoreCount")?;
        let freq = field(v, "frequency")?;
        Some(cores * f64::from(chips.unwrap_or(1)) * freq * 1e6)
    });

    temperatures(v, is_nerd, &mut r);
    power(v, &mut r);
    fans(v, &mut r);

    r.shares_accepted = count_field(v, "sharesAccepted");
    r.shares_rejected = count_field(v, "sharesRejected");
    r.hw_error_pct = field(v, "errorPercentage");
    r.best_diff = field(v, "bestDiff");
    r.best_session_diff = field(v, "bestSessionDiff");
    r.block_height = count_field(v, "blockHeight");
    r.network_difficulty = field(v, "networkDifficulty");
    r.pool_difficulty = field_any(v, &["poolDifficulty", "stratumDiff"]);
    r.blocks_found = count_field(v, "blockFound")
        .or_else(|| count_field(v, "totalFoundBlocks"))
        .or_else(|| count_field(v, "foundBlocks"));
    if let Some(stratum) = v.member("stratum") {
        nerd_stratum(stratum, &mut r);
    }
    r.pools = pools(v);

    r.boards = vec![Board {
        index: 0,
        hashrate_hs: r.hashrate_hs,
        temp_c: r.vr_temp_c,
        chip_temp_c: r.temp_c,
        chips,
        expected_chips: chips,
        active: Some(hashrate > 0.0),
    }];

    r.errors = faults(v);
    r.state = state(v, hashrate, &r.errors);
    r.derive_efficiency();
    r.sanitize();
    Ok(r)
}

fn temperatures<V: JsonValue>(v: &V, is_nerd: bool, r: &mut MinerRecord) {
    // `temp` is the average chip temperature on Bitaxe and the hottest chip on NerdQAxe.
    let temp = field(v, "temp").filter(|t| *t > -50.0);
    // `temp2` is -1 when there is no second sensor.
    let temp2 = field(v, "temp2").filter(|t| *t >= 0.0);
    let per_chip_max = v.member("asicTemps").and_then(V::elements).and_then(|a| {
        a.iter()
            .filter_map(number)
            .filter(|t| *t > 0.0)
            .reduce(f64::max)
    });
    r.temp_c = temp;
    r.temp_max_c = [temp, temp2, per_chip_max]
        .into_iter()
        .flatten()
        .reduce(f64::max);
    if is_nerd {
        r.temp_max_c = r.temp_max_c.or(temp);
    }
    // `vrTemp` is 0 on boards without the sensor.
    r.vr_temp_c = field_any(v, &["vrTemp", "vrTempInt"]).filter(|t| *t > 0.0);
}

fn power<V: JsonValue>(v: &V, r: &mut MinerRecord) {
    r.power_w = field(v, "power").filter(|p| *p >= 0.0);
    // `voltage` and `current` are mV and mA; NerdQAxe adds `currentA` in A.
    r.input_voltage_v = field(v, "voltage").map(|mv| mv / 1000.0);
    r.input_current_a = field(v, "currentA").or_else(|| field(v, "current").map(|ma| ma / 1000.0));
    r.core_voltage_mv = field_any(v, &["coreVoltageActual", "coreVoltage"]);
    r.frequency_mhz = field_any(v, &["actualFrequency", "frequency"]);
}

fn fans<V: JsonValue>(v: &V, r: &mut MinerRecord) {
    if let Some(list) = v.member("fans").and_then(V::elements) {
        for (i, f) in list.iter().enumerate() {
            r.fans.push(Fan {
                index: i as u32,
                rpm: field(f, "rpm"),
                pct: field(f, "speedPerc"),
            });
        }
        return;
    }
    if let Some(rpm) = field(v, "fanrpm") {
        r.fans.push(Fan {
            index: 0,
            rpm: Some(rpm),
            pct: field(v, "fanspeed"),
        });
    }
    if let Some(rpm) = field_any(v, &["fan2rpm", "fanrpm2"]).filter(|rpm| *rpm > 0.0) {
        r.fans.push(Fan {
            index: 1,
            rpm: Some(rpm),
            pct: field(v, "fanspeed2"),
        });
    }
}

/// NerdQAxe nests pool state under `stratum.pools[]`.
fn nerd_stratum<V: JsonValue>(stratum: &V, r: &mut MinerRecord) {
    let Some(first) = stratum
        .member("pools")
        .and_then(V::elements)
        .and_then(|p| p.first())
    else {
        return;
    };
    r.pool_difficulty = r.pool_difficulty.or_else(|| field(first, "poolDifficulty"));
    r.network_difficulty = r
        .network_difficulty
        .or_else(|| field(first, "networkDifficulty"));
    if let Some(total) = field(stratum, "totalBestDiff") {
        r.best_diff = Some(r.best_diff.map_or(total, |b| b.max(total)));
    }
}

fn pool_url(host: Option<String>, port: Option<f64>, tls: bool) -> Option<String> {
    let host = host?;
    if host.contains("://") {
        return Some(host);
    }
    let scheme = if tls {
        "stratum+ssl://"
    } else {
        "stratum+tcp://"
    };
    let mut url = String::with_capacity(scheme.len() + host.len() + 6);
    url.push_str(scheme);
    url.push_str(&host);
    if let Some(p) = port {
        // A port is a whole number: written as one, it skips float formatting, which in WASM
        // cost ~1 µs per AxeOS poll (three pools).
        let _ = match p.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&p) {
            true => write!(url, ":{}", p as u16),
            false => write!(url, ":{p}"),
        };
    }
    Some(url)
}

fn pools<V: JsonValue>(v: &V) -> Vec<Pool> {
    // v2.15: pools[] with slots; the legacy flat fields are still sent, so prefer the list.
    if let Some(list) = v
        .member("pools")
        .and_then(V::elements)
        .filter(|l| !l.is_empty())
    {
        return list
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let url = pool_url(
                    string_field(p, "url").or_else(|| string_field(p, "stratumURL")),
                    field_any(p, &["port", "stratumPort"]),
                    false,
                )?;
                Some(Pool {
                    index: i as u32,
                    url,
                    user: string_field(p, "user").or_else(|| string_field(p, "stratumUser")),
                    active: bool_field(p, "active").or_else(|| bool_field(p, "connected")),
                    accepted: count_field(p, "accepted"),
                    rejected: count_field(p, "rejected"),
                    difficulty: field(p, "poolDifficulty"),
                    ..Default::default()
                })
            })
            .collect();
    }
    let on_fallback = bool_field(v, "isUsingFallbackStratum").unwrap_or(false);
    let tls = field(v, "stratumTLS").is_some_and(|t| t > 0.0);
    let mut out = Vec::new();
    if let Some(url) = pool_url(string_field(v, "stratumURL"), field(v, "stratumPort"), tls) {
        out.push(Pool {
            index: 0,
            url,
            user: string_field(v, "stratumUser"),
            active: Some(!on_fallback),
            accepted: if on_fallback {
                None
            } else {
                count_field(v, "sharesAccepted")
            },
            rejected: if on_fallback {
                None
            } else {
                count_field(v, "sharesRejected")
            },
            difficulty: if on_fallback {
                None
            } else {
                field_any(v, &["poolDifficulty", "stratumDiff"])
            },
            ..Default::default()
        });
    }
    if let Some(url) = pool_url(
        string_field(v, "fallbackStratumURL"),
        field(v, "fallbackStratumPort"),
        false,
    ) {
        out.push(Pool {
            index: 1,
            url,
            user: string_field(v, "fallbackStratumUser"),
            active: Some(on_fallback),
            ..Default::default()
        });
    }
    out
}

fn faults<V: JsonValue>(v: &V) -> Vec<MinerError> {
    let mut out = Vec::new();
    // Present only while the fault is active.
    for key in ["power_fault", "hardware_fault"] {
        if let Some(msg) = string_field(v, key) {
            out.push(MinerError {
                code: key.to_string(),
                message: msg,
                severity: "critical".into(),
            });
        }
    }
    if bool_field(v, "overheat_mode") == Some(true) {
        out.push(MinerError {
            code: "overheat_mode".into(),
            message: "overheat protection engaged".into(),
            severity: "critical".into(),
        });
    }
    if bool_field(v, "shutdown") == Some(true) {
        out.push(MinerError {
            code: "shutdown".into(),
            message: "miner shut down".into(),
            severity: "critical".into(),
        });
    }
    out
}

/// Hashrate alone does not mean mining: after a fault ESP-Miner can keep a stale hashrate.
fn state<V: JsonValue>(v: &V, hashrate: f64, errors: &[MinerError]) -> MinerState {
    if !errors.is_empty() {
        MinerState::Faulted
    } else if bool_field(v, "miningPaused") == Some(true) || hashrate <= 0.0 {
        MinerState::Idle
    } else {
        MinerState::Hashing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use solomon_plugin_sdk::json::Json;

    #[test]
    fn a_pool_url_gets_its_scheme_and_a_whole_port() {
        let url = |host: &str, port, tls| pool_url(Some(host.into()), port, tls);
        assert_eq!(
            url("pool.x", Some(3333.0), false).as_deref(),
            Some("stratum+tcp://pool.x:3333")
        );
        assert_eq!(
            url("pool.x", Some(443.0), true).as_deref(),
            Some("stratum+ssl://pool.x:443")
        );
        assert_eq!(
            url("pool.x", None, false).as_deref(),
            Some("stratum+tcp://pool.x")
        );
        // Nonsense ports are shown as sent, not cut to a number they are not.
        assert_eq!(
            url("pool.x", Some(3333.5), false).as_deref(),
            Some("stratum+tcp://pool.x:3333.5")
        );
        assert_eq!(
            url("pool.x", Some(-1.0), false).as_deref(),
            Some("stratum+tcp://pool.x:-1")
        );
        assert_eq!(
            url("stratum2+tcp://p.y:34255", Some(1.0), false).as_deref(),
            Some("stratum2+tcp://p.y:34255")
        );
        assert_eq!(pool_url(None, Some(3333.0), false), None);
    }

    /// Decodes `v` twice, as a `serde_json::Value` and as the borrowed [`Json`] the driver
    /// polls with, and checks that both give the same result.
    fn decode(v: &Value, host: &str) -> Result<MinerRecord, PollError> {
        let text = serde_json::to_vec(v).expect("serializable");
        let borrowed = Json::parse(&text).expect("valid JSON");
        let (a, b) = (system_info(v, host), system_info(&borrowed, host));
        assert_eq!(a, b, "Value and Json decode {v} alike");
        a
    }

    const GAMMA_V2_12: &str = include_str!(
        "../../../tests/fixtures/axeos/bitaxe-gamma-601-bm1370_v2.12.0_system_info.json"
    );

    fn gamma() -> MinerRecord {
        let v: Value = serde_json::from_str(GAMMA_V2_12).expect("fixture is JSON");
        decode(&v, "192.168.12.100").expect("decodes")
    }

    #[test]
    fn gamma_fixture_fields_and_units() {
        let r = gamma();
        assert_eq!(r.id, "D8:3B:DA:6E:C0:D0");
        assert_eq!(
            (r.make.as_str(), r.model.as_deref(), r.chip.as_deref()),
            ("Bitaxe", Some("Gamma"), Some("BM1370"))
        );
        assert_eq!(r.firmware_version.as_deref(), Some("v2.12.0"));
        assert_eq!(r.state, MinerState::Hashing);
        assert_eq!(r.hashrate_hs, Some(1234.3735352e9));
        assert_eq!(r.hashrate_avg_hs.get("10m"), Some(&1223.7230225e9));
        assert_eq!(r.expected_hashrate_hs, Some(1224e9));
        assert_eq!(r.temp_c, Some(59.75));
        assert_eq!(r.temp_max_c, Some(59.75), "temp2 = -1 means no sensor");
        assert_eq!(r.vr_temp_c, Some(67.0));
        assert_eq!(r.power_w, Some(23.6954327));
        assert!(
            (r.input_voltage_v.expect("V") - 5.0078125).abs() < 1e-9,
            "mV -> V"
        );
        assert!(
            (r.input_current_a.expect("A") - 15.640625).abs() < 1e-9,
            "mA -> A"
        );
        assert_eq!(r.core_voltage_mv, Some(1195.0));
        assert_eq!(r.frequency_mhz, Some(600.0));
        assert_eq!(r.fans.len(), 1, "fan2rpm = 0 is no second fan");
        assert_eq!(
            (r.fans[0].rpm, r.fans[0].pct),
            (Some(4415.0), Some(42.9381981))
        );
        assert_eq!(
            (r.shares_accepted, r.shares_rejected),
            (Some(20773), Some(0))
        );
        assert_eq!(r.best_diff, Some(3468978118.0));
        assert_eq!(r.best_session_diff, Some(13120897.0));
        assert_eq!(r.pool_difficulty, Some(1000.0));
        assert_eq!(r.network_difficulty, Some(148258433855481.0));
        assert_eq!((r.block_height, r.blocks_found), (Some(931037), Some(0)));
        assert_eq!(r.uptime_s, Some(72227));
        assert_eq!(r.pools.len(), 2);
        assert_eq!(r.pools[0].url, "stratum+tcp://test.hydrapool.org:3333");
        assert_eq!(r.pools[0].active, Some(true));
        assert_eq!(r.pools[1].url, "stratum+tcp://solo.ckpool.org:3333");
        let eff = r.efficiency_j_th.expect("derived");
        assert!((eff - 23.6954327 / 1.2343735352).abs() < 1e-6, "{eff}");
    }

    #[test]
    fn old_firmware_string_best_diff_and_stratum_diff() {
        // v2.5-v2.8 shape: bestDiff as "%.3g"+suffix, stratumDiff, asicCount, no expectedHashrate.
        let v = json!({
            "hashRate": "480.5", "bestDiff": "4.29G", "bestSessionDiff": "483k", "stratumDiff": 512,
            "ASICModel": "BM1366", "boardVersion": "302", "asicCount": 6, "smallCoreCount": 894,
            "frequency": 485, "temp": 55, "vrTemp": 0, "sharesAccepted": "12", "uptimeSeconds": 10
        });
        let r = decode(&v, "10.0.0.9").expect("decodes");
        assert_eq!(r.id, "10.0.0.9", "no MAC: keyed by host");
        assert_eq!(r.model.as_deref(), Some("Hex"));
        assert_eq!(r.best_diff, Some(4.29e9));
        assert_eq!(r.best_session_diff, Some(483e3));
        assert_eq!(r.pool_difficulty, Some(512.0));
        assert_eq!(r.expected_hashrate_hs, Some(894.0 * 6.0 * 485.0 * 1e6));
        assert_eq!(r.vr_temp_c, None, "vrTemp 0 = no sensor");
        assert_eq!(r.shares_accepted, Some(12));
        assert_eq!(r.boards[0].chips, Some(6));
    }

    #[test]
    fn faults_and_pauses_are_not_hashing() {
        let faulted = json!({"hashRate": 1200.0, "power_fault": "Input voltage too low"});
        let r = decode(&faulted, "h").expect("decodes");
        assert_eq!(r.state, MinerState::Faulted);
        assert_eq!(r.errors[0].code, "power_fault");
        let paused = json!({"hashRate": 1200.0, "miningPaused": true});
        assert_eq!(
            decode(&paused, "h").expect("decodes").state,
            MinerState::Idle
        );
        let zero = json!({"hashRate": 0});
        assert_eq!(decode(&zero, "h").expect("decodes").state, MinerState::Idle);
        let hot = json!({"hashRate": 10, "overheat_mode": 1});
        assert_eq!(
            decode(&hot, "h").expect("decodes").state,
            MinerState::Faulted
        );
    }

    #[test]
    fn nerdqaxe_shape() {
        let v = json!({
            "hashRate": 4800.0, "deviceModel": "NerdQAxe++", "ASICModel": "BM1370", "asicCount": 4,
            "temp": 62, "asicTemps": [58, 61, 64, 0], "currentA": 7.5, "current": 7500,
            "stratum": {"totalBestDiff": 9.1e9, "pools": [{"poolDifficulty": 2048, "networkDifficulty": 1.4e14}]},
            "fans": [{"rpm": 3000, "speedPerc": 40}, {"rpm": 3100, "speedPerc": 41}],
            "foundBlocks": 1, "bestDiff": 5e9
        });
        let r = decode(&v, "h").expect("decodes");
        assert_eq!(
            (r.make.as_str(), r.model.as_deref()),
            ("NerdQAxe", Some("NerdQAxe++"))
        );
        assert_eq!(r.temp_max_c, Some(64.0));
        assert_eq!(r.input_current_a, Some(7.5));
        assert_eq!(r.pool_difficulty, Some(2048.0));
        assert_eq!(
            r.best_diff,
            Some(9.1e9),
            "max of bestDiff and stratum.totalBestDiff"
        );
        assert_eq!(r.blocks_found, Some(1));
        assert_eq!(r.fans.len(), 2);
        assert_eq!(r.boards[0].chips, Some(4));
    }

    #[test]
    fn garbage_is_a_clear_error_not_a_panic() {
        for v in [
            json!([]),
            json!("x"),
            json!({}),
            json!({"hashRate": "n/a"}),
            json!(null),
        ] {
            assert!(
                matches!(decode(&v, "h"), Err(PollError::Malformed(_))),
                "{v}"
            );
        }
        // Wrong types everywhere else are simply not reported.
        let odd = json!({"hashRate": 1, "temp": "hot", "fans": "none", "pools": {"a": 1}, "bestDiff": [1]});
        let r = decode(&odd, "h").expect("lenient");
        assert_eq!((r.temp_c, r.best_diff), (None, None));
    }

    mod fuzz {
        use super::decode;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        const KEYS: &[&str] = &[
            "hashRate",
            "hashRate_1m",
            "hashRate_10m",
            "expectedHashrate",
            "temp",
            "temp2",
            "vrTemp",
            "power",
            "voltage",
            "current",
            "currentA",
            "coreVoltage",
            "frequency",
            "fanspeed",
            "fanrpm",
            "fan2rpm",
            "sharesAccepted",
            "sharesRejected",
            "bestDiff",
            "bestSessionDiff",
            "poolDifficulty",
            "stratumDiff",
            "blockHeight",
            "blockFound",
            "uptimeSeconds",
            "ASICModel",
            "boardVersion",
            "deviceModel",
            "asicCount",
            "smallCoreCount",
            "macAddr",
            "stratumURL",
            "stratumPort",
            "isUsingFallbackStratum",
            "pools",
            "fans",
            "stratum",
            "asicTemps",
            "power_fault",
            "overheat_mode",
            "miningPaused",
            "shutdown",
        ];

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("JSON numbers are finite", |f| f.is_finite())
                    .prop_map(Value::from),
                prop_oneof![
                    Just("4.29G".to_string()),
                    Just("inf".to_string()),
                    Just("-1".to_string()),
                    "[ -~]{0,10}"
                ]
                .prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..4)
                        .prop_map(|kv| Value::Object(
                            kv.into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect::<Map<_, _>>()
                        )),
                ]
            })
        }

        proptest! {
            /// Any shape of any AxeOS field: a record or a clear error, never a panic, and a
            /// record never holds a non-finite number.
            #[test]
            fn arbitrary_info_never_panics(fields in proptest::collection::vec((proptest::sample::select(KEYS), value()), 0..30)) {
                let v = Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
                if let Ok(r) = decode(&v, "h") {
                    let numbers = [
                        r.hashrate_hs, r.expected_hashrate_hs, r.temp_c, r.temp_max_c, r.vr_temp_c, r.power_w,
                        r.efficiency_j_th, r.input_voltage_v, r.input_current_a, r.core_voltage_mv, r.frequency_mhz,
                        r.hw_error_pct, r.best_diff, r.best_session_diff, r.pool_difficulty, r.network_difficulty,
                    ];
                    prop_assert!(numbers.iter().flatten().all(|f| f.is_finite()), "{r:?}");
                    prop_assert!(r.hashrate_avg_hs.values().all(|f| f.is_finite()));
                    prop_assert!(r.fans.iter().all(|f| f.rpm.is_none_or(f64::is_finite) && f.pct.is_none_or(f64::is_finite)));
                    prop_assert!(serde_json::to_string(&r).is_ok());
                }
            }
        }
    }
}

//! CGMiner-family replies to the miner record. Units: `GHS *` is GH/s (Antminer, LuxOS,
//! `chain_rateN` strings too), `MHS *` MH/s (cgminer, Whatsminer, Avalon, Braiins).

use crate::avalon;
use crate::family::Family;
use solomon_plugin_sdk::cgminer::{section, section_list};
use solomon_plugin_sdk::driver::PollError;
use solomon_plugin_sdk::json::{JsonValue, Scalar};
use solomon_plugin_sdk::lenient::{
    bool_field, count_field, field, field_any, number, parse_number_str, string_field,
};
use solomon_plugin_sdk::units::{HashUnit, to_hs};
use solomon_plugin_sdk::{Board, Fan, MinerRecord, MinerState, Pool};
use std::collections::BTreeMap;

/// Builds the record from the replies of one poll (keyed by command).
pub fn record<V: JsonValue>(
    replies: &BTreeMap<&str, &V>,
    host: &str,
) -> Result<MinerRecord, PollError> {
    let reply = |c: &str| replies.get(c).copied();
    let summary = reply("summary")
        .map(|r| section(r, "SUMMARY"))
        .transpose()?
        .ok_or_else(|| PollError::Malformed("no SUMMARY".into()))?;
    let version = reply("version").and_then(|r| section(r, "VERSION").ok());
    let devdetails = reply("devdetails").and_then(|r| section(r, "DEVDETAILS").ok());

    // `version` and `devdetails` name the miner program and model; so does the `Description`
    // of every envelope, summary's included.
    let whole: Vec<&V> = ["version", "devdetails"]
        .iter()
        .filter_map(|c| reply(c))
        .collect();
    let enveloped: Vec<&V> = reply("summary").into_iter().collect();
    let family = Family::detect_in(&whole, &enveloped);

    let mac =
        string_field(summary, "MAC").or_else(|| devdetails.and_then(|d| string_field(d, "MAC")));
    let mut r = MinerRecord {
        id: mac.clone().unwrap_or_else(|| host.to_string()),
        host: host.to_string(),
        mac,
        make: family.make().to_string(),
        model: model(family, version, devdetails),
        firmware: Some(family.firmware().to_string()),
        firmware_version: firmware_version(version, summary),
        uptime_s: count_field(summary, "Elapsed"),
        ..Default::default()
    };

    hashrates(summary, &mut r);
    r.shares_accepted = count_field(summary, "Accepted");
    r.shares_rejected = count_field(summary, "Rejected");
    r.shares_stale = count_field(summary, "Stale");
    r.hw_error_pct = field(summary, "Device Hardware%");
    // cgminer's Best Share restarts with the mining process: a session best, not all-time.
    r.best_session_diff = field(summary, "Best Share").filter(|d| *d > 0.0);
    r.blocks_found = count_field(summary, "Found Blocks");
    r.power_w = field_any(summary, &["Power", "Power_RT"]).filter(|p| *p > 0.0);
    r.env_temp_c = field(summary, "Env Temp");
    if family == Family::Whatsminer {
        r.temp_c = field_any(summary, &["Chip Temp Avg", "Temperature"]);
        r.temp_max_c = field(summary, "Chip Temp Max").or(r.temp_c);
        for (i, k) in ["Fan Speed In", "Fan Speed Out"].iter().enumerate() {
            if let Some(rpm) = field(summary, k) {
                r.fans.push(Fan {
                    index: i as u32,
                    rpm: Some(rpm),
                    pct: None,
                });
            }
        }
        r.expected_hashrate_hs = field(summary, "Factory GHS").map(|g| to_hs(g, HashUnit::GH));
    }

    if let Some(pools) = reply("pools").and_then(|p| section_list(p, "POOLS").ok()) {
        r.pools = pools.iter().filter_map(|p| pool(p, family)).collect();
        r.pool_difficulty = r
            .pools
            .iter()
            .find(|p| p.active == Some(true))
            .or(r.pools.first())
            .and_then(|p| p.difficulty);
    }

    if let Some(stats) = reply("stats").and_then(|s| section_list(s, "STATS").ok()) {
        match family {
            Family::Avalon => avalon_stats(stats, &mut r),
            _ => chain_stats(stats, &mut r),
        }
    }

    finish(&mut r);
    Ok(r)
}

/// What follows from the fields read: the state (hashing while the hashrate is above zero),
/// the efficiency, and no number that is not finite.
pub fn finish(r: &mut MinerRecord) {
    r.state = if r.hashrate_hs.is_some_and(|h| h > 0.0) {
        MinerState::Hashing
    } else {
        MinerState::Idle
    };
    r.derive_efficiency();
    r.sanitize();
}

fn model<V: JsonValue>(
    family: Family,
    version: Option<&V>,
    devdetails: Option<&V>,
) -> Option<String> {
    let raw = match family {
        Family::Avalon => {
            version.and_then(|v| string_field(v, "PROD").or_else(|| string_field(v, "MODEL")))
        }
        Family::Whatsminer => devdetails.and_then(|d| string_field(d, "Model")),
        _ => version
            .and_then(|v| string_field(v, "Type"))
            .or_else(|| devdetails.and_then(|d| string_field(d, "Model"))),
    }?;
    let m = match family {
        // "M30S+_VE40": the variant after `_` is a board revision, not the model.
        Family::Whatsminer => raw.split('_').next().unwrap_or(&raw).to_string(),
        _ => raw
            .trim_start_matches("Antminer ")
            .trim_start_matches("Avalon ")
            .trim_start_matches("AvalonMiner ")
            .to_string(),
    };
    (!m.is_empty()).then_some(m)
}

fn firmware_version<V: JsonValue>(version: Option<&V>, summary: &V) -> Option<String> {
    string_field(summary, "Firmware Version").or_else(|| {
        let v = version?;
        [
            "Miner", "LUXminer", "BOSminer", "BMMiner", "CGMiner", "Firmware",
        ]
        .iter()
        .find_map(|k| string_field(v, k))
    })
}

fn hashrates<V: JsonValue>(summary: &V, r: &mut MinerRecord) {
    let read = |keys: &[(&str, HashUnit)]| {
        keys.iter()
            .find_map(|(k, u)| field(summary, k).map(|v| to_hs(v, *u)))
    };
    r.hashrate_hs = read(&[
        ("GHS 5s", HashUnit::GH),
        ("MHS 5s", HashUnit::MH),
        ("MHS 1m", HashUnit::MH),
        ("GHS av", HashUnit::GH),
        ("MHS av", HashUnit::MH),
    ]);
    for (window, keys) in [
        (
            "1m",
            &[("GHS 1m", HashUnit::GH), ("MHS 1m", HashUnit::MH)][..],
        ),
        (
            "5m",
            &[("GHS 5m", HashUnit::GH), ("MHS 5m", HashUnit::MH)][..],
        ),
        (
            "15m",
            &[("GHS 15m", HashUnit::GH), ("MHS 15m", HashUnit::MH)][..],
        ),
        ("30m", &[("GHS 30m", HashUnit::GH)][..]),
        (
            "boot",
            &[("GHS av", HashUnit::GH), ("MHS av", HashUnit::MH)][..],
        ),
    ] {
        if let Some(v) = read(keys) {
            r.hashrate_avg_hs.insert(window.to_string(), v);
        }
    }
}

fn pool<V: JsonValue>(p: &V, family: Family) -> Option<Pool> {
    let url = string_field(p, "URL")?;
    // Whatsminer numbers pools from 1.
    let raw_index = count_field(p, "POOL").unwrap_or(0);
    let index = if family == Family::Whatsminer {
        raw_index.saturating_sub(1)
    } else {
        raw_index
    };
    let difficulty = ["Stratum Difficulty", "Diff", "Last Share Difficulty"]
        .iter()
        .find_map(|k| field(p, k).filter(|d| *d > 0.0));
    Some(Pool {
        index: index as u32,
        url,
        user: string_field(p, "User"),
        active: bool_field(p, "Stratum Active"),
        alive: p
            .member("Status")
            .and_then(JsonValue::str_value)
            .map(|s| s.eq_ignore_ascii_case("alive")),
        accepted: count_field(p, "Accepted"),
        rejected: count_field(p, "Rejected"),
        difficulty,
    })
}

/// `"78-50-69-70"` -> the largest reading.
fn dash_max<V: JsonValue>(v: &V) -> Option<f64> {
    match v.scalar() {
        Scalar::Str(s) => s
            .split('-')
            .filter_map(parse_number_str)
            .filter(|t| *t > 0.0)
            .reduce(f64::max),
        _ => number(v).filter(|t| *t > 0.0),
    }
}

/// `prefix` and `i` (under 100) as one key, in `buf`.
fn numbered<'b>(buf: &'b mut String, prefix: &str, i: u32) -> &'b str {
    buf.clear();
    buf.push_str(prefix);
    if i >= 10 {
        buf.push(char::from(b'0' + (i / 10 % 10) as u8));
    }
    buf.push(char::from(b'0' + (i % 10) as u8));
    buf
}

/// The chains 1 to 16 that `s` has a `chain_rate` or `chain_acn` key for, in order: found in
/// one pass, because looking up all 32 names missed 26 of them on a three-board miner, each
/// miss a scan of some 150 members.
fn chains<V: JsonValue>(s: &V) -> impl Iterator<Item = u32> {
    let mut seen = 0u32;
    s.for_each_member(&mut |key, _| {
        let Some(n) = key
            .strip_prefix("chain_rate")
            .or_else(|| key.strip_prefix("chain_acn"))
        else {
            return;
        };
        // As `numbered` writes them: no sign, no leading zero.
        if !n.starts_with('0')
            && let Ok(i @ 1..=16) = n.parse::<u32>()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            seen |= 1 << (i - 1);
        }
    });
    (1..=16u32).filter(move |i| seen & (1 << (i - 1)) != 0)
}

/// Antminer / LuxOS / Braiins `stats`: per-chain strings and numbered keys.
fn chain_stats<V: JsonValue>(stats: &[V], r: &mut MinerRecord) {
    // STATS[0] is a version block; the chain data is in the element that has it.
    let Some(s) = stats.iter().find(|s| {
        s.member("chain_rate1").is_some()
            || s.member("fan1").is_some()
            || s.member("temp1").is_some()
    }) else {
        return;
    };
    let unit = s
        .member("rate_unit")
        .and_then(JsonValue::str_value)
        .and_then(HashUnit::parse)
        .unwrap_or(HashUnit::GH);
    r.expected_hashrate_hs = r.expected_hashrate_hs.or_else(|| {
        field(s, "total_rateideal")
            .filter(|v| *v > 0.0)
            .map(|v| to_hs(v, unit))
    });
    r.frequency_mhz = field_any(s, &["total_freqavg", "frequency"]).filter(|f| *f > 0.0);
    // The numbered keys are built in one buffer, not a `format!` each.
    let mut k = String::new();
    for i in 1..=4u32 {
        if let Some(rpm) = field(s, numbered(&mut k, "fan", i)).filter(|f| *f > 0.0) {
            r.fans.push(Fan {
                index: i - 1,
                rpm: Some(rpm),
                pct: None,
            });
        }
    }
    for i in chains(s) {
        let rate = s.member(numbered(&mut k, "chain_rate", i)).and_then(number);
        let chips = count_field(s, numbered(&mut k, "chain_acn", i)).filter(|c| *c > 0);
        if rate.is_none() && chips.is_none() {
            continue;
        }
        let chip_temp = s
            .member(numbered(&mut k, "temp_chip", i))
            .and_then(dash_max)
            .or_else(|| field(s, numbered(&mut k, "temp2_", i)).filter(|t| *t > 0.0));
        let board_temp = s
            .member(numbered(&mut k, "temp_pcb", i))
            .and_then(dash_max)
            .or_else(|| field(s, numbered(&mut k, "temp", i)).filter(|t| *t > 0.0));
        let ok_chips = s
            .member(numbered(&mut k, "chain_acs", i))
            .and_then(JsonValue::str_value)
            .map(|a| a.chars().filter(|c| *c == 'o').count() as u32);
        r.boards.push(Board {
            index: i - 1,
            hashrate_hs: rate.map(|v| to_hs(v, unit)),
            temp_c: board_temp,
            chip_temp_c: chip_temp,
            chips: ok_chips.or(chips.map(|c| c as u32)),
            expected_chips: chips.map(|c| c as u32),
            active: Some(rate.is_some_and(|v| v > 0.0)),
        });
    }
    let chip_temps: Vec<f64> = r.boards.iter().filter_map(|b| b.chip_temp_c).collect();
    if !chip_temps.is_empty() {
        r.temp_c = r.temp_c.or(Some(
            chip_temps.iter().sum::<f64>() / chip_temps.len() as f64,
        ));
        r.temp_max_c = r.temp_max_c.or(chip_temps.iter().copied().reduce(f64::max));
    }
}

/// Avalon `stats`: the `MM ID0` string.
fn avalon_stats<V: JsonValue>(stats: &[V], r: &mut MinerRecord) {
    let Some(mm) = stats.iter().find_map(|s| {
        // The first `MM ID*` key in key order, whatever the order of the reply.
        let mut first: Option<(String, Option<String>)> = None;
        s.for_each_member(&mut |k, v| {
            if k.starts_with("MM ID") && first.as_ref().is_none_or(|(f, _)| k < f.as_str()) {
                first = Some((k.to_string(), v.str_value().map(str::to_string)));
            }
        });
        first.and_then(|(_, text)| text)
    }) else {
        return;
    };
    let f = avalon::fields(&mm);
    let first = |k: &str| f.get(k).and_then(|v| avalon::numbers(v).first().copied());
    r.temp_c = first("TAvg").filter(|t| *t > 0.0).or(r.temp_c);
    r.temp_max_c = first("TMax")
        .or_else(|| first("MTmax"))
        .filter(|t| *t > 0.0)
        .or(r.temp_max_c);
    r.env_temp_c = first("ITemp").filter(|t| *t > -50.0).or(r.env_temp_c);
    let pct = first("FanR");
    for i in 1..=4u32 {
        if let Some(rpm) = first(&format!("Fan{i}")).filter(|rpm| *rpm > 0.0) {
            r.fans.push(Fan {
                index: i - 1,
                rpm: Some(rpm),
                pct,
            });
        }
    }
    if r.hashrate_hs.is_none() {
        r.hashrate_hs = first("GHSspd").map(|g| to_hs(g, HashUnit::GH));
    }
    r.expected_hashrate_hs = first("GHSmm")
        .map(|g| to_hs(g, HashUnit::GH))
        .or(r.expected_hashrate_hs);
    // PS[status, ?, output W?, ...]: the third field is watts on the models pyasic documents.
    if r.power_w.is_none() {
        r.power_w = f
            .get("PS")
            .map(|v| avalon::numbers(v))
            .and_then(|n| n.get(2).copied())
            .filter(|w| *w > 0.0 && *w < 20_000.0);
    }
    if let Some(work) = f.get("WORKMODE").or_else(|| f.get("SoftOFF")) {
        // Standby on the home units: reachable, not hashing.
        if f.contains_key("SoftOFF") && avalon::numbers(work).first().copied() == Some(1.0) {
            r.hashrate_hs = Some(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use solomon_plugin_sdk::json::Json;

    /// Builds the record twice, from `serde_json::Value` replies and from the borrowed [`Json`]
    /// the driver polls with, and checks that both give the same result.
    fn decode(replies: &BTreeMap<String, Value>, host: &str) -> Result<MinerRecord, PollError> {
        let by_ref: BTreeMap<&str, &Value> = replies.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let texts: Vec<(&str, Vec<u8>)> = replies
            .iter()
            .map(|(k, v)| (k.as_str(), serde_json::to_vec(v).expect("serializable")))
            .collect();
        let docs: Vec<(&str, Json<'_>)> = texts
            .iter()
            .map(|(k, t)| (*k, Json::parse(t).expect("valid JSON")))
            .collect();
        let borrowed: BTreeMap<&str, &Json<'_>> = docs.iter().map(|(k, d)| (*k, d)).collect();
        let (a, b) = (record(&by_ref, host), record(&borrowed, host));
        assert_eq!(a, b, "Value and Json decode alike");
        a
    }

    fn fixture(name: &str) -> Value {
        crate::fixtures::antminer(name)
    }

    fn antminer() -> MinerRecord {
        let replies: BTreeMap<String, Value> = ["version", "summary", "pools", "stats"]
            .iter()
            .map(|c| (c.to_string(), fixture(c)))
            .collect();
        decode(&replies, "10.0.0.7").expect("decodes")
    }

    #[test]
    fn numbered_keys() {
        let mut buf = String::new();
        assert_eq!(numbered(&mut buf, "chain_rate", 1), "chain_rate1");
        assert_eq!(numbered(&mut buf, "temp2_", 12), "temp2_12");
        assert_eq!(numbered(&mut buf, "fan", 99), "fan99");
    }

    #[test]
    fn chains_are_the_numbered_rates_and_chip_counts() {
        let s = json!({
            "chain_rate1": "1", "chain_acn2": 76, "chain_rate16": 0, "chain_rate17": 1,
            "chain_rate01": 1, "chain_rate+4": 1, "chain_rateideal3": 1, "chain_acs5": "oo",
            "chain_rate": 1, "chain_acn6x": 1,
        });
        assert_eq!(chains(&s).collect::<Vec<_>>(), [1, 2, 16]);
        assert_eq!(chains(&json!([1])).count(), 0);
    }

    #[test]
    fn antminer_s19_pro_fixture() {
        let r = antminer();
        assert_eq!(
            (r.make.as_str(), r.model.as_deref(), r.firmware.as_deref()),
            ("Antminer", Some("S19 Pro"), Some("bmminer"))
        );
        assert_eq!(r.firmware_version.as_deref(), Some("49.0.1.3"));
        assert_eq!(r.id, "10.0.0.7");
        assert_eq!(r.hashrate_hs, Some(110566.89e9), "GHS 5s is GH/s");
        assert_eq!(r.hashrate_avg_hs.get("30m"), Some(&111878.26e9));
        assert_eq!(r.expected_hashrate_hs, Some(110000.0e9));
        assert_eq!(r.uptime_s, Some(50474));
        assert_eq!(
            (r.shares_accepted, r.shares_rejected, r.shares_stale),
            (Some(4057), Some(11), Some(1))
        );
        assert_eq!(r.best_session_diff, Some(12904207043.0));
        assert_eq!(r.best_diff, None, "cgminer reports no all-time best");
        assert_eq!(r.blocks_found, Some(0));
        assert_eq!(r.boards.len(), 3, "chain 4 is empty");
        assert_eq!(
            r.boards[0].hashrate_hs,
            Some(37603.30e9),
            "chain_rate strings in GH/s"
        );
        assert_eq!(
            r.boards[0].chip_temp_c,
            Some(78.0),
            "max of temp_chip1 78-50-69-70"
        );
        assert_eq!(r.boards[0].temp_c, Some(73.0));
        assert_eq!(
            (r.boards[0].chips, r.boards[0].expected_chips),
            (Some(114), Some(114))
        );
        assert_eq!(r.temp_max_c, Some(78.0));
        assert_eq!(r.temp_c, Some((78.0 + 71.0 + 69.0) / 3.0));
        assert_eq!(
            r.fans.iter().map(|f| f.rpm).collect::<Vec<_>>(),
            vec![Some(6000.0), Some(5880.0), Some(5040.0), Some(5040.0)]
        );
        assert_eq!(r.pools.len(), 3);
        assert_eq!(r.pools[0].difficulty, Some(524e3), "Diff \"524K\"");
        assert_eq!(
            (r.pools[0].active, r.pools[1].active),
            (Some(true), Some(false))
        );
        assert_eq!(r.pool_difficulty, Some(524e3));
        assert_eq!(r.state, MinerState::Hashing);
        assert_eq!(r.power_w, None, "stock firmware does not report power");
    }

    #[test]
    fn whatsminer_shape_in_mhs() {
        let summary = json!({"STATUS":[{"STATUS":"S","Description":"btminer"}],"SUMMARY":[{
            "Elapsed": 100, "MHS av": 100_000_000.0, "MHS 5s": 98_000_000.5, "MHS 1m": 99_000_000.0,
            "Temperature": 71.5, "Chip Temp Max": 88.0, "Env Temp": 25.0, "Fan Speed In": 4800, "Fan Speed Out": 4700,
            "Power": 3300, "Factory GHS": 100000, "Accepted": 5, "Rejected": 0, "MAC": "C4:11:04:01:02:03",
            "Firmware Version": "'20210322.22.REL'"}]});
        let devdetails = json!({"STATUS":[{"STATUS":"S"}],"DEVDETAILS":[{"Model":"M30S+_VE40"}]});
        let pools = json!({"STATUS":[{"STATUS":"S"}],"POOLS":[{"POOL":1,"URL":"stratum+tcp://solo.ckpool.org:3333","Status":"Alive","Stratum Active":true,"Stratum Difficulty":65536.0}]});
        let replies: BTreeMap<String, Value> = [
            ("summary", summary),
            ("devdetails", devdetails),
            ("pools", pools),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let r = decode(&replies, "h").expect("decodes");
        assert_eq!(
            (r.make.as_str(), r.model.as_deref()),
            ("Whatsminer", Some("M30S+"))
        );
        assert_eq!(r.id, "C4:11:04:01:02:03");
        assert_eq!(r.firmware_version.as_deref(), Some("20210322.22.REL"));
        assert_eq!(r.hashrate_hs, Some(98_000_000.5e6), "MHS is MH/s");
        assert_eq!(
            (r.temp_c, r.temp_max_c, r.env_temp_c),
            (Some(71.5), Some(88.0), Some(25.0))
        );
        assert_eq!(r.power_w, Some(3300.0));
        assert_eq!(r.expected_hashrate_hs, Some(100e12));
        assert_eq!(r.pools[0].index, 0, "Whatsminer pools are 1-based");
        assert_eq!(r.pool_difficulty, Some(65536.0));
        assert!(
            r.efficiency_j_th
                .is_some_and(|e| (e - 3300.0 / 98.0000000005).abs() < 1e-6)
        );
    }

    #[test]
    fn avalon_mm_string() {
        let version = json!({"STATUS":[{"STATUS":"S"}],"VERSION":[{"PROD":"Avalon Q","MODEL":"Q","CGMiner":"4.11.1"}]});
        let summary = json!({"STATUS":[{"STATUS":"S","Description":"cgminer 4.11.1"}],"SUMMARY":[{"Elapsed":60,"MHS av":90_000_000.0,"MHS 5s":91_000_000.0}]});
        let stats = json!({"STATUS":[{"STATUS":"S"}],"STATS":[{"MM ID0":"Ver[Q-25] ITemp[24] TMax[82] TAvg[71] Fan1[2100] Fan2[2150] FanR[40%] GHSspd[91000] GHSmm[90000] PS[0 1205 1674 74 1672]"}]});
        let replies: BTreeMap<String, Value> =
            [("version", version), ("summary", summary), ("stats", stats)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        let r = decode(&replies, "h").expect("decodes");
        assert_eq!((r.make.as_str(), r.model.as_deref()), ("Avalon", Some("Q")));
        assert_eq!(
            (r.temp_c, r.temp_max_c, r.env_temp_c),
            (Some(71.0), Some(82.0), Some(24.0))
        );
        assert_eq!(r.fans.len(), 2);
        assert_eq!(r.fans[0].pct, Some(40.0));
        assert_eq!(r.hashrate_hs, Some(91e12));
        assert_eq!(r.expected_hashrate_hs, Some(90e12));
        assert_eq!(r.power_w, Some(1674.0));
    }

    #[test]
    fn errors_and_garbage() {
        let mut replies = BTreeMap::new();
        replies.insert(
            "summary".to_string(),
            json!({"STATUS":[{"STATUS":"E","Code":14,"Msg":"Invalid command"}]}),
        );
        assert!(decode(&replies, "h").is_err());
        replies.insert(
            "summary".to_string(),
            json!({"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"GHS 5s":"n/a","Elapsed":"x"}]}),
        );
        replies.insert(
            "stats".to_string(),
            json!({"STATUS":[{"STATUS":"S"}],"STATS":[{"chain_rate1":"","temp_chip1":"a-b-c"}, 5]}),
        );
        replies.insert(
            "pools".to_string(),
            json!({"STATUS":[{"STATUS":"S"}],"POOLS":[{"URL":7},"x"]}),
        );
        let r = decode(&replies, "h").expect("lenient");
        assert_eq!((r.hashrate_hs, r.uptime_s), (None, None));
        assert_eq!(r.state, MinerState::Idle);
    }

    mod fuzz {
        use super::super::*;
        use super::decode;
        use proptest::prelude::*;
        use serde_json::{Value, json};

        proptest! {
            /// Arbitrary bytes as every command's reply: a record or an error, never a panic,
            /// and never a non-finite number.
            #[test]
            fn arbitrary_replies_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400), text in "[{}\\[\\],:\" A-Za-z0-9.%-]{0,300}") {
                for bytes in [raw.as_slice(), text.as_bytes()] {
                    if let Ok(v) = solomon_plugin_sdk::cgminer::parse(bytes) {
                        let replies: BTreeMap<String, Value> = ["summary", "stats", "pools", "version", "devdetails"].iter().map(|c| (c.to_string(), v.clone())).collect();
                        if let Ok(r) = decode(&replies, "h") {
                            prop_assert!(r.hashrate_hs.is_none_or(f64::is_finite) && r.temp_c.is_none_or(f64::is_finite));
                        }
                    }
                }
            }

            /// Real shapes with arbitrary values in their fields.
            #[test]
            fn arbitrary_field_values_never_panic(vals in proptest::collection::vec(prop_oneof![any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)), "[ -~]{0,8}".prop_map(|s| json!(s)), any::<i64>().prop_map(|n| json!(n)), Just(json!(null)), Just(json!([1, "x"]))], 12)) {
                let summary = json!({"STATUS":[{"STATUS":"S","Description":"btminer"}],"SUMMARY":[{"MHS 5s":vals[0],"GHS 5s":vals[1],"Elapsed":vals[2],"Accepted":vals[3],"Temperature":vals[4],"Power":vals[5],"Best Share":vals[6],"MAC":vals[7]}]});
                let stats = json!({"STATUS":[{"STATUS":"S"}],"STATS":[{},{"chain_rate1":vals[8],"temp_chip1":vals[9],"fan1":vals[10],"rate_unit":vals[11],"MM ID0":vals[9]}]});
                let pools = json!({"STATUS":[{"STATUS":"S"}],"POOLS":[{"URL":vals[7],"POOL":vals[2],"Diff":vals[6]}]});
                let replies: BTreeMap<String, Value> = [("summary", summary), ("stats", stats), ("pools", pools)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                if let Ok(r) = decode(&replies, "h") {
                    prop_assert!(r.hashrate_hs.is_none_or(f64::is_finite));
                    prop_assert!(r.boards.iter().all(|b| b.hashrate_hs.is_none_or(f64::is_finite)));
                }
            }
        }
    }
}

//! When a kept `summary` reply may stand in for a new one, and what this poll's `pools` and
//! `stats` then replace in it.
//!
//! Firmware that needs a connection per command (stock Antminer) costs three connections a
//! poll. `stats` carries the hashrate and uptime, `pools` the shares and, per pool, the best
//! share; what only `summary` tells is the session's best share and found blocks. cgminer raises
//! the best share (pool and session alike, in `share_diff()`) before it counts a found block,
//! and a block's share beats every earlier one, so `summary` is asked again whenever a pool's
//! best share rose, and at every poll once a block was found.

use solomon_plugin_sdk::MinerRecord;
use solomon_plugin_sdk::cgminer::{section, section_list};
use solomon_plugin_sdk::driver::Replies;
use solomon_plugin_sdk::json::{Json, JsonValue};
use solomon_plugin_sdk::lenient::{count_field, field};
use solomon_plugin_sdk::units::{HashUnit, to_hs};
use std::collections::BTreeMap;

/// [`Lazy::changed`](solomon_plugin_sdk::driver::Lazy::changed) for `summary`.
pub fn changed(kept: &Json<'_>, replies: &Replies<'_>) -> bool {
    changed_in(kept, replies)
}

/// Whether the kept `summary` may be out of date in what `pools` and `stats` cannot tell.
/// Anything missing or unreadable says yes.
pub fn changed_in<V: JsonValue>(kept: &V, replies: &BTreeMap<&str, &V>) -> bool {
    let Ok(summary) = section(kept, "SUMMARY") else {
        return true;
    };
    if count_field(summary, "Found Blocks") != Some(0) {
        return true;
    }
    let Some(pool_best) = pools_best(replies) else {
        return true;
    };
    let kept_best = field(summary, "Best Share").unwrap_or(0.0);
    let Some(stats) = stats_block(replies) else {
        return true;
    };
    let restarted = match (
        count_field(stats, "Elapsed"),
        count_field(summary, "Elapsed"),
    ) {
        (Some(now), Some(then)) => now < then,
        _ => true,
    };
    pool_best > kept_best || restarted
}

/// Takes from `pools` and `stats` what a kept `summary` shows stale: hashrate, uptime, shares
/// and best share. Counters take the larger of both, so they never step back when the next
/// poll reads `summary` again.
pub fn refresh<V: JsonValue>(replies: &BTreeMap<&str, &V>, r: &mut MinerRecord) {
    if let Some(s) = stats_block(replies) {
        r.uptime_s = count_field(s, "Elapsed").or(r.uptime_s);
        let gh = |k: &str| field(s, k).map(|v| to_hs(v, HashUnit::GH));
        r.hashrate_hs = gh("GHS 5s").or_else(|| gh("GHS av")).or(r.hashrate_hs);
        if let Some(av) = gh("GHS av") {
            r.hashrate_avg_hs.insert("boot".into(), av);
        }
        if let Some(m30) = gh("rate_30m") {
            r.hashrate_avg_hs.insert("30m".into(), m30);
        }
    }
    if let Some(pools) = replies
        .get("pools")
        .and_then(|p| section_list(*p, "POOLS").ok())
    {
        let sum = |k: &str| pools.iter().filter_map(|p| count_field(p, k)).sum::<u64>();
        let larger = |kept: Option<u64>, now: u64| Some(kept.map_or(now, |k| k.max(now)));
        r.shares_accepted = larger(r.shares_accepted, sum("Accepted"));
        r.shares_rejected = larger(r.shares_rejected, sum("Rejected"));
        r.shares_stale = larger(r.shares_stale, sum("Stale"));
    }
    if let Some(best) = pools_best(replies) {
        r.best_session_diff = Some(r.best_session_diff.map_or(best, |b| b.max(best)));
    }
    crate::parse::finish(r);
}

/// The largest `Best Share` of any pool, if the firmware shows it.
fn pools_best<V: JsonValue>(replies: &BTreeMap<&str, &V>) -> Option<f64> {
    let pools = section_list(*replies.get("pools")?, "POOLS").ok()?;
    pools
        .iter()
        .filter_map(|p| field(p, "Best Share"))
        .reduce(f64::max)
}

/// The `stats` element with the hashrate and uptime (bmminer's second one).
fn stats_block<'a, V: JsonValue>(replies: &BTreeMap<&str, &'a V>) -> Option<&'a V> {
    let stats = section_list(*replies.get("stats")?, "STATS").ok()?;
    stats.iter().find(|s| {
        s.member("Elapsed").is_some()
            && (s.member("GHS 5s").is_some() || s.member("GHS av").is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use solomon_plugin_sdk::MinerState;

    fn fixture(name: &str) -> Value {
        crate::fixtures::antminer(name)
    }

    /// The S19 Pro's `pools` and `stats`, each changed by `edit`.
    fn fresh(edit: impl Fn(&str, &mut Value)) -> BTreeMap<String, Value> {
        ["pools", "stats", "version"]
            .iter()
            .map(|c| {
                let mut v = fixture(c);
                edit(c, &mut v);
                (c.to_string(), v)
            })
            .collect()
    }

    fn by_ref(replies: &BTreeMap<String, Value>) -> BTreeMap<&str, &Value> {
        replies.iter().map(|(k, v)| (k.as_str(), v)).collect()
    }

    fn changed_with(kept: &Value, edit: impl Fn(&str, &mut Value)) -> bool {
        changed_in(kept, &by_ref(&fresh(edit)))
    }

    #[test]
    fn a_kept_summary_stands_in_while_pools_and_stats_agree_with_it() {
        // The fixture's replies were taken together: same best share, same uptime.
        assert!(!changed_with(&fixture("summary"), |_, _| {}));
        // Later: more shares, more uptime, the same best.
        assert!(!changed_with(&fixture("summary"), |c, v| match c {
            "pools" => v["POOLS"][0]["Accepted"] = json!(5000),
            "stats" => v["STATS"][1]["Elapsed"] = json!(60000),
            _ => {}
        }));
    }

    #[test]
    fn a_new_best_share_a_found_block_or_a_restart_asks_summary_again() {
        let summary = fixture("summary");
        assert!(
            changed_with(&summary, |c, v| if c == "pools" {
                v["POOLS"][0]["Best Share"] = json!(2.0e13);
            }),
            "a pool's best share rose"
        );
        assert!(
            changed_with(&summary, |c, v| if c == "stats" {
                v["STATS"][1]["Elapsed"] = json!(30);
            }),
            "uptime went back: the miner restarted"
        );
        let mut found = summary.clone();
        found["SUMMARY"][0]["Found Blocks"] = json!(1);
        assert!(
            changed_with(&found, |_, _| {}),
            "after a block, summary at every poll"
        );
    }

    #[test]
    fn what_cannot_be_checked_asks_summary_again() {
        let summary = fixture("summary");
        assert!(
            changed_with(&summary, |c, v| if c == "pools" {
                for p in v["POOLS"].as_array_mut().into_iter().flatten() {
                    p.as_object_mut().map(|o| o.remove("Best Share"));
                }
            }),
            "pools without a best share"
        );
        assert!(
            changed_with(&summary, |c, v| if c == "stats" {
                v["STATS"][1].as_object_mut().map(|o| o.remove("GHS 5s"));
                v["STATS"][1].as_object_mut().map(|o| o.remove("GHS av"));
            }),
            "stats without a hashrate"
        );
        assert!(changed_in(
            &json!({"STATUS": []}),
            &by_ref(&fresh(|_, _| {}))
        ));
        let no_blocks_field = json!({"SUMMARY": [{"Elapsed": 1, "Best Share": 1e15}]});
        assert!(changed_in(&no_blocks_field, &by_ref(&fresh(|_, _| {}))));
    }

    /// The record from a kept summary 60 s old and this poll's pools and stats.
    fn record_with_kept(summary: Value, edit: impl Fn(&str, &mut Value)) -> MinerRecord {
        let mut replies = fresh(edit);
        replies.insert("summary".into(), summary);
        let replies = by_ref(&replies);
        let mut r = crate::parse::record(&replies, "10.0.0.7").expect("decodes");
        refresh(&replies, &mut r);
        r
    }

    #[test]
    fn a_kept_summary_shows_this_polls_hashrate_uptime_shares_and_best() {
        let mut old = fixture("summary");
        old["SUMMARY"][0]["Elapsed"] = json!(50414);
        old["SUMMARY"][0]["GHS 5s"] = json!(90000.0);
        old["SUMMARY"][0]["GHS av"] = json!(91000.0);
        old["SUMMARY"][0]["Accepted"] = json!(4000);
        old["SUMMARY"][0]["Best Share"] = json!(1.0e9);
        let r = record_with_kept(old, |_, _| {});
        assert_eq!(r.uptime_s, Some(50474), "stats' Elapsed");
        assert_eq!(r.hashrate_hs, Some(110566.89e9), "stats' GHS 5s, GH/s");
        assert_eq!(r.hashrate_avg_hs.get("boot"), Some(&111834.63e9));
        assert_eq!(r.hashrate_avg_hs.get("30m"), Some(&111878.26e9));
        assert_eq!(
            (r.shares_accepted, r.shares_rejected, r.shares_stale),
            (Some(4057), Some(11), Some(1)),
            "summed over the pools"
        );
        assert_eq!(r.best_session_diff, Some(12904207043.0));
        assert_eq!(r.state, MinerState::Hashing);
        assert!(r.efficiency_j_th.is_none(), "the S19 reports no power");
        assert_eq!(r.model.as_deref(), Some("S19 Pro"));
    }

    #[test]
    fn counters_from_the_pools_never_step_back_below_the_kept_summary() {
        let mut old = fixture("summary");
        old["SUMMARY"][0]["Accepted"] = json!(9000);
        let r = record_with_kept(old, |c, v| {
            if c == "stats" {
                v["STATS"][1]["GHS 5s"] = json!(0.0);
                v["STATS"][1]["GHS av"] = json!(0.0);
            }
        });
        assert_eq!(r.shares_accepted, Some(9000));
        assert_eq!(r.hashrate_hs, Some(0.0));
        assert_eq!(
            r.state,
            MinerState::Idle,
            "the state follows stats' hashrate"
        );
    }
}

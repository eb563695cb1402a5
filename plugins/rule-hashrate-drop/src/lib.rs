//! Alert rule `rule-hashrate-drop`: a hashing miner well below what it should do: below its
//! expected hashrate by `below_expected_pct`, or below the median of its own last
//! `window_minutes` by `below_median_pct`, for `samples` polls in a row. The median comes from
//! the host's history (the `store` interface) and is kept in plugin state for 5 minutes, so a
//! large fleet does not query history on every poll.
//!
//! Settings: `below_expected_pct` (default 25), `below_median_pct` (default 30),
//! `window_minutes` (default 60), `samples` (default 3).

use serde::{Deserialize, Serialize};
use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict, store, streak};
use solomon_plugin_sdk::units::format_hashrate;
use solomon_plugin_sdk::{MinerState, Severity, host};

/// How long a computed median is reused.
const MEDIAN_TTL_MS: u64 = 5 * 60 * 1000;

/// The middle value (mean of the two middle ones for an even count); `None` for fewer than 5.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.len() < 5 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// The lowest hashrate [`verdict`] finds normal: at the tightest of the two references.
pub fn lowest_normal(
    expected: Option<f64>,
    median: Option<f64>,
    below_expected_pct: f64,
    below_median_pct: f64,
) -> f64 {
    let floor = |reference: Option<f64>, pct: f64| {
        reference
            .filter(|r| *r > 0.0)
            .map_or(0.0, |r| r * (1.0 - pct / 100.0))
    };
    floor(expected, below_expected_pct).max(floor(median, below_median_pct))
}

/// Why `hs` is low, if it is.
pub fn verdict(
    hs: f64,
    expected: Option<f64>,
    median: Option<f64>,
    below_expected_pct: f64,
    below_median_pct: f64,
) -> Option<String> {
    let below = |reference: f64, pct: f64| reference > 0.0 && hs < reference * (1.0 - pct / 100.0);
    let drop = |reference: f64| 100.0 * (1.0 - hs / reference);
    if let Some(e) = expected.filter(|e| below(*e, below_expected_pct)) {
        return Some(format!(
            "hashrate {}, {:.0}% below the expected {}",
            format_hashrate(hs),
            drop(e),
            format_hashrate(e)
        ));
    }
    median.filter(|m| below(*m, below_median_pct)).map(|m| {
        format!(
            "hashrate {}, {:.0}% below its recent median {}",
            format_hashrate(hs),
            drop(m),
            format_hashrate(m)
        )
    })
}

#[derive(Serialize, Deserialize)]
struct Cached {
    ts_ms: u64,
    median: Option<f64>,
}

/// The median of the miner's recent hashrate, and when it goes stale (Unix ms).
fn recent_median(miner: &str, now: u64, window_ms: u64) -> Result<(Option<f64>, u64), String> {
    let key = format!("median/{miner}");
    let cached: Option<Cached> = host::state::get_json(&key).map_err(|e| e.to_string())?;
    if let Some(c) = cached.filter(|c| now.saturating_sub(c.ts_ms) < MEDIAN_TTL_MS) {
        return Ok((c.median, c.ts_ms.saturating_add(MEDIAN_TTL_MS)));
    }
    let points = store::history(
        miner,
        "hashrate_hs",
        now.saturating_sub(window_ms),
        now,
        720,
    );
    let m = median(points.into_iter().map(|(_, v)| v).collect());
    host::state::set_json(
        &key,
        &Cached {
            ts_ms: now,
            median: m,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok((m, now.saturating_add(MEDIAN_TTL_MS)))
}

struct HashrateDrop;

impl Rule for HashrateDrop {
    const READS: Fields = Fields::HASHRATE;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "Hashrate well below expected, or below the miner's own recent median"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(r) = event.current() else {
            return Ok(Verdict::default());
        };
        // Not hashing at all is rule-not-hashing's, offline rule-offline's.
        let Some(hs) = r.hashrate_hs.filter(|h| *h > 0.0) else {
            return Ok(Verdict::default());
        };
        if r.state != MinerState::Hashing {
            // Nothing counted until it hashes again, which is a state change.
            return Ok(Verdict::default().resting(Rest::until_state_changes()));
        }
        let window_ms = (event.config_f64("window_minutes", 60.0).max(0.0) * 60_000.0) as u64;
        let (median, stale_ms) = recent_median(&event.miner_id, event.ts_ms, window_ms)?;
        let (below_expected, below_median) = (
            event.config_f64("below_expected_pct", 25.0),
            event.config_f64("below_median_pct", 30.0),
        );
        let why = verdict(
            hs,
            r.expected_hashrate_hs,
            median,
            below_expected,
            below_median,
        );
        let needed = event.config_f64("samples", 3.0).max(1.0) as u32;
        let n = streak(&format!("low/{}", event.miner_id), why.is_some())?;
        let message = why.unwrap_or_else(|| format!("hashrate {}", format_hashrate(hs)));
        let verdict = Verdict::from(vec![Alert::new(
            "hashrate",
            Severity::Warning,
            message,
            n >= needed,
        )]);
        if n > 0 {
            // A streak is counting: every sample counts.
            return Ok(verdict);
        }
        // Normal, with the streak at 0: it stays so while the hashrate stays at or above the
        // lowest normal one, the expected hashrate stays as it is, and the median is fresh.
        let lowest = lowest_normal(r.expected_hashrate_hs, median, below_expected, below_median);
        Ok(verdict.resting(
            Rest::until_state_changes()
                .within(
                    Gauge::Hashrate,
                    lowest.max(f64::MIN_POSITIVE),
                    f64::INFINITY,
                )
                .pinned(Gauge::ExpectedHashrate, r.expected_hashrate_hs)
                .until(stale_ms),
        ))
    }
}

solomon_plugin_sdk::register_rule!(HashrateDrop);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_normal_hashrate_is_where_the_verdict_turns() {
        let cases = [
            (Some(110e12), None),
            (None, Some(100e12)),
            (Some(110e12), Some(100e12)),
            (Some(90e12), Some(140e12)),
            (None, None),
            (Some(0.0), Some(-5.0)),
        ];
        for (expected, median) in cases {
            let lowest = lowest_normal(expected, median, 25.0, 30.0);
            for th in 1..200 {
                let hs = f64::from(th) * 1e12;
                assert_eq!(
                    verdict(hs, expected, median, 25.0, 30.0).is_some(),
                    hs < lowest,
                    "{hs} against {expected:?} / {median:?}"
                );
            }
        }
    }

    #[test]
    fn low_against_expected_or_the_median() {
        assert_eq!(median(vec![1.0, 5.0, 3.0, 2.0, 4.0]), Some(3.0));
        assert_eq!(median(vec![1.0, 2.0]), None, "too few points");
        let v = verdict(80e12, Some(110e12), None, 25.0, 30.0).expect("low");
        assert_eq!(v, "hashrate 80.0 TH/s, 27% below the expected 110 TH/s");
        assert_eq!(verdict(100e12, Some(110e12), None, 25.0, 30.0), None);
        let v = verdict(0.6e12, None, Some(1.2e12), 25.0, 30.0).expect("low");
        assert!(v.contains("50% below its recent median 1.20 TH/s"), "{v}");
    }
}

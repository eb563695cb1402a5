// The body of rule-count, shared by its crates (rule-count-v2 and rule-count-steady include
// this file; each crate sets `FIRES`, `HOT_C`, `READS_PREVIOUS`, `READS` and `RESTS`). All
// call themselves `rule-count`, so they share plugin state and a reload swaps one for another.
//
// With `RESTS`, a verdict rests while the temperatures stay as they are, the power stays what
// it was, and for 60 s: one of each kind of condition a rest can have.

use solomon_plugin_sdk::{Fields, PluginInfo};
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict};
use solomon_plugin_sdk::{Severity, host};

struct Count;

impl Rule for Count {
    const READS_PREVIOUS: bool = READS_PREVIOUS;
    const READS: Fields = READS;

    fn description() -> &'static str {
        "Counts events per miner (test fixture)"
    }

    fn info(from_crate: PluginInfo) -> PluginInfo {
        PluginInfo {
            name: "rule-count".into(),
            ..from_crate
        }
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        // A poisonous event, for the tests of a rule that traps mid-batch.
        if event.miner_id.starts_with("trap") {
            panic!("rule-count traps on {}", event.miner_id);
        }
        // What the host sent, for the test that a rule gets a previous record only if it
        // asked for one.
        if event.previous().is_some() {
            host::state::update_json(&format!("with-previous/{}", event.miner_id), |n: Option<u64>| {
                n.unwrap_or(0) + 1
            })
            .map_err(|e| e.to_string())?;
        }
        // Which fields arrived, for the test that a rule gets only the fields it names.
        let current = event.current();
        for (field, present) in [
            ("temp", current.is_some_and(|r| r.temp_c.is_some())),
            ("hashrate", current.is_some_and(|r| r.hashrate_hs.is_some())),
        ] {
            if present {
                host::state::update_json(&format!("with-{field}/{}", event.miner_id), |n: Option<u64>| {
                    n.unwrap_or(0) + 1
                })
                .map_err(|e| e.to_string())?;
            }
        }
        let key = format!("n/{}", event.miner_id);
        let n = host::state::update_json(&key, |n: Option<u64>| n.unwrap_or(0) + 1)
            .map_err(|e| e.to_string())?;
        let verdict = Verdict::from(if FIRES {
            vec![Alert::new("v2", Severity::Info, format!("v2 after {n} events"), true)]
        } else {
            let hot = current.and_then(|r| r.temp_c).is_some_and(|t| t > HOT_C);
            vec![Alert::new("hot", Severity::Warning, format!("after {n} events"), hot)]
        });
        Ok(if RESTS {
            verdict.resting(
                Rest::while_unchanged(Fields::TEMPERATURES)
                    .pinned(Gauge::Power, current.and_then(|r| r.power_w))
                    .until(event.ts_ms + 60_000),
            )
        } else {
            verdict
        })
    }
}

solomon_plugin_sdk::register_rule!(Count);

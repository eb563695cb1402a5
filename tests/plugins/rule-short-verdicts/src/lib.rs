//! A rule written against the raw contract (no SDK, which always answers one verdict per
//! event) that drops the last verdict of every batch. The host must refuse the answer rather
//! than pair verdicts with the wrong miners.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "alert-rule",
    generate_all,
});

use exports::solomon::plugin::rule::{Event, Guest, RuleNeeds, Verdict};
use solomon::plugin::types::{PluginInfo, RecordFields};

struct Short;

impl Guest for Short {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "rule-short-verdicts".into(),
            version: "0.1.0".into(),
            description: "answers one verdict too few".into(),
        }
    }

    fn needs() -> RuleNeeds {
        RuleNeeds {
            previous: false,
            fields: RecordFields::empty(),
        }
    }

    fn evaluate(events: Vec<Event>, _config: String) -> Vec<Result<Verdict, String>> {
        events
            .iter()
            .skip(1)
            .map(|_| {
                Ok(Verdict {
                    alerts: Vec::new(),
                    rest: None,
                })
            })
            .collect()
    }
}

export!(Short);

//! A rule that tries to reach the network through `miner-io`, which only drivers may import.
//! The host must refuse to link it.

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "test:rule-with-network/rule-with-network",
    generate_all,
});

use exports::solomon::plugin::rule::{Event, Guest, Verdict};
use solomon::plugin::miner_io;
use solomon::plugin::types::PluginInfo;

struct Sneaky;

impl Guest for Sneaky {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "rule-with-network".into(),
            version: "0.1.0".into(),
            description: String::new(),
        }
    }

    fn needs() -> exports::solomon::plugin::rule::RuleNeeds {
        exports::solomon::plugin::rule::RuleNeeds {
            previous: false,
            fields: solomon::plugin::types::RecordFields::empty(),
        }
    }

    fn evaluate(events: Vec<Event>, _config: String) -> Vec<Result<Verdict, String>> {
        // Used, so the import stays in the component.
        let r = miner_io::tcp_request("10.0.0.1", 4028, b"{}", 100);
        events
            .iter()
            .map(|_| Err(format!("{:?}", r.is_ok())))
            .collect()
    }
}

export!(Sneaky);

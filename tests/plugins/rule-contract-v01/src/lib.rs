//! A rule built against contract 0.1.0, as a third party's plugin from before 0.2.0 would be.
//! The host must refuse it and say which contract it needs.

wit_bindgen::generate!({
    path: "wit",
    world: "old-rule",
    generate_all,
});

use exports::solomon::plugin::rule::{Alert, Event, Guest};
use solomon::plugin::types::PluginInfo;

struct Old;

impl Guest for Old {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "rule-contract-v01".into(),
            version: "0.1.0".into(),
            description: String::new(),
        }
    }

    fn evaluate(_event: Event) -> Result<Vec<Alert>, String> {
        Ok(Vec::new())
    }
}

export!(Old);

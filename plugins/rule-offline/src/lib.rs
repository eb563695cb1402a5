//! Alert rule `rule-offline`: a miner that stopped answering. The host marks a miner offline
//! after `defaults.offline_after` missed polls (the hysteresis lives there); this rule turns
//! that state into an alert and clears it when the miner answers again.
//!
//! Settings: `severity` (`warning` or `critical`, default `critical`).

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::rule::{Alert, Event, EventKind, Rest, Rule, Verdict};
use solomon_plugin_sdk::{MinerState, Severity};

struct Offline;

impl Rule for Offline {
    const READS: Fields = Fields::NONE;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "A miner that stopped answering (offline after the configured missed polls)"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        // The state change says it first; samples keep the verdict current after a restart.
        let offline = match &event.kind {
            EventKind::StateChange(_, to) => to == "offline",
            EventKind::Sample => match event.current() {
                Some(r) => r.state == MinerState::Offline,
                None => return Ok(Verdict::default()),
            },
        };
        let severity = match event.config.get("severity").and_then(|v| v.as_str()) {
            Some("warning") => Severity::Warning,
            _ => Severity::Critical,
        };
        let message = if offline {
            "not answering".to_string()
        } else {
            "answering again".to_string()
        };
        // Its verdict is the miner's state: the same state, the same verdict.
        Ok(
            Verdict::from(vec![Alert::new("offline", severity, message, offline)])
                .resting(Rest::until_state_changes()),
        )
    }
}

solomon_plugin_sdk::register_rule!(Offline);

//! An example alert rule to copy: warns when a miner's chip stays above a threshold for
//! several samples in a row, and resolves when it cools down.
//!
//! Configuration (daemon config; a miner's overrides are already merged in `event.config`):
//! `max_chip_c` (default 70), `samples` (default 3).
//!
//! It keeps its memory, the count of consecutive hot samples per miner, in plugin state, which
//! survives restarts and hot reloads of the rule. While a miner is cool it tells the host so
//! (a rest), and is not asked again until the chip passes the limit.

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::Severity;
use solomon_plugin_sdk::rule::{Alert, Event, Gauge, Rest, Rule, Verdict, streak};

struct HotChip;

impl Rule for HotChip {
    const READS: Fields = Fields::TEMPERATURES;
    // Reads only the current record: the host need not copy the previous one in.
    const READS_PREVIOUS: bool = false;

    fn description() -> &'static str {
        "A chip above max_chip_c for `samples` polls in a row"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(record) = event.current() else {
            return Ok(Verdict::default());
        };
        let Some(temp) = record.temp_c else {
            return Ok(Verdict::default());
        };
        let max = event.config_f64("max_chip_c", 70.0);
        let needed = event.config_f64("samples", 3.0).max(1.0) as u32;

        // Samples in a row above the limit, kept in plugin state across polls and restarts.
        let streak = streak(&format!("hot/{}", event.miner_id), temp > max)?;

        let firing = streak >= needed;
        let message = if firing {
            format!("chip at {temp:.1} °C, above {max:.0} °C for {streak} samples")
        } else {
            format!("chip at {temp:.1} °C")
        };
        let verdict = Verdict::from(vec![Alert::new("chip", Severity::Warning, message, firing)]);
        if streak > 0 {
            // Counting: every sample counts.
            return Ok(verdict);
        }
        // Cool, with the count at 0: nothing changes until the chip passes the limit (or the
        // miner's state changes). The host checks that itself and spares this rule the rest.
        Ok(
            verdict.resting(Rest::until_state_changes().within(
                Gauge::Temp,
                f64::NEG_INFINITY,
                max,
            )),
        )
    }
}

solomon_plugin_sdk::register_rule!(HotChip);

//! Alert rule `rule-block-found`: the moment a solo miner hopes for. Fires when the miner's
//! block counter rises, or when its best share of this session reaches the network difficulty
//! (a share that meets it is a block, whatever the counter says). It clears at the next
//! sample, so each block is one alert.

use solomon_plugin_sdk::Fields;
use solomon_plugin_sdk::MinerRecord;
use solomon_plugin_sdk::Severity;
use solomon_plugin_sdk::rule::{Alert, Event, Rest, Rule, Verdict};

/// Whether `now` shows a block that `before` did not.
pub fn found(now: &MinerRecord, before: Option<&MinerRecord>) -> bool {
    let counter = match (now.blocks_found, before.and_then(|b| b.blocks_found)) {
        (Some(n), Some(b)) => n > b,
        _ => false,
    };
    let share = match (now.best_session_diff, now.network_difficulty) {
        (Some(best), Some(net)) if net > 0.0 && best >= net => {
            // Only when it newly got there.
            before
                .and_then(|b| b.best_session_diff)
                .is_none_or(|prev| prev < net)
        }
        _ => false,
    };
    counter || share
}

struct BlockFound;

impl Rule for BlockFound {
    const READS: Fields = Fields::DIFFICULTY;
    fn description() -> &'static str {
        "A block found: the block counter rises or a share meets the network difficulty"
    }

    fn evaluate(event: &Event) -> Result<Verdict, String> {
        let Some(now) = event.current() else {
            return Ok(Verdict::default());
        };
        let before = event.previous();
        let hit = found(now, before);
        let message = if hit {
            format!(
                "BLOCK FOUND by {} ({} blocks in all)",
                event.miner_id,
                now.blocks_found.unwrap_or(0)
            )
        } else {
            String::from("no new block")
        };
        // It compares the record with the previous one: the same record twice finds nothing.
        Ok(
            Verdict::from(vec![Alert::new("block", Severity::Critical, message, hit)])
                .resting(Rest::while_unchanged(Self::READS)),
        )
    }
}

solomon_plugin_sdk::register_rule!(BlockFound);

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(blocks: u64, best: f64) -> MinerRecord {
        MinerRecord {
            blocks_found: Some(blocks),
            best_session_diff: Some(best),
            network_difficulty: Some(1e14),
            ..Default::default()
        }
    }

    #[test]
    fn a_rising_counter_or_a_winning_share_is_a_block_once() {
        assert!(found(&rec(1, 1e9), Some(&rec(0, 1e9))));
        assert!(
            !found(&rec(1, 1e9), Some(&rec(1, 1e9))),
            "the same block twice"
        );
        assert!(
            found(&rec(0, 2e14), Some(&rec(0, 1e9))),
            "a share at network difficulty"
        );
        assert!(
            !found(&rec(0, 2e14), Some(&rec(0, 2e14))),
            "already reported"
        );
        assert!(
            !found(&rec(3, 1e9), None),
            "no previous sample: no rise to see"
        );
    }
}

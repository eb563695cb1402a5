//! rule-count 1.0.0: counts every event per miner in plugin state and never fires.

const FIRES: bool = false;
const READS_PREVIOUS: bool = true;

include!("count.rs");

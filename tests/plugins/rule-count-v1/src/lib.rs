//! rule-count 1.0.0: counts every event per miner in plugin state and never fires.

const FIRES: bool = false;
const READS: solomon_plugin_sdk::Fields = solomon_plugin_sdk::Fields::ALL;
const HOT_C: f64 = f64::INFINITY;
const RESTS: bool = false;
const READS_PREVIOUS: bool = true;

include!("count.rs");

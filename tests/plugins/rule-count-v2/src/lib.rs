//! rule-count 2.0.0: goes on counting where 1.0.0 stopped, and fires `v2` so a test can see
//! which version judged an event.

const FIRES: bool = true;
const READS: solomon_plugin_sdk::Fields = solomon_plugin_sdk::Fields::TEMPERATURES;
const HOT_C: f64 = f64::INFINITY;
const RESTS: bool = false;
const READS_PREVIOUS: bool = false;

include!("../../rule-count-v1/src/count.rs");

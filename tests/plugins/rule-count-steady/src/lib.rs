//! rule-count as a steady rule: counts the events it is sent, and fires `hot` above 80 °C, so
//! a test can see which samples the host spares it.

const FIRES: bool = false;
const HOT_C: f64 = 80.0;
const STEADY: bool = true;
const READS: solomon_plugin_sdk::Fields = solomon_plugin_sdk::Fields::TEMPERATURES;
const READS_PREVIOUS: bool = false;

include!("../../rule-count-v1/src/count.rs");

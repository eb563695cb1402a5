//! rule-count as a resting rule: counts the events it is sent, fires `hot` above 80 °C, and
//! rests after a quiet verdict, so a test can see which samples the host spares it.

const FIRES: bool = false;
const HOT_C: f64 = 80.0;
const RESTS: bool = true;
const READS: solomon_plugin_sdk::Fields =
    solomon_plugin_sdk::Fields::TEMPERATURES.and(solomon_plugin_sdk::Fields::POWER);
const READS_PREVIOUS: bool = false;

include!("../../rule-count-v1/src/count.rs");

//! # solomon-plugin-sdk
//!
//! Write [Solomon](https://github.com/solomon-miner/solomon) miner drivers and alert rules as
//! WebAssembly components.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2` that enables one feature of this crate
//! (`driver` or `rule`), implements the matching trait and registers it:
//!
//! ```ignore
//! use solomon_plugin_sdk::rule::{Alert, Event, Rule};
//! use solomon_plugin_sdk::Severity;
//!
//! struct HotChip;
//!
//! impl Rule for HotChip {
//!     fn description() -> &'static str {
//!         "Warns when a chip runs hot"
//!     }
//!     fn evaluate(event: &Event) -> Result<Vec<Alert>, String> {
//!         let hot = event.current().and_then(|r| r.temp_c).is_some_and(|t| t > 70.0);
//!         Ok(vec![Alert::new("chip", Severity::Warning, "chip above 70 °C", hot)])
//!     }
//! }
//!
//! solomon_plugin_sdk::register_rule!(HotChip);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the plugin. `solomon plugin check FILE.wasm` validates it.
//!
//! Everything a plugin can reach goes through the host: [`host`] (log, clock, private state),
//! [`driver`] (HTTP and TCP to the assigned miner only), [`rule`] (read-only miner store).
//! Each host call is one atomic operation; a plugin never holds a lock.
//!
//! Modules without a world ([`record`], [`rule_config`], [`json`], [`lenient`], [`units`], [`cgminer`]) are plain Rust and
//! are unit-tested natively.

extern crate self as solomon_plugin_sdk;

pub mod cgminer;
pub mod fields;
pub mod json;
pub mod lenient;
mod reading;
pub mod record;
pub mod rest;
pub mod rule_config;
pub mod units;

#[cfg(any(feature = "driver", feature = "rule"))]
pub mod host;

#[cfg(feature = "driver")]
pub mod driver;

#[cfg(feature = "driver")]
mod command_memo;

#[cfg(feature = "rule")]
pub mod rule;

pub use fields::Fields;
pub use record::{Board, Fan, MinerError, MinerRecord, MinerState, Pool};

/// The WIT package version this SDK implements.
pub const API_VERSION: &str = "0.7.0";

/// Name, version and description a plugin declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Stable name, e.g. `driver-axeos`.
    pub name: String,
    /// The plugin's own semantic version.
    pub version: String,
    /// One line for humans.
    pub description: String,
}

/// How loud an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Good news or context (a new best share).
    Info,
    /// Needs a look.
    Warning,
    /// Needs action now (overheating, offline).
    Critical,
}

/// Builds a [`PluginInfo`] from the calling crate's name (without a `solomon-` prefix) and
/// version and a description. The `register_*!` macros use it.
#[macro_export]
macro_rules! plugin_info {
    ($description:expr) => {
        $crate::PluginInfo {
            name: env!("CARGO_PKG_NAME")
                .trim_start_matches("solomon-")
                .to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: ::std::string::String::from($description),
        }
    };
}

#[doc(hidden)]
#[cfg(any(feature = "driver", feature = "rule"))]
pub use wit_bindgen as __wit_bindgen;

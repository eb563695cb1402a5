//! The plugins in service ([`PluginSet`]): built-in ones and those loaded from plugin folders,
//! swapped in place by hot reload ([`Reloader`]) while the daemon runs.

mod reload;
mod set;

pub use reload::{DEFAULT_DEBOUNCE, Reloader, WatchError, reload};
pub use set::{Entry, LoadFailure, PluginSet};

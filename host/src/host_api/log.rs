//! `solomon:plugin/log`: plugin messages become `tracing` events tagged with the plugin.

use crate::runtime::bindings::log::{Host, Level};
use std::sync::Arc;
use wasmtime::component::HasData;

/// What the log interface sees.
pub struct LogCtx {
    /// `name@version` of the plugin, for every line.
    pub plugin: Arc<str>,
    /// Lines left in the current call.
    pub(crate) budget: u32,
    /// Lines dropped in the current call because the budget ran out.
    pub(crate) dropped: u32,
    pub(crate) max_bytes: usize,
}

impl LogCtx {
    /// A context for `plugin`.
    pub fn new(plugin: Arc<str>, max_bytes: usize) -> Self {
        LogCtx {
            plugin,
            budget: 0,
            dropped: 0,
            max_bytes,
        }
    }
}

/// `HasData` marker projecting the store onto [`LogCtx`].
pub struct LogApi;

impl HasData for LogApi {
    type Data<'a> = &'a mut LogCtx;
}

impl Host for LogCtx {
    async fn log(&mut self, level: Level, mut message: String) {
        if self.budget == 0 {
            self.dropped += 1;
            return;
        }
        self.budget -= 1;
        super::truncate_utf8(&mut message, self.max_bytes);
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

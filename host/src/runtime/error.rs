//! Errors of loading and calling plugins.

use std::time::Duration;

/// Why a `.wasm` file was not accepted as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Larger than the runtime accepts.
    #[error("file is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Does not start with the WebAssembly magic bytes.
    #[error("not a WebAssembly file (no \\0asm header)")]
    NotWasm,
    /// A core module rather than a component.
    #[error("a core WebAssembly module, not a component: build the plugin for wasm32-wasip2")]
    CoreModule,
    /// Did not compile (truncated or invalid bytes).
    #[error("invalid component: {0}")]
    Invalid(String),
    /// Exports neither world of the contract.
    #[error(
        "wrong world: exports {exports:?}; a plugin must export `solomon:plugin/miner-driver@0.7.x` (world `driver`) or `solomon:plugin/rule@0.7.x` (world `alert-rule`)"
    )]
    WrongWorld {
        /// What it exports.
        exports: Vec<String>,
    },
    /// Built against a contract version this host does not speak.
    #[error(
        "built against contract solomon:plugin@{found}; this host speaks {supported}: rebuild the plugin with solomon-plugin-sdk {supported}"
    )]
    ContractVersion {
        /// The version it exports.
        found: String,
        /// The version this host implements.
        supported: &'static str,
    },
    /// Imports something its world does not provide.
    #[error("imports what the `{world}` world does not provide: {message}")]
    Imports {
        /// The world it claims.
        world: &'static str,
        /// wasmtime's message.
        message: String,
    },
    /// Exports of the wrong shape.
    #[error("exports do not match the `{world}` world: {message}")]
    Exports {
        /// The world it claims.
        world: &'static str,
        /// wasmtime's message.
        message: String,
    },
    /// `info()` failed or returned nonsense.
    #[error("plugin metadata: {0}")]
    Metadata(String),
    /// The runtime is shutting down.
    #[error("the plugin runtime is shut down")]
    Shutdown,
}

/// How a plugin call died. The instance is discarded and restarted with backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapKind {
    /// Used up its CPU budget (epoch interrupt) or the wall-clock cap.
    Timeout,
    /// Tried to grow memory past the cap.
    OutOfMemory,
    /// Panicked or hit `unreachable`.
    Panic,
    /// Any other trap.
    Other,
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrapKind::Timeout => "timeout",
            TrapKind::OutOfMemory => "out of memory",
            TrapKind::Panic => "panic",
            TrapKind::Other => "trap",
        })
    }
}

/// Why a call produced no answer from the plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The guest trapped; the instance was discarded.
    #[error("plugin {plugin} {kind}: {message}")]
    Trapped {
        /// `name@version`.
        plugin: String,
        /// What kind of failure.
        kind: TrapKind,
        /// Details (trap message, panic text).
        message: String,
    },
    /// The plugin is waiting out its restart backoff.
    #[error("plugin {plugin} is restarting after a failure (retry in {retry_in:?})")]
    Restarting {
        /// `name@version`.
        plugin: String,
        /// Time until the next attempt.
        retry_in: Duration,
    },
    /// The plugin answered with something the host will not accept.
    #[error("plugin {plugin} returned an invalid result: {message}")]
    BadResult {
        /// `name@version`.
        plugin: String,
        /// Why.
        message: String,
    },
    /// The call was made on the wrong kind of plugin.
    #[error("plugin {plugin} is a {world} plugin")]
    WrongWorld {
        /// `name@version`.
        plugin: String,
        /// Its world.
        world: &'static str,
    },
    /// The plugin was unloaded.
    #[error("plugin {0} is unloaded")]
    Unloaded(String),
}

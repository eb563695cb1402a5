//! Loading plugins for the commands: the built-in ones and any from plugin folders.

use crate::builtin::BUILTIN_PLUGINS;
use crate::registry::PluginSet;
use crate::runtime::{HostServices, Plugin, Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Where one-shot commands (`probe`, `scan`) keep compiled plugins between runs:
/// `$XDG_CACHE_HOME/solomon` or `~/.cache/solomon`, else a folder in the temp dir.
pub fn user_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("solomon")
        .join("plugin-cache")
}

/// A runtime for one-shot commands, with the user cache; it keeps no miner connection.
pub fn command_runtime() -> anyhow::Result<Runtime> {
    command_runtime_with(HostServices::default())
}

/// The same with `services` (a benchmark keeps connections as the daemon does).
pub fn command_runtime_with(services: HostServices) -> anyhow::Result<Runtime> {
    let config = RuntimeConfig {
        cache_dir: Some(user_cache_dir()),
        instances_per_driver: 4,
        ..Default::default()
    };
    Ok(Runtime::new(config, services)?)
}

/// Loads the built-in plugins and those in `plugin_dirs`; a bad file is logged and skipped.
pub async fn load_plugins(runtime: &Runtime, plugin_dirs: &[PathBuf]) -> Vec<Arc<Plugin>> {
    load_plugin_set(runtime, plugin_dirs, &[])
        .await
        .entries()
        .into_iter()
        .map(|e| e.plugin)
        .collect()
}

/// The built-in plugins (but those named in `disabled`) and those in `plugin_dirs`, as a set
/// hot reload can change. A file that does not load is logged and listed among the set's
/// failures.
pub async fn load_plugin_set(
    runtime: &Runtime,
    plugin_dirs: &[PathBuf],
    disabled: &[String],
) -> PluginSet {
    let mut builtin = Vec::new();
    for b in BUILTIN_PLUGINS {
        if disabled.iter().any(|d| d == b.name) {
            tracing::info!(plugin = b.name, "built-in plugin disabled by the config");
            continue;
        }
        match runtime.load(b.wasm.into()).await {
            Ok(p) => builtin.push(Arc::new(p)),
            Err(e) => tracing::error!(plugin = b.name, "built-in plugin rejected: {e}"),
        }
    }
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for dir in plugin_dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(dir = %dir.display(), "cannot read plugin folder: {e}");
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        for file in files {
            match runtime.load_file(&file).await {
                Ok(p) => loaded.push((file, Arc::new(p))),
                Err(e) => {
                    tracing::error!(file = %file.display(), "plugin rejected: {e}");
                    failed.push((file, e.to_string()));
                }
            }
        }
    }
    let set = PluginSet::new(builtin, loaded);
    for (file, error) in failed {
        set.fail(&file, error);
    }
    set
}

//! Hot reload: plugin folders are watched (notify); a new or changed `.wasm` is debounced
//! (editors and `cp` write in bursts), compiled and validated on the runtime's compile thread,
//! and swapped into the [`PluginSet`] in one step. A file that does not load is reported (log,
//! API, WebSocket) and the version in service keeps running; a deleted file unloads its plugin.

use super::PluginSet;
use crate::runtime::{Runtime, sha256_hex};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Quiet time after the last change to a file before it is loaded. Short, because compiling
/// is the slow part and a half-written file only costs a rejected load that the final write
/// retries.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

/// Watches plugin folders until dropped.
pub struct Reloader {
    _watcher: ::notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {dir}: {source}")]
pub struct WatchError {
    dir: String,
    source: ::notify::Error,
}

impl Reloader {
    /// Watches `dirs` (not recursively) and reloads into `set` through `runtime`.
    pub fn start(
        runtime: Runtime,
        set: Arc<PluginSet>,
        dirs: &[PathBuf],
        debounce: Duration,
    ) -> Result<Reloader, WatchError> {
        use ::notify::Watcher;
        let (tx, rx) = mpsc::unbounded_channel::<(PathBuf, Instant)>();
        // Called on notify's own thread: only hand the paths over.
        let mut watcher = ::notify::recommended_watcher(
            move |res: ::notify::Result<::notify::Event>| match res {
                Ok(ev) if !matches!(ev.kind, ::notify::EventKind::Access(_)) => {
                    let now = Instant::now();
                    for p in ev.paths {
                        if p.extension().is_some_and(|x| x == "wasm") {
                            let _ = tx.send((p, now));
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("plugin folder watch: {e}"),
            },
        )
        .map_err(|source| WatchError {
            dir: String::new(),
            source,
        })?;
        for dir in dirs {
            watcher
                .watch(dir, ::notify::RecursiveMode::NonRecursive)
                .map_err(|source| WatchError {
                    dir: dir.display().to_string(),
                    source,
                })?;
            tracing::info!(dir = %dir.display(), "watching for plugin changes");
        }
        let task = tokio::spawn(run(rx, runtime, set, debounce));
        Ok(Reloader {
            _watcher: watcher,
            task,
        })
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<(PathBuf, Instant)>,
    runtime: Runtime,
    set: Arc<PluginSet>,
    debounce: Duration,
) {
    while let Some((first, since)) = rx.recv().await {
        let mut paths = BTreeSet::from([first]);
        loop {
            match tokio::time::timeout(debounce, rx.recv()).await {
                Ok(Some((p, _))) => {
                    paths.insert(p);
                }
                Ok(None) => return,
                Err(_) => break,
            }
        }
        for path in paths {
            reload(&runtime, &set, &path, since).await;
        }
    }
}

/// Loads (or unloads) one file into `set`.
pub async fn reload(runtime: &Runtime, set: &PluginSet, path: &Path, since: Instant) {
    let current = set
        .entries()
        .into_iter()
        .find(|e| e.file.as_deref() == Some(path))
        .map(|e| e.plugin);
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if set.remove(path) {
                tracing::info!(file = %path.display(), "plugin file deleted: unloaded");
            }
            return;
        }
        Err(e) => {
            set.fail(path, format!("cannot read: {e}"));
            return;
        }
    };
    let sha = sha256_hex(&bytes);
    if current.as_ref().is_some_and(|c| c.meta().sha256 == sha) {
        // Touched, or put back after a bad write: the version in service is this file.
        set.clear_failure(path);
        return;
    }
    match runtime.load(bytes.into()).await {
        Ok(plugin) => {
            let label = plugin.meta().label();
            set.install(path, Arc::new(plugin));
            let was = current.map(|c| c.meta().label());
            tracing::info!(file = %path.display(), plugin = %label, was = ?was, ms = since.elapsed().as_secs_f64() * 1e3, "plugin reloaded");
        }
        Err(e) => {
            let keeping = current.map(|c| c.meta().label());
            tracing::error!(file = %path.display(), keeping = ?keeping, "plugin rejected: {e}");
            set.fail(path, e.to_string());
        }
    }
}

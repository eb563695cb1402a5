//! The plugins in service, swappable while the daemon runs. Readers take a snapshot (an `Arc`
//! of the current lists) per unit of work, so an event or a poll that started on one version
//! finishes on it, and the next one sees the new version: nothing runs twice or is skipped
//! across a swap.

use crate::host_api::clock::unix_ms;
use crate::runtime::{Plugin, World};
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// A file that did not load, and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LoadFailure {
    /// The file.
    pub file: String,
    /// Why (compile error, wrong world, bad metadata, ...).
    pub error: String,
    /// When, Unix ms.
    pub ts_ms: u64,
}

/// One plugin in service and where it came from.
#[derive(Clone)]
pub struct Entry {
    /// The plugin.
    pub plugin: Arc<Plugin>,
    /// Its file, or `None` for a built-in one.
    pub file: Option<PathBuf>,
}

/// The effective lists, rebuilt on each change.
struct Current {
    entries: Vec<Entry>,
    drivers: Arc<[Arc<Plugin>]>,
    rules: Arc<[Arc<Plugin>]>,
}

#[derive(Default)]
struct Sources {
    builtin: Vec<Arc<Plugin>>,
    files: BTreeMap<PathBuf, Arc<Plugin>>,
    failures: BTreeMap<PathBuf, LoadFailure>,
}

/// The plugins in service. Share it behind an `Arc`.
pub struct PluginSet {
    sources: parking_lot::Mutex<Sources>,
    current: RwLock<Arc<Current>>,
    generation: watch::Sender<u64>,
}

impl PluginSet {
    /// A set of built-in plugins and plugins loaded from files.
    pub fn new(builtin: Vec<Arc<Plugin>>, files: Vec<(PathBuf, Arc<Plugin>)>) -> Self {
        let sources = Sources {
            builtin,
            files: files.into_iter().collect(),
            failures: BTreeMap::new(),
        };
        let current = effective(&sources);
        PluginSet {
            sources: parking_lot::Mutex::new(sources),
            current: RwLock::new(Arc::new(current)),
            generation: watch::Sender::new(0),
        }
    }

    /// Drivers in service now.
    pub fn drivers(&self) -> Arc<[Arc<Plugin>]> {
        self.current.read().drivers.clone()
    }

    /// Alert rules in service now.
    pub fn rules(&self) -> Arc<[Arc<Plugin>]> {
        self.current.read().rules.clone()
    }

    /// Every plugin in service with its source.
    pub fn entries(&self) -> Vec<Entry> {
        self.current.read().entries.clone()
    }

    /// The driver named `name`, in its current version.
    pub fn driver(&self, name: &str) -> Option<Arc<Plugin>> {
        self.current
            .read()
            .drivers
            .iter()
            .find(|d| d.meta().name == name)
            .cloned()
    }

    /// Files that failed to load, and why (cleared when the file loads or goes).
    pub fn failures(&self) -> Vec<LoadFailure> {
        self.sources.lock().failures.values().cloned().collect()
    }

    /// Changes every time the set does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Puts the plugin loaded from `file` in service, replacing what that file held before
    /// (and, by name, any built-in or older plugin).
    pub fn install(&self, file: &Path, plugin: Arc<Plugin>) {
        self.change(|s| {
            s.failures.remove(file);
            s.files.insert(file.to_path_buf(), plugin);
        });
    }

    /// Takes the plugin of `file` out of service (a built-in of the same name comes back).
    /// False if the file held none.
    pub fn remove(&self, file: &Path) -> bool {
        let mut had = false;
        self.change(|s| {
            s.failures.remove(file);
            had = s.files.remove(file).is_some();
        });
        had
    }

    /// Forgets a failure of `file` (it holds the version in service again).
    pub fn clear_failure(&self, file: &Path) {
        if self.sources.lock().failures.contains_key(file) {
            self.change(|s| {
                s.failures.remove(file);
            });
        }
    }

    /// Records that `file` failed to load; what was in service stays.
    pub fn fail(&self, file: &Path, error: String) {
        self.change(|s| {
            s.failures.insert(
                file.to_path_buf(),
                LoadFailure {
                    file: file.display().to_string(),
                    error,
                    ts_ms: unix_ms(),
                },
            );
        });
    }

    fn change(&self, f: impl FnOnce(&mut Sources)) {
        let mut sources = self.sources.lock();
        f(&mut sources);
        let next = Arc::new(effective(&sources));
        *self.current.write() = next;
        drop(sources);
        self.generation.send_modify(|g| *g += 1);
    }
}

/// A plugin from a file replaces every other of its name (the most recently loaded file wins);
/// built-in plugins are taken as given.
fn effective(s: &Sources) -> Current {
    let mut entries: Vec<Entry> = s
        .builtin
        .iter()
        .map(|p| Entry {
            plugin: p.clone(),
            file: None,
        })
        .collect();
    let mut files: Vec<(&PathBuf, &Arc<Plugin>)> = s.files.iter().collect();
    files.sort_by_key(|(_, p)| p.meta().loaded_ms);
    for (path, p) in files {
        entries.retain(|e| e.plugin.meta().name != p.meta().name);
        entries.push(Entry {
            plugin: p.clone(),
            file: Some(path.clone()),
        });
    }
    let of = |w: World| -> Arc<[Arc<Plugin>]> {
        entries
            .iter()
            .filter(|e| e.plugin.meta().world == w)
            .map(|e| e.plugin.clone())
            .collect()
    };
    Current {
        drivers: of(World::Driver),
        rules: of(World::AlertRule),
        entries,
    }
}

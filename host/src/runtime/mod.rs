//! The plugin runtime: one wasmtime `Engine` with epoch interruption, a compile thread with an
//! artifact cache, one linker per world, and plugins served by pools of sandboxed instances.
//!
//! Loading a plugin: header check -> compile (off the async runtime) -> find its world from its
//! exports -> link against that world's imports only (a rule cannot import `miner-io`) ->
//! type-check exports -> instantiate once to read `info()` -> start its instances.

pub mod bindings;
mod compiler;
mod config;
mod ctx;
mod engine;
mod error;
mod instance;
mod plugin;
pub mod record;

pub use compiler::{
    CHILD_CANNOT_WRITE, CHILD_INVALID, CompileIn, check_header, precompile_into, sha256_hex,
};
pub use config::RuntimeConfig;
pub use ctx::PluginCtx;
pub use engine::new_engine;
pub use error::{CallError, LoadError, TrapKind};
pub use plugin::{Plugin, PluginMeta, PluginStats, StatsSnapshot, World};

/// Types of the driver world, as the host sees them.
pub mod driver_types {
    pub use super::bindings::driver::exports::solomon::plugin::miner_driver::{
        Identification, PollError, Probe,
    };
    pub use super::bindings::types::{PluginInfo, Target};
}

/// Types of the alert-rule world, as the host sees them.
pub mod rule_types {
    pub use super::bindings::rule::exports::solomon::plugin::rule::{
        Alert, Bound, Event, EventKind, Gauge, Rest, Verdict,
    };
    pub use super::bindings::types::Severity;
}

use crate::host_api::clock::{Clock, ClockApi, SystemClock};
use crate::host_api::log::LogApi;
use crate::host_api::miner_io::MinerIoApi;
use crate::host_api::plugin_state::{MemoryState, StateApi, StateBackend};
use crate::host_api::store::{EmptyStore, StoreApi, StoreReader};
use instance::{Call, InstanceSpec, Pre, Reply, Worker};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use tokio::sync::{Mutex, mpsc};
use wasmtime::Engine;
use wasmtime::component::Linker;

/// The daemon's state as plugins reach it: one implementation per host interface.
#[derive(Clone)]
pub struct HostServices {
    /// Time for `clock`.
    pub clock: Arc<dyn Clock>,
    /// Storage behind `plugin-state`.
    pub state: Arc<dyn StateBackend>,
    /// Miner snapshots behind `store`.
    pub store: Arc<dyn StoreReader>,
    /// HTTP connections to miners kept between `miner-io` calls (by default none are).
    pub connections: Arc<crate::net::IdleConnections>,
}

impl Default for HostServices {
    fn default() -> Self {
        HostServices {
            clock: Arc::new(SystemClock),
            state: Arc::new(MemoryState::default()),
            store: Arc::new(EmptyStore),
            connections: Arc::default(),
        }
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration or a linker definition.
    #[error("wasmtime: {0}")]
    Wasmtime(String),
    /// A helper thread could not be started.
    #[error("cannot start runtime thread: {0}")]
    Thread(#[from] std::io::Error),
}

pub(crate) struct Shared {
    pub engine: Engine,
    pub config: RuntimeConfig,
    pub services: HostServices,
    driver_linker: Linker<PluginCtx>,
    rule_linker: Linker<PluginCtx>,
    /// Where instances run: the tokio runtime `Runtime::new` was called in, so that a
    /// daemon can keep plugins on its polling threads whichever thread loads them later
    /// (hot reload). Outside any runtime, the one of each load.
    executor: Option<tokio::runtime::Handle>,
}

/// Loads and supervises plugins. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
    compiler: Arc<compiler::Compiler>,
    _ticker: Arc<engine::EpochTicker>,
}

fn wt(e: wasmtime::Error) -> RuntimeError {
    RuntimeError::Wasmtime(format!("{e:#}"))
}

/// The linker of one world: WASI deny-all plus exactly the host interfaces that world imports.
pub fn linker(engine: &Engine, world: World) -> wasmtime::Result<Linker<PluginCtx>> {
    use bindings::{clock, log, miner_io, plugin_state, store};
    let mut l = Linker::new(engine);
    // Rust guests import WASI even when unused; it is linked deny-all (see `ctx.rs`).
    wasmtime_wasi::p2::add_to_linker_async(&mut l)?;
    log::add_to_linker::<PluginCtx, LogApi>(&mut l, |c| &mut c.log)?;
    clock::add_to_linker::<PluginCtx, ClockApi>(&mut l, |c| &mut c.clock)?;
    plugin_state::add_to_linker::<PluginCtx, StateApi>(&mut l, |c| &mut c.state)?;
    match world {
        World::Driver => {
            miner_io::add_to_linker::<PluginCtx, MinerIoApi>(&mut l, |c| &mut c.miner_io)?
        }
        World::AlertRule => store::add_to_linker::<PluginCtx, StoreApi>(&mut l, |c| &mut c.store)?,
    }
    Ok(l)
}

/// Finds the world from the component's exports (`<pkg>/<iface>@0.7.x`) and checks that the
/// contract version is the one this host speaks.
fn detect_world(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Result<(World, String), LoadError> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let version = |iface: &str| {
        exports.iter().find_map(|e| {
            e.strip_prefix(iface)
                .and_then(|v| v.strip_prefix('@'))
                .map(str::to_string)
        })
    };
    let (world, found) = match (
        version("solomon:plugin/miner-driver"),
        version("solomon:plugin/rule"),
    ) {
        (Some(v), None) => (World::Driver, v),
        (None, Some(v)) => (World::AlertRule, v),
        _ => return Err(LoadError::WrongWorld { exports }),
    };
    // 0.x: a minor version is a breaking change.
    let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    if minor(&found) != minor(solomon_plugin_sdk::API_VERSION) {
        return Err(LoadError::ContractVersion {
            found,
            supported: solomon_plugin_sdk::API_VERSION,
        });
    }
    Ok((world, found))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Runtime {
    /// Starts the engine, the epoch ticker and the compile thread. Plugin instances will run
    /// on the tokio runtime this is called in (if any), wherever they are loaded from.
    pub fn new(config: RuntimeConfig, services: HostServices) -> Result<Self, RuntimeError> {
        let engine = engine::new_engine().map_err(wt)?;
        let ticker = engine::EpochTicker::start(&engine, &config)?;
        let compiler = compiler::Compiler::start(engine.clone(), &config)?;
        let shared = Shared {
            driver_linker: linker(&engine, World::Driver).map_err(wt)?,
            rule_linker: linker(&engine, World::AlertRule).map_err(wt)?,
            engine,
            config,
            services,
            executor: tokio::runtime::Handle::try_current().ok(),
        };
        Ok(Runtime {
            shared: Arc::new(shared),
            compiler: Arc::new(compiler),
            _ticker: Arc::new(ticker),
        })
    }

    /// The shared engine.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// Reads and loads a `.wasm` file.
    pub async fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Io {
                path: path.display().to_string(),
                source,
            })?;
        self.load(bytes.into()).await
    }

    /// Validates, compiles, links and starts a plugin.
    pub async fn load(&self, bytes: Arc<[u8]>) -> Result<Plugin, LoadError> {
        let size_bytes = bytes.len();
        let compiled = self.compiler.compile(bytes).await?;
        let shared = &self.shared;
        let (world, api_version) = detect_world(&shared.engine, &compiled.component)?;
        let linker = match world {
            World::Driver => &shared.driver_linker,
            World::AlertRule => &shared.rule_linker,
        };
        let pre = linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| LoadError::Imports {
                world: world.as_str(),
                message: format!("{e:#}"),
            })?;
        let exports_err = |e: wasmtime::Error| LoadError::Exports {
            world: world.as_str(),
            message: format!("{e:#}"),
        };
        let pre = match world {
            World::Driver => {
                Pre::Driver(bindings::driver::DriverPre::new(pre).map_err(exports_err)?)
            }
            World::AlertRule => {
                Pre::Rule(bindings::rule::AlertRulePre::new(pre).map_err(exports_err)?)
            }
        };

        // Read `info()` from a throwaway instance under the same sandbox as every call.
        let stats = Arc::new(PluginStats::default());
        let probe_spec = Arc::new(InstanceSpec {
            shared: shared.clone(),
            pre,
            label: Arc::from(format!("{}@?", &compiled.sha256[..12])),
            namespace: String::new(),
            // The load-time `info()` call is not one of the plugin's calls.
            stats: Arc::new(PluginStats::default()),
            healthy: AtomicUsize::new(0),
        });
        let mut worker = Worker::new(probe_spec.clone());
        let info = match worker.call_once(Call::Info).await {
            Ok(Reply::Info(info)) => info,
            Ok(_) => return Err(LoadError::Metadata("unexpected reply to info()".into())),
            Err(e) => return Err(LoadError::Metadata(format!("info() failed: {e}"))),
        };
        let (reads_previous, reads) = match world {
            World::Driver => (false, solomon_plugin_sdk::Fields::ALL),
            World::AlertRule => match worker.call_once(Call::Needs).await {
                Ok(Reply::Needs(n)) => (n.previous, record::fields_from_wit(n.fields)),
                Ok(_) => return Err(LoadError::Metadata("unexpected reply to needs()".into())),
                Err(e) => return Err(LoadError::Metadata(format!("needs() failed: {e}"))),
            },
        };
        drop(worker);
        if !valid_name(&info.name) {
            return Err(LoadError::Metadata(format!(
                "plugin name {:?} must be 1-64 characters of [A-Za-z0-9_-]",
                info.name
            )));
        }
        if info.version.is_empty() || info.version.len() > 64 {
            return Err(LoadError::Metadata(format!(
                "plugin version {:?} is empty or too long",
                info.version
            )));
        }
        let meta = PluginMeta {
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.chars().take(200).collect(),
            world,
            api_version,
            sha256: compiled.sha256,
            size_bytes,
            from_cache: compiled.from_cache,
            compile_ms: compiled.elapsed.as_secs_f64() * 1e3,
            loaded_ms: crate::host_api::clock::unix_ms(),
            reads_previous,
            reads,
        };

        let spec = Arc::try_unwrap(probe_spec)
            .map_err(|_| LoadError::Metadata("instance still in use".into()))?;
        let instances = match world {
            World::Driver => shared.config.instances_per_driver,
            World::AlertRule => shared.config.instances_per_plugin,
        }
        .max(1);
        let spec = Arc::new(InstanceSpec {
            label: Arc::from(meta.label()),
            namespace: meta.name.clone(),
            healthy: AtomicUsize::new(instances),
            stats: stats.clone(),
            ..spec
        });
        let (queue, jobs) = mpsc::channel(shared.config.queue_depth.max(1));
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..instances {
            let worker = Worker::new(spec.clone()).run(jobs.clone());
            match &shared.executor {
                Some(on) => drop(on.spawn(worker)),
                None => drop(tokio::spawn(worker)),
            }
        }
        tracing::info!(plugin = %meta.label(), world = world.as_str(), from_cache = meta.from_cache, compile_ms = meta.compile_ms, "plugin loaded");
        Ok(Plugin {
            meta,
            queue,
            stats,
            max_result_bytes: shared.config.max_result_bytes,
        })
    }
}

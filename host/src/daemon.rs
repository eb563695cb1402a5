//! The daemon as a whole: the store, storage, hub, plugins, miner manager and API wired
//! together, run until a stop signal, and stopped in order.

use crate::alerts::{AlertConfig, AlertEngine};
use crate::cli::plugins::load_plugin_set;
use crate::config::{Defaults, StorageSection};
use crate::hub::Hub;
use crate::manager::{ManagerConfig, MinerManager};
use crate::net::{IdleConnections, idle_connection_budget, open_files_limit};
use crate::notify::{Notifier, NotifyOptions};
use crate::registry::{DEFAULT_DEBOUNCE, Reloader};
use crate::runtime::{CompileIn, HostServices, Runtime, RuntimeConfig};
use crate::server::{self, ApiConfig, AppState, AuthConfig, Ready};
use crate::state::{MinerStore, StoreView};
use crate::storage::{Storage, StorageConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What the daemon runs with, once flags, file and defaults are merged.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API address.
    pub listen: SocketAddr,
    /// Data dir.
    pub data_dir: PathBuf,
    /// Extra plugin folders.
    pub plugin_dirs: Vec<PathBuf>,
    /// Built-in plugins not to load, by name.
    pub disable_builtin: Vec<String>,
    /// Poll interval, timeouts, offline threshold, concurrency.
    pub polling: Defaults,
    /// Auth and WebSocket settings of the API.
    pub api: ApiConfig,
    /// Alert cooldown, rule settings and notification channels.
    pub alerts: AlertConfig,
    /// How notifications are retried.
    pub notify: NotifyOptions,
    /// Where plugins are compiled: the `solomon` binary compiles them in a child process
    /// ([`CompileIn::child_of_this_binary`]); a daemon embedded in another program, such as a
    /// test, compiles in process.
    pub compile_in: CompileIn,
}

impl Settings {
    /// Defaults everywhere but the address, the data dir, the poll interval and the tokens.
    pub fn new(
        listen: SocketAddr,
        data_dir: PathBuf,
        poll_seconds: u64,
        tokens: Vec<String>,
    ) -> Self {
        Settings {
            listen,
            data_dir,
            plugin_dirs: Vec::new(),
            disable_builtin: Vec::new(),
            polling: Defaults {
                poll_seconds,
                ..Default::default()
            },
            api: ApiConfig {
                auth: AuthConfig {
                    tokens,
                    ..Default::default()
                },
                ..Default::default()
            },
            alerts: AlertConfig::default(),
            notify: NotifyOptions::default(),
            compile_in: CompileIn::ThisProcess,
        }
    }
}

/// A fresh random token (128 bits, hex), for a daemon started without one.
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The auth config with at least one token: made up and printed when none was given.
pub fn ensure_token(mut auth: AuthConfig, what: &str) -> anyhow::Result<AuthConfig> {
    if auth.tokens.is_empty() {
        let t = random_token()?;
        eprintln!("{what}: no API token configured; this run's token is {t}");
        auth.tokens.push(t);
    }
    Ok(auth)
}

/// Opens the database in the data dir, with the `[storage]` settings.
pub fn open_storage(
    data_dir: &std::path::Path,
    section: &StorageSection,
) -> anyhow::Result<Arc<Storage>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let db_path = data_dir.join("db");
    let mut config = StorageConfig::new(&db_path);
    section.apply(&mut config);
    tracing::info!(
        raw_days = section.raw_days,
        five_minute_days = section.five_minute_days,
        hourly_days = section.hourly_days,
        cache_mib = section.cache_mib,
        "history retention"
    );
    let storage = Storage::open(config)
        .with_context(|| format!("cannot open the database in {}", db_path.display()))?;
    Ok(Arc::new(storage))
}

/// Longest a shutdown may take before the process exits anyway.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The daemon on an opened database, until SIGINT or SIGTERM.
pub async fn serve_daemon(args: Settings, storage: Arc<Storage>) -> anyhow::Result<()> {
    serve_daemon_until(args, storage, shutdown_signal()).await
}

/// The daemon on an opened database, until `stop` resolves. Then: polling stops, what was
/// polled is written, WebSocket clients get a close frame, in-flight requests finish and the
/// database is flushed, all within [`SHUTDOWN_LIMIT`].
pub async fn serve_daemon_until(
    args: Settings,
    storage: Arc<Storage>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let miners = Arc::new(MinerStore::new());
    let hub = Arc::new(Hub::new(8192));
    let kept = if args.polling.keep_connections {
        idle_connection_budget(open_files_limit())
    } else {
        0
    };
    tracing::info!(
        keep_connections = args.polling.keep_connections,
        most_kept = kept,
        "HTTP miner connections"
    );
    let connections = Arc::new(IdleConnections::new(kept));
    let services = HostServices {
        state: storage.plugin_state(),
        store: Arc::new(StoreView::new(miners.clone(), storage.clone())),
        connections: connections.clone(),
        ..Default::default()
    };
    let mut config = RuntimeConfig {
        cache_dir: Some(args.data_dir.join("plugin-cache")),
        compile_in: args.compile_in.clone(),
        ..Default::default()
    };
    let p = &args.polling;
    config.limits.io_timeout_ms = p.timeout_ms;
    config.limits.io_timeout_max_ms = config.limits.io_timeout_max_ms.max(p.timeout_ms);
    // Polling, drivers and rules run on threads of their own: their tasks hand each other
    // work thousands of times a second (a poll to a driver instance, its record to the rules),
    // and on one thread a hand-over is a queue push where across threads it is a futex wake.
    // The API keeps the caller's runtime, so 100 WebSocket clients never wait on a poll.
    let polling = PollingRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(p.poll_threads.max(1))
            .thread_name("solomon-poll")
            .on_thread_start(mark_polling_thread)
            .enable_all()
            .build()
            .context("cannot start the polling threads")?,
    ));
    let runtime = {
        let _on = polling.enter();
        Runtime::new(config, services)?
    };
    let state = AppState::new(
        miners.clone(),
        Some(storage.clone()),
        hub.clone(),
        &args.api,
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "serving");
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(server::serve(listener, state.clone(), async move {
        let _ = server_stopped.await;
    }));
    let plugins =
        Arc::new(load_plugin_set(&runtime, &args.plugin_dirs, &args.disable_builtin).await);
    tracing::info!(
        drivers = plugins.drivers().len(),
        rules = plugins.rules().len(),
        rejected = plugins.failures().len(),
        "plugins loaded"
    );
    // A folder that cannot be watched is not fatal: its plugins run, without hot reload.
    let _reloader = match Reloader::start(
        runtime.clone(),
        plugins.clone(),
        &args.plugin_dirs,
        DEFAULT_DEBOUNCE,
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!("hot reload off: {e}");
            None
        }
    };

    let defaults = ManagerConfig::default();
    let manager_config = ManagerConfig {
        poll_interval: std::time::Duration::from_secs(p.poll_seconds.max(1)),
        offline_after: p.offline_after.max(1),
        max_concurrent: p.max_concurrent.max(1),
        stall_min: std::time::Duration::from_secs_f64(p.stall_minutes.clamp(0.0, 360.0) * 60.0),
        stall_intervals: p.stall_intervals,
        probe: crate::discovery::ProbeConfig {
            timeout: defaults
                .probe
                .timeout
                .min(std::time::Duration::from_millis(u64::from(p.timeout_ms))),
            ..defaults.probe.clone()
        },
        ..defaults
    };
    let on_polling = polling.enter();
    let engine = AlertEngine::start(
        plugins.clone(),
        storage.clone(),
        hub.clone(),
        args.alerts.clone(),
    );
    let notifier = Notifier::start(
        storage.clone(),
        args.alerts.notify.clone(),
        args.notify.clone(),
    )
    .context("starting the notification sender")?;
    let pending = storage.outbox().pending().map(|p| p.len()).unwrap_or(0);
    tracing::info!(
        channels = args.alerts.notify.len(),
        pending,
        "notifications"
    );
    let manager = Arc::new(MinerManager::new(
        miners,
        storage.clone(),
        plugins.clone(),
        manager_config,
        hub.clone(),
        Some(engine.sender()),
    ));
    let configured = storage.miners().list()?;
    tracing::info!(miners = configured.len(), "polling");
    for m in configured {
        manager.add(m);
    }
    drop(on_polling);
    state.set_ready(Ready {
        plugins,
        manager: Some(manager.clone()),
        connections: Some(connections),
        notify: Some(crate::server::notify::NotifyState {
            channels: args.alerts.notify.iter().map(|c| c.view()).collect(),
            stats: notifier.stats(),
        }),
        rules: Some(engine.stats().clone()),
    });
    let retention = tokio::spawn(prune_periodically(storage.clone()));
    let server_early = tokio::select! {
        () = stop => None,
        r = &mut server => Some(r),
    };
    retention.abort();
    let finish = async {
        manager.shutdown().await;
        engine.shutdown().await;
        notifier.shutdown().await;
        let _ = stop_server.send(());
        let served = match server_early {
            Some(r) => r,
            None => server.await,
        };
        // Upgraded WebSockets outlive the HTTP server: give them a moment for their close frame.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while hub.stats().snapshot().clients > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        served
    };
    let served = tokio::time::timeout(SHUTDOWN_LIMIT, finish).await;
    let flushed = storage.flush();
    match served {
        Ok(r) => r.context("server task")?.context("serving")?,
        Err(_) => tracing::warn!("shutdown took longer than {SHUTDOWN_LIMIT:?}; exiting anyway"),
    }
    // Only idle plugin instances are left on it (and whatever overran the limit).
    drop(polling);
    flushed.context("flushing the database at shutdown")?;
    tracing::info!("stopped");
    Ok(())
}

/// Deletes history past its retention once at start and then hourly, off the async workers.
async fn prune_periodically(storage: Arc<Storage>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let s = storage.clone();
        match tokio::task::spawn_blocking(move || s.prune()).await {
            Ok(Ok(p)) => tracing::debug!(
                chunks = p.chunks,
                minute = p.minute,
                hour = p.hour,
                compacted = p.compacted,
                "retention applied"
            ),
            Ok(Err(e)) => tracing::error!("retention failed: {e}"),
            Err(e) => tracing::error!("retention task failed: {e}"),
        }
    }
}

/// The polling threads' runtime. A tokio runtime must not be dropped inside another's async
/// context, and the daemon's future can end at any `?`: dropping this stops it without
/// waiting instead.
struct PollingRuntime(Option<tokio::runtime::Runtime>);

impl PollingRuntime {
    fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.0.as_ref().map(tokio::runtime::Runtime::enter)
    }
}

impl Drop for PollingRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// How much lower the polling threads' priority is than the API's (a nice value).
pub const POLL_NICENESS: i32 = 5;

/// Sets up each polling thread: what it publishes to WebSocket clients goes out from the
/// serving threads ([`crate::hub::publish_through_flusher_on_this_thread`]), and its
/// priority is lowered by [`POLL_NICENESS`]: polling is throughput work that can wait a few
/// milliseconds for a core, while a WebSocket client waits on every message (alternated at
/// 10,000 miners and 100 clients: p50 store write -> client 3.0 and 3.0 ms with it, 3.4 and
/// 3.6 without).
fn mark_polling_thread() {
    crate::hub::publish_through_flusher_on_this_thread();
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority reads its arguments only; `0` names the calling thread (Linux
        // keeps a nice value per thread).
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, POLL_NICENESS) } != 0 {
            tracing::debug!(
                "a polling thread keeps its priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

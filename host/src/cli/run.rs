//! `solomon run`: the daemon.

use super::plugins::load_plugins;
use crate::config::Config;
use crate::manager::{ManagerConfig, MinerManager};
use crate::runtime::{HostServices, Runtime, RuntimeConfig};
use crate::server::{self, AppState};
use crate::state::{MinerStore, StoreView};
use crate::storage::{MinerConfig, Storage, StorageConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `solomon run`. Flags override the config file, which overrides the defaults.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (TOML; see `examples/solomon.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to serve the HTTP API on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Where the daemon keeps its data [default: solomon-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Extra folders of `.wasm` plugins to load besides the built-in ones.
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Seconds between polls of each miner [default: 10].
    #[arg(long)]
    pub poll_seconds: Option<u64>,
    /// Add a miner, `HOST[:HTTP_PORT[:RPC_PORT]]` (kept in the database; repeatable).
    #[arg(long = "miner", value_parser = parse_miner)]
    pub miners: Vec<MinerConfig>,
}

/// What the daemon runs with, once flags, file and defaults are merged.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API address.
    pub listen: SocketAddr,
    /// Data dir.
    pub data_dir: PathBuf,
    /// Extra plugin folders.
    pub plugin_dirs: Vec<PathBuf>,
    /// Poll interval, seconds.
    pub poll_seconds: u64,
}

/// `10.0.0.5`, `10.0.0.5:80`, `10.0.0.5:80:4028`; the id is the host.
fn parse_miner(s: &str) -> Result<MinerConfig, String> {
    let mut parts = s.split(':');
    let host = parts.next().unwrap_or_default().trim().to_string();
    let port = |p: Option<&str>, default: u16| -> Result<u16, String> {
        p.map_or(Ok(default), |p| {
            p.parse()
                .map_err(|_| format!("{p:?} is not a port in {s:?}"))
        })
    };
    let http_port = port(parts.next(), 80)?;
    let rpc_port = port(parts.next(), 4028)?;
    if parts.next().is_some() {
        return Err(format!("{s:?}: expected HOST[:HTTP_PORT[:RPC_PORT]]"));
    }
    let m = MinerConfig {
        id: host.clone(),
        host,
        http_port,
        rpc_port,
        driver: None,
        name: None,
        labels: Default::default(),
    };
    m.validate()?;
    Ok(m)
}

/// Opens the database in the data dir.
pub fn open_storage(data_dir: &std::path::Path) -> anyhow::Result<Arc<Storage>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let db_path = data_dir.join("db");
    let storage = Storage::open(StorageConfig::new(&db_path))
        .with_context(|| format!("cannot open the database in {}", db_path.display()))?;
    Ok(Arc::new(storage))
}

/// Runs until SIGINT or SIGTERM: serves the API and polls every miner stored in the database.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let settings = Settings {
        listen: args
            .listen
            .or(config.as_ref().map(|c| c.listen))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        data_dir: args
            .data_dir
            .clone()
            .or(config.as_ref().map(|c| c.data_dir.clone()))
            .unwrap_or_else(|| PathBuf::from("solomon-data")),
        plugin_dirs: [
            config
                .as_ref()
                .map(|c| c.plugin_dirs.clone())
                .unwrap_or_default(),
            args.plugin_dirs.clone(),
        ]
        .concat(),
        poll_seconds: args
            .poll_seconds
            .or(config.as_ref().map(|c| c.defaults.poll_seconds))
            .unwrap_or(10),
    };
    let storage = open_storage(&settings.data_dir)?;
    let miners = [config.map(|c| c.miners()).unwrap_or_default(), args.miners].concat();
    if !miners.is_empty() {
        storage
            .miners()
            .put_all(&miners)
            .context("storing the configured miners")?;
    }
    serve_daemon(settings, storage).await
}

/// The daemon on an opened database.
pub async fn serve_daemon(args: Settings, storage: Arc<Storage>) -> anyhow::Result<()> {
    let miners = Arc::new(MinerStore::new());
    let services = HostServices {
        state: storage.plugin_state(),
        store: Arc::new(StoreView::new(miners.clone(), storage.clone())),
        ..Default::default()
    };
    let config = RuntimeConfig {
        cache_dir: Some(args.data_dir.join("plugin-cache")),
        ..Default::default()
    };
    let runtime = Runtime::new(config, services)?;
    let state = AppState::new(miners.clone(), Some(storage.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "serving");
    let server = tokio::spawn(server::serve(listener, state.clone(), shutdown_signal()));
    let plugins = load_plugins(&runtime, &args.plugin_dirs).await;
    tracing::info!(count = plugins.len(), "plugins loaded");
    state.set_plugins(plugins.clone());

    let manager_config = ManagerConfig {
        poll_interval: std::time::Duration::from_secs(args.poll_seconds.max(1)),
        ..Default::default()
    };
    let manager = MinerManager::new(miners, storage.clone(), plugins, manager_config);
    let configured = storage.miners().list()?;
    tracing::info!(miners = configured.len(), "polling");
    for m in configured {
        manager.add(m);
    }
    let retention = tokio::spawn(prune_periodically(storage.clone()));
    server.await.context("server task")??;
    retention.abort();
    manager.shutdown().await;
    storage
        .flush()
        .context("flushing the database at shutdown")?;
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
                "retention applied"
            ),
            Ok(Err(e)) => tracing::error!("retention failed: {e}"),
            Err(e) => tracing::error!("retention task failed: {e}"),
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

//! `solomon run`: the daemon.

use super::plugins::load_plugins;
use crate::runtime::{HostServices, Runtime, RuntimeConfig};
use crate::server::{self, AppState};
use crate::state::{MinerStore, StoreView};
use crate::storage::{Storage, StorageConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `solomon run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Address to serve the HTTP API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the daemon keeps its data (compiled-plugin cache, database).
    #[arg(long, default_value = "solomon-data")]
    pub data_dir: PathBuf,
    /// Extra folders of `.wasm` plugins to load besides the built-in ones.
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let db_path = args.data_dir.join("db");
    let storage = Arc::new(
        Storage::open(StorageConfig::new(&db_path))
            .with_context(|| format!("cannot open the database in {}", db_path.display()))?,
    );
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
    let state = AppState::new();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "serving");
    let server = tokio::spawn(server::serve(listener, state.clone(), shutdown_signal()));
    let plugins = load_plugins(&runtime, &args.plugin_dirs).await;
    tracing::info!(count = plugins.len(), "plugins loaded");
    state.set_plugins(plugins);
    let retention = tokio::spawn(prune_periodically(storage.clone()));
    server.await.context("server task")??;
    retention.abort();
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

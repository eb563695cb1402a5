//! `solomon run`: the daemon.

use crate::config::Config;
use crate::daemon::{Settings, ensure_token, open_storage, serve_daemon};
use crate::runtime::CompileIn;
use crate::server::{ApiConfig, AuthConfig};
use crate::storage::MinerConfig;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// An API token, besides those in the config file.
    #[arg(long, env = "SOLOMON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
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
        disable_builtin: config
            .as_ref()
            .map(|c| c.disable_builtin.clone())
            .unwrap_or_default(),
        polling: {
            let mut d = config
                .as_ref()
                .map(|c| c.defaults.clone())
                .unwrap_or_default();
            if let Some(s) = args.poll_seconds {
                d.poll_seconds = s;
            }
            d
        },
        api: ApiConfig::default(),
        alerts: config
            .as_ref()
            .map(|c| c.alert_config())
            .unwrap_or_default(),
        notify: Default::default(),
        compile_in: CompileIn::child_of_this_binary(),
    };
    let mut auth = config
        .as_ref()
        .map(|c| AuthConfig {
            tokens: c.auth.tokens.clone(),
            protect_reads: c.auth.protect_reads,
            allowed_origins: c.auth.allowed_origins.clone(),
        })
        .unwrap_or_default();
    auth.tokens.extend(args.token.clone());
    let settings = Settings {
        api: ApiConfig {
            auth: ensure_token(auth, "solomon")?,
            ..Default::default()
        },
        ..settings
    };
    let storage = open_storage(
        &settings.data_dir,
        &config
            .as_ref()
            .map(|c| c.storage.clone())
            .unwrap_or_default(),
    )?;
    let miners = [config.map(|c| c.miners()).unwrap_or_default(), args.miners].concat();
    if !miners.is_empty() {
        storage
            .miners()
            .put_all(&miners)
            .context("storing the configured miners")?;
    }
    serve_daemon(settings, storage).await
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

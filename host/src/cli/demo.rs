//! `solomon demo`: the daemon on a simulated fleet, so a newcomer sees live miners at once.

use crate::daemon::{Settings, ensure_token, open_storage, serve_daemon};
use crate::runtime::CompileIn;
use crate::server::AuthConfig;
use crate::simulate::{Fleet, FleetConfig, Scenario};
use crate::storage::MinerConfig;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `solomon demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address to serve the HTTP API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data dir (default: a fresh temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Simulated miners of each kind (AxeOS and CGMiner family).
    #[arg(long, default_value_t = 4)]
    pub miners: usize,
    /// Seconds between polls.
    #[arg(long, default_value_t = 5)]
    pub poll_seconds: u64,
    /// API token for changes (default: a random one, printed at start).
    #[arg(long, env = "SOLOMON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Runs the simulated fleet and the daemon until Ctrl-C.
pub async fn demo(args: DemoArgs) -> anyhow::Result<i32> {
    let n = args.miners.max(1);
    let fleet = Fleet::start(FleetConfig {
        axeos: n,
        cgminer: n,
        first_ip: Ipv4Addr::new(127, 0, 2, 1),
        http_port: 8082,
        rpc_port: 4029,
        ..Default::default()
    })
    .await?;
    // Troubles worth seeing: one overheating, one with a stalled hashrate, one that drops off.
    fleet.set_scenario(1, Scenario::Overheat);
    fleet.set_scenario(n + 1, Scenario::Stall);
    let flapper = fleet.miners().get(n + 2).cloned();
    let tmp;
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => {
            tmp = tempfile_dir()?;
            tmp.clone()
        }
    };
    let storage = open_storage(&data_dir, &Default::default())?;
    let configs: Vec<MinerConfig> = fleet
        .miners()
        .iter()
        .map(|m| MinerConfig {
            id: format!(
                "sim-{:02}-{}",
                m.index,
                format!("{:?}", m.kind).to_lowercase()
            ),
            host: m.ip.to_string(),
            http_port: 8082,
            rpc_port: 4029,
            driver: None,
            name: None,
            labels: [("simulated".to_string(), "true".to_string())]
                .into_iter()
                .collect(),
        })
        .collect();
    storage.miners().put_all(&configs)?;
    eprintln!(
        "demo: {} simulated miners, data in {}, API on http://{}/api/v1/miners",
        configs.len(),
        data_dir.display(),
        args.listen
    );
    // The flapping miner: 40 s online, 40 s offline.
    let flap = tokio::spawn(async move {
        let Some(m) = flapper else { return };
        loop {
            tokio::time::sleep(Duration::from_secs(40)).await;
            m.set_scenario(Scenario::Offline);
            tokio::time::sleep(Duration::from_secs(40)).await;
            m.set_scenario(Scenario::Normal);
        }
    });
    let auth = AuthConfig {
        tokens: args.token.into_iter().collect(),
        ..Default::default()
    };
    let auth = ensure_token(auth, "demo")?;
    if let Some(t) = auth.tokens.first() {
        // The page keeps the token from `?token=` and removes it from the address bar.
        eprintln!("demo: dashboard on http://{}/?token={t}", args.listen);
    }
    let run = Settings {
        compile_in: CompileIn::child_of_this_binary(),
        ..Settings::new(args.listen, data_dir, args.poll_seconds, auth.tokens)
    };
    let result = serve_daemon(run, storage).await;
    flap.abort();
    drop(fleet);
    result.map(|()| 0)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("solomon-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

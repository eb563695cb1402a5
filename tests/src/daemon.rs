//! A whole daemon in the test's runtime (`serve_daemon_until` on a real socket, the built-in
//! plugins, sled in a temp dir) and the configs of a simulated fleet's miners.

use solomon_host::alerts::AlertConfig;
use solomon_host::daemon::{Settings, open_storage, serve_daemon_until};
use solomon_host::simulate::Fleet;
use solomon_host::storage::MinerConfig;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The API token every test daemon accepts.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A running daemon; [`Daemon::stop`] shuts it down and checks that it stopped cleanly.
pub struct Daemon {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// A daemon on `addr` polling `miners` every second.
    pub async fn start(addr: SocketAddr, miners: Vec<MinerConfig>) -> Daemon {
        Self::start_with(addr, miners, Vec::new(), AlertConfig::default()).await
    }

    /// The same, with plugin folders and alert settings.
    pub async fn start_with(
        addr: SocketAddr,
        miners: Vec<MinerConfig>,
        plugin_dirs: Vec<std::path::PathBuf>,
        alerts: AlertConfig,
    ) -> Daemon {
        Self::launch(addr, miners, 1, |s| Settings {
            plugin_dirs,
            alerts,
            ..s
        })
        .await
    }

    /// A daemon on `addr` polling `miners` every `poll_seconds`, with `adjust` applied to the
    /// default settings.
    pub async fn launch(
        addr: SocketAddr,
        miners: Vec<MinerConfig>,
        poll_seconds: u64,
        adjust: impl FnOnce(Settings) -> Settings,
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Self::launch_in(addr, dir.path(), miners, poll_seconds, adjust).await;
        d._dir = Some(dir);
        d
    }

    /// The same with its data in `dir`, which outlives it (for restarts).
    pub async fn launch_in(
        addr: SocketAddr,
        dir: &std::path::Path,
        miners: Vec<MinerConfig>,
        poll_seconds: u64,
        adjust: impl FnOnce(Settings) -> Settings,
    ) -> Daemon {
        let storage = open_storage(dir, &Default::default()).expect("storage");
        storage.miners().put_all(&miners).expect("miners");
        let settings = adjust(Settings::new(
            addr,
            dir.to_path_buf(),
            poll_seconds,
            vec![TOKEN.into()],
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_daemon_until(settings, storage, async move {
            let _ = stopped.await;
        }));
        let start = Instant::now();
        while !crate::is_ready(addr).await {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "daemon never ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Daemon {
            stop: Some(stop),
            task,
            _dir: None,
        }
    }

    /// Shuts down and asserts a clean stop within the shutdown limit.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let r = tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("stops within the shutdown limit")
            .expect("task");
        r.expect("clean stop");
    }
}

/// A config per simulated miner: ids `m<index>`, names `sim <index>`, label `rack`.
pub fn sim_miners(fleet: &Fleet, http_port: u16, rpc_port: u16) -> Vec<MinerConfig> {
    fleet
        .miners()
        .iter()
        .map(|m| MinerConfig {
            id: format!("m{}", m.index),
            host: m.ip.to_string(),
            http_port,
            rpc_port,
            driver: None,
            name: Some(format!("sim {}", m.index)),
            labels: [("rack".to_string(), format!("r{}", m.index % 2))]
                .into_iter()
                .collect(),
        })
        .collect()
}

//! The WebSocket clients of `solomon bench daemon`, run as a child process
//! (`solomon bench ws-clients --addr ADDR --clients N --seconds S`) so that their CPU and memory
//! are not counted as the daemon's. The child prints one JSON line: rows received, latency
//! quantiles, lag resyncs, and its own CPU time from the end of the snapshots on.

use super::proc::{cpu, quantile};
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the clients measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClientsReport {
    /// Miner rows received after the snapshots.
    pub rows: usize,
    /// Store write -> client latency, median, ms.
    pub p50_ms: f64,
    /// Same, 99th percentile.
    pub p99_ms: f64,
    /// `lagged` messages received.
    pub lagged: u64,
    /// CPU seconds the clients' process used after the snapshots.
    pub cpu_s: f64,
}

/// The clients' child process; killed if dropped before it reported.
pub struct WsClients(Option<Child>);

impl WsClients {
    /// Starts `n` clients on `addr` for `seconds` in a child process.
    pub fn start(addr: SocketAddr, n: usize, run_for: Duration) -> anyhow::Result<Self> {
        let child = Command::new(std::env::current_exe()?)
            .args(["bench", "ws-clients", "--addr", &addr.to_string()])
            .args(["--clients", &n.to_string()])
            .args(["--seconds", &run_for.as_secs().to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the WebSocket clients")?;
        Ok(WsClients(Some(child)))
    }

    /// Waits for the clients' report (blocking).
    pub fn report(mut self) -> anyhow::Result<ClientsReport> {
        let mut child = self.0.take().context("already reported")?;
        let out = child.stdout.take().context("clients' stdout")?;
        let line = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with('{'))
            .context("the WebSocket clients exited without a report")?;
        let _ = child.wait();
        serde_json::from_str(&line).context("reading the clients' report")
    }
}

impl Drop for WsClients {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The child's side: runs `n` clients for `seconds`, prints the report as one JSON line.
pub async fn run(addr: SocketAddr, n: usize, seconds: u64) -> anyhow::Result<i32> {
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let clients: Vec<_> = (0..n).map(|_| tokio::spawn(client(addr, until))).collect();
    tokio::time::sleep(SETTLE).await;
    let cpu0 = cpu("self");
    let (mut all, mut lagged) = (Vec::new(), 0);
    for c in clients {
        match c.await {
            Ok(Ok((l, g))) => {
                all.extend(l);
                lagged += g;
            }
            Ok(Err(e)) => eprintln!("a WebSocket client failed: {e:#}"),
            Err(e) => eprintln!("a WebSocket client panicked: {e}"),
        }
    }
    let cpu_s = match (cpu0, cpu("self")) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    all.sort_by(f64::total_cmp);
    let report = ClientsReport {
        rows: all.len(),
        p50_ms: quantile(&all, 0.5),
        p99_ms: quantile(&all, 0.99),
        lagged,
        cpu_s,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(0)
}

fn now_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// How long the clients' snapshots are given before latencies and CPU are counted.
pub const SETTLE: Duration = Duration::from_secs(3);

/// One WebSocket client subscribed to the fleet, collecting latencies until `stop`.
async fn client(addr: SocketAddr, until: tokio::time::Instant) -> anyhow::Result<(Vec<f64>, u64)> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/api/v1/ws"), None, true)
            .await?;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        r#"{"op":"subscribe","topics":["fleet"]}"#.into(),
    ))
    .await?;
    let (mut lat, mut lagged) = (Vec::new(), 0u64);
    // Steady state only: the first seconds go to 100 clients taking their snapshots at once.
    let record_from = tokio::time::Instant::now() + SETTLE;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            () = tokio::time::sleep_until(until) => break,
        };
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) = msg else {
            if msg.is_none() {
                break;
            }
            continue;
        };
        let t = t.as_str();
        if t.starts_with(r#"{"type":"rows""#) && tokio::time::Instant::now() >= record_from {
            let at = now_ms_f64();
            for part in t.split(r#""updated_ms":"#).skip(1) {
                if let Some(u) = part
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse::<f64>().ok())
                {
                    lat.push(at - u);
                }
            }
        } else if t.starts_with(r#"{"type":"lagged""#) {
            lagged += 1;
        }
    }
    Ok((lat, lagged))
}

//! `solomon bench daemon`: the daemon polling a simulated fleet that runs in a child process
//! (`solomon simulate`), so the daemon's CPU and the simulator's are measured apart.
//!
//! Two windows per fleet size. First the daemon alone: polls per second, CPU per poll, CPU
//! share of the machine, RSS. Then with WebSocket clients subscribed to the fleet (in another
//! child process, `solomon bench ws-clients`): latency from the store write of a polled
//! record (`updated_ms`) to its arrival at each client, and the daemon's CPU and peak RSS
//! while it serves them. The
//! simulated miner's own change reaches the daemon at its next poll, which is the poll
//! interval's business, not the hub's.

use super::BenchArgs;
use super::clients::{SETTLE, WsClients};
use super::proc::{cpu, cpu_split, heap_figures, status_kib};
use crate::daemon::{Settings, open_storage, serve_daemon_until};
use crate::runtime::CompileIn;
use crate::storage::MinerConfig;
use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FIRST_IP: Ipv4Addr = Ipv4Addr::new(127, 1, 0, 1);
const HTTP_PORT: u16 = 18_400;
const RPC_PORT: u16 = 18_401;

/// The simulator as a child process; killed when dropped.
struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_simulator(axeos: usize, cgminer: usize) -> anyhow::Result<Simulator> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "simulate",
            "--axeos",
            &axeos.to_string(),
            "--cgminer",
            &cgminer.to_string(),
        ])
        .args(["--first-ip", &FIRST_IP.to_string()])
        .args([
            "--http-port",
            &HTTP_PORT.to_string(),
            "--rpc-port",
            &RPC_PORT.to_string(),
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the simulator")?;
    let stderr = child.stderr.take().context("simulator stderr")?;
    let sim = Simulator(child);
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("simulating") => break,
            Some(Ok(_)) => {}
            _ => anyhow::bail!("the simulator exited before serving"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(sim)
}

/// `solomon_polls_total` summed over outcomes, from a `/metrics` scrape read line by line:
/// the text is megabytes at 10,000 miners, and this process's RSS is the daemon's figure.
async fn polls(addr: SocketAddr) -> anyhow::Result<u64> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        // HTTP/1.0: the body ends when the daemon closes, so no chunked decoding is needed.
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
            .await?;
        let mut lines = tokio::io::BufReader::new(stream).lines();
        let mut total = 0.0;
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("solomon_polls_total{") {
                total += line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
            }
        }
        Ok::<u64, std::io::Error>(total as u64)
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .context("scraping /metrics timed out")?
        .context("scraping /metrics")
}

async fn run_fleet(n: usize, args: &BenchArgs) -> anyhow::Result<()> {
    let axeos = n / 2;
    let sim = start_simulator(axeos, n - axeos)?;
    let dir = std::env::temp_dir().join(format!("solomon-bench-{}-{n}", std::process::id()));
    let mut section = crate::config::StorageSection::default();
    if let Some(mib) = args.cache_mib {
        section.cache_mib = mib.max(1);
    }
    if let Some(mib) = args.state_mirror_mib {
        section.state_mirror_mib = mib;
    }
    let storage = open_storage(&dir, &section)?;
    let miners: Vec<MinerConfig> = (0..n)
        .map(|i| MinerConfig {
            id: format!("b{i:05}"),
            host: Ipv4Addr::from(u32::from(FIRST_IP).wrapping_add(i as u32)).to_string(),
            http_port: HTTP_PORT,
            rpc_port: RPC_PORT,
            driver: Some(
                if i < axeos {
                    "driver-axeos"
                } else {
                    "driver-cgminer"
                }
                .into(),
            ),
            name: None,
            labels: Default::default(),
        })
        .collect();
    storage.miners().put_all(&miners)?;
    let addr: SocketAddr = "127.0.32.1:18402".parse()?;
    let token = crate::daemon::random_token()?;
    let mut settings = Settings::new(addr, dir.clone(), args.poll_seconds, vec![token]);
    settings.compile_in = CompileIn::child_of_this_binary();
    settings.polling.keep_connections = !args.no_keep_connections;
    if args.no_rules {
        settings.disable_builtin = crate::builtin::BUILTIN_PLUGINS
            .iter()
            .filter(|b| b.name.starts_with("rule-"))
            .map(|b| b.name.to_string())
            .collect();
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(serve_daemon_until(settings, storage, async move {
        let _ = stop_rx.await;
    }));
    let sim_pid = sim.0.id().to_string();

    // Warm up: every miner polled once (plugins loaded, instances made, memo learnt).
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if polls(addr).await.unwrap_or(0) >= n as u64 * 2 {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(180),
            "the fleet was never polled twice"
        );
    }
    eprintln!(
        "{n} miners: warmed up in {:.1} s; measuring {} s",
        start.elapsed().as_secs_f64(),
        args.seconds
    );

    let window = Duration::from_secs(args.seconds);
    let (p0, c0, s0, t0) = (
        polls(addr).await?,
        cpu_split("self"),
        cpu(&sim_pid),
        Instant::now(),
    );
    tokio::time::sleep(window).await;
    let (p1, c1, s1, dt) = (
        polls(addr).await?,
        cpu_split("self"),
        cpu(&sim_pid),
        t0.elapsed(),
    );
    let rss_alone = status_kib("self", "VmRSS").unwrap_or(0);
    let dp = (p1 - p0).max(1) as f64;
    let secs = dt.as_secs_f64();
    let per_poll = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    let user = per_poll(c0.map(|c| c.0), c1.map(|c| c.0));
    let system = per_poll(c0.map(|c| c.1), c1.map(|c| c.1));
    let daemon_cpu = user + system;
    let sim_cpu = per_poll(s0, s1);
    println!(
        "fleet of {n} miners, polled every {} s ({} AxeOS, {} CGMiner family)",
        args.poll_seconds,
        axeos,
        n - axeos
    );
    println!(
        "  sustained polls: {:.0}/s (ideal {:.0}/s)",
        dp / secs,
        n as f64 / args.poll_seconds as f64
    );
    println!(
        "  daemon CPU: {:.1} µs per poll ({:.1} user, {:.1} kernel, mostly a TCP connection per exchange), {:.1}% of 2 cores",
        daemon_cpu * 1e6 / dp,
        user * 1e6 / dp,
        system * 1e6 / dp,
        100.0 * daemon_cpu / secs / 2.0
    );
    println!(
        "  simulator CPU (apart): {:.1} µs per poll",
        sim_cpu * 1e6 / dp
    );
    println!(
        "  daemon RSS: {:.1} MB ({})",
        rss_alone as f64 / 1024.0,
        heap_figures()
    );
    if args.steady_seconds > 0 {
        steady_state(addr, Duration::from_secs(args.steady_seconds)).await?;
    }

    // With WebSocket clients, in a child process of their own like the simulator, so the
    // daemon's CPU and RSS are its own.
    if args.clients > 0 {
        let clients = WsClients::start(addr, args.clients, window + SETTLE)?;
        tokio::time::sleep(SETTLE).await;
        let (p0, c0, t0) = (polls(addr).await?, cpu("self"), Instant::now());
        let report = tokio::task::spawn_blocking(move || clients.report()).await??;
        let (p1, c1, secs) = (polls(addr).await?, cpu("self"), t0.elapsed().as_secs_f64());
        let dp = (p1 - p0).max(1) as f64;
        println!(
            "  {} WebSocket clients on the fleet topic (another process): {} miner rows received; store write -> client p50 {:.1} ms, p99 {:.1} ms (1 ms clock resolution); {} lag resyncs",
            args.clients, report.rows, report.p50_ms, report.p99_ms, report.lagged
        );
        if let (Some(a), Some(b)) = (c0, c1) {
            let daemon = (b - a).as_secs_f64();
            println!(
                "  while serving them (after the snapshots): {:.0} polls/s; daemon CPU {:.1}% of 2 cores ({:.1} µs per poll); the clients' process {:.1}% apart",
                dp / secs,
                100.0 * daemon / secs / 2.0,
                daemon * 1e6 / dp,
                100.0 * report.cpu_s / secs / 2.0
            );
        }
        println!(
            "  daemon peak RSS, snapshots to {} clients included: {:.1} MB",
            args.clients,
            status_kib("self", "VmHWM").unwrap_or(0) as f64 / 1024.0
        );
        println!(
            "  at the clients' end: RSS {:.1} MB, {}",
            status_kib("self", "VmRSS").unwrap_or(0) as f64 / 1024.0,
            heap_figures()
        );
    }
    let _ = stop_tx.send(());
    daemon.await.context("daemon task")??;
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Keeps the daemon polling for `span`, reading its RSS every 10 s, then prints the range and
/// the CPU per poll over the whole span.
async fn steady_state(addr: SocketAddr, span: Duration) -> anyhow::Result<()> {
    let (p0, c0, t0) = (polls(addr).await?, cpu("self"), Instant::now());
    let (mut low, mut high, mut last) = (u64::MAX, 0, 0);
    let mut reads = 0u64;
    while t0.elapsed() < span {
        tokio::time::sleep(Duration::from_secs(10).min(span.saturating_sub(t0.elapsed()))).await;
        last = status_kib("self", "VmRSS").unwrap_or(0);
        low = low.min(last);
        high = high.max(last);
        reads += 1;
        // The heap beside RSS, each minute: RSS above the heap's resident pages is code,
        // stacks and mappings (sled's, wasmtime's); resident above live is fragmentation.
        // "Live" includes ~21 MB of sled's metrics histograms, allocated at start and never
        // touched (heaptrack; opening sled costs 0.9 MB RSS with jemalloc).
        if reads.is_multiple_of(6) {
            println!(
                "    at {:>5.0} s: RSS {:.1} MB, {}",
                t0.elapsed().as_secs_f64(),
                last as f64 / 1024.0,
                heap_figures()
            );
        }
    }
    let (p1, c1, secs) = (polls(addr).await?, cpu("self"), t0.elapsed().as_secs_f64());
    let dp = (p1 - p0).max(1) as f64;
    let per_poll = match (c0, c1) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / dp,
        _ => f64::NAN,
    };
    println!(
        "  over {:.0} s more: RSS {:.1}-{:.1} MB (read every 10 s), last {:.1} MB; {:.0} polls/s; daemon CPU {:.1} µs per poll, {:.1}% of 2 cores",
        secs,
        low as f64 / 1024.0,
        high as f64 / 1024.0,
        last as f64 / 1024.0,
        dp / secs,
        per_poll,
        per_poll * dp / secs / 1e6 * 100.0 / 2.0
    );
    Ok(())
}

/// Runs every fleet size in turn.
pub async fn bench(args: &BenchArgs) -> anyhow::Result<i32> {
    for &n in &args.fleets {
        run_fleet(n.max(2), args).await?;
    }
    Ok(0)
}

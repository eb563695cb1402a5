//! `solomon bench drivers`: what polling costs through the real path (socket -> WASM driver
//! -> record) against the simulator, `solomon probe` as a fresh process, and a /24 scan.
//! Figures are printed; nothing is asserted (the machine is shared and noisy).

use super::super::plugins::{command_runtime_with, load_plugins};
use super::BenchArgs;
use super::proc::{cpu_split, thread_cpu, time_wait_sockets};
use crate::discovery::{ProbeConfig, hosts_in, scan};
use crate::net::IdleConnections;
use crate::runtime::driver_types::Target;
use crate::runtime::{HostServices, Plugin};
use crate::simulate::{Fleet, FleetConfig};
use anyhow::Context;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Miners polled at once in the concurrent figures.
const CONCURRENT: usize = 16;

/// CPU and wall time per exchange, running `poll` on every target `polls / targets` times, all
/// targets at once, one exchange in flight per target.
async fn measure<F, Fut>(targets: Vec<Target>, polls: usize, poll: F) -> anyhow::Result<String>
where
    F: Fn(Target) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let per_target = (polls / targets.len()).max(1);
    let poll = &poll;
    let poll_all = |n: usize| {
        let loops = targets.iter().cloned().map(|t| async move {
            for _ in 0..n {
                poll(t.clone()).await?;
            }
            Ok::<(), anyhow::Error>(())
        });
        futures_util::future::try_join_all(loops)
    };
    // Warm up: instances created, caches filled.
    poll_all(20).await?;
    let (cpu0, ticks0, wall0) = (thread_cpu(), cpu_split("thread-self"), Instant::now());
    poll_all(per_target).await?;
    let records = (per_target * targets.len()) as f64;
    let wall = wall0.elapsed().as_secs_f64() * 1e6 / records;
    let cpu = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => format!("{:.1} µs CPU", (b - a).as_secs_f64() * 1e6 / records),
        _ => "CPU n/a".into(),
    };
    // Kernel time includes the loopback TCP work the kernel does in this thread's context on
    // behalf of both ends.
    let split = match (ticks0, cpu_split("thread-self")) {
        (Some((u0, s0)), Some((u1, s1))) if u1 + s1 > u0 + s0 => {
            let all = (u1 + s1 - u0 - s0).as_secs_f64();
            format!(
                " ({:.0}% user, {:.0}% kernel)",
                100.0 * (u1 - u0).as_secs_f64() / all,
                100.0 * (s1 - s0).as_secs_f64() / all
            )
        }
        _ => String::new(),
    };
    Ok(format!(
        "{cpu}{split} per record (daemon side), {wall:.1} µs wall"
    ))
}

/// One boxed poll.
type PollFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// A poll through `driver`, for [`measure`].
fn poll_with<'a>(driver: &'a Plugin) -> impl Fn(Target) -> PollFuture<'a> + 'a {
    move |t| {
        Box::pin(async move {
            driver
                .poll(t)
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(())
        })
    }
}

/// Sockets left in TIME_WAIT by earlier runs above which the figures read high.
const QUIET_TIME_WAIT: usize = 1000;

/// Waits (at most 70 s, the kernel keeps them 60 s) for the TIME_WAIT sockets of an earlier
/// benchmark to expire. On loopback the simulator's closed connections wait in the same kernel
/// tables the polls look up, and after `bench daemon` (~60,000 of them) a stock Antminer's
/// record measured ~6 us more; on a real network they wait on the miners, which close first.
async fn wait_for_quiet_tcp() {
    let start = Instant::now();
    let mut told = false;
    loop {
        let n = time_wait_sockets();
        if n <= QUIET_TIME_WAIT || start.elapsed() > Duration::from_secs(70) {
            if told {
                eprintln!("{n} left; measuring");
            }
            return;
        }
        if !told {
            eprintln!(
                "{n} TCP sockets in TIME_WAIT from an earlier run: waiting for them to expire (up to 60 s)"
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Runs the benchmark; the simulator lives on its own thread so its CPU is not counted.
pub async fn bench(args: &BenchArgs) -> anyhow::Result<i32> {
    wait_for_quiet_tcp().await;
    let (http, rpc) = (18_381u16, 14_328u16);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let fleet = Fleet::start(FleetConfig {
                axeos: 1,
                cgminer: 2,
                first_ip: Ipv4Addr::new(127, 0, 30, 1),
                http_port: http,
                rpc_port: rpc,
                ..Default::default()
            })
            .await?;
            let scan_fleet = Fleet::start(FleetConfig {
                axeos: 25,
                cgminer: 25,
                first_ip: Ipv4Addr::new(127, 0, 31, 1),
                http_port: http,
                rpc_port: rpc,
                ..Default::default()
            })
            .await?;
            // AxeOS first, then CGMiner families in rotation (Antminer, Whatsminer, ...).
            let busy_fleet = Fleet::start(FleetConfig {
                axeos: CONCURRENT,
                cgminer: CONCURRENT * 5,
                first_ip: Ipv4Addr::new(127, 0, 32, 1),
                http_port: http,
                rpc_port: rpc,
                ..Default::default()
            })
            .await?;
            let _ = ready_tx.send(());
            let _ = stop_rx.await;
            drop((fleet, scan_fleet, busy_fleet));
            Ok::<(), anyhow::Error>(())
        })
    });
    ready_rx.recv().context("simulator did not start")?;

    let polls = args.polls;
    let measured = std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            // Connections kept between polls, as the daemon keeps them.
            let runtime = command_runtime_with(HostServices {
                connections: Arc::new(IdleConnections::new(1024)),
                ..Default::default()
            })?;
            let drivers = load_plugins(&runtime, &[]).await;
            let find = |name: &str| drivers.iter().find(|d| d.meta().name == name).cloned().context("driver missing");
            let mut out = Vec::new();
            for (label, driver, ip, port) in [
                ("AxeOS (1 HTTP request, on the connection kept from the last poll)", find("driver-axeos")?, Ipv4Addr::new(127, 0, 30, 1), http),
                ("Antminer stock (no multi-command: pools and stats, summary only when they show it changed, version reused; learnt on the first poll)", find("driver-cgminer")?, Ipv4Addr::new(127, 0, 30, 2), rpc),
                ("Whatsminer (1 multi-command)", find("driver-cgminer")?, Ipv4Addr::new(127, 0, 30, 3), rpc),
            ] {
                let target = Target { host: ip.to_string(), http_port: port, rpc_port: port };
                let m = measure(vec![target], polls, poll_with(&driver)).await?;
                out.push(format!("poll {label}, one at a time: {m}"));
            }
            // The daemon polls many miners at once, so the per-poll cost of waking up and
            // waiting is shared; these figures are what a busy daemon pays per record.
            // Sixteen miners of one kind in the busy fleet: AxeOS from its first address,
            // CGMiner families every fifth address after them.
            let busy = |first: usize| -> Vec<Target> {
                let step = if first == 0 { 1 } else { 5 };
                (0..CONCURRENT)
                    .map(|i| Target {
                        host: Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 32, 1)) + (first + i * step) as u32).to_string(),
                        http_port: http,
                        rpc_port: rpc,
                    })
                    .collect()
            };
            for (label, driver, first) in [
                ("AxeOS", find("driver-axeos")?, 0),
                ("Antminer stock", find("driver-cgminer")?, CONCURRENT),
                ("Whatsminer", find("driver-cgminer")?, CONCURRENT + 1),
                ("Avalon", find("driver-cgminer")?, CONCURRENT + 2),
                ("Braiins OS", find("driver-cgminer")?, CONCURRENT + 3),
                ("LuxOS", find("driver-cgminer")?, CONCURRENT + 4),
            ] {
                let m = measure(busy(first), polls, poll_with(&driver)).await?;
                out.push(format!("poll {label}, {CONCURRENT} miners at once (one request in flight each): {m}"));
            }
            // The floor under any driver: the same exchanges made by the host alone.
            let axeos_get = |t: Target| async move {
                crate::net::http_get(&t.host, t.http_port, "/api/system/info", 1 << 20, Duration::from_secs(5)).await?;
                Ok(())
            };
            let cgminer_version = |t: Target| async move {
                crate::net::tcp_request(&t.host, t.rpc_port, br#"{"command":"version"}"#, 1 << 20, Duration::from_secs(5)).await?;
                Ok(())
            };
            let one = |ip: &str| vec![Target { host: ip.to_string(), http_port: http, rpc_port: rpc }];
            let m = measure(one("127.0.30.1"), polls, axeos_get).await?;
            out.push(format!("reference: bare HTTP GET of the AxeOS info from the host (no driver), a new connection each, one at a time: {m}"));
            let m = measure(busy(0), polls, axeos_get).await?;
            out.push(format!("reference: the same, {CONCURRENT} miners at once: {m}"));
            // What the drivers do: one connection kept per miner between polls.
            let pool = IdleConnections::new(1024);
            let axeos_get_kept = |t: Target| {
                let pool = &pool;
                async move {
                    let req = crate::net::get_request(&t.host, t.http_port, "/api/system/info")?;
                    crate::net::http_reusing(pool, &t.host, t.http_port, req, 1 << 20, Duration::from_secs(5)).await?;
                    Ok(())
                }
            };
            let m = measure(one("127.0.30.1"), polls, axeos_get_kept).await?;
            out.push(format!("reference: bare HTTP GET on a kept connection, one at a time: {m}"));
            let m = measure(busy(0), polls, axeos_get_kept).await?;
            out.push(format!("reference: the same, {CONCURRENT} miners at once: {m}"));
            // One CGMiner exchange alone (connect, send, read to EOF); a stock Antminer needs
            // two or three per record.
            let m = measure(one("127.0.30.3"), polls, cgminer_version).await?;
            out.push(format!("reference: one bare CGMiner exchange (`version`) from the host (no driver), one at a time: {m}"));
            let m = measure(busy(CONCURRENT + 1), polls, cgminer_version).await?;
            out.push(format!("reference: the same, {CONCURRENT} miners at once: {m}"));
            let hosts: Vec<String> = hosts_in("127.0.31.0/24")?.iter().map(ToString::to_string).collect();
            let cfg = ProbeConfig { http_port: http, rpc_port: rpc, timeout: Duration::from_millis(1000) };
            let t = Instant::now();
            let found = scan(&drivers, hosts, &cfg, 256, |_, _| {}).await.into_iter().filter(|(_, r)| r.is_ok()).count();
            out.push(format!("scan of a loopback /24 holding 50 simulated miners (in process): found {found} in {:.3} s", t.elapsed().as_secs_f64()));
            Ok(out)
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("benchmark thread panicked"))??;
    for line in measured {
        println!("{line}");
    }

    let exe = std::env::current_exe()?;
    let mut times = Vec::new();
    for i in 0..=args.processes {
        let t = Instant::now();
        let out = std::process::Command::new(&exe)
            .args([
                "probe",
                "127.0.30.2",
                "--http-port",
                &http.to_string(),
                "--rpc-port",
                &rpc.to_string(),
            ])
            .env("RUST_LOG", "error")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "probe failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The first run fills the plugin cache.
        if i > 0 {
            times.push(t.elapsed());
        }
    }
    println!(
        "solomon probe as a fresh process (Antminer, warm plugin cache): median {:.1} ms of {} runs",
        median(times).as_secs_f64() * 1e3,
        args.processes
    );
    let t = Instant::now();
    let out = std::process::Command::new(&exe)
        .args([
            "scan",
            "127.0.31.0/24",
            "--http-port",
            &http.to_string(),
            "--rpc-port",
            &rpc.to_string(),
        ])
        .env("RUST_LOG", "error")
        .output()?;
    let listed = String::from_utf8_lossy(&out.stdout).lines().skip(1).count();
    println!(
        "solomon scan of the /24 as a fresh process: {listed} miners listed in {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let _ = stop_tx.send(());
    sim.join()
        .map_err(|_| anyhow::anyhow!("simulator thread panicked"))??;
    Ok(0)
}

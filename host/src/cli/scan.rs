//! `solomon scan CIDR`: find every miner in an address range.

use super::format;
use super::plugins::{command_runtime, load_plugins};
use super::ports::PortArgs;
use crate::discovery::{hosts_in, scan as scan_hosts};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `solomon scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Range to scan, e.g. 192.168.1.0/24 (at most a /16).
    pub cidr: String,
    /// Ports of the miners.
    #[command(flatten)]
    pub ports: PortArgs,
    /// Addresses probed at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Per-request timeout, ms.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// One JSON object per miner found.
    #[arg(long)]
    pub json: bool,
    /// Extra folders of driver plugins.
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
}

/// Scans and lists what answered; exit 1 on a bad range.
pub async fn scan(args: ScanArgs) -> anyhow::Result<i32> {
    let hosts = match hosts_in(&args.cidr) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(1);
        }
    };
    let runtime = command_runtime()?;
    let drivers = load_plugins(&runtime, &args.plugin_dirs).await;
    let cfg = args.ports.probe_config(args.timeout_ms);
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let results = scan_hosts(
        &drivers,
        hosts.iter().map(ToString::to_string).collect(),
        &cfg,
        args.concurrency,
        |done, total| {
            if tty {
                let width = 30;
                let filled = done * width / total.max(1);
                eprint!(
                    "\r[{}{}] {done}/{total}",
                    "=".repeat(filled),
                    " ".repeat(width - filled)
                );
                let _ = std::io::stderr().flush();
            }
        },
    )
    .await;
    if tty {
        eprintln!();
    }
    let mut found = 0;
    if !args.json {
        println!(
            "{:<16} {:<11} {:<14} {:>12}  {:<12} DRIVER",
            "HOST", "MAKE", "MODEL", "HASHRATE", "FIRMWARE"
        );
    }
    for (host, r) in &results {
        match r {
            Ok(f) => {
                found += 1;
                let rec = &f.record;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"host": host, "driver": f.driver, "record": rec})
                    );
                } else {
                    println!(
                        "{:<16} {:<11} {:<14} {:>12}  {:<12} {}",
                        host,
                        rec.make,
                        rec.model.as_deref().unwrap_or("-"),
                        rec.hashrate_hs
                            .map(format::hashrate)
                            .unwrap_or_else(|| "-".into()),
                        rec.firmware_version
                            .as_deref()
                            .or(rec.firmware.as_deref())
                            .unwrap_or("-"),
                        f.driver
                    );
                }
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    eprintln!(
        "{found} miners in {} addresses, {:.2} s",
        hosts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

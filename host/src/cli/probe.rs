//! `solomon probe HOST`: detect and poll one miner.

use super::format;
use super::plugins::{command_runtime, load_plugins};
use super::ports::PortArgs;
use crate::discovery::probe_and_poll;
use solomon_plugin_sdk::MinerRecord;
use std::path::PathBuf;

/// Options of `solomon probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Address of the miner.
    pub host: String,
    /// Ports of the miners.
    #[command(flatten)]
    pub ports: PortArgs,
    /// Per-request timeout, ms.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Print the normalized record as JSON.
    #[arg(long)]
    pub json: bool,
    /// Extra folders of driver plugins.
    #[arg(long = "plugin-dir")]
    pub plugin_dirs: Vec<PathBuf>,
}

/// Prints the record; exit 1 with a one-line reason if the miner cannot be polled.
pub async fn probe(args: ProbeArgs) -> anyhow::Result<i32> {
    let runtime = command_runtime()?;
    let drivers = load_plugins(&runtime, &args.plugin_dirs).await;
    let cfg = args.ports.probe_config(args.timeout_ms);
    match probe_and_poll(&drivers, &args.host, &cfg).await {
        Ok(found) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&found.record)?);
            } else {
                print!("{}", summary(&found.record, &found.driver));
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(1)
        }
    }
}

/// A readable summary of a record.
pub fn summary(r: &MinerRecord, driver: &str) -> String {
    let mut out = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let model = [
        Some(r.make.clone()),
        r.model.clone(),
        r.chip.as_ref().map(|c| format!("({c})")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let fw = [r.firmware.clone(), r.firmware_version.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    out.push_str(&format!("{}  {model}  {fw}  via {driver}\n", r.host));
    out.push_str(&format!("state      {}\n", r.state.as_str()));
    out.push_str(&format!(
        "hashrate   {} (expected {})\n",
        opt(r.hashrate_hs.map(format::hashrate)),
        opt(r.expected_hashrate_hs.map(format::hashrate))
    ));
    out.push_str(&format!(
        "temp       {} °C (max {}, VR {})\n",
        opt(r.temp_c.map(|t| format!("{t:.1}"))),
        opt(r.temp_max_c.map(|t| format!("{t:.1}"))),
        opt(r.vr_temp_c.map(|t| format!("{t:.1}")))
    ));
    out.push_str(&format!(
        "power      {} W ({} J/TH)\n",
        opt(r.power_w.map(|p| format!("{p:.1}"))),
        opt(r.efficiency_j_th.map(|e| format!("{e:.1}")))
    ));
    out.push_str(&format!(
        "shares     {} accepted, {} rejected\n",
        opt(r.shares_accepted.map(|v| v.to_string())),
        opt(r.shares_rejected.map(|v| v.to_string()))
    ));
    out.push_str(&format!(
        "best diff  {} (session {})\n",
        opt(r.best_diff.map(format::si)),
        opt(r.best_session_diff.map(format::si))
    ));
    if let Some(p) = r
        .pools
        .iter()
        .find(|p| p.active == Some(true))
        .or(r.pools.first())
    {
        out.push_str(&format!(
            "pool       {} (difficulty {})\n",
            p.url,
            opt(p.difficulty.map(format::si))
        ));
    }
    out.push_str(&format!(
        "uptime     {}\n",
        opt(r.uptime_s.map(format::duration))
    ));
    out
}

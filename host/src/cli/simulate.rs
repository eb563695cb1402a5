//! `solomon simulate`: a fleet of simulated miners on loopback, for trying Solomon without
//! hardware and for tests.

use crate::simulate::{Fleet, FleetConfig, Scenario};
use std::net::Ipv4Addr;

/// Options of `solomon simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// AxeOS (Bitaxe) miners.
    #[arg(long, default_value_t = 4)]
    pub axeos: usize,
    /// CGMiner-family miners (Antminer, Whatsminer, Avalon, Braiins, LuxOS in turn).
    #[arg(long, default_value_t = 4)]
    pub cgminer: usize,
    /// Address of the first miner; the others follow.
    #[arg(long, default_value = "127.0.1.1")]
    pub first_ip: Ipv4Addr,
    /// HTTP port of the AxeOS miners.
    #[arg(long, default_value_t = 8081)]
    pub http_port: u16,
    /// RPC port of the CGMiner miners.
    #[arg(long, default_value_t = 4028)]
    pub rpc_port: u16,
    /// Scenario of a miner, `INDEX=NAME` (overheat, stall, offline, slow, malformed, quirky,
    /// new-best, block-found, pool-changed); repeatable.
    #[arg(long = "scenario")]
    pub scenarios: Vec<String>,
}

/// Serves until Ctrl-C.
pub async fn simulate(args: SimulateArgs) -> anyhow::Result<i32> {
    let config = FleetConfig {
        axeos: args.axeos,
        cgminer: args.cgminer,
        first_ip: args.first_ip,
        http_port: args.http_port,
        rpc_port: args.rpc_port,
        ..Default::default()
    };
    let fleet = Fleet::start(config).await?;
    for s in &args.scenarios {
        let parsed = s
            .split_once('=')
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, Scenario::parse(n)?)));
        match parsed {
            Some((i, scenario)) if fleet.set_scenario(i, scenario) => {}
            _ => anyhow::bail!(
                "bad --scenario {s:?}: expected INDEX=NAME with an existing index and a known scenario"
            ),
        }
    }
    for m in fleet.miners() {
        let port = if m.kind.is_http() {
            args.http_port
        } else {
            args.rpc_port
        };
        println!(
            "{:>3}  {:<10} {}:{port}  {:?}",
            m.index,
            format!("{:?}", m.kind).to_lowercase(),
            m.ip,
            m.scenario()
        );
    }
    eprintln!("simulating {} miners; Ctrl-C to stop", fleet.miners().len());
    crate::daemon::shutdown_signal().await;
    Ok(0)
}

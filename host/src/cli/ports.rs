//! The miner ports every network command takes.

use crate::discovery::ProbeConfig;
use std::time::Duration;

/// `--http-port` and `--rpc-port`.
#[derive(Debug, Clone, clap::Args)]
pub struct PortArgs {
    /// Web API port.
    #[arg(long, default_value_t = 80)]
    pub http_port: u16,
    /// CGMiner RPC port.
    #[arg(long, default_value_t = 4028)]
    pub rpc_port: u16,
}

impl PortArgs {
    /// Probe settings for these ports.
    pub fn probe_config(&self, timeout_ms: u64) -> ProbeConfig {
        ProbeConfig {
            http_port: self.http_port,
            rpc_port: self.rpc_port,
            timeout: Duration::from_millis(timeout_ms),
        }
    }
}

//! Probing one address and choosing its driver.

use crate::net;
use crate::runtime::driver_types::{Identification, PollError, Probe, Target};
use crate::runtime::{CallError, Plugin, World};
use solomon_plugin_sdk::MinerRecord;
use solomon_plugin_sdk::cgminer;
use std::sync::Arc;
use std::time::Duration;

/// Where and how long to probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Web API port.
    pub http_port: u16,
    /// CGMiner RPC port.
    pub rpc_port: u16,
    /// Timeout of each probe request.
    pub timeout: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            http_port: 80,
            rpc_port: 4028,
            timeout: Duration::from_millis(1500),
        }
    }
}

/// Why an address did not give a record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    /// Neither port answered.
    #[error("{host}: unreachable (HTTP port {http_port}: {http}; RPC port {rpc_port}: {rpc})")]
    Unreachable {
        /// The address.
        host: String,
        /// HTTP port probed.
        http_port: u16,
        /// Why HTTP failed.
        http: String,
        /// RPC port probed.
        rpc_port: u16,
        /// Why the RPC failed.
        rpc: String,
    },
    /// Something answered, but no driver claims it.
    #[error("{host}: answered, but no driver recognises it ({what})")]
    Unknown {
        /// The address.
        host: String,
        /// What answered.
        what: String,
    },
    /// The chosen driver could not poll it.
    #[error("{host}: {driver} could not poll it: {error}")]
    Poll {
        /// The address.
        host: String,
        /// `name@version`.
        driver: String,
        /// The driver's or the runtime's error.
        error: String,
    },
}

/// A recognised, polled miner.
#[derive(Debug, Clone)]
pub struct Found {
    /// `name@version` of the driver used.
    pub driver: String,
    /// What the driver claimed.
    pub identification: Identification,
    /// The record of one poll.
    pub record: MinerRecord,
}

/// Runs the HTTP and both RPC probes of `host` once, concurrently.
pub async fn probe(host: &str, cfg: &ProbeConfig) -> (Probe, String, String) {
    let version = cgminer::request("version", None);
    let devdetails = cgminer::request("devdetails", None);
    let (http, v, d) = tokio::join!(
        net::http_get(host, cfg.http_port, "/", 64 * 1024, cfg.timeout),
        net::tcp_request(host, cfg.rpc_port, &version, 256 * 1024, cfg.timeout),
        net::tcp_request(host, cfg.rpc_port, &devdetails, 256 * 1024, cfg.timeout),
    );
    let http_why = http
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    let rpc_why = v
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    let text = |b: Vec<u8>| {
        String::from_utf8_lossy(&b)
            .trim_end_matches('\0')
            .to_string()
    };
    let (http_status, http_headers, http_body) = match http {
        Ok(r) => (
            Some(r.status),
            r.headers,
            Some(String::from_utf8_lossy(&r.body).into_owned()),
        ),
        Err(_) => (None, Vec::new(), None),
    };
    let probe = Probe {
        target: Target {
            host: host.to_string(),
            http_port: cfg.http_port,
            rpc_port: cfg.rpc_port,
        },
        http_status,
        http_headers,
        http_body,
        rpc_version: v.ok().map(text),
        rpc_devdetails: d.ok().map(text),
    };
    (probe, http_why, rpc_why)
}

/// The driver most confident it handles the probed miner (the first on a tie).
pub async fn detect(
    drivers: &[Arc<Plugin>],
    probe: &Probe,
) -> Option<(Arc<Plugin>, Identification)> {
    let mut best: Option<(Arc<Plugin>, Identification)> = None;
    for d in drivers.iter().filter(|d| d.meta().world == World::Driver) {
        match d.identify(probe.clone()).await {
            Ok(Some(id))
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| id.confidence > b.confidence) =>
            {
                best = Some((d.clone(), id))
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(driver = %d.meta().label(), "identify failed: {e}"),
        }
    }
    best
}

fn poll_error(e: &PollError) -> String {
    match e {
        PollError::Unreachable(s) => format!("unreachable: {s}"),
        PollError::Timeout(s) => format!("timeout: {s}"),
        PollError::Malformed(s) => format!("malformed reply: {s}"),
        PollError::Unsupported(s) => format!("unsupported: {s}"),
        PollError::Denied(s) => format!("denied: {s}"),
    }
}

/// Probes `host`, picks its driver and polls it once.
pub async fn probe_and_poll(
    drivers: &[Arc<Plugin>],
    host: &str,
    cfg: &ProbeConfig,
) -> Result<Found, DiscoveryError> {
    let (probe, http_why, rpc_why) = probe(host, cfg).await;
    if probe.http_status.is_none() && probe.rpc_version.is_none() && probe.rpc_devdetails.is_none()
    {
        return Err(DiscoveryError::Unreachable {
            host: host.into(),
            http_port: cfg.http_port,
            http: http_why,
            rpc_port: cfg.rpc_port,
            rpc: rpc_why,
        });
    }
    let Some((driver, identification)) = detect(drivers, &probe).await else {
        let what = match (probe.http_status, &probe.rpc_version) {
            (Some(s), _) => format!("HTTP {s} on port {}", cfg.http_port),
            (None, Some(v)) => format!("RPC reply {:?}", v.chars().take(60).collect::<String>()),
            (None, None) => "RPC devdetails only".into(),
        };
        return Err(DiscoveryError::Unknown {
            host: host.into(),
            what,
        });
    };
    let label = driver.meta().label();
    let fail = |error: String| DiscoveryError::Poll {
        host: host.into(),
        driver: label.clone(),
        error,
    };
    let record = match driver.poll(probe.target.clone()).await {
        Ok(Ok(record)) => record,
        Ok(Err(e)) => return Err(fail(poll_error(&e))),
        Err(e @ CallError::Trapped { .. }) | Err(e) => return Err(fail(e.to_string())),
    };
    Ok(Found {
        driver: label,
        identification,
        record,
    })
}

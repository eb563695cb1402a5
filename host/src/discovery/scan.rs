//! Probing many addresses with bounded concurrency.

use super::probe::{DiscoveryError, Found, ProbeConfig, probe_and_poll};
use crate::runtime::Plugin;
use futures_util::StreamExt;
use std::sync::Arc;

/// Probes every host, at most `concurrency` at a time, calling `progress(done, total)` as they
/// finish. Returns the miners found, in address order; unreachable addresses are skipped,
/// other failures returned as errors.
pub async fn scan(
    drivers: &[Arc<Plugin>],
    hosts: Vec<String>,
    cfg: &ProbeConfig,
    concurrency: usize,
    mut progress: impl FnMut(usize, usize),
) -> Vec<(String, Result<Found, DiscoveryError>)> {
    let total = hosts.len();
    let mut results: Vec<(usize, String, Result<Found, DiscoveryError>)> = Vec::new();
    let mut stream = futures_util::stream::iter(hosts.into_iter().enumerate())
        .map(|(i, host)| async move {
            let r = probe_and_poll(drivers, &host, cfg).await;
            (i, host, r)
        })
        .buffer_unordered(concurrency.max(1));
    let mut done = 0;
    while let Some((i, host, r)) = stream.next().await {
        done += 1;
        progress(done, total);
        if !matches!(r, Err(DiscoveryError::Unreachable { .. })) {
            results.push((i, host, r));
        }
    }
    results.sort_by_key(|(i, _, _)| *i);
    results.into_iter().map(|(_, h, r)| (h, r)).collect()
}

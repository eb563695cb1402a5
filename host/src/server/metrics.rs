//! `/metrics`: Prometheus text exposition (prometheus-client's encoder). Per-miner gauges are
//! read from the live store at scrape time, so a removed miner's series end with it; daemon
//! internals come from the counters each part keeps.

use super::AppState;
use crate::state::HistogramSnapshot;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use solomon_plugin_sdk::MinerState;
use std::fmt::Error;

/// Bytes of exposition text sent per chunk of the streamed response.
const CHUNK: usize = 64 * 1024;

/// Scrapes everything the daemon exposes. The text (about 1.7 KB per miner: 17 MB at 10,000
/// miners) is encoded on a blocking thread and streamed in 64 KB chunks, so a scrape neither
/// holds the whole text in memory nor occupies an async worker while it encodes.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buf: String::with_capacity(CHUNK),
            tx,
        };
        if encode(&state, &mut out).is_ok() {
            out.flush();
        } else {
            let _ = out
                .tx
                .blocking_send(Err(std::io::Error::other("encoding failed")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// Hands the text on in chunks; once the client is gone, writing fails and encoding stops.
struct ChunkWriter {
    buf: String,
    tx: tokio::sync::mpsc::Sender<Result<String, std::io::Error>>,
}

impl ChunkWriter {
    fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).is_ok()
    }
}

impl std::fmt::Write for ChunkWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= CHUNK && !self.flush() {
            return Err(Error);
        }
        Ok(())
    }
}

fn encode(state: &AppState, out: &mut impl std::fmt::Write) -> Result<(), Error> {
    let mut registry = Registry::default();
    if let Some(manager) = state.ready().and_then(|r| r.manager) {
        manager.stats().register(&mut registry);
    }
    registry.register_collector(Box::new(Live(state.clone())));
    prometheus_client::encoding::prometheus_text::encode(out, &registry)
}

struct Live(AppState);

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

const STATES: [MinerState; 4] = [
    MinerState::Hashing,
    MinerState::Idle,
    MinerState::Faulted,
    MinerState::Offline,
];

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> Result<(), Error> {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Result<(), Error> {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

fn histogram(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    h: &HistogramSnapshot,
) -> Result<(), Error> {
    let buckets: Vec<(f64, u64)> = h
        .buckets
        .iter()
        .map(|(bound_ns, c)| {
            let le = if *bound_ns == u64::MAX {
                f64::INFINITY
            } else {
                *bound_ns as f64 / 1e9
            };
            (le, *c)
        })
        .collect();
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        h.sum_ns as f64 / 1e9,
        h.count,
        &buckets,
        None,
    )
}

impl Collector for Live {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), Error> {
        let state = &self.0;
        let snaps = state.miners().list();
        type Field = fn(&solomon_plugin_sdk::MinerRecord) -> Option<f64>;
        let per_miner: [(&str, &str, Field); 9] = [
            (
                "solomon_miner_hashrate_hs",
                "Current hashrate, H/s (absent while offline)",
                |r| r.hashrate_hs,
            ),
            (
                "solomon_miner_expected_hashrate_hs",
                "Expected hashrate, H/s",
                |r| r.expected_hashrate_hs,
            ),
            (
                "solomon_miner_temperature_celsius",
                "Chip or board temperature, °C",
                |r| r.temp_c,
            ),
            (
                "solomon_miner_vr_temperature_celsius",
                "Voltage regulator temperature, °C",
                |r| r.vr_temp_c,
            ),
            ("solomon_miner_power_watts", "Power draw, W", |r| r.power_w),
            (
                "solomon_miner_shares_accepted",
                "Accepted shares as the miner counts them (resets on reboot)",
                |r| r.shares_accepted.map(|v| v as f64),
            ),
            (
                "solomon_miner_shares_rejected",
                "Rejected shares as the miner counts them",
                |r| r.shares_rejected.map(|v| v as f64),
            ),
            (
                "solomon_miner_best_difficulty",
                "All-time best share difficulty",
                |r| r.best_diff,
            ),
            (
                "solomon_miner_blocks_found",
                "Blocks found, as the miner reports",
                |r| r.blocks_found.map(|v| v as f64),
            ),
        ];
        for (name, help, field) in per_miner {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for s in &snaps {
                let r = &s.record;
                if let Some(v) = field(r).filter(|v| v.is_finite()) {
                    let labels = [
                        ("miner", r.id.as_str()),
                        ("make", r.make.as_str()),
                        ("model", r.model.as_deref().unwrap_or("")),
                    ];
                    m.encode_family(&labels)?.encode_gauge(&v)?;
                }
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "solomon_miner_state",
                "1 for the miner's current state (hashing, idle, faulted, offline), else 0",
                None,
                MetricType::Gauge,
            )?;
            for s in &snaps {
                let r = &s.record;
                for st in STATES {
                    let labels = [
                        ("miner", r.id.as_str()),
                        ("make", r.make.as_str()),
                        ("model", r.model.as_deref().unwrap_or("")),
                        ("state", st.as_str()),
                    ];
                    let v: i64 = (r.state == st).into();
                    m.encode_family(&labels)?.encode_gauge(&v)?;
                }
            }
        }
        if let Some(rules) = state.ready().and_then(|r| r.rules) {
            use std::sync::atomic::Ordering::Relaxed;
            let rule_counters = [
                (
                    "solomon_rule_evaluations",
                    "Events judged by a rule (one per rule per event)",
                    &rules.evaluations,
                ),
                (
                    "solomon_rule_failures",
                    "Rule evaluations that failed (a trap or the rule's own error)",
                    &rules.failures,
                ),
                (
                    "solomon_rule_events_spared",
                    "Samples not sent to a rule because they kept the rest of its last verdict",
                    &rules.spared,
                ),
            ];
            for (name, help, n) in rule_counters {
                counter(&mut enc, name, help, n.load(Relaxed))?;
            }
        }
        if let Some(kept) = state.ready().and_then(|r| r.connections) {
            gauge(
                &mut enc,
                "solomon_miner_connections_kept",
                "HTTP connections to miners held open between polls",
                kept.len() as f64,
            )?;
        }
        gauge(
            &mut enc,
            "solomon_miners",
            "Miners in the live store",
            snaps.len() as f64,
        )?;

        let plugins = state.plugins();
        type Stat = fn(&crate::runtime::StatsSnapshot) -> u64;
        use crate::runtime::World;
        // Name, help, value, and the plugins it is about (`None`: every plugin).
        let per_plugin: [(&str, &str, Stat, Option<World>); 6] = [
            (
                "solomon_plugin_calls",
                "Calls into the plugin",
                |s| s.calls,
                None,
            ),
            (
                "solomon_plugin_traps",
                "Calls that trapped (timeouts included)",
                |s| s.traps,
                None,
            ),
            (
                "solomon_plugin_timeouts",
                "Calls stopped for exceeding their CPU budget",
                |s| s.timeouts,
                None,
            ),
            (
                "solomon_plugin_restarts",
                "Instances rebuilt after a failure",
                |s| s.restarts,
                None,
            ),
            (
                "solomon_plugin_events_judged",
                "Events a rule was sent",
                |s| s.judged,
                Some(World::AlertRule),
            ),
            (
                "solomon_plugin_events_spared",
                "Samples a rule was not sent: they kept the rest of its last verdict",
                |s| s.spared,
                Some(World::AlertRule),
            ),
        ];
        let stats: Vec<_> = plugins
            .iter()
            .map(|p| (p.meta().clone(), p.stats()))
            .collect();
        for (name, help, stat, world) in per_plugin {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (meta, s) in stats
                .iter()
                .filter(|(m, _)| world.is_none_or(|w| m.world == w))
            {
                let labels = [
                    ("plugin", meta.name.as_str()),
                    ("version", meta.version.as_str()),
                    ("world", meta.world.as_str()),
                ];
                m.encode_family(&labels)?
                    .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                        &stat(s),
                        None,
                    )?;
            }
        }

        let locks = state.miners().lock_stats();
        histogram(
            &mut enc,
            "solomon_store_read_lock_wait_seconds",
            "Wait for a miner-store read lock (sampled 1 in 64)",
            &locks.read_wait,
        )?;
        histogram(
            &mut enc,
            "solomon_store_write_lock_wait_seconds",
            "Wait for a miner-store write lock",
            &locks.write_wait,
        )?;

        let hub = state.hub().stats().snapshot();
        gauge(
            &mut enc,
            "solomon_ws_clients",
            "Connected WebSocket clients",
            hub.clients as f64,
        )?;
        gauge(
            &mut enc,
            "solomon_ws_subscriptions",
            "Topic subscriptions across WebSocket clients",
            hub.subscriptions as f64,
        )?;
        counter(
            &mut enc,
            "solomon_ws_published",
            "Changes published to the hub",
            hub.published,
        )?;
        counter(
            &mut enc,
            "solomon_ws_lagged_messages",
            "Messages slow clients missed (each was resynced)",
            hub.lagged_messages,
        )?;
        counter(
            &mut enc,
            "solomon_ws_dropped_clients",
            "Clients disconnected for not reading",
            hub.dropped_clients,
        )?;

        if let Ok(storage) = state.storage() {
            if let Ok(bytes) = storage.size_on_disk() {
                gauge(
                    &mut enc,
                    "solomon_db_size_bytes",
                    "Database size on disk",
                    bytes as f64,
                )?;
            }
            gauge(
                &mut enc,
                "solomon_plugin_state_mirrored_bytes",
                "Plugin state held in memory as well as on disk ([storage] state_mirror_mib)",
                storage.plugin_state().mirrored_bytes() as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn long_text_goes_out_in_bounded_chunks_that_add_up_to_it() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut w = ChunkWriter {
            buf: String::new(),
            tx,
        };
        let mut whole = String::new();
        for i in 0..20_000 {
            let line = format!("solomon_miner_hashrate_hs{{miner=\"m{i}\"}} {i}.5\n");
            whole.push_str(&line);
            w.write_str(&line).expect("receiver alive");
        }
        assert!(w.flush());
        drop(w);
        let mut got = String::new();
        let mut chunks = 0;
        while let Ok(chunk) = rx.try_recv() {
            let chunk = chunk.expect("no error");
            assert!(chunk.len() < CHUNK + 100, "{}", chunk.len());
            got.push_str(&chunk);
            chunks += 1;
        }
        assert!(chunks > 5, "{chunks}");
        assert_eq!(got, whole);
    }

    #[test]
    fn encoding_stops_once_the_client_is_gone() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        drop(rx);
        let mut w = ChunkWriter {
            buf: String::new(),
            tx,
        };
        let line = "x".repeat(1000);
        let failed = (0..200).any(|_| w.write_str(&line).is_err());
        assert!(failed);
    }
}

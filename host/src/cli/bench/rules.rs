//! `solomon bench rules`: what each built-in alert rule costs per event, through the real path
//! (the batch lowered into the compiled rule, its plugin state read and written in sled, its
//! verdicts lifted back), in this process with nothing else running. `bench daemon` against
//! `bench daemon --no-rules` says what the rules cost together; this says which rule it is.
//!
//! The records come from a small simulated fleet polled once through the real drivers, one
//! per family, copied to every miner of the run.

use super::BenchArgs;
use super::proc::process_cpu;
use crate::cli::plugins::{load_plugin_set, user_cache_dir};
use crate::runtime::driver_types::Target;
use crate::runtime::record::to_wit_reading;
use crate::runtime::rule_types::{Event, EventKind};
use crate::runtime::{HostServices, Plugin, Runtime, RuntimeConfig};
use crate::simulate::{Fleet, FleetConfig};
use crate::state::{MinerStore, StoreView};
use crate::storage::{Storage, StorageConfig};
use anyhow::Context;
use solomon_plugin_sdk::{Fields, MinerRecord};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Events per rule call: what the alert engine gathers in its 20 ms window at 10,000 miners
/// (2,000 events a second over two engine tasks).
const BATCH: usize = 20;

/// Samples of every miner, 5 s apart.
const ROUNDS: u64 = 10;

/// 2026-01-01.
const T0: u64 = 1_767_225_600_000;

/// One record of each simulated family (AxeOS first, then the CGMiner families).
async fn family_records(drivers: &[Arc<Plugin>]) -> anyhow::Result<Vec<MinerRecord>> {
    let (http, rpc) = (18_491u16, 14_491u16);
    let _fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 5,
        first_ip: Ipv4Addr::new(127, 0, 61, 1),
        http_port: http,
        rpc_port: rpc,
        ..Default::default()
    })
    .await?;
    let find = |name: &str| {
        drivers
            .iter()
            .find(|d| d.meta().name == name)
            .cloned()
            .with_context(|| format!("{name} missing"))
    };
    let (axeos, cgminer) = (find("driver-axeos")?, find("driver-cgminer")?);
    let mut records = Vec::new();
    for i in 0..6u32 {
        let target = Target {
            host: Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 61, 1)) + i).to_string(),
            http_port: http,
            rpc_port: rpc,
        };
        let driver = if i == 0 { &axeos } else { &cgminer };
        let record = driver
            .poll(target)
            .await?
            .map_err(|e| anyhow::anyhow!("simulated miner {i}: {e:?}"))?;
        records.push(record);
    }
    Ok(records)
}

/// Batches of one round's events (every miner's sample), built before anything is timed and
/// shared by every rule, as the engine shares a batch; with or without the previous record.
type Round = Vec<Arc<[Event]>>;

/// Every round's batches, in the form a rule reads: with or without the previous record, and
/// only the fields it names.
fn rounds(
    records: &[MinerRecord],
    miners: usize,
    with_previous: bool,
    fields: Fields,
) -> Vec<Round> {
    let record = |m: usize, round: u64| {
        let mut rec = records[m % records.len()].clone();
        rec.id = format!("m{m:05}");
        rec.ts_ms = T0 + round * 5000;
        to_wit_reading(&rec, fields)
    };
    let event = |m: usize, round: u64| Event {
        miner_id: format!("m{m:05}"),
        kind: EventKind::Sample,
        previous: (with_previous && round > 0).then(|| record(m, round - 1)),
        current: Some(record(m, round)),
        ts_ms: T0 + round * 5000,
    };
    (0..ROUNDS)
        .map(|round| {
            (0..miners)
                .step_by(BATCH)
                .map(|first| {
                    (first..miners.min(first + BATCH))
                        .map(|m| event(m, round))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// CPU per event of `rule` over `rounds`; the first round warms up (instances made, state
/// keys created) and is not counted.
async fn measure(rule: &Plugin, rounds: &[Round]) -> anyhow::Result<f64> {
    let config: Arc<str> = Arc::from("{}");
    let run = |batches: &[Arc<[Event]>]| {
        let config = config.clone();
        let batches = batches.to_vec();
        async move {
            let mut events = 0;
            for batch in batches {
                let n = batch.len();
                let verdicts = rule.evaluate(batch, config.clone()).await?;
                anyhow::ensure!(
                    verdicts.len() == n,
                    "{} verdicts for {n} events",
                    verdicts.len()
                );
                if let Some(Err(e)) = verdicts.into_iter().find(Result::is_err) {
                    anyhow::bail!("{}: {e}", rule.meta().name);
                }
                events += n;
            }
            Ok(events)
        }
    };
    let Some((warm, counted)) = rounds.split_first() else {
        anyhow::bail!("no rounds");
    };
    run(warm).await?;
    let before = process_cpu();
    let mut events = 0;
    for round in counted {
        events += run(round).await?;
    }
    let cpu = process_cpu().saturating_sub(before);
    Ok(cpu.as_secs_f64() * 1e6 / events.max(1) as f64)
}

/// Runs the benchmark for the first fleet size of `--miners`.
pub async fn bench(args: &BenchArgs) -> anyhow::Result<i32> {
    let miners = args.fleets.first().copied().unwrap_or(1000).max(1);
    let dir = std::env::temp_dir().join(format!("solomon-bench-rules-{}", std::process::id()));
    // On one worker thread, as the daemon runs its rules (`defaults.poll_threads`): measured
    // from the command's own thread, every call would pay two cross-thread wake-ups, several
    // times what the rule itself costs.
    let polling = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let on = dir.clone();
    let result = polling.spawn(async move { run(miners, &on).await }).await;
    polling.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);
    result?
}

async fn run(miners: usize, dir: &std::path::Path) -> anyhow::Result<i32> {
    let storage = Arc::new(Storage::open(StorageConfig::new(dir.join("db")))?);
    let services = HostServices {
        state: storage.plugin_state(),
        store: Arc::new(StoreView::new(Arc::new(MinerStore::new()), storage.clone())),
        ..Default::default()
    };
    let config = RuntimeConfig {
        cache_dir: Some(user_cache_dir()),
        ..Default::default()
    };
    let runtime = Runtime::new(config, services)?;
    let set = load_plugin_set(&runtime, &[], &[]).await;
    let records = family_records(&set.drivers()).await?;
    let makes: Vec<&str> = records.iter().map(|r| r.make.as_str()).collect();
    println!(
        "{miners} miners ({}), {ROUNDS} samples each, batches of {BATCH} events; CPU of this process per event",
        makes.join(", ")
    );
    let mut total = 0.0;
    for rule in set.rules().iter() {
        let meta = rule.meta();
        let form = rounds(&records, miners, meta.reads_previous, meta.reads);
        let us = measure(rule, &form).await?;
        total += us;
        let previous = if meta.reads_previous {
            " and the previous record"
        } else {
            ""
        };
        let fields = match meta.reads {
            Fields::ALL => "every field".to_string(),
            Fields::NONE => "only id, make, state and ts_ms".to_string(),
            f => f.names().join(", "),
        };
        println!(
            "  {:<20} {us:6.1} µs per event; reads {fields}{previous}",
            meta.name
        );
    }
    println!("  all {} rules: {total:.1} µs per event", set.rules().len());
    Ok(0)
}

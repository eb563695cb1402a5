//! Crash safety: a child process ingests samples and prints each batch once `ingest` has
//! acknowledged it; the parent SIGKILLs it mid-stream, reopens the database and checks that it
//! opens cleanly and holds every acknowledged sample. Repeated with kills at varied points.

use solomon_host::storage::{FlushPolicy, Storage, StorageConfig};
use solomon_plugin_sdk::{MinerRecord, MinerState};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const MINERS: u64 = 20;
const ENV_DIR: &str = "SOLOMON_CRASH_CHILD_DIR";

fn record(miner: u64, batch: u64) -> MinerRecord {
    MinerRecord {
        id: format!("miner-{miner}"),
        state: MinerState::Hashing,
        ts_ms: 1_800_000_000_000 + batch * 10_000,
        hashrate_hs: Some((batch * 1000 + miner) as f64),
        ..Default::default()
    }
}

fn config(dir: &str) -> StorageConfig {
    let mut c = StorageConfig::new(dir);
    c.flush = FlushPolicy::GroupCommit(Duration::from_millis(2));
    c.chunk_samples = 8;
    // Tiny log segments: kills land during rotation and segment deletion too.
    c.wal_segment_bytes = 4096;
    c
}

/// The child: ingests until killed. Ignored in normal runs; the parent runs it explicitly.
#[tokio::test]
#[ignore = "run by crash_keeps_every_acknowledged_sample as a child process"]
async fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let storage = Storage::open(config(&dir)).expect("child opens");
    let start = std::env::var("SOLOMON_CRASH_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0u64);
    for batch in start.. {
        let records: Vec<MinerRecord> = (0..MINERS).map(|m| record(m, batch)).collect();
        storage.ingest(&records).await.expect("ingest");
        println!("ack {batch}");
    }
}

#[test]
fn crash_keeps_every_acknowledged_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let path_str = path.to_str().expect("utf-8 path");
    let mut next_batch = 0u64;
    // Batch ranges some child acknowledged, over all rounds.
    let mut acknowledged: Vec<std::ops::RangeInclusive<u64>> = Vec::new();
    for round in 0..25u64 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "crash::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, path_str)
            .env("SOLOMON_CRASH_START", next_batch.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("piped");
        // Kill after a varying number of acknowledgements, mid-stream.
        let kill_after = 5 + (round * 13) % 40;
        let mut acked = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read child");
            if let Some(n) = line.strip_prefix("ack ") {
                let n: u64 = n.trim().parse().expect("batch number");
                acked = Some(n);
                if n + 1 - next_batch >= kill_after {
                    break;
                }
            }
        }
        // SIGKILL: no destructor, no flush runs in the child.
        child.kill().expect("kill");
        child.wait().expect("reap");
        let acked = acked.expect("the child acknowledged batches before being killed");
        acknowledged.push(next_batch..=acked);

        let storage = Storage::open(config(path_str))
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        for m in 0..MINERS {
            let samples = storage
                .samples(&format!("miner-{m}"), 0, u64::MAX)
                .expect("read");
            let have: std::collections::HashSet<u64> = samples.iter().map(|s| s.ts_ms).collect();
            for b in acknowledged.iter().flat_map(|r| r.clone()) {
                assert!(
                    have.contains(&record(m, b).ts_ms),
                    "round {round}: miner {m} lost acknowledged batch {b} (acked up to {acked})"
                );
            }
            let s = samples
                .iter()
                .find(|s| s.ts_ms == record(m, acked).ts_ms)
                .expect("present");
            assert_eq!(s.values[0], (acked * 1000 + m) as f64, "value intact");
        }
        let segments = std::fs::read_dir(path.join("wal"))
            .expect("wal dir")
            .count();
        assert!(
            segments < 40,
            "round {round}: sealed log segments are deleted ({segments} left)"
        );
        drop(storage);
        // The next child continues after what may have been written beyond the last ack.
        next_batch = acked + 50;
    }
}

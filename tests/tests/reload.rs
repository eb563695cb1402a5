//! Hot reload of plugins: a rule swapped while events stream judges each event exactly once and
//! keeps its plugin state; through the daemon, files written, broken and deleted in a watched
//! folder swap, keep or unload plugins, drivers included.

use solomon_host::alerts::{AlertConfig, AlertEngine, RuleEvent, RuleEventKind};
use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::host_api::plugin_state::StateBackend;
use solomon_host::hub::Hub;
use solomon_host::registry::PluginSet;
use solomon_host::simulate::{Fleet, FleetConfig};
use solomon_host::state::Versioned;
use solomon_plugin_sdk::{MinerRecord, MinerState};
use solomon_tests::daemon::{Daemon, sim_miners};
use solomon_tests::{http, plugins, read, runtime_on_storage};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sample(miner: &str, ts_ms: u64) -> RuleEvent {
    let record = MinerRecord {
        id: miner.into(),
        make: "Bitaxe".into(),
        state: MinerState::Hashing,
        ts_ms,
        hashrate_hs: Some(1.2e12),
        ..Default::default()
    };
    RuleEvent {
        miner: miner.into(),
        kind: RuleEventKind::Sample,
        previous: None,
        current: Some(Arc::new(Versioned {
            record,
            version: ts_ms,
            updated_ms: ts_ms,
        })),
        ts_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_swapped_while_events_stream_judges_each_event_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, runtime) = runtime_on_storage(dir.path());
    let v1 = runtime
        .load(read(plugins::RULE_COUNT_V1))
        .await
        .expect("v1");
    let v2 = runtime
        .load(read(plugins::RULE_COUNT_V2))
        .await
        .expect("v2");
    assert_eq!(
        (v1.meta().name.as_str(), v2.meta().name.as_str()),
        ("rule-count", "rule-count")
    );
    let file = dir.path().join("rule-count.wasm");
    let set = Arc::new(PluginSet::new(Vec::new(), Vec::new()));
    set.install(&file, Arc::new(v1));
    let engine = AlertEngine::start(
        set.clone(),
        storage.clone(),
        Arc::new(Hub::new(64)),
        AlertConfig::default(),
    );

    // 4 miners x 250 events, streaming; the swap lands in the middle of the stream.
    const PER_MINER: u64 = 250;
    let sender = engine.sender();
    let stream = tokio::spawn(async move {
        for i in 0..PER_MINER {
            for m in ["m0", "m1", "m2", "m3"] {
                sender.send(sample(m, 1_000 + i)).await.expect("engine up");
            }
            if i % 25 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let start = Instant::now();
    while engine
        .stats()
        .evaluations
        .load(std::sync::atomic::Ordering::Relaxed)
        < 200
    {
        assert!(start.elapsed() < Duration::from_secs(30), "engine stuck");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    set.install(&file, Arc::new(v2));
    let swapped_after = engine
        .stats()
        .evaluations
        .load(std::sync::atomic::Ordering::Relaxed);
    stream.await.expect("stream");
    engine.shutdown().await;
    assert!(
        swapped_after < 4 * PER_MINER,
        "the swap happened mid-stream ({swapped_after} evaluations before it)"
    );

    // Every event counted exactly once, by one version or the other, in the shared state.
    for m in ["m0", "m1", "m2", "m3"] {
        let n = storage
            .plugin_state()
            .get("rule-count", &format!("n/{m}"))
            .expect("read")
            .map(|v| String::from_utf8_lossy(&v).to_string());
        assert_eq!(n.as_deref(), Some("250"), "{m}: no event lost or doubled");
        // And the new version judged the later ones (it fires; the old one never did).
        let alert = storage
            .alerts()
            .get("rule-count", m, "v2")
            .expect("read")
            .expect("v2 fired");
        assert!(alert.firing);
    }
}

async fn plugin_list(addr: SocketAddr) -> serde_json::Value {
    http(addr, "GET", "/api/v1/plugins", None, None)
        .await
        .json()
}

/// The entry of plugin `name` in the list, if in service.
fn entry<'a>(list: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    list["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["plugin"]["name"] == name)
}

async fn wait_for(
    addr: SocketAddr,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let l = plugin_list(addr).await;
        if ok(&l) {
            return l;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {l}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Replaces `path` the way `cp` does: truncate and write in place.
fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write plugin file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_written_broken_and_deleted_in_a_watched_folder_swap_keep_or_unload() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 44, 1),
        http_port: 18351,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let folder = tempfile::tempdir().expect("tempdir");
    let rule = folder.path().join("rule-count.wasm");
    write(&rule, &read(plugins::RULE_COUNT_V1));
    let addr: SocketAddr = "127.0.44.200:18352".parse().expect("addr");
    let d = Daemon::start_with(
        addr,
        sim_miners(&fleet, 18351, 14351),
        vec![folder.path().to_path_buf()],
        AlertConfig::default(),
    )
    .await;
    let rule_name = rule.display().to_string();
    let l = wait_for(addr, "v1 counting events", |l| {
        entry(l, "rule-count").is_some_and(|p| {
            p["plugin"]["version"] == "1.0.0" && p["stats"]["calls"].as_u64() >= Some(4)
        })
    })
    .await;
    assert_eq!(entry(&l, "rule-count").expect("listed")["file"], rule_name);

    // A new version written over the file is in service shortly, and carries on the count.
    let written = Instant::now();
    write(&rule, &read(plugins::RULE_COUNT_V2));
    wait_for(addr, "v2 in service", |l| {
        entry(l, "rule-count").is_some_and(|p| p["plugin"]["version"] == "2.0.0")
    })
    .await;
    eprintln!(
        "hot swap seen through the API {:?} after the write (debug build)",
        written.elapsed()
    );
    let start = Instant::now();
    let alert = loop {
        let a = http(addr, "GET", "/api/v1/alerts?miner=m0", None, None)
            .await
            .json();
        if let Some(v2) = a["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["rule"] == "rule-count"))
        {
            break v2.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "v2 never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let n: u64 = alert["message"]
        .as_str()
        .and_then(|m| m.strip_prefix("v2 after "))
        .and_then(|m| m.strip_suffix(" events"))
        .and_then(|n| n.parse().ok())
        .expect("v2's message");
    // A fresh state would make v2's first event its first: 1.
    assert!(n >= 2, "v2 continued v1's count (state kept): {n}");

    // A broken file and a component of another world are refused; v2 keeps running.
    for (bytes, why) in [
        (b"\0asm garbage".to_vec(), "corrupt"),
        (read(plugins::NOT_A_PLUGIN).to_vec(), "wrong world"),
    ] {
        let calls_before = entry(&plugin_list(addr).await, "rule-count")
            .and_then(|p| p["stats"]["calls"].as_u64())
            .unwrap_or(0);
        write(&rule, &bytes);
        let l = wait_for(addr, why, |l| {
            l["failures"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["file"] == rule_name.as_str()))
        })
        .await;
        let failure = &l["failures"][0];
        assert!(
            failure["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{why}: {l}"
        );
        wait_for(addr, "v2 still judging events", |l| {
            entry(l, "rule-count").is_some_and(|p| {
                p["plugin"]["version"] == "2.0.0"
                    && p["stats"]["calls"].as_u64() > Some(calls_before)
            })
        })
        .await;
        // Back to v2 before the next bad file: the failure clears.
        write(&rule, &read(plugins::RULE_COUNT_V2));
        wait_for(addr, "the failure cleared", |l| {
            l["failures"].as_array().is_some_and(|f| f.is_empty())
        })
        .await;
    }

    // A driver reloads the same way: a file version replaces the built-in one, and polls go
    // to it; deleting the file brings the built-in back.
    let axeos = BUILTIN_PLUGINS
        .iter()
        .find(|p| p.name == "driver-axeos")
        .expect("built-in axeos driver");
    let driver_file = folder.path().join("driver-axeos.wasm");
    write(&driver_file, axeos.wasm);
    let driver_name = driver_file.display().to_string();
    wait_for(addr, "the driver file polling", |l| {
        entry(l, "driver-axeos").is_some_and(|p| {
            p["file"] == driver_name.as_str() && p["stats"]["calls"].as_u64() >= Some(2)
        })
    })
    .await;
    std::fs::remove_file(&driver_file).expect("remove driver");
    wait_for(addr, "the built-in driver back", |l| {
        entry(l, "driver-axeos").is_some_and(|p| p["file"].is_null())
    })
    .await;

    // Deleting the rule file unloads the rule.
    std::fs::remove_file(&rule).expect("remove rule");
    wait_for(addr, "rule-count unloaded", |l| {
        entry(l, "rule-count").is_none()
    })
    .await;
    d.stop().await;
}

//! The alert engine with compiled rules and sled in a temp dir, below the daemon: how events
//! are batched to rules, what a rule is sent, and what a trapping rule costs.

use solomon_host::alerts::{AlertConfig, AlertEngine, RuleEvent, RuleEventKind};
use solomon_host::host_api::plugin_state::StateBackend;
use solomon_host::hub::Hub;
use solomon_host::registry::PluginSet;
use solomon_host::runtime::{HostServices, Plugin, PluginMeta, Runtime};
use solomon_host::state::MinerStore;
use solomon_host::storage::Storage;
use solomon_plugin_sdk::{Fields, MinerRecord};
use solomon_tests::{plugins, read, runtime_on_storage, test_config};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// An engine judging with one rule plugin.
struct Engine {
    _dir: tempfile::TempDir,
    storage: Arc<Storage>,
    engine: AlertEngine,
    rule: Arc<Plugin>,
    store: MinerStore,
}

impl Engine {
    async fn start(rule: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (storage, runtime) = runtime_on_storage(dir.path());
        let rule = Arc::new(runtime.load(read(rule)).await.expect("loads"));
        let set = Arc::new(PluginSet::new(vec![rule.clone()], Vec::new()));
        let engine = AlertEngine::start(
            set,
            storage.clone(),
            Arc::new(Hub::new(64)),
            AlertConfig::default(),
        );
        Engine {
            _dir: dir,
            storage,
            engine,
            rule,
            store: MinerStore::new(),
        }
    }

    /// Sends a sample of `miner`, with its previous record when it had one.
    async fn sample(&self, miner: &str) {
        self.sample_with(miner, |_| {}).await
    }

    /// As [`Engine::sample`], the record changed by `change` first.
    async fn sample_with(&self, miner: &str, change: impl FnOnce(&mut MinerRecord)) {
        let previous = self.store.get(miner);
        let mut record = MinerRecord {
            id: miner.into(),
            make: "Bitaxe".into(),
            temp_c: Some(61.5),
            hashrate_hs: Some(1.1e12),
            ..Default::default()
        };
        change(&mut record);
        let current = self.store.set(record);
        let ev = RuleEvent {
            miner: miner.into(),
            kind: RuleEventKind::Sample,
            previous,
            current: Some(current),
            ts_ms: 1,
        };
        self.engine.sender().send(ev).await.expect("engine running");
    }

    /// Waits until `n` evaluations are done.
    async fn judged(&self, n: u64) {
        let start = Instant::now();
        while self.engine.stats().evaluations.load(Ordering::Relaxed) < n {
            assert!(start.elapsed() < Duration::from_secs(10), "stuck");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `n` events are judged or spared.
    async fn settled(&self, n: u64) {
        let stats = self.engine.stats();
        let start = Instant::now();
        while stats.evaluations.load(Ordering::Relaxed) + stats.spared.load(Ordering::Relaxed) < n {
            assert!(start.elapsed() < Duration::from_secs(10), "stuck");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn failures(&self) -> u64 {
        self.engine.stats().failures.load(Ordering::Relaxed)
    }

    /// A counter rule-count keeps in plugin state.
    fn count(&self, key: &str) -> Option<String> {
        self.storage
            .plugin_state()
            .get("rule-count", key)
            .expect("read")
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }
}

/// A rule that traps on one event of a batch loses that batch's verdicts, never the engine,
/// and never judges an event twice: the next batch is served by its other instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_trapping_mid_batch_costs_that_batch_only() {
    let e = Engine::start(plugins::RULE_COUNT_V1).await;
    let tx = e.engine.sender();
    // Two miners judged by the same engine task as `trap-1`, so all three share a batch.
    let same: Vec<String> = (0..)
        .map(|i| format!("m{i}"))
        .filter(|m| tx.shard_of(m) == tx.shard_of("trap-1"))
        .take(2)
        .collect();
    let (a, b) = (same[0].as_str(), same[1].as_str());
    // Sent back to back: `a` is counted, then the rule traps before `b`.
    for m in [a, "trap-1", b] {
        e.sample(m).await;
    }
    e.judged(3).await;
    assert_eq!(e.failures(), 3);
    assert_eq!(e.rule.stats().traps, 1);
    // The next batch is judged by the other instance, once per event.
    for m in [a, b] {
        e.sample(m).await;
    }
    e.judged(5).await;
    assert_eq!(e.failures(), 3);
    assert_eq!(
        e.count(&format!("n/{a}")).as_deref(),
        Some("2"),
        "counted before the trap, then once more"
    );
    assert_eq!(
        e.count(&format!("n/{b}")).as_deref(),
        Some("1"),
        "not reached in the trapped batch"
    );
}

/// A rule gets the previous record only if it says it reads it (`Rule::READS_PREVIOUS`):
/// copying a record into every rule for every event is most of what a verdict costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_rule_that_reads_the_previous_record_is_sent_it() {
    // rule-count 1.0.0 reads it, 2.0.0 does not; each counts the events that had one.
    for (rule, reads, want) in [
        (plugins::RULE_COUNT_V1, true, Some("1")),
        (plugins::RULE_COUNT_V2, false, None),
    ] {
        let e = Engine::start(rule).await;
        assert_eq!(e.rule.meta().reads_previous, reads);
        e.sample("m").await;
        e.sample("m").await;
        e.judged(2).await;
        assert_eq!(e.failures(), 0);
        assert_eq!(e.count("n/m").as_deref(), Some("2"));
        assert_eq!(
            e.count("with-previous/m").as_deref(),
            want,
            "the second sample has a previous record"
        );
    }
}

/// A rule gets only the record fields it names (`Rule::READS`); the others arrive empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_gets_only_the_fields_it_reads() {
    // rule-count 1.0.0 reads every field, 2.0.0 only the temperatures.
    for (rule, hashrate) in [
        (plugins::RULE_COUNT_V1, Some("2")),
        (plugins::RULE_COUNT_V2, None),
    ] {
        let e = Engine::start(rule).await;
        e.sample("m").await;
        e.sample("m").await;
        e.judged(2).await;
        assert_eq!(e.failures(), 0);
        assert_eq!(e.count("n/m").as_deref(), Some("2"));
        assert_eq!(e.count("with-temp/m").as_deref(), Some("2"));
        assert_eq!(e.count("with-hashrate/m").as_deref(), hashrate);
    }
}

#[tokio::test]
async fn the_shipped_rules_say_whether_they_read_the_previous_record() {
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    let set = solomon_host::cli::plugins::load_plugin_set(&runtime, &[], &[]).await;
    let rules_where = |f: fn(&PluginMeta) -> bool| {
        let mut names: Vec<String> = set
            .rules()
            .iter()
            .filter(|r| f(r.meta()))
            .map(|r| r.meta().name.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        rules_where(|m| m.reads_previous),
        ["rule-block-found", "rule-overheat"]
    );
    // Steady: those whose verdict stays quiet while what they read does not change. Those
    // counting samples or keeping time windows are not.
    assert_eq!(
        rules_where(|m| m.steady),
        [
            "rule-block-found",
            "rule-new-best",
            "rule-not-hashing",
            "rule-offline",
            "rule-overheat",
            "rule-pool-changed"
        ]
    );
    assert!(set.drivers().iter().all(|d| !d.meta().reads_previous));
    // And each names the fields it reads: none of them needs the whole record.
    for r in set.rules().iter() {
        assert_ne!(r.meta().reads, Fields::ALL, "{}", r.meta().name);
    }
    let overheat = set
        .rules()
        .iter()
        .find(|r| r.meta().name == "rule-overheat")
        .cloned();
    assert_eq!(overheat.map(|r| r.meta().reads), Some(Fields::TEMPERATURES));
}

/// A steady rule (`Rule::STEADY`) is not sent a sample that agrees with the previous one in
/// what it reads, once its own last verdict on the miner fired nothing. Every other event
/// reaches it: a change in what it reads, any sample after a firing verdict. A rule that is
/// not steady is sent every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_rule_is_spared_unchanged_samples_after_a_quiet_verdict() {
    use solomon_plugin_sdk::MinerState;
    type Change = fn(&mut MinerRecord);
    // Each sample, and how many events rule-count-steady has judged after it.
    let steps: [(Change, u64, &str); 10] = [
        (|_| {}, 1, "the first sample has no previous record"),
        (|_| {}, 1, "unchanged after a quiet verdict: spared"),
        (
            |r| r.hashrate_hs = Some(0.9e12),
            1,
            "a field it does not read",
        ),
        (|r| r.temp_c = Some(62.0), 2, "a temperature it reads"),
        (|r| r.temp_c = Some(62.0), 2, "spared again"),
        (|r| r.state = MinerState::Idle, 3, "the state"),
        (|r| r.temp_c = Some(90.0), 4, "hot: it fires"),
        (
            |r| r.temp_c = Some(90.0),
            5,
            "unchanged, but its last verdict fired",
        ),
        (|r| r.temp_c = Some(61.0), 6, "cooled: it resolves"),
        (|r| r.temp_c = Some(61.0), 6, "quiet again: spared"),
    ];
    for (rule, steady) in [
        (plugins::RULE_COUNT_STEADY, true),
        (plugins::RULE_COUNT_V1, false),
    ] {
        let e = Engine::start(rule).await;
        assert_eq!(e.rule.meta().steady, steady);
        for (i, (change, judged, why)) in steps.iter().enumerate() {
            e.sample_with("m", change).await;
            let sent = i as u64 + 1;
            e.settled(sent).await;
            let want = if steady { *judged } else { sent };
            assert_eq!(e.count("n/m"), Some(want.to_string()), "{why}");
        }
        let spared = e.engine.stats().spared.load(Ordering::Relaxed);
        assert_eq!(spared, if steady { 4 } else { 0 });
        assert_eq!(e.failures(), 0);
        // rule-count-v1 never fires.
        let hot = || {
            let a = e
                .storage
                .alerts()
                .get("rule-count", "m", "hot")
                .expect("read");
            a.map(|a| a.firing).filter(|_| steady)
        };
        assert_eq!(hot(), steady.then_some(false), "fired, then resolved");
        // Back to back, so in one batch: the second agrees with the first, whose verdict is
        // not known when the batch is sent. It is judged too.
        let sent = steps.len() as u64;
        e.sample_with("m", |r| r.temp_c = Some(95.0)).await;
        e.sample_with("m", |r| r.temp_c = Some(95.0)).await;
        e.settled(sent + 2).await;
        let judged = if steady {
            steps[steps.len() - 1].1
        } else {
            sent
        };
        assert_eq!(e.count("n/m"), Some((judged + 2).to_string()));
        assert_eq!(hot(), steady.then_some(true));
    }
}

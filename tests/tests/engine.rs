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
    rules: Vec<Arc<Plugin>>,
    store: MinerStore,
}

impl Engine {
    async fn start(rule: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (storage, runtime) = runtime_on_storage(dir.path());
        let rule = Arc::new(runtime.load(read(rule)).await.expect("loads"));
        Engine::judging(dir, storage, vec![rule.clone()], rule)
    }

    /// An engine judging with every shipped rule; `rule` is rule-offline.
    async fn shipped() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (storage, runtime) = runtime_on_storage(dir.path());
        let set = solomon_host::cli::plugins::load_plugin_set(&runtime, &[], &[]).await;
        let rules = set.rules().to_vec();
        let offline = rules
            .iter()
            .find(|r| r.meta().name == "rule-offline")
            .cloned()
            .expect("rule-offline ships");
        Engine::judging(dir, storage, rules, offline)
    }

    fn judging(
        dir: tempfile::TempDir,
        storage: Arc<Storage>,
        rules: Vec<Arc<Plugin>>,
        rule: Arc<Plugin>,
    ) -> Self {
        let set = Arc::new(PluginSet::new(rules.clone(), Vec::new()));
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
            rules,
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
        self.send(miner, previous, record, RuleEventKind::Sample)
            .await
    }

    /// Sends `record` as `miner`'s new one, at its `ts_ms` (at least 1).
    async fn send(
        &self,
        miner: &str,
        previous: Option<solomon_host::state::Snapshot>,
        record: MinerRecord,
        kind: RuleEventKind,
    ) {
        let ts_ms = record.ts_ms.max(1);
        let current = self.store.set(record);
        let ev = RuleEvent {
            miner: miner.into(),
            kind,
            previous,
            current: Some(current),
            ts_ms,
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
async fn the_shipped_rules_say_what_they_read() {
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

/// A healthy Antminer at sample `i`: its readings move a little at every poll, as real
/// ones do, and its share counters grow.
fn healthy(i: u64) -> MinerRecord {
    use solomon_plugin_sdk::{Fan, MinerState, Pool};
    let wobble = (i % 3) as f64;
    MinerRecord {
        id: "s19".into(),
        make: "Antminer".into(),
        state: MinerState::Hashing,
        ts_ms: 1_000_000 + i * 5_000,
        hashrate_hs: Some(100e12 + wobble * 1e12),
        expected_hashrate_hs: Some(110e12),
        temp_c: Some(64.0 + wobble),
        temp_max_c: Some(70.0 + wobble),
        fans: (0..2)
            .map(|index| Fan {
                index,
                rpm: Some(5_000.0 + wobble * 30.0),
                pct: Some(60.0),
            })
            .collect(),
        shares_accepted: Some(1_000 + i * 10),
        shares_rejected: Some(3),
        best_diff: Some(2.5e9),
        blocks_found: Some(0),
        pools: vec![Pool {
            url: "stratum+tcp://solo.ckpool.org:3333".into(),
            user: Some("bc1qme.s19".into()),
            active: Some(true),
            accepted: Some(1_000 + i * 10),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The shipped rules rest on a healthy miner whose readings move at every poll, and each is
/// woken by the trouble it watches for, and fires: the rests they give are the ones their
/// verdicts keep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rules_rest_on_a_healthy_miner_and_wake_for_trouble() {
    let e = Engine::shipped().await;
    let rules = &e.rules;
    assert_eq!(rules.len(), 9);
    let sent = std::cell::Cell::new(0u64);
    let send = |r: MinerRecord, kind: RuleEventKind| {
        sent.set(sent.get() + 1);
        let previous = e.store.get("s19");
        e.send("s19", previous, r, kind)
    };
    let judged = |name: &str| {
        let r = rules.iter().find(|r| r.meta().name == name).expect(name);
        (r.stats().judged, r.stats().spared)
    };
    let firing = |rule: &str, key: &str| {
        e.storage
            .alerts()
            .get(rule, "s19", key)
            .expect("read")
            .is_some_and(|a| a.firing)
    };

    // One at a time: a miner's events in one batch are all judged, as the verdict on the
    // first is not known when the batch is sent.
    for i in 0..6 {
        send(healthy(i), RuleEventKind::Sample).await;
        e.settled(sent.get() * 9).await;
    }
    // Each judged the first sample only; rule-pool-changed too, though the pool's share
    // counters moved at every sample: it reads (and rests on) where the pool points.
    for name in [
        "rule-offline",
        "rule-not-hashing",
        "rule-overheat",
        "rule-fan-failure",
        "rule-hashrate-drop",
        "rule-reject-ratio",
        "rule-new-best",
        "rule-block-found",
        "rule-pool-changed",
    ] {
        assert_eq!(judged(name), (1, 5), "{name}");
    }

    // Hot: rule-overheat is woken and fires at once.
    let mut r = healthy(6);
    r.temp_max_c = Some(99.0);
    send(r, RuleEventKind::Sample).await;
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-overheat"), (2, 5));
    assert!(firing("rule-overheat", "chip"));
    assert_eq!(judged("rule-fan-failure"), (1, 6), "still resting");

    // A fan stops: rule-fan-failure is woken, counts two samples, fires.
    for i in 7..9 {
        let mut r = healthy(i);
        r.fans[1].rpm = Some(0.0);
        send(r, RuleEventKind::Sample).await;
        e.settled(sent.get() * 9).await;
    }
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-fan-failure"), (3, 6));
    assert!(firing("rule-fan-failure", "fan"));

    // The hashrate falls 35% under the expected: three samples in a row, then it fires.
    for i in 9..12 {
        let mut r = healthy(i);
        r.hashrate_hs = Some(70e12);
        send(r, RuleEventKind::Sample).await;
        e.settled(sent.get() * 9).await;
    }
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-hashrate-drop"), (4, 8));
    assert!(firing("rule-hashrate-drop", "hashrate"));
    assert_eq!(judged("rule-not-hashing").0, 1, "70 TH/s is hashing");

    // The share counters fall below the window's start (a restart): rule-reject-ratio is
    // woken to start a new window, then rests again.
    for i in 12..14 {
        let mut r = healthy(i);
        r.shares_accepted = Some(5 + i);
        send(r, RuleEventKind::Sample).await;
        e.settled(sent.get() * 9).await;
    }
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-reject-ratio"), (2, 12));
    // Half an hour later its window is full: it judges it, and rests again.
    let mut r = healthy(14);
    r.ts_ms += 31 * 60_000;
    r.shares_accepted = Some(500);
    send(r, RuleEventKind::Sample).await;
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-reject-ratio"), (3, 12));

    // Another user on the same pool (a hijacked miner): rule-pool-changed is woken, fires.
    assert_eq!(judged("rule-pool-changed"), (1, 14));
    let mut r = healthy(15);
    r.pools[0].user = Some("bc1qthief.s19".into());
    send(r, RuleEventKind::Sample).await;
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-pool-changed"), (2, 14));
    assert!(firing("rule-pool-changed", "pool"));

    // Offline: a state change, which every rule is sent.
    let mut r = healthy(16);
    r.state = solomon_plugin_sdk::MinerState::Offline;
    let kind = RuleEventKind::StateChange(
        solomon_plugin_sdk::MinerState::Hashing,
        solomon_plugin_sdk::MinerState::Offline,
    );
    send(r, kind).await;
    e.settled(sent.get() * 9).await;
    assert_eq!(judged("rule-offline"), (2, 15));
    assert!(firing("rule-offline", "offline"));
    assert_eq!(e.failures(), 0);
}

/// A resting rule is not sent a sample that keeps the rest of its last verdict on the
/// miner: the groups it reads unchanged, the power as it was, within 60 s (rule-count's
/// rest). Every other event reaches it: a change in what it reads, the power, the time, the
/// state, any sample after a firing verdict. A rule that gives no rest is sent every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resting_rule_is_spared_the_samples_that_keep_its_rest() {
    use solomon_plugin_sdk::MinerState;
    type Change = fn(&mut MinerRecord);
    // Each sample, and how many events rule-count-steady has judged after it.
    let steps: [(Change, u64, &str); 14] = [
        (|_| {}, 1, "the first sample has no previous record"),
        (|_| {}, 1, "unchanged after a quiet verdict: spared"),
        (
            |r| r.hashrate_hs = Some(0.9e12),
            1,
            "a field it does not read",
        ),
        (|r| r.temp_c = Some(62.0), 2, "a temperature it reads"),
        (|r| r.temp_c = Some(62.0), 2, "spared again"),
        (
            |r| {
                r.temp_c = Some(62.0);
                r.power_w = Some(15.0);
            },
            3,
            "the power, unreported before",
        ),
        (
            |r| {
                r.temp_c = Some(62.0);
                r.power_w = Some(15.0);
            },
            3,
            "the same power",
        ),
        (
            |r| {
                r.temp_c = Some(62.0);
                r.power_w = Some(16.0);
            },
            4,
            "another power",
        ),
        (
            |r| {
                r.temp_c = Some(62.0);
                r.power_w = Some(16.0);
                r.ts_ms = 70_000;
            },
            5,
            "60 s later",
        ),
        (
            |r| {
                r.temp_c = Some(62.0);
                r.power_w = Some(16.0);
                r.ts_ms = 70_000;
                r.state = MinerState::Faulted;
            },
            6,
            "the state",
        ),
        (
            |r| {
                r.temp_c = Some(90.0);
                r.power_w = Some(16.0);
                r.ts_ms = 70_000;
            },
            7,
            "hot: it fires",
        ),
        (
            |r| {
                r.temp_c = Some(90.0);
                r.power_w = Some(16.0);
                r.ts_ms = 70_000;
            },
            8,
            "unchanged, but its last verdict fired",
        ),
        (
            |r| {
                r.temp_c = Some(61.0);
                r.power_w = Some(16.0);
                r.ts_ms = 70_000;
            },
            9,
            "cooled: it resolves",
        ),
        (
            |r| {
                r.temp_c = Some(61.0);
                r.power_w = Some(16.0);
                r.ts_ms = 70_000;
            },
            9,
            "quiet again: spared",
        ),
    ];
    for (rule, rests) in [
        (plugins::RULE_COUNT_STEADY, true),
        (plugins::RULE_COUNT_V1, false),
    ] {
        let e = Engine::start(rule).await;
        for (i, (change, judged, why)) in steps.iter().enumerate() {
            e.sample_with("m", change).await;
            let sent = i as u64 + 1;
            e.settled(sent).await;
            let want = if rests { *judged } else { sent };
            assert_eq!(e.count("n/m"), Some(want.to_string()), "{why}");
        }
        let spared = e.engine.stats().spared.load(Ordering::Relaxed);
        assert_eq!(spared, if rests { 5 } else { 0 });
        assert_eq!(e.rule.stats().spared, spared, "the rule's own count");
        assert_eq!(e.failures(), 0);
        // rule-count-v1 never fires.
        let hot = || {
            let a = e
                .storage
                .alerts()
                .get("rule-count", "m", "hot")
                .expect("read");
            a.map(|a| a.firing).filter(|_| rests)
        };
        assert_eq!(hot(), rests.then_some(false), "fired, then resolved");
        // Back to back, so in one batch: the second keeps the rest the first breaks, whose
        // verdict is not known when the batch is sent. It is judged too.
        let sent = steps.len() as u64;
        e.sample_with("m", |r| r.temp_c = Some(95.0)).await;
        e.sample_with("m", |r| r.temp_c = Some(95.0)).await;
        e.settled(sent + 2).await;
        let judged = if rests {
            steps[steps.len() - 1].1
        } else {
            sent
        };
        assert_eq!(e.count("n/m"), Some((judged + 2).to_string()));
        assert_eq!(hot(), rests.then_some(true));
    }
}

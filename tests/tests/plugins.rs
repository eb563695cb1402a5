//! Host <-> plugin calls through real compiled components: a driver polling a miner over a real
//! socket, a rule keeping state across a reload, the artifact cache, and `solomon plugin check`.

use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::cli::plugins::load_plugin_set;
use solomon_host::host_api::plugin_state::{MemoryState, StateBackend};
use solomon_host::runtime::driver_types::{PollError, Target};
use solomon_host::runtime::record::to_wit_reading;
use solomon_host::runtime::rule_types::{Event, EventKind, Severity};
use solomon_host::runtime::{
    CallError, CompileIn, HostServices, LoadError, Plugin, Runtime, RuntimeConfig, World,
};
use solomon_plugin_sdk::{Fields, MinerRecord, MinerState};
use solomon_tests::{axeos_server, fixture, plugins, read, solomon_bin, test_config};
use std::sync::Arc;

fn axeos_bytes() -> Arc<[u8]> {
    BUILTIN_PLUGINS
        .iter()
        .find(|p| p.name == "driver-axeos")
        .expect("built in")
        .wasm
        .into()
}

#[tokio::test]
async fn axeos_driver_polls_a_miner_over_http() {
    let addr = axeos_server(fixture(
        "axeos/bitaxe-gamma-601-bm1370_v2.12.0_system_info.json",
    ))
    .await;
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    let driver = runtime.load(axeos_bytes()).await.expect("loads");
    assert_eq!(
        (driver.meta().name.as_str(), driver.meta().world),
        ("driver-axeos", World::Driver)
    );

    let target = Target {
        host: "127.0.0.1".into(),
        http_port: addr.port(),
        rpc_port: 4028,
    };
    let r = driver
        .poll(target)
        .await
        .expect("no trap")
        .expect("poll ok");
    assert_eq!(
        (r.id.as_str(), r.host.as_str()),
        ("D8:3B:DA:6E:C0:D0", "127.0.0.1")
    );
    assert_eq!(
        (r.make.as_str(), r.model.as_deref()),
        ("Bitaxe", Some("Gamma"))
    );
    assert_eq!(r.state, MinerState::Hashing);
    assert_eq!(r.hashrate_hs, Some(1234.3735352e9), "GH/s -> H/s");
    assert_eq!(r.temp_c, Some(59.75));
    assert_eq!(r.power_w, Some(23.6954327));
    assert_eq!(r.best_diff, Some(3468978118.0));
    assert_eq!(r.driver, "driver-axeos@0.1.0");
    assert!(r.ts_ms > 1_700_000_000_000, "stamped with the host clock");
}

#[tokio::test]
async fn driver_errors_are_typed_not_traps() {
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    let driver = runtime.load(axeos_bytes()).await.expect("loads");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let target = Target {
        host: "127.0.0.1".into(),
        http_port: closed,
        rpc_port: 4028,
    };
    assert!(matches!(
        driver.poll(target).await,
        Ok(Err(PollError::Unreachable(_)))
    ));
    // A server that answers with something that is not AxeOS JSON.
    let addr = axeos_server("{\"hello\": [1, 2".into()).await;
    let target = Target {
        host: "127.0.0.1".into(),
        http_port: addr.port(),
        rpc_port: 4028,
    };
    match driver.poll(target).await {
        Ok(Err(PollError::Malformed(msg))) => assert!(msg.contains("invalid JSON"), "{msg}"),
        other => panic!("expected malformed, got {other:?}"),
    }
    assert_eq!(driver.stats().traps, 0);
}

fn hot_event(miner: &str, temp: f64) -> Event {
    let record = MinerRecord {
        id: miner.into(),
        make: "Bitaxe".into(),
        temp_c: Some(temp),
        ..Default::default()
    };
    Event {
        miner_id: miner.into(),
        kind: EventKind::Sample,
        previous: None,
        current: Some(to_wit_reading(&record, Fields::ALL)),
        ts_ms: 1,
    }
}

async fn evaluate(rule: &Plugin, temp: f64) -> (bool, String) {
    let verdict = rule
        .evaluate_one(hot_event("m1", temp), r#"{"max_chip_c": 70, "samples": 2}"#)
        .await
        .expect("no trap")
        .expect("rule ok");
    // Cool, it rests until the chip passes the limit; hot, it is counting and does not.
    let rest = verdict.rest.map(|r| r.bounds);
    if temp > 70.0 {
        assert!(rest.is_none(), "{temp} °C");
    } else {
        let bound = rest.as_deref().and_then(|b| b.first().copied());
        assert_eq!(
            bound.map(|b| b.within),
            Some(Some((f64::NEG_INFINITY, 70.0)))
        );
    }
    let alerts = verdict.alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].key.as_str(), alerts[0].severity),
        ("chip", Severity::Warning)
    );
    (alerts[0].firing, alerts[0].message.clone())
}

#[tokio::test]
async fn example_rule_keeps_its_state_across_a_reload() {
    let state = Arc::new(MemoryState::default());
    let services = HostServices {
        state: state.clone(),
        ..Default::default()
    };
    let runtime = Runtime::new(test_config(), services).expect("runtime");
    let rule = runtime
        .load(read(plugins::RULE_HOT_CHIP))
        .await
        .expect("example rule loads");
    assert_eq!(
        (rule.meta().name.as_str(), rule.meta().world),
        ("rule-hot-chip", World::AlertRule)
    );

    assert!(
        !evaluate(&rule, 75.0).await.0,
        "one hot sample is not enough"
    );
    drop(rule);
    // A new instance of the rule (as after a hot reload) continues the streak from plugin state.
    let rule = runtime
        .load(read(plugins::RULE_HOT_CHIP))
        .await
        .expect("reloads");
    let (firing, message) = evaluate(&rule, 76.0).await;
    assert!(firing, "second hot sample in a row fires: {message}");
    assert!(message.contains("76.0 °C"), "{message}");
    assert_eq!(
        state
            .get("rule-hot-chip", "hot/m1")
            .expect("stored")
            .as_deref(),
        Some(&b"2"[..])
    );
    assert!(!evaluate(&rule, 60.0).await.0, "cooling down resolves");
    // A streak back at 0 is no key: a fleet of healthy miners keeps no state for it.
    assert_eq!(state.get("rule-hot-chip", "hot/m1").expect("read"), None);
    assert!(!evaluate(&rule, 61.0).await.0, "still cool");
    assert_eq!(state.get("rule-hot-chip", "hot/m1").expect("read"), None);
    assert!(!evaluate(&rule, 75.0).await.0, "a new streak starts at 1");
    assert_eq!(
        state
            .get("rule-hot-chip", "hot/m1")
            .expect("stored")
            .as_deref(),
        Some(&b"1"[..])
    );
}

#[tokio::test]
async fn a_batch_gets_one_verdict_per_event_in_order_with_each_miners_overrides() {
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    let rule = runtime
        .load(read(plugins::RULE_HOT_CHIP))
        .await
        .expect("example rule loads");
    // m2 may run hotter; m1's two hot samples in a row fire on the second.
    let config = r#"{"max_chip_c": 70, "samples": 2, "miners": {"m2": {"max_chip_c": 80}}}"#;
    let events: Arc<[Event]> = [
        hot_event("m1", 75.0),
        hot_event("m2", 75.0),
        hot_event("m1", 76.0),
        hot_event("m2", 81.0),
        hot_event("m3", 50.0),
    ]
    .into();
    let verdicts = rule.evaluate(events, config.into()).await.expect("no trap");
    let firing: Vec<bool> = verdicts
        .into_iter()
        .map(|v| {
            let alerts = v.expect("rule ok").alerts;
            assert_eq!(alerts.len(), 1);
            alerts[0].firing
        })
        .collect();
    assert_eq!(firing, [false, false, true, false, false]);
    assert_eq!(rule.stats().calls, 1, "one call for the whole batch");
}

#[tokio::test]
async fn a_rule_answering_too_few_verdicts_is_refused_not_misread() {
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    let rule = runtime
        .load(read(plugins::RULE_SHORT_VERDICTS))
        .await
        .expect("loads: the contract is right, only its answers are not");
    let events: Arc<[Event]> = [
        hot_event("m1", 75.0),
        hot_event("m2", 75.0),
        hot_event("m3", 75.0),
    ]
    .into();
    for _ in 0..2 {
        match rule.evaluate(events.clone(), "{}".into()).await {
            Err(e @ CallError::BadResult { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("2 verdicts for a batch of 3 events"), "{msg}");
                assert!(msg.contains("rule-short-verdicts"), "{msg}");
            }
            Err(other) => panic!("expected a bad-result error, got {other}"),
            Ok(v) => panic!("{} verdicts accepted for 3 events", v.len()),
        }
    }
    assert_eq!(rule.stats().calls, 2, "the plugin still answers calls");
}

#[tokio::test]
async fn a_plugin_built_for_an_older_contract_is_refused_with_the_fix() {
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    match runtime.load(read(plugins::RULE_CONTRACT_V01)).await {
        Err(e @ LoadError::ContractVersion { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("solomon:plugin@0.1.0"), "{msg}");
            assert!(msg.contains("solomon-plugin-sdk 0.7.0"), "{msg}");
        }
        Err(other) => panic!("expected a contract version error, got {other}"),
        Ok(_) => panic!("a 0.1.0 plugin loaded"),
    }
}

#[tokio::test]
async fn a_disabled_built_in_plugin_is_not_loaded() {
    let runtime = Runtime::new(test_config(), HostServices::default()).expect("runtime");
    let set = load_plugin_set(&runtime, &[], &["rule-pool-changed".to_string()]).await;
    let rules: Vec<String> = set.rules().iter().map(|r| r.meta().name.clone()).collect();
    assert!(!rules.iter().any(|r| r == "rule-pool-changed"), "{rules:?}");
    assert!(rules.iter().any(|r| r == "rule-overheat"), "{rules:?}");
    assert_eq!(set.drivers().len(), 2);
}

#[tokio::test]
async fn plugin_state_is_atomic_under_concurrent_instances() {
    let state = Arc::new(MemoryState::default());
    let config = RuntimeConfig {
        instances_per_driver: 4,
        ..test_config()
    };
    let runtime = Runtime::new(
        config,
        HostServices {
            state: state.clone(),
            ..Default::default()
        },
    )
    .expect("runtime");
    let plugin = Arc::new(runtime.load(read(plugins::HOSTILE)).await.expect("loads"));
    let target = Target {
        host: "state".into(),
        http_port: 80,
        rpc_port: 4028,
    };
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let p = plugin.clone();
            let t = target.clone();
            tokio::spawn(async move { p.poll(t).await })
        })
        .collect();
    for c in calls {
        assert!(c.await.expect("task").expect("no trap").is_ok());
    }
    // Four instances raced on one counter through compare-and-swap: no increment was lost.
    assert_eq!(
        state
            .get("test-hostile", "polls")
            .expect("stored")
            .as_deref(),
        Some(&b"200"[..])
    );
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk() {
    let cache = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..test_config()
    };
    let runtime = Runtime::new(config, HostServices::default()).expect("runtime");
    let first = runtime.load(axeos_bytes()).await.expect("compiles");
    assert!(!first.meta().from_cache);
    let second = runtime.load(axeos_bytes()).await.expect("loads from cache");
    assert!(second.meta().from_cache);
    // A corrupt artifact is discarded and recompiled, not trusted.
    for entry in std::fs::read_dir(cache.path()).expect("read") {
        std::fs::write(entry.expect("entry").path(), b"garbage").expect("corrupt");
    }
    let third = runtime.load(axeos_bytes()).await.expect("recompiles");
    assert!(!third.meta().from_cache);
}

/// A stand-in compiler executable: a shell script that records each call in `calls` and then
/// runs `body`.
fn compiler_script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let calls = dir.join(format!("{name}.calls"));
    let script = format!("#!/bin/sh\necho called >> '{}'\n{body}\n", calls.display());
    std::fs::write(&path, script).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn calls(dir: &std::path::Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{name}.calls")))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn runtime_compiling_with(cache: &std::path::Path, exe: std::path::PathBuf) -> Runtime {
    let config = RuntimeConfig {
        cache_dir: Some(cache.to_path_buf()),
        compile_in: CompileIn::Child(exe),
        ..test_config()
    };
    Runtime::new(config, HostServices::default()).expect("runtime")
}

#[tokio::test]
async fn a_child_process_compiles_plugins_into_the_cache() {
    let bin = tempfile::tempdir().expect("tempdir");
    let exe = compiler_script(
        bin.path(),
        "solomon",
        &format!("exec '{}' \"$@\"", solomon_bin().display()),
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_compiling_with(cache.path(), exe);
    let driver = runtime
        .load(axeos_bytes())
        .await
        .expect("compiled by the child");
    assert!(!driver.meta().from_cache);
    assert_eq!(calls(bin.path(), "solomon"), 1, "the child compiled it");
    let again = runtime.load(axeos_bytes()).await.expect("from the cache");
    assert!(again.meta().from_cache);
    assert_eq!(
        calls(bin.path(), "solomon"),
        1,
        "a cache hit starts no child"
    );
    // What the child wrote is a working plugin, not just a file.
    let addr = axeos_server(fixture(
        "axeos/bitaxe-gamma-601-bm1370_v2.12.0_system_info.json",
    ))
    .await;
    let target = Target {
        host: addr.ip().to_string(),
        http_port: addr.port(),
        rpc_port: 4028,
    };
    let record = driver.poll(target).await.expect("poll").expect("record");
    assert_eq!(record.make, "Bitaxe");

    // A file that does not compile is refused with the compiler's reason.
    let err = runtime
        .load(Arc::from(&b"\0asm\x0d\0\x01\0 not a component body"[..]))
        .await
        .err()
        .expect("refused");
    let LoadError::Invalid(reason) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert!(
        !reason.is_empty() && !reason.contains("process failed"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_crashing_or_missing_compiler_process_costs_a_load_error_or_nothing() {
    let bin = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");

    // Dies by a signal: the load fails with that, and the runtime carries on.
    let crashing = compiler_script(bin.path(), "crashing", "kill -SEGV $$");
    let runtime = runtime_compiling_with(cache.path(), crashing);
    let err = runtime.load(axeos_bytes()).await.err().expect("refused");
    assert!(
        matches!(&err, LoadError::Invalid(m) if m.contains("compiler process failed")),
        "{err}"
    );
    assert_eq!(calls(bin.path(), "crashing"), 1);

    // Exits 0 but writes nothing: compiled in process instead.
    let silent = compiler_script(bin.path(), "silent", "cat > /dev/null; exit 0");
    let runtime = runtime_compiling_with(cache.path(), silent);
    let plugin = runtime
        .load(axeos_bytes())
        .await
        .expect("compiled in process");
    assert!(!plugin.meta().from_cache);
    assert_eq!(calls(bin.path(), "silent"), 1);

    // Never reads and never ends: stopped at the timeout, and the load fails with that.
    let hung = compiler_script(bin.path(), "hung", "exec sleep 60");
    let cache = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        compile_in: CompileIn::Child(hung),
        compile_timeout: std::time::Duration::from_secs(1),
        ..test_config()
    };
    let runtime = Runtime::new(config, HostServices::default()).expect("runtime");
    let err = runtime.load(axeos_bytes()).await.err().expect("refused");
    assert!(
        matches!(&err, LoadError::Invalid(m) if m.contains("took longer")),
        "{err}"
    );

    // A cache "dir" that is a file: the child cannot write its artifact, so the plugin is
    // compiled in process and loads (uncached), as it would without a child.
    let spot = tempfile::tempdir().expect("tempdir");
    let not_a_dir = spot.path().join("cache");
    std::fs::write(&not_a_dir, b"a file").expect("write");
    let runtime = runtime_compiling_with(&not_a_dir, solomon_bin());
    runtime
        .load(axeos_bytes())
        .await
        .expect("loads although nothing can be cached");

    // Cannot be started: compiled in process too.
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_compiling_with(cache.path(), bin.path().join("no-such-binary"));
    runtime
        .load(axeos_bytes())
        .await
        .expect("compiled in process");
}

#[test]
fn plugin_check_accepts_plugins_and_rejects_the_wrong_world() {
    let out = std::process::Command::new(solomon_bin())
        .args(["plugin", "check", plugins::RULE_HOT_CHIP, plugins::HOSTILE])
        .output()
        .expect("run solomon");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rule-hot-chip 0.1.0 (world alert-rule, api 0.7.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test-hostile 0.1.0 (world driver"),
        "{stdout}"
    );

    let out = std::process::Command::new(solomon_bin())
        .args(["plugin", "check", plugins::NOT_A_PLUGIN])
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wrong world") && stderr.contains("wasi:cli/run"),
        "{stderr}"
    );
}

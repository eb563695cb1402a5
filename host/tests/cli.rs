//! The `solomon` binary's command line, as a user runs it.

use std::process::Command;

fn solomon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_solomon"))
}

#[test]
fn plugin_check_rejects_non_components_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "just some text").expect("write");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let truncated = dir.path().join("truncated.wasm");
    std::fs::write(&truncated, b"\0asm\x0d\0\x01\0\x01\xff\xff").expect("write");

    let out = solomon()
        .args(["plugin", "check"])
        .arg(&text)
        .arg(&core)
        .arg(&truncated)
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.wasm: not a WebAssembly file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("core.wasm: a core WebAssembly module, not a component"),
        "{stderr}"
    );
    assert!(
        stderr.contains("truncated.wasm: invalid component"),
        "{stderr}"
    );
}

#[test]
fn plugin_check_on_a_missing_file_says_so() {
    let out = solomon()
        .args(["plugin", "check", "/nonexistent/x.wasm"])
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/x.wasm"));
}

#[test]
fn builtin_plugins_export_and_pass_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = solomon()
        .args(["plugin", "export-builtin"])
        .arg(dir.path())
        .output()
        .expect("run solomon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("driver-axeos.wasm")),
        "{files:?}"
    );
    let out = solomon()
        .args(["plugin", "check", "--json"])
        .args(&files)
        .output()
        .expect("run solomon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(v["ok"], true, "{line}");
    }
    assert!(
        stdout.contains("\"name\":\"driver-axeos\"") && stdout.contains("\"world\":\"driver\""),
        "{stdout}"
    );
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Spawns `cmd` with its log piped, waits for the `listen=ADDR` line and returns the child and
/// its API address. The log keeps being drained so the child never blocks on a full pipe.
fn spawn_listening(cmd: Command) -> (std::process::Child, String) {
    let (child, addr, _) = spawn_listening_logged(cmd);
    (child, addr)
}

/// Also returns what it logged before it listened.
fn spawn_listening_logged(mut cmd: Command) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start solomon");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut before = String::new();
    let addr = loop {
        let line = lines.next().expect("it logs before exiting").expect("read");
        if let Some(rest) = line.split("listen=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
        before.push_str(&line);
        before.push('\n');
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr, before)
}

#[test]
fn daemon_serves_health_and_plugins_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = solomon();
    cmd.args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path());
    let (mut child, addr) = spawn_listening(cmd);
    let ready = (0..200).find_map(|_| {
        let r = http_get(&addr, "/readyz")
            .filter(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"));
        if r.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        r
    });
    assert!(ready.is_some(), "never ready");
    assert!(
        http_get(&addr, "/healthz")
            .expect("healthz")
            .ends_with("ok")
    );
    let plugins = http_get(&addr, "/api/v1/plugins").expect("plugins");
    assert!(plugins.contains("\"name\":\"driver-axeos\""), "{plugins}");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "clean exit on SIGTERM");
    assert!(
        dir.path().join("db").exists(),
        "the database lives in the data dir"
    );
}

#[test]
fn probe_of_an_unreachable_address_exits_1_with_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = solomon()
        .env("XDG_CACHE_HOME", dir.path())
        .args([
            "probe",
            "127.0.0.1",
            "--http-port",
            &closed.to_string(),
            "--rpc-port",
            &closed.to_string(),
        ])
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error line");
    assert!(
        line.contains("127.0.0.1: unreachable") && line.contains(&format!("port {closed}")),
        "{line}"
    );
}

#[test]
fn scan_rejects_a_bad_range() {
    let out = solomon()
        .args(["scan", "10.0.0.0/8"])
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too large to scan"));
}

#[test]
fn demo_serves_a_live_simulated_fleet_over_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = solomon();
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--miners",
        "2",
        "--poll-seconds",
        "1",
        "--data-dir",
    ])
    .arg(dir.path())
    .env("XDG_CACHE_HOME", dir.path());
    let (mut child, addr) = spawn_listening(cmd);
    let mut listed = String::new();
    for _ in 0..200 {
        listed = http_get(&addr, "/api/v1/miners").unwrap_or_default();
        if listed.matches("\"state\":\"hashing\"").count() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        listed.contains("\"make\":\"Bitaxe\"") && listed.contains("\"make\":\"Antminer\""),
        "{listed}"
    );
    let one = http_get(&addr, "/api/v1/miners/sim-00-axeos").expect("one miner");
    assert!(one.contains("\"hashrate_hs\""), "{one}");
    let mut history = String::new();
    for _ in 0..50 {
        history = http_get(
            &addr,
            "/api/v1/miners/sim-00-axeos/history?metric=hashrate_hs",
        )
        .expect("history");
        if history.contains("\"ts_ms\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        history.contains("\"resolution\":\"raw\"") && history.contains("\"ts_ms\""),
        "{history}"
    );
    let bad =
        http_get(&addr, "/api/v1/miners/sim-00-axeos/history?metric=nope").expect("bad metric");
    assert!(
        bad.starts_with("HTTP/1.0 400") && bad.contains("\"code\":\"unknown_metric\""),
        "{bad}"
    );
    let missing = http_get(&addr, "/api/v1/nothing").expect("unknown route");
    assert!(
        missing.starts_with("HTTP/1.0 404") && missing.contains("\"error\""),
        "{missing}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

/// Starts `solomon run` with `args` and returns it with its API address.
fn start_daemon(data_dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let mut cmd = solomon();
    cmd.args([
        "run",
        "--listen",
        "127.0.0.1:0",
        "--poll-seconds",
        "1",
        "--data-dir",
    ])
    .arg(data_dir)
    .args(args)
    .env("XDG_CACHE_HOME", data_dir);
    spawn_listening(cmd)
}

/// One simulated Bitaxe on 127.0.`net`.1:`http_port`, kept alive by the returned runtime.
fn one_simulated_bitaxe(
    net: u8,
    http_port: u16,
) -> (tokio::runtime::Runtime, solomon_host::simulate::Fleet) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let config = solomon_host::simulate::FleetConfig {
        axeos: 1,
        cgminer: 0,
        first_ip: std::net::Ipv4Addr::new(127, 0, net, 1),
        http_port,
        ..Default::default()
    };
    let fleet = rt
        .block_on(solomon_host::simulate::Fleet::start(config))
        .expect("simulator");
    (rt, fleet)
}

fn wait_for_hashing(addr: &str) -> String {
    let mut listed = String::new();
    // A fresh data dir means a cold plugin cache: a debug daemon compiles its 11 plugins first,
    // which took over 10 s on this 2-core machine while another daemon was benchmarked on it.
    for _ in 0..600 {
        listed = http_get(addr, "/api/v1/miners").unwrap_or_default();
        if listed.contains("\"state\":\"hashing\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    listed
}

#[test]
fn miners_added_on_the_command_line_are_polled_and_kept_across_restarts() {
    let (_rt, _fleet) = one_simulated_bitaxe(3, 18186);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = start_daemon(dir.path(), &["--miner", "127.0.3.1:18186:14133"]);
    let listed = wait_for_hashing(&addr);
    assert!(
        listed.contains("\"id\":\"127.0.3.1\"") && listed.contains("\"make\":\"Bitaxe\""),
        "{listed}"
    );
    // Killed, not stopped: the miner added at run time must still be there.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let (mut child, addr) = start_daemon(dir.path(), &[]);
    let listed = wait_for_hashing(&addr);
    assert!(listed.contains("\"id\":\"127.0.3.1\""), "{listed}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn a_bad_miner_argument_is_refused_with_its_reason() {
    let out = solomon()
        .args(["run", "--miner", "10.0.0.1:http"])
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"http\" is not a port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_config_file_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("solomon.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\n\n[defaults]\npoll_secs = 5\n",
    )
    .expect("write");
    let out = solomon()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run solomon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4: poll_secs: ", path.display()))
            && stderr.contains("unknown field"),
        "{stderr}"
    );
}

#[test]
fn a_config_file_configures_the_daemon() {
    let (_rt, _fleet) = one_simulated_bitaxe(4, 18187);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("solomon.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n\n[defaults]\npoll_seconds = 1\n\n[storage]\nraw_days = 2\ncache_mib = 16\n\n[[miner]]\nid = \"cfg-bitaxe\"\nhost = \"127.0.4.1\"\nhttp_port = 18187\nlabels = {{ site = \"lab\" }}\n",
        dir.path().join("data").display().to_string()
    );
    std::fs::write(&path, text).expect("write");
    let mut cmd = solomon();
    cmd.args(["run", "--config"])
        .arg(&path)
        .env("XDG_CACHE_HOME", dir.path());
    let (mut child, addr, log) = spawn_listening_logged(cmd);
    assert!(
        log.contains("raw_days=2") && log.contains("cache_mib=16"),
        "[storage] reaches the database: {log}"
    );
    let listed = wait_for_hashing(&addr);
    assert!(
        listed.contains("\"id\":\"cfg-bitaxe\"") && listed.contains("\"make\":\"Bitaxe\""),
        "{listed}"
    );
    assert!(
        dir.path().join("data").join("db").exists(),
        "data_dir from the file"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

fn http_send(addr: &str, method: &str, path: &str, token: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn a_miner_added_through_the_api_survives_a_kill() {
    let (_rt, _fleet) = one_simulated_bitaxe(5, 18187);
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "kill-test-token-0123456789";
    let (mut child, addr) = start_daemon(dir.path(), &["--token", token]);
    let ready = (0..200).any(|_| {
        let ok = http_get(&addr, "/readyz").is_some_and(|r| r.contains(" 200 "));
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ok
    });
    assert!(ready, "never ready");
    let added = http_send(
        &addr,
        "POST",
        "/api/v1/miners",
        token,
        r#"{"id":"desk","host":"127.0.5.1","http_port":18187,"name":"desk bitaxe"}"#,
    );
    assert!(
        added.starts_with("HTTP/1.0 201") || added.starts_with("HTTP/1.1 201"),
        "{added}"
    );
    let listed = wait_for_hashing(&addr);
    assert!(listed.contains("\"id\":\"desk\""), "{listed}");
    // SIGKILL: no shutdown code runs; the miner must already be on disk.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let (mut child, addr) = start_daemon(dir.path(), &["--token", token]);
    let listed = wait_for_hashing(&addr);
    assert!(
        listed.contains("\"id\":\"desk\"") && listed.contains("\"name\":\"desk bitaxe\""),
        "{listed}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn bench_rules_runs_every_builtin_rule_through_the_real_path() {
    // Figures are printed, never asserted: only that each rule was measured.
    let cache = tempfile::tempdir().expect("tempdir");
    let out = solomon()
        .args(["bench", "rules", "--miners", "20"])
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("run solomon");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rule in [
        "rule-block-found",
        "rule-fan-failure",
        "rule-hashrate-drop",
        "rule-new-best",
        "rule-not-hashing",
        "rule-offline",
        "rule-overheat",
        "rule-pool-changed",
        "rule-reject-ratio",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(rule) && l.contains("µs per event")),
            "{rule} not measured:\n{stdout}"
        );
    }
    assert!(stdout.contains("all 9 rules"), "{stdout}");
}

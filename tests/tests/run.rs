//! `solomon run --config FILE` as a user starts it: a real process reading a TOML file, and
//! stopped the way systemd stops it (SIGTERM).

use solomon_tests::{http, is_ready, solomon_bin};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon under test, killed if the test fails before stopping it: left running, it
/// would hold the test's address and answer the next run in place of its own daemon.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn run_honours_the_config_file_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr: SocketAddr = "127.0.28.7:18377".parse().expect("addr");
    let config = dir.path().join("solomon.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\ndata_dir = {:?}\ndisable_builtin = [\"rule-pool-changed\"]\n\n[defaults]\npoll_threads = 3\n\n[auth]\ntokens = [\"run-test-token-0123456789\"]\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .expect("write config");
    let mut child = KillOnDrop(
        Command::new(solomon_bin())
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start solomon run"),
    );

    // Ready once the plugins are compiled (a debug build compiles them slowly).
    let start = Instant::now();
    while !is_ready(addr).await {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("solomon run exited early: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "not ready in 240 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let list = http(addr, "GET", "/api/v1/plugins", None, None)
        .await
        .json();
    let names: Vec<&str> = list["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|p| p["plugin"]["name"].as_str())
        .collect();
    assert!(!names.contains(&"rule-pool-changed"), "disabled: {names:?}");
    assert!(names.contains(&"rule-overheat"), "{names:?}");
    assert!(names.contains(&"driver-axeos"), "{names:?}");

    // Polling, drivers and rules run on the configured number of threads of their own, at a
    // lower priority than the threads serving the API. (Blocking-pool threads of that runtime
    // would share the name; with no miner configured, nothing there starts one.)
    #[cfg(target_os = "linux")]
    {
        let poll_nices: Vec<i64> = std::fs::read_dir(format!("/proc/{}/task", child.0.id()))
            .expect("the process's threads")
            .filter_map(|t| {
                let dir = t.ok()?.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // Field 19 (nice), counted after the parenthesised name (field 2).
                let nice = stat.rsplit_once(')')?.1.split_whitespace().nth(16)?;
                (name.trim() == "solomon-poll").then(|| nice.parse().ok())?
            })
            .collect();
        assert_eq!(
            poll_nices,
            [5, 5, 5],
            "nice values of the solomon-poll threads"
        );
    }

    let pid = child.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "still running 30 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

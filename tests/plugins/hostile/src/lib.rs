//! A driver that misbehaves on request: the target's host name picks the behaviour.
//! Used by the sandbox tests and the runtime benchmark.

use solomon_plugin_sdk::driver::{Driver, PollError, Target, http};
use solomon_plugin_sdk::{MinerRecord, MinerState, host};

struct Hostile;

fn record(target: &Target) -> MinerRecord {
    MinerRecord {
        id: target.host.clone(),
        host: target.host.clone(),
        make: "Hostile".into(),
        state: MinerState::Hashing,
        ..Default::default()
    }
}

impl Driver for Hostile {
    fn description() -> &'static str {
        "misbehaves on request"
    }

    fn poll(target: &Target) -> Result<MinerRecord, PollError> {
        let mode = target.host.as_str();
        match mode {
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "alloc" => {
                let v = vec![1u8; 1 << 30];
                Err(PollError::Malformed(format!(
                    "allocated {} bytes",
                    std::hint::black_box(v).len()
                )))
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "escape" => match http("GET", "http://192.0.2.1/api/system/info", &[], 100) {
                Ok(r) => Err(PollError::Malformed(format!(
                    "reached another host: status {}",
                    r.status
                ))),
                Err(e) => Err(e.into()),
            },
            "file" => match std::fs::read_to_string("/etc/passwd") {
                Ok(s) => Err(PollError::Malformed(format!(
                    "read a host file of {} bytes",
                    s.len()
                ))),
                Err(e) => Err(PollError::Denied(format!("file open failed: {e}"))),
            },
            "state" => {
                let n: u64 = host::state::update_json("polls", |n: Option<u64>| n.unwrap_or(0) + 1)
                    .map_err(|e| PollError::Malformed(e.to_string()))?;
                Ok(MinerRecord {
                    shares_accepted: Some(n),
                    ..record(target)
                })
            }
            "log-flood" => {
                for i in 0..10_000 {
                    host::info(&format!("line {i}"));
                }
                Ok(record(target))
            }
            "huge-result" => Ok(MinerRecord {
                hostname: Some("x".repeat(4 << 20)),
                ..record(target)
            }),
            m if m.starts_with("hostcalls-") => {
                let n: u64 = m["hostcalls-".len()..].parse().unwrap_or(0);
                let mut last = 0;
                for _ in 0..n {
                    last = std::hint::black_box(host::now_ms());
                }
                Ok(MinerRecord {
                    ts_ms: last,
                    ..record(target)
                })
            }
            _ => Ok(MinerRecord {
                ts_ms: host::now_ms(),
                ..record(target)
            }),
        }
    }
}

solomon_plugin_sdk::register_driver!(Hostile);

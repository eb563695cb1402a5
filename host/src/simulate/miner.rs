//! One simulated miner's evolving state.

use parking_lot::Mutex;
use std::net::Ipv4Addr;
use std::time::Instant;

/// Bitcoin's difficulty late in 2025: a found block's share is at least this.
const NETWORK_DIFFICULTY: f64 = 1.5e14;

/// What a simulated miner pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Bitaxe Gamma on AxeOS v2.12 (HTTP).
    Axeos,
    /// Stock Antminer S19 Pro (bmminer; no multi-commands).
    Antminer,
    /// Whatsminer M30S+ (btminer).
    Whatsminer,
    /// Avalon Q (cgminer, `MM ID` strings).
    Avalon,
    /// Braiins OS on an S19.
    Braiins,
    /// LuxOS on an S19.
    Luxos,
}

impl Kind {
    /// CGMiner families in rotation order.
    pub const CGMINER: [Kind; 5] = [
        Kind::Antminer,
        Kind::Whatsminer,
        Kind::Avalon,
        Kind::Braiins,
        Kind::Luxos,
    ];

    /// Whether it speaks HTTP (else the CGMiner RPC).
    pub fn is_http(self) -> bool {
        self == Kind::Axeos
    }

    /// Nominal hashrate, H/s.
    pub fn nominal_hs(self) -> f64 {
        match self {
            Kind::Axeos => 1.2e12,
            Kind::Antminer | Kind::Braiins | Kind::Luxos => 110e12,
            Kind::Whatsminer => 100e12,
            Kind::Avalon => 90e12,
        }
    }
}

/// A trouble (or a good moment) to act out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Healthy.
    Normal,
    /// Chip temperature climbs past the limits (AxeOS raises `overheat_mode`).
    Overheat,
    /// Hashrate frozen at a stale value and no new shares: the "flatline" trap.
    Stall,
    /// Refuses connections.
    Offline,
    /// Answers after 6 s (past the default 5 s request timeout).
    Slow,
    /// Answers with garbage.
    Malformed,
    /// Answers with the malformed-but-repairable JSON real cgminers send (`}{`, `,}`, NUL).
    Quirky,
    /// A new all-time best share.
    NewBest,
    /// Finds a block.
    BlockFound,
    /// Re-pointed to another pool.
    PoolChanged,
    /// The pool rejects about half of its shares (wrong difficulty, stale work).
    HighRejects,
    /// Its fans stopped (0 RPM) while it hashes on.
    FanFail,
    /// Hashes at 60% of its nominal rate (a dead hash board, a bad PSU rail).
    Degraded,
}

impl Scenario {
    /// Parses a scenario name (`offline`, `new-best`, ...).
    pub fn parse(s: &str) -> Option<Scenario> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// Values that change between polls.
#[derive(Debug, Clone)]
pub struct Live {
    /// Current scenario.
    pub scenario: Scenario,
    /// Frozen hashrate for `Stall`.
    pub stale_hs: Option<f64>,
    /// Shares accepted.
    pub accepted: u64,
    /// Shares rejected.
    pub rejected: u64,
    /// Best difficulty ever.
    pub best_diff: f64,
    /// Blocks found.
    pub blocks: u64,
    /// Polls answered.
    pub polls: u64,
    /// Noise generator state.
    pub rng: u64,
}

/// One simulated miner.
#[derive(Debug)]
pub struct SimMiner {
    /// Position in the fleet.
    pub index: usize,
    /// What it pretends to be.
    pub kind: Kind,
    /// Its loopback address.
    pub ip: Ipv4Addr,
    /// When it "booted".
    pub started: Instant,
    /// Mutable state.
    pub live: Mutex<Live>,
    /// Signalled when the scenario is set, so the listener closes or reopens at once instead
    /// of looking every few ms (at 10,000 miners that looking was most of the simulator's CPU).
    pub changed: tokio::sync::Notify,
}

/// A snapshot of the values one reply shows.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// H/s.
    pub hashrate_hs: f64,
    /// Chip temperature °C.
    pub temp_c: f64,
    /// VR temperature °C.
    pub vr_temp_c: f64,
    /// Watts.
    pub power_w: f64,
    /// Shares accepted.
    pub accepted: u64,
    /// Shares rejected.
    pub rejected: u64,
    /// Fan speed as a share of normal (0 when the fans stopped).
    pub fan: f64,
    /// Best share ever.
    pub best_diff: f64,
    /// Blocks found.
    pub blocks: u64,
    /// Seconds since boot.
    pub uptime_s: u64,
    /// Overheat protection engaged.
    pub overheat: bool,
    /// The pool it points at.
    pub pool_url: &'static str,
}

impl SimMiner {
    /// A healthy miner.
    pub fn new(index: usize, kind: Kind, ip: Ipv4Addr) -> Self {
        SimMiner {
            index,
            kind,
            ip,
            started: Instant::now(),
            live: Mutex::new(Live {
                scenario: Scenario::Normal,
                stale_hs: None,
                accepted: 1000 + index as u64 * 7,
                rejected: index as u64 % 4,
                best_diff: 1.0e9 + index as f64 * 1.0e7,
                blocks: 0,
                polls: 0,
                rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1),
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The MAC address it reports.
    pub fn mac(&self) -> String {
        let o = self.ip.octets();
        format!("02:53:4F:{:02X}:{:02X}:{:02X}", o[1], o[2], o[3])
    }

    /// Changes its scenario.
    pub fn set_scenario(&self, s: Scenario) {
        {
            let mut l = self.live.lock();
            l.scenario = s;
            if s != Scenario::Stall {
                l.stale_hs = None;
            }
        }
        // One waiter (the miner's listener); a permit is kept if it is not waiting yet.
        self.changed.notify_one();
    }

    /// The scenario now.
    pub fn scenario(&self) -> Scenario {
        self.live.lock().scenario
    }

    /// Advances one poll and returns what the reply shows.
    pub fn read(&self) -> Reading {
        let mut l = self.live.lock();
        l.polls += 1;
        l.rng ^= l.rng << 13;
        l.rng ^= l.rng >> 7;
        l.rng ^= l.rng << 17;
        let noise = (l.rng % 1000) as f64 / 1000.0 - 0.5;
        let nominal = self.kind.nominal_hs();
        let mut hs = nominal * (1.0 + 0.04 * noise);
        let mut temp = if self.kind.is_http() { 58.0 } else { 70.0 } + 3.0 * noise;
        match l.scenario {
            Scenario::Stall => {
                // The flatline: the same number forever and no shares.
                hs = *l.stale_hs.get_or_insert(hs);
            }
            Scenario::Overheat => temp = if self.kind.is_http() { 92.0 } else { 98.0 } + noise,
            Scenario::Degraded => hs *= 0.6,
            Scenario::NewBest => l.best_diff *= 1.5,
            Scenario::BlockFound => {
                // A block's share meets the network's difficulty, so it is also a new best.
                l.best_diff = l.best_diff.max(NETWORK_DIFFICULTY * 1.2);
                l.blocks += 1;
                l.scenario = Scenario::Normal;
            }
            _ => {}
        }
        if l.scenario != Scenario::Stall {
            let new = 1 + (l.rng % 3);
            l.accepted += new;
            if l.scenario == Scenario::HighRejects {
                l.rejected += new;
            } else if l.rng.is_multiple_of(97) {
                l.rejected += 1;
            }
        }
        let power = if self.kind.is_http() { 18.0 } else { 3250.0 } * (hs / nominal).max(0.05);
        Reading {
            hashrate_hs: hs,
            temp_c: (temp * 4.0).round() / 4.0,
            vr_temp_c: temp + 8.0,
            power_w: power,
            accepted: l.accepted,
            rejected: l.rejected,
            fan: if l.scenario == Scenario::FanFail {
                0.0
            } else {
                1.0
            },
            best_diff: l.best_diff,
            blocks: l.blocks,
            uptime_s: self.started.elapsed().as_secs() + 3600,
            overheat: l.scenario == Scenario::Overheat && self.kind.is_http(),
            pool_url: if l.scenario == Scenario::PoolChanged {
                "stratum+tcp://evil.example:3333"
            } else {
                "stratum+tcp://solo.ckpool.org:3333"
            },
        }
    }
}

//! Groups of [`MinerRecord`] fields, as the contract's `types.record-fields` flags name them.
//!
//! A rule declares the groups it reads ([`crate::rule::Rule::READS`]) and the host copies only
//! those into the plugin for each event: copying a whole record (ten strings, the pools, the
//! boards, the fans) into every rule for every poll was most of what judging it cost. What
//! every rule may use is always there: `id`, `make`, `state` and `ts_ms`.

use crate::{MinerRecord, Pool};

/// A set of field groups; combine with [`Fields::and`] (usable in a `const`) or `|`. The
/// default is the empty set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fields(u16);

impl Fields {
    /// Only `id`, `make`, `state` and `ts_ms`, which every record carries.
    pub const NONE: Fields = Fields(0);
    /// `host`, `mac`, `hostname`, `model`, `chip`, `firmware`, `firmware_version`, `driver`.
    pub const IDENTITY: Fields = Fields(1 << 0);
    /// `uptime_s`, `hashrate_hs`, `hashrate_avg_hs`, `expected_hashrate_hs`.
    pub const HASHRATE: Fields = Fields(1 << 1);
    /// `temp_c`, `temp_max_c`, `vr_temp_c`, `env_temp_c`.
    pub const TEMPERATURES: Fields = Fields(1 << 2);
    /// `fans`.
    pub const FANS: Fields = Fields(1 << 3);
    /// `power_w`, `efficiency_j_th`, `input_voltage_v`, `input_current_a`, `core_voltage_mv`,
    /// `frequency_mhz`.
    pub const POWER: Fields = Fields(1 << 4);
    /// `boards`.
    pub const BOARDS: Fields = Fields(1 << 5);
    /// `shares_accepted`, `shares_rejected`, `shares_stale`, `hw_error_pct`.
    pub const SHARES: Fields = Fields(1 << 6);
    /// `best_diff`, `best_session_diff`, `pool_difficulty`, `network_difficulty`,
    /// `block_height`, `blocks_found`.
    pub const DIFFICULTY: Fields = Fields(1 << 7);
    /// `pools`.
    pub const POOLS: Fields = Fields(1 << 8);
    /// `errors`.
    pub const ERRORS: Fields = Fields(1 << 9);
    /// Of each pool, only `index`, `url`, `user` and `active`: where the miner mines, without
    /// the counters that move at every poll. Within [`Fields::POOLS`].
    pub const POOL_TARGETS: Fields = Fields(1 << 10);
    /// Every field.
    pub const ALL: Fields = Fields((1 << 11) - 1);

    /// Every group, in the order of the contract's flags.
    pub const GROUPS: [Fields; 11] = [
        Fields::IDENTITY,
        Fields::HASHRATE,
        Fields::TEMPERATURES,
        Fields::FANS,
        Fields::POWER,
        Fields::BOARDS,
        Fields::SHARES,
        Fields::DIFFICULTY,
        Fields::POOLS,
        Fields::ERRORS,
        Fields::POOL_TARGETS,
    ];

    /// The groups' names as the contract spells them (`temperatures`, `pools`).
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: [&str; 11] = [
            "identity",
            "hashrate",
            "temperatures",
            "fans",
            "power",
            "boards",
            "shares",
            "difficulty",
            "pools",
            "errors",
            "pool-targets",
        ];
        Fields::GROUPS
            .iter()
            .zip(NAMES)
            .filter(|(g, _)| self.contains(**g))
            .map(|(_, n)| n)
            .collect()
    }

    /// Both sets.
    pub const fn and(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// Whether every group of `other` is in this set.
    pub const fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }

    /// `record` with only this set's fields (and `id`, `make`, `state`, `ts_ms`); the others
    /// `None` or empty.
    pub fn project(self, r: &MinerRecord) -> MinerRecord {
        if self == Fields::ALL {
            return r.clone();
        }
        let has = |g: Fields| self.contains(g);
        let pick = |g: Fields, v: &Option<f64>| if has(g) { *v } else { None };
        let pick_u = |g: Fields, v: &Option<u64>| if has(g) { *v } else { None };
        let pick_s = |v: &Option<String>| {
            if has(Fields::IDENTITY) {
                v.clone()
            } else {
                None
            }
        };
        let pick_string = |v: &String| {
            if has(Fields::IDENTITY) {
                v.clone()
            } else {
                String::new()
            }
        };
        let (hr, t, pw, sh, df) = (
            Fields::HASHRATE,
            Fields::TEMPERATURES,
            Fields::POWER,
            Fields::SHARES,
            Fields::DIFFICULTY,
        );
        MinerRecord {
            id: r.id.clone(),
            host: pick_string(&r.host),
            mac: pick_s(&r.mac),
            hostname: pick_s(&r.hostname),
            make: r.make.clone(),
            model: pick_s(&r.model),
            chip: pick_s(&r.chip),
            firmware: pick_s(&r.firmware),
            firmware_version: pick_s(&r.firmware_version),
            driver: pick_string(&r.driver),
            state: r.state,
            ts_ms: r.ts_ms,
            uptime_s: pick_u(hr, &r.uptime_s),
            hashrate_hs: pick(hr, &r.hashrate_hs),
            hashrate_avg_hs: if has(hr) {
                r.hashrate_avg_hs.clone()
            } else {
                Default::default()
            },
            expected_hashrate_hs: pick(hr, &r.expected_hashrate_hs),
            temp_c: pick(t, &r.temp_c),
            temp_max_c: pick(t, &r.temp_max_c),
            vr_temp_c: pick(t, &r.vr_temp_c),
            env_temp_c: pick(t, &r.env_temp_c),
            power_w: pick(pw, &r.power_w),
            efficiency_j_th: pick(pw, &r.efficiency_j_th),
            input_voltage_v: pick(pw, &r.input_voltage_v),
            input_current_a: pick(pw, &r.input_current_a),
            core_voltage_mv: pick(pw, &r.core_voltage_mv),
            frequency_mhz: pick(pw, &r.frequency_mhz),
            fans: if has(Fields::FANS) {
                r.fans.clone()
            } else {
                Vec::new()
            },
            boards: if has(Fields::BOARDS) {
                r.boards.clone()
            } else {
                Vec::new()
            },
            shares_accepted: pick_u(sh, &r.shares_accepted),
            shares_rejected: pick_u(sh, &r.shares_rejected),
            shares_stale: pick_u(sh, &r.shares_stale),
            hw_error_pct: pick(sh, &r.hw_error_pct),
            best_diff: pick(df, &r.best_diff),
            best_session_diff: pick(df, &r.best_session_diff),
            pool_difficulty: pick(df, &r.pool_difficulty),
            network_difficulty: pick(df, &r.network_difficulty),
            block_height: pick_u(df, &r.block_height),
            blocks_found: pick_u(df, &r.blocks_found),
            pools: if has(Fields::POOLS) {
                r.pools.clone()
            } else if has(Fields::POOL_TARGETS) {
                r.pools.iter().map(Pool::target).collect()
            } else {
                Vec::new()
            },
            errors: if has(Fields::ERRORS) {
                r.errors.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Whether a rule reading this set would see `a` and `b` alike: the same `state`, `make`
    /// and fields of every group in the set (`id` and `ts_ms` aside). The same as comparing
    /// the two [`Fields::project`]ions without their timestamps, without copying either; the
    /// host asks it of every sample of a resting rule ([`crate::rest::Rest::holds`]).
    pub fn agree(self, a: &MinerRecord, b: &MinerRecord) -> bool {
        let has = |g: Fields| self.contains(g);
        let group = |g: Fields, same: &dyn Fn() -> bool| !has(g) || same();
        a.state == b.state
            && a.make == b.make
            && group(Fields::IDENTITY, &|| {
                (&a.host, &a.mac, &a.hostname, &a.model) == (&b.host, &b.mac, &b.hostname, &b.model)
                    && (&a.chip, &a.firmware, &a.firmware_version, &a.driver)
                        == (&b.chip, &b.firmware, &b.firmware_version, &b.driver)
            })
            && group(Fields::HASHRATE, &|| {
                (a.uptime_s, a.hashrate_hs, a.expected_hashrate_hs)
                    == (b.uptime_s, b.hashrate_hs, b.expected_hashrate_hs)
                    && a.hashrate_avg_hs == b.hashrate_avg_hs
            })
            && group(Fields::TEMPERATURES, &|| {
                (a.temp_c, a.temp_max_c, a.vr_temp_c, a.env_temp_c)
                    == (b.temp_c, b.temp_max_c, b.vr_temp_c, b.env_temp_c)
            })
            && group(Fields::FANS, &|| a.fans == b.fans)
            && group(Fields::POWER, &|| {
                (a.power_w, a.efficiency_j_th, a.input_voltage_v)
                    == (b.power_w, b.efficiency_j_th, b.input_voltage_v)
                    && (a.input_current_a, a.core_voltage_mv, a.frequency_mhz)
                        == (b.input_current_a, b.core_voltage_mv, b.frequency_mhz)
            })
            && group(Fields::BOARDS, &|| a.boards == b.boards)
            && group(Fields::SHARES, &|| {
                (
                    a.shares_accepted,
                    a.shares_rejected,
                    a.shares_stale,
                    a.hw_error_pct,
                ) == (
                    b.shares_accepted,
                    b.shares_rejected,
                    b.shares_stale,
                    b.hw_error_pct,
                )
            })
            && group(Fields::DIFFICULTY, &|| {
                (
                    a.best_diff,
                    a.best_session_diff,
                    a.pool_difficulty,
                    a.network_difficulty,
                ) == (
                    b.best_diff,
                    b.best_session_diff,
                    b.pool_difficulty,
                    b.network_difficulty,
                ) && (a.block_height, a.blocks_found) == (b.block_height, b.blocks_found)
            })
            && group(Fields::POOLS, &|| a.pools == b.pools)
            && group(Fields::ERRORS, &|| a.errors == b.errors)
            && group(Fields::POOL_TARGETS, &|| {
                a.pools.len() == b.pools.len()
                    && a.pools.iter().zip(&b.pools).all(|(p, q)| {
                        (p.index, &p.url, &p.user, p.active) == (q.index, &q.url, &q.user, q.active)
                    })
            })
    }
}

/// Conversions between [`Fields`] and the `record-fields` flags of a bindings module (the
/// SDK's guest bindings, the host's wasmtime ones), in the contract's order, kept in one place.
#[doc(hidden)]
#[macro_export]
macro_rules! __fields_wire {
    ($($wt:ident)::+) => {
        const FLAGS: [$($wt)::+::RecordFields; 11] = [
            $($wt)::+::RecordFields::IDENTITY,
            $($wt)::+::RecordFields::HASHRATE,
            $($wt)::+::RecordFields::TEMPERATURES,
            $($wt)::+::RecordFields::FANS,
            $($wt)::+::RecordFields::POWER,
            $($wt)::+::RecordFields::BOARDS,
            $($wt)::+::RecordFields::SHARES,
            $($wt)::+::RecordFields::DIFFICULTY,
            $($wt)::+::RecordFields::POOLS,
            $($wt)::+::RecordFields::ERRORS,
            $($wt)::+::RecordFields::POOL_TARGETS,
        ];

        /// The SDK's set as the contract's flags.
        #[allow(dead_code)]
        pub fn fields_to_wit(f: $crate::Fields) -> $($wt)::+::RecordFields {
            $crate::Fields::GROUPS
                .iter()
                .zip(FLAGS)
                .filter(|(g, _)| f.contains(**g))
                .fold($($wt)::+::RecordFields::empty(), |acc, (_, flag)| acc | flag)
        }

        /// The contract's flags as the SDK's set.
        #[allow(dead_code)]
        pub fn fields_from_wit(flags: $($wt)::+::RecordFields) -> $crate::Fields {
            $crate::Fields::GROUPS
                .iter()
                .zip(FLAGS)
                .filter(|(_, flag)| (flags & *flag) == *flag)
                .fold($crate::Fields::NONE, |acc, (g, _)| acc | *g)
        }
    };
}

impl std::ops::BitOr for Fields {
    type Output = Fields;
    fn bitor(self, other: Fields) -> Fields {
        self.and(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fan, MinerState, Pool};

    fn full() -> MinerRecord {
        MinerRecord {
            id: "a".into(),
            host: "10.0.0.5".into(),
            make: "Bitaxe".into(),
            model: Some("Gamma".into()),
            firmware: Some("v2.4".into()),
            state: MinerState::Hashing,
            ts_ms: 7,
            hashrate_hs: Some(1e12),
            temp_c: Some(60.0),
            power_w: Some(15.0),
            fans: vec![Fan {
                index: 0,
                rpm: Some(4000.0),
                pct: None,
            }],
            shares_accepted: Some(3),
            best_diff: Some(4.29e9),
            pools: vec![Pool {
                url: "stratum+tcp://p:3333".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_projection_keeps_the_identity_and_the_named_groups_only() {
        let r = full();
        let p = Fields::TEMPERATURES.and(Fields::FANS).project(&r);
        assert_eq!((p.id.as_str(), p.make.as_str()), ("a", "Bitaxe"));
        assert_eq!((p.host.as_str(), p.model.as_deref()), ("", None));
        assert_eq!((p.state, p.ts_ms), (MinerState::Hashing, 7));
        assert_eq!((p.temp_c, p.fans.len()), (Some(60.0), 1));
        assert_eq!(
            (p.hashrate_hs, p.power_w, p.shares_accepted, p.best_diff),
            (None, None, None, None)
        );
        assert!(p.pools.is_empty() && p.firmware.is_none());
    }

    /// `agree` is `project` compared without timestamps, for every set of groups and a
    /// change in any one field of the record.
    #[test]
    fn two_records_agree_through_a_set_as_their_projections_do() {
        let base = MinerRecord {
            mac: Some("aa:bb".into()),
            hostname: Some("bitaxe".into()),
            chip: Some("BM1370".into()),
            firmware_version: Some("2.4.1".into()),
            driver: "driver-axeos".into(),
            uptime_s: Some(100),
            hashrate_avg_hs: [("1m".to_string(), 1e12)].into(),
            expected_hashrate_hs: Some(1.1e12),
            temp_max_c: Some(65.0),
            vr_temp_c: Some(70.0),
            env_temp_c: Some(25.0),
            efficiency_j_th: Some(15.0),
            input_voltage_v: Some(5.1),
            input_current_a: Some(3.0),
            core_voltage_mv: Some(1200.0),
            frequency_mhz: Some(525.0),
            boards: vec![crate::Board::default()],
            shares_rejected: Some(1),
            shares_stale: Some(0),
            hw_error_pct: Some(0.1),
            best_session_diff: Some(1e6),
            pool_difficulty: Some(1e3),
            network_difficulty: Some(1e14),
            block_height: Some(900_000),
            blocks_found: Some(0),
            errors: vec![crate::MinerError::default()],
            ..full()
        };
        // One change per field, each in one group (or in none: `state` and `make`).
        let changes: Vec<fn(&mut MinerRecord)> = vec![
            |r| r.host.push('x'),
            |r| r.mac = None,
            |r| r.hostname = None,
            |r| r.model = None,
            |r| r.chip = None,
            |r| r.firmware = None,
            |r| r.firmware_version = None,
            |r| r.driver.push('x'),
            |r| r.uptime_s = Some(101),
            |r| r.hashrate_hs = Some(2e12),
            |r| _ = r.hashrate_avg_hs.insert("1m".into(), 2e12),
            |r| r.expected_hashrate_hs = None,
            |r| r.temp_c = Some(61.0),
            |r| r.temp_max_c = None,
            |r| r.vr_temp_c = None,
            |r| r.env_temp_c = None,
            |r| r.fans[0].rpm = Some(0.0),
            |r| r.power_w = Some(16.0),
            |r| r.efficiency_j_th = None,
            |r| r.input_voltage_v = None,
            |r| r.input_current_a = None,
            |r| r.core_voltage_mv = None,
            |r| r.frequency_mhz = None,
            |r| r.boards[0].chips = Some(1),
            |r| r.shares_accepted = Some(4),
            |r| r.shares_rejected = Some(2),
            |r| r.shares_stale = None,
            |r| r.hw_error_pct = None,
            |r| r.best_diff = Some(5e9),
            |r| r.best_session_diff = None,
            |r| r.pool_difficulty = None,
            |r| r.network_difficulty = None,
            |r| r.block_height = Some(900_001),
            |r| r.blocks_found = Some(1),
            |r| r.pools[0].accepted = Some(9),
            |r| r.pools[0].rejected = Some(9),
            |r| r.pools[0].alive = Some(false),
            |r| r.pools[0].difficulty = Some(2e3),
            |r| r.pools[0].url.push('x'),
            |r| r.pools[0].user = Some("thief".into()),
            |r| r.pools[0].active = Some(false),
            |r| r.pools[0].index = 1,
            |r| r.pools.push(Pool::default()),
            |r| r.errors.clear(),
            |r| r.state = MinerState::Idle,
            |r| r.make.push('x'),
        ];
        for bits in 0..1u16 << 11 {
            let set = Fields(bits);
            let later = MinerRecord {
                ts_ms: base.ts_ms + 5000,
                ..base.clone()
            };
            assert!(
                set.agree(&base, &later),
                "{:?}: only the time differs",
                set.names()
            );
            for change in &changes {
                let mut b = later.clone();
                change(&mut b);
                let projected = |r: &MinerRecord| MinerRecord {
                    ts_ms: 0,
                    ..set.project(r)
                };
                assert_eq!(
                    set.agree(&base, &b),
                    projected(&base) == projected(&b),
                    "{:?}: {b:?}",
                    set.names()
                );
            }
        }
    }

    #[test]
    fn pool_targets_are_the_pools_without_their_counters() {
        let mut r = full();
        r.pools[0] = Pool {
            index: 2,
            url: "stratum+tcp://p:3333".into(),
            user: Some("bc1q.w".into()),
            active: Some(true),
            alive: Some(true),
            accepted: Some(5),
            rejected: Some(1),
            difficulty: Some(1e3),
        };
        let seen = Fields::POOL_TARGETS.project(&r).pools;
        assert_eq!(
            seen,
            [Pool {
                index: 2,
                url: "stratum+tcp://p:3333".into(),
                user: Some("bc1q.w".into()),
                active: Some(true),
                ..Default::default()
            }]
        );
        assert_eq!(
            (Fields::POOL_TARGETS | Fields::POOLS).project(&r).pools,
            r.pools
        );
    }

    #[test]
    fn all_is_the_whole_record_and_groups_cover_all() {
        let r = full();
        assert_eq!(Fields::ALL.project(&r), r);
        let union = Fields::GROUPS.iter().fold(Fields::NONE, |a, g| a | *g);
        assert_eq!(union, Fields::ALL);
        assert_eq!(Fields::NONE.project(&r).temp_c, None);
    }
}

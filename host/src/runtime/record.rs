//! The miner record between the contract's typed form (`types.miner-record`) and the SDK's
//! [`MinerRecord`] the rest of the host uses. Fields are moved, never parsed: this is on the
//! path of every poll and every rule call.

use super::bindings::rule::exports::solomon::plugin::rule::Reading;
use super::bindings::types as wt;
use solomon_plugin_sdk::{Fields, MinerRecord};

/// Bytes a lifted record holds, roughly (strings and list items), to cap what a driver may
/// return as the JSON length was capped before the record was typed.
pub fn wire_size(r: &wt::MinerRecord) -> usize {
    fn o(s: &Option<String>) -> usize {
        s.as_ref().map_or(0, String::len)
    }
    let strings = r.id.len()
        + r.host.len()
        + r.make.len()
        + r.driver.len()
        + o(&r.mac)
        + o(&r.hostname)
        + o(&r.model)
        + o(&r.chip)
        + o(&r.firmware)
        + o(&r.firmware_version);
    let avg: usize = r.hashrate_avg_hs.iter().map(|(k, _)| k.len() + 8).sum();
    let pools: usize = r.pools.iter().map(|p| 64 + p.url.len() + o(&p.user)).sum();
    let errors: usize = r
        .errors
        .iter()
        .map(|e| e.code.len() + e.message.len() + e.severity.len())
        .sum();
    512 + strings + avg + pools + errors + 48 * (r.fans.len() + r.boards.len())
}

mod wire {
    solomon_plugin_sdk::__record_wire!(crate::runtime::bindings::types);
    solomon_plugin_sdk::__fields_wire!(crate::runtime::bindings::types);
    solomon_plugin_sdk::__reading_wire!(
        types: crate::runtime::bindings::types,
        rule: crate::runtime::bindings::rule::exports::solomon::plugin::rule
    );
}

/// A driver's record as the host keeps it. Non-finite numbers are dropped here too: the SDK
/// does it for well-behaved plugins, the host for all of them.
pub fn from_wit(r: wt::MinerRecord) -> MinerRecord {
    let mut record = wire::from_wit(r);
    record.sanitize();
    record
}

/// A record as the contract carries it to rules and the store interface.
pub fn to_wit(r: &MinerRecord) -> wt::MinerRecord {
    wire::to_wit(r.clone())
}

/// `r` as a rule that reads `fields` receives it: the other groups `none`.
pub fn to_wit_reading(r: &MinerRecord, fields: Fields) -> Reading {
    wire::to_reading(r, fields)
}

/// A reading back as a record, as the SDK gives it to a rule (groups not sent left empty).
pub fn from_wit_reading(r: Reading) -> MinerRecord {
    wire::from_reading(r)
}

/// A rule's `needs().fields` as the SDK's [`Fields`].
pub fn fields_from_wit(flags: wt::RecordFields) -> Fields {
    wire::fields_from_wit(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use solomon_plugin_sdk::{Board, Fan, MinerError, MinerState, Pool};

    /// Each group crosses the contract as its own flag and comes back as itself.
    #[test]
    fn field_groups_round_trip_through_the_flags() {
        for g in Fields::GROUPS
            .into_iter()
            .chain([Fields::NONE, Fields::ALL])
        {
            assert_eq!(fields_from_wit(wire::fields_to_wit(g)), g);
        }
        let two = Fields::TEMPERATURES | Fields::POOLS;
        assert_eq!(
            wire::fields_to_wit(two),
            wt::RecordFields::TEMPERATURES | wt::RecordFields::POOLS
        );
    }

    /// A record with every field set, each to a different value.
    fn full() -> MinerRecord {
        MinerRecord {
            id: "aa:bb".into(),
            host: "10.0.0.5".into(),
            mac: Some("aa:bb".into()),
            hostname: Some("gamma".into()),
            make: "Bitaxe".into(),
            model: Some("Gamma".into()),
            chip: Some("BM1370".into()),
            firmware: Some("AxeOS".into()),
            firmware_version: Some("v2.12.0".into()),
            driver: "driver-axeos@0.1.0".into(),
            state: MinerState::Faulted,
            ts_ms: 1_700_000_000_000,
            uptime_s: Some(3600),
            hashrate_hs: Some(1.2e12),
            hashrate_avg_hs: [("1m".to_string(), 1.1e12), ("1h".to_string(), 1.0e12)].into(),
            expected_hashrate_hs: Some(1.3e12),
            temp_c: Some(61.5),
            temp_max_c: Some(63.0),
            vr_temp_c: Some(70.25),
            env_temp_c: Some(21.0),
            power_w: Some(18.5),
            efficiency_j_th: Some(15.4),
            input_voltage_v: Some(5.1),
            input_current_a: Some(3.6),
            core_voltage_mv: Some(1150.0),
            frequency_mhz: Some(525.0),
            fans: vec![Fan {
                index: 0,
                rpm: Some(4100.0),
                pct: Some(55.0),
            }],
            boards: vec![Board {
                index: 0,
                hashrate_hs: Some(1.2e12),
                temp_c: Some(60.0),
                chip_temp_c: Some(61.5),
                chips: Some(1),
                expected_chips: Some(1),
                active: Some(true),
            }],
            shares_accepted: Some(1234),
            shares_rejected: Some(5),
            shares_stale: Some(2),
            hw_error_pct: Some(0.1),
            best_diff: Some(4.29e9),
            best_session_diff: Some(1.5e8),
            pool_difficulty: Some(1000.0),
            network_difficulty: Some(1.2e14),
            block_height: Some(900_000),
            blocks_found: Some(1),
            pools: vec![Pool {
                index: 0,
                url: "stratum+tcp://solo.example:3333".into(),
                user: Some("bc1q.worker".into()),
                active: Some(true),
                alive: Some(true),
                accepted: Some(1234),
                rejected: Some(5),
                difficulty: Some(1000.0),
            }],
            errors: vec![MinerError {
                code: "overheat".into(),
                message: "chip above limit".into(),
                severity: "critical".into(),
            }],
        }
    }

    /// For every set of groups a rule can read, the reading carries exactly what
    /// `Fields::project` keeps of the record: the groups read, and nothing else.
    #[test]
    fn a_reading_carries_the_groups_read_and_only_those() {
        let r = full();
        for bits in 0u32..(1 << Fields::GROUPS.len()) {
            let fields = Fields::GROUPS
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(Fields::NONE, |f, (_, g)| f | g);
            assert_eq!(
                from_wit_reading(to_wit_reading(&r, fields)),
                fields.project(&r),
                "{:?}",
                fields.names()
            );
        }
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        let r = full();
        assert_eq!(from_wit(to_wit(&r)), r);
    }

    #[test]
    fn non_finite_numbers_from_a_driver_are_dropped() {
        let mut w = to_wit(&full());
        w.temp_c = Some(f64::INFINITY);
        w.hashrate_avg_hs.push(("5m".into(), f64::NAN));
        let r = from_wit(w);
        assert_eq!(r.temp_c, None);
        assert!(!r.hashrate_avg_hs.contains_key("5m"));
    }

    #[test]
    fn size_grows_with_what_the_driver_sends() {
        let mut w = to_wit(&full());
        w.hostname = None;
        let before = wire_size(&w);
        w.hostname = Some("x".repeat(10_000));
        assert!(wire_size(&w) >= before + 10_000);
    }
}

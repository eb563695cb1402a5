//! The record as a rule reads it: the contract's `rule.reading`, whose field groups are
//! `none` unless the rule reads them. Conversions for both bindings generators are kept here,
//! next to [`Fields`](crate::Fields), so a group's fields are listed in one place.

/// Generates `to_reading` (host side: a record projected on the groups a rule reads) and
/// `from_reading` (guest side: back to a [`MinerRecord`](crate::MinerRecord), the groups not
/// sent left `None` or empty), for the bindings at `types` (shared types) and `rule` (the
/// `rule` interface). Invoke it next to [`__record_wire!`](crate::__record_wire), whose
/// conversions of fans, boards, pools and errors it uses.
#[doc(hidden)]
#[macro_export]
macro_rules! __reading_wire {
    (types: $($wt:ident)::+, rule: $($wr:ident)::+) => {
        /// `r` as a rule that reads `fields` receives it.
        #[allow(dead_code)]
        pub fn to_reading(r: &$crate::MinerRecord, fields: $crate::Fields) -> $($wr)::+::Reading {
            use $crate::Fields as F;
            let has = |g: F| fields.contains(g);
            $($wr)::+::Reading {
                id: r.id.clone(),
                make: r.make.clone(),
                state: state_to_wit(r.state),
                ts_ms: r.ts_ms,
                identity: has(F::IDENTITY).then(|| identity_of(r)),
                hashrate: has(F::HASHRATE).then(|| $($wr)::+::HashrateFields {
                    uptime_s: r.uptime_s,
                    hashrate_hs: r.hashrate_hs,
                    hashrate_avg_hs: r
                        .hashrate_avg_hs
                        .iter()
                        .map(|(k, v)| (k.clone(), *v))
                        .collect(),
                    expected_hashrate_hs: r.expected_hashrate_hs,
                }),
                temperatures: has(F::TEMPERATURES).then(|| temperatures_of(r)),
                fans: has(F::FANS).then(|| r.fans.iter().cloned().map(fan_to_wit).collect()),
                power: has(F::POWER).then(|| power_of(r)),
                boards: has(F::BOARDS).then(|| r.boards.iter().cloned().map(board_to_wit).collect()),
                shares: has(F::SHARES).then(|| shares_of(r)),
                difficulty: has(F::DIFFICULTY).then(|| difficulty_of(r)),
                pools: if has(F::POOLS) {
                    Some(r.pools.iter().cloned().map(pool_to_wit).collect())
                } else if has(F::POOL_TARGETS) {
                    Some(r.pools.iter().map(|p| pool_to_wit(p.target())).collect())
                } else {
                    None
                },
                errors: has(F::ERRORS).then(|| r.errors.iter().cloned().map(error_to_wit).collect()),
            }
        }

        /// A reading as the record the SDK's rules see: groups not sent are `None` or empty.
        #[allow(dead_code)]
        pub fn from_reading(x: $($wr)::+::Reading) -> $crate::MinerRecord {
            let mut r = $crate::MinerRecord {
                id: x.id,
                make: x.make,
                state: state_from_wit(x.state),
                ts_ms: x.ts_ms,
                ..Default::default()
            };
            if let Some(g) = x.identity {
                identity_into(g, &mut r);
            }
            if let Some(g) = x.hashrate {
                r.uptime_s = g.uptime_s;
                r.hashrate_hs = g.hashrate_hs;
                r.hashrate_avg_hs = g.hashrate_avg_hs.into_iter().collect();
                r.expected_hashrate_hs = g.expected_hashrate_hs;
            }
            if let Some(g) = x.temperatures {
                temperatures_into(g, &mut r);
            }
            if let Some(fans) = x.fans {
                r.fans = fans.into_iter().map(fan_from_wit).collect();
            }
            if let Some(g) = x.power {
                power_into(g, &mut r);
            }
            if let Some(boards) = x.boards {
                r.boards = boards.into_iter().map(board_from_wit).collect();
            }
            if let Some(g) = x.shares {
                shares_into(g, &mut r);
            }
            if let Some(g) = x.difficulty {
                difficulty_into(g, &mut r);
            }
            if let Some(pools) = x.pools {
                r.pools = pools.into_iter().map(pool_from_wit).collect();
            }
            if let Some(errors) = x.errors {
                r.errors = errors.into_iter().map(error_from_wit).collect();
            }
            r
        }

        #[allow(unused_imports)]
        use $($wr)::+ as __rule_types;
        $crate::__reading_groups!(
            __rule_types;
            identity_of, identity_into: IdentityFields {
                host, mac, hostname, model, chip, firmware, firmware_version, driver
            };
            temperatures_of, temperatures_into: TemperatureFields {
                temp_c, temp_max_c, vr_temp_c, env_temp_c
            };
            power_of, power_into: PowerFields {
                power_w, efficiency_j_th, input_voltage_v, input_current_a, core_voltage_mv,
                frequency_mhz
            };
            shares_of, shares_into: ShareFields {
                shares_accepted, shares_rejected, shares_stale, hw_error_pct
            };
            difficulty_of, difficulty_into: DifficultyFields {
                best_diff, best_session_diff, pool_difficulty, network_difficulty, block_height,
                blocks_found
            };
        );
    };
}

/// A group of a reading whose fields are the record's under the same names: the group taken
/// from a record, and put back into one.
#[doc(hidden)]
#[macro_export]
macro_rules! __reading_groups {
    ($wr:ident; $($of:ident, $into:ident: $ty:ident { $($field:ident),* $(,)? };)*) => {
        $(
            #[allow(dead_code)]
            fn $of(r: &$crate::MinerRecord) -> $wr::$ty {
                $wr::$ty { $($field: r.$field.clone()),* }
            }

            #[allow(dead_code)]
            fn $into(g: $wr::$ty, r: &mut $crate::MinerRecord) {
                $(r.$field = g.$field;)*
            }
        )*
    };
}

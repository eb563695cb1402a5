//! The hasher for the maps a poll goes through: miners by id, series by number, kept
//! connections by address, rule rests by miner.
//!
//! std's SipHash resists keys chosen to collide, but these keys come from the operator (the
//! config and the authenticated API) and from the daemon itself, and at 10,000 miners a dozen
//! SipHash runs per poll were ~0.5% of the daemon's CPU. foldhash is several times faster on
//! short keys and still seeded afresh in every process.

/// A `HashMap` with [`FastState`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;

/// foldhash's per-process seeded hasher builder.
pub type FastState = foldhash::fast::RandomState;

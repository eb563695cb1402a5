//! `[storage]`: how long history is kept, and sled's page cache.

use crate::storage::StorageConfig;
use serde::Deserialize;
use std::time::Duration;

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Days raw samples (every poll) are kept; then each day is rolled up.
    #[serde(default = "default_raw_days")]
    pub raw_days: u64,
    /// Days 5-minute min/avg/max rows are kept.
    #[serde(default = "default_five_minute_days")]
    pub five_minute_days: u64,
    /// Days hourly min/avg/max rows are kept.
    #[serde(default = "default_hourly_days")]
    pub hourly_days: u64,
    /// sled's page cache, MiB. History queries go through a query cache above it.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
    /// Plugin state kept in memory too, MiB (0: none): drivers and rules read it at every poll.
    #[serde(default = "default_state_mirror_mib")]
    pub state_mirror_mib: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            raw_days: default_raw_days(),
            five_minute_days: default_five_minute_days(),
            hourly_days: default_hourly_days(),
            cache_mib: default_cache_mib(),
            state_mirror_mib: default_state_mirror_mib(),
        }
    }
}

const DAY: Duration = Duration::from_secs(86_400);

fn default_raw_days() -> u64 {
    StorageConfig::new("").raw_retention.as_secs() / DAY.as_secs()
}
fn default_five_minute_days() -> u64 {
    StorageConfig::new("").five_min_retention.as_secs() / DAY.as_secs()
}
fn default_hourly_days() -> u64 {
    StorageConfig::new("").hour_retention.as_secs() / DAY.as_secs()
}
fn default_cache_mib() -> u64 {
    StorageConfig::new("").sled_cache_bytes >> 20
}
fn default_state_mirror_mib() -> u64 {
    StorageConfig::new("").state_mirror_bytes >> 20
}

impl StorageSection {
    /// The first key with a value out of range, and why.
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        const TEN_YEARS: u64 = 3_650;
        [
            ("raw_days", (1..=TEN_YEARS).contains(&self.raw_days)),
            (
                "five_minute_days",
                (1..=TEN_YEARS).contains(&self.five_minute_days),
            ),
            ("hourly_days", (1..=TEN_YEARS).contains(&self.hourly_days)),
        ]
        .into_iter()
        .find(|(_, ok)| !ok)
        .map(|(key, _)| (key, "must be 1 to 3650 days"))
        .or_else(|| {
            (!(1..=65_536).contains(&self.cache_mib)).then_some(("cache_mib", "must be 1 to 65536"))
        })
        .or_else(|| {
            (self.state_mirror_mib > 65_536).then_some(("state_mirror_mib", "must be 0 to 65536"))
        })
    }

    /// Sets these values on `config`.
    pub fn apply(&self, config: &mut StorageConfig) {
        config.raw_retention = DAY * self.raw_days as u32;
        config.five_min_retention = DAY * self.five_minute_days as u32;
        config.hour_retention = DAY * self.hourly_days as u32;
        config.sled_cache_bytes = self.cache_mib << 20;
        config.state_mirror_bytes = self.state_mirror_mib << 20;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_storage_defaults_and_values_reach_the_storage() {
        let mut c = StorageConfig::new("x");
        let before = (
            c.raw_retention,
            c.five_min_retention,
            c.hour_retention,
            c.sled_cache_bytes,
            c.state_mirror_bytes,
        );
        StorageSection::default().apply(&mut c);
        assert_eq!(
            before,
            (
                c.raw_retention,
                c.five_min_retention,
                c.hour_retention,
                c.sled_cache_bytes,
                c.state_mirror_bytes
            )
        );
        let s: StorageSection = toml::from_str(
            "raw_days = 3\nfive_minute_days = 60\nhourly_days = 730\ncache_mib = 64\n\
             state_mirror_mib = 0",
        )
        .expect("parses");
        assert_eq!(s.invalid(), None);
        s.apply(&mut c);
        assert_eq!(c.raw_retention, Duration::from_secs(3 * 86_400));
        assert_eq!(c.five_min_retention, Duration::from_secs(60 * 86_400));
        assert_eq!(c.hour_retention, Duration::from_secs(730 * 86_400));
        assert_eq!(c.sled_cache_bytes, 64 * 1024 * 1024);
        assert_eq!(c.state_mirror_bytes, 0);
    }

    #[test]
    fn out_of_range_values_are_named() {
        let bad = |toml: &str| {
            toml::from_str::<StorageSection>(toml)
                .expect("parses")
                .invalid()
                .map(|(k, _)| k)
        };
        assert_eq!(bad("raw_days = 0"), Some("raw_days"));
        assert_eq!(bad("hourly_days = 100000"), Some("hourly_days"));
        assert_eq!(bad("cache_mib = 0"), Some("cache_mib"));
        assert_eq!(bad("state_mirror_mib = 70000"), Some("state_mirror_mib"));
        assert_eq!(bad("state_mirror_mib = 0"), None);
        assert_eq!(bad("five_minute_days = 1"), None);
    }
}

//! Storage on sled: miner history (compressed chunks + 5-minute and 1-hour rollups), miners
//! added at run time, alerts with their history, plugin state, and the schema version.
//!
//! Durability: [`Storage::ingest`] returns only once its samples are durable under the
//! configured [`FlushPolicy`] (default: group commit, at most one fsync per 5 ms for every writer
//! waiting). Everything else (miner configs, plugin state) is written through sled at once and
//! flushed by sled's background flush within `sled_flush_ms`, and at shutdown.

mod alerts;
mod cache;
mod codec;
mod durability;
mod head;
mod metrics;
mod miners;
mod mutes;
mod outbox;
mod plugin_state;
mod rollup;
mod series;
mod wal;

pub use alerts::{AlertEvent, AlertState, Alerts};
pub use cache::{CacheStats, QueryKey};
pub use codec::CodecError;
pub use durability::{FlushError, FlushPolicy};
pub use metrics::{ALL as ALL_METRICS, Metric, Sample, sample_of};
pub use miners::MinerConfig;
pub use mutes::{Mute, Mutes, muted_until};
pub use outbox::{Outbox, OutboxItem};
pub use plugin_state::SledState;
pub use series::{FIVE_MIN_MS, HOUR_MS};

use crate::host_api::clock::{Clock, SystemClock};
use solomon_plugin_sdk::MinerRecord;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The schema this build writes. Older databases are migrated at open; newer ones refused.
pub const SCHEMA_VERSION: u32 = 3;

/// A step from one schema version to the next.
type Migration = fn(&sled::Db) -> Result<(), StorageError>;

/// Migrations from version `i + 1` to `i + 2`.
const MIGRATIONS: &[Migration] = &[
    |db| series::migrate_per_chunk_rollups(&db.open_tree("series")?),
    // 2 -> 3: history may also live in hour blocks (`a` keys), which compaction writes later;
    // nothing to convert. The number goes up so that an older build refuses the database
    // rather than open it blind to those hours.
    |_| Ok(()),
];

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// sled failed.
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    /// Stored bytes could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(&'static str),
    /// A chunk could not be decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Durability could not be confirmed: the write may be lost.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// Input refused; nothing was written.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The write-ahead log could not be written.
    #[error("write-ahead log: {0}")]
    Log(String),
    /// Another process holds the database.
    #[error("the database in {0} is in use by another process (is another solomon running?)")]
    Locked(PathBuf),
    /// An earlier write failed; restart to recover from the log.
    #[error("history storage failed earlier; restart the daemon to recover from the log")]
    Failed,
    /// The database was written by a newer Solomon.
    #[error("database schema {found} is newer than this build's {supported}; upgrade Solomon")]
    SchemaTooNew {
        /// In the database.
        found: u32,
        /// This build's.
        supported: u32,
    },
    /// The data dir could not be prepared.
    #[error("data dir {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Time resolution of a history query.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Every sample.
    Raw,
    /// 5-minute min/avg/max.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// 1-hour min/avg/max.
    Hour,
}

/// One point of a history series. Raw points have `min == avg == max`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Point {
    /// Sample time or bucket start, Unix ms.
    pub ts_ms: u64,
    /// Smallest value in the bucket.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest.
    pub max: f64,
}

impl Point {
    fn single(ts_ms: u64, v: f64) -> Point {
        Point {
            ts_ms,
            min: v,
            avg: v,
            max: v,
        }
    }
}

/// Settings of the storage.
#[derive(Clone)]
pub struct StorageConfig {
    /// The sled folder.
    pub path: PathBuf,
    /// When ingests are acknowledged.
    pub flush: FlushPolicy,
    /// Samples per sealed chunk.
    pub chunk_samples: usize,
    /// Write-ahead log entries (one per ingest call) allowed live before partial heads are
    /// sealed.
    pub max_live_wal: usize,
    /// Unsealed samples held in memory across all miners before the fullest heads are sealed:
    /// bounds memory for big fleets (heads are delta-encoded, ~35 bytes a sample), at the
    /// cost of shorter chunks for them.
    pub max_head_samples: usize,
    /// Size of a write-ahead log segment file.
    pub wal_segment_bytes: u64,
    /// Raw samples are kept this long.
    pub raw_retention: Duration,
    /// 5-minute rollups are kept this long.
    pub five_min_retention: Duration,
    /// 1-hour rollups are kept this long.
    pub hour_retention: Duration,
    /// Query cache entry lifetime.
    pub cache_ttl: Duration,
    /// Query cache size, in points.
    pub cache_max_points: u64,
    /// sled's background flush interval (configs and plugin state).
    pub sled_flush_ms: u64,
    /// sled's page cache. Its default (1 GiB) let a 10,000-miner daemon grow without need:
    /// history reads go through the query cache above it. It fills in about 10 minutes at 10,000
    /// miners; there 8 MiB instead of 32 kept ~15 MB off the live heap at no measurable CPU.
    pub sled_cache_bytes: u64,
    /// Plugin state mirrored in memory, bytes (see [`SledState`]). 16 MiB holds a
    /// 10,000-miner fleet's driver memos and rule state (~11 MB) and saves ~10% of the daemon's
    /// CPU there, for ~15-20 MB more RSS.
    pub state_mirror_bytes: u64,
    /// Time source (a fake one in tests).
    pub clock: Arc<dyn Clock>,
}

impl StorageConfig {
    /// Defaults: group commit every 5 ms, chunks of 128 samples, raw 7 days, 5-minute rollups
    /// 30 days, 1-hour rollups 365 days, a 30 s / 2 M-point query cache.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        const DAY: u64 = 86_400;
        StorageConfig {
            path: path.into(),
            flush: FlushPolicy::default(),
            chunk_samples: 128,
            max_live_wal: 2048,
            max_head_samples: 200_000,
            sled_cache_bytes: 8 * 1024 * 1024,
            state_mirror_bytes: 16 * 1024 * 1024,
            wal_segment_bytes: 4 * 1024 * 1024,
            raw_retention: Duration::from_secs(7 * DAY),
            five_min_retention: Duration::from_secs(30 * DAY),
            hour_retention: Duration::from_secs(365 * DAY),
            cache_ttl: Duration::from_secs(30),
            cache_max_points: 2_000_000,
            sled_flush_ms: 500,
            clock: Arc::new(SystemClock),
        }
    }
}

/// What [`Storage::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Raw chunks rolled up and deleted.
    pub chunks: usize,
    /// 5-minute rollup blocks.
    pub minute: usize,
    /// 1-hour rollup blocks.
    pub hour: usize,
    /// Short raw chunks moved into one block per miner and hour.
    pub compacted: usize,
}

/// The daemon's database.
pub struct Storage {
    db: sled::Db,
    alerts: Alerts,
    mutes: Mutes,
    outbox: Outbox,
    wal: Arc<wal::Wal>,
    series: series::Series,
    durability: durability::Durability,
    cache: cache::QueryCache,
    miners: miners::Miners,
    state: Arc<SledState>,
    config: StorageConfig,
}

fn check_schema(db: &sled::Db) -> Result<(), StorageError> {
    let meta = db.open_tree("meta")?;
    let found = match meta.get("schema_version")? {
        None => {
            meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            return Ok(());
        }
        Some(v) => v
            .as_ref()
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| StorageError::Corrupt("schema version"))?,
    };
    if found > SCHEMA_VERSION {
        return Err(StorageError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, migrate) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(found.saturating_sub(1) as usize)
    {
        migrate(db)?;
        meta.insert("schema_version", &(i as u32 + 2).to_be_bytes())?;
        db.flush()?;
    }
    Ok(())
}

/// Opens sled, waiting up to 3 s for its file lock: the previous holder (a daemon that is
/// still exiting, or a handle just dropped in this process) releases it from a background
/// thread, a moment after it is gone.
fn open_sled(config: &StorageConfig) -> Result<sled::Db, StorageError> {
    for attempt in 0.. {
        match sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.sled_cache_bytes)
            .flush_every_ms(Some(config.sled_flush_ms))
            .open()
        {
            // sled reports the lock only in its message (an `Other` io error).
            Err(e) if e.to_string().contains("could not acquire lock") => {
                if attempt >= 30 {
                    return Err(StorageError::Locked(config.path.clone()));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return Ok(other?),
        }
    }
    Err(StorageError::Locked(config.path.clone()))
}

impl Storage {
    /// Opens (or creates) the database.
    pub fn open(config: StorageConfig) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(&config.path).map_err(|source| StorageError::Io {
            path: config.path.clone(),
            source,
        })?;
        let db = open_sled(&config)?;
        check_schema(&db)?;
        let (wal, entries) = wal::Wal::open(&config.path.join("wal"), config.wal_segment_bytes)
            .map_err(|source| StorageError::Io {
                path: config.path.join("wal"),
                source,
            })?;
        let wal = Arc::new(wal);
        let series = series::Series::open(
            db.open_tree("series")?,
            wal.clone(),
            entries,
            config.chunk_samples,
            config.max_live_wal,
            config.max_head_samples,
        )?;
        let sync: durability::SyncFn = {
            let (wal, db) = (wal.clone(), db.clone());
            // Segments are deleted only after sled made the chunks that sealed them durable.
            Arc::new(move || {
                wal.sync(|| db.flush().map(|_| ()).map_err(std::io::Error::other))
                    .map_err(|e| e.to_string())
            })
        };
        let durability = durability::Durability::start(sync, config.flush).map_err(|source| {
            StorageError::Io {
                path: config.path.clone(),
                source,
            }
        })?;
        let outbox = Outbox::open(&db)?;
        Ok(Storage {
            alerts: Alerts::open(&db, outbox.clone())?,
            outbox,
            mutes: Mutes::open(&db)?,
            wal,
            series,
            durability,
            cache: cache::QueryCache::new(config.cache_ttl, config.cache_max_points),
            miners: miners::Miners::new(db.open_tree("miners")?),
            state: Arc::new(SledState::new(
                db.open_tree("plugin_state")?,
                config.state_mirror_bytes,
            )),
            db,
            config,
        })
    }

    /// Stores one sample per record, atomically, and returns once durable.
    pub async fn ingest(&self, records: &[MinerRecord]) -> Result<(), StorageError> {
        let samples: Vec<(&str, Sample)> = records
            .iter()
            .map(|r| (r.id.as_str(), sample_of(r)))
            .collect();
        self.ingest_samples(&samples).await
    }

    /// Live write-ahead log entries: ingest calls not yet fully sealed into chunks.
    pub fn live_wal_keys(&self) -> usize {
        self.series.live_wal_keys()
    }

    /// Unsealed samples held in memory.
    pub fn head_samples(&self) -> usize {
        self.series.head_len()
    }

    /// Stores samples of many miners atomically and returns once durable.
    pub async fn ingest_samples(&self, samples: &[(&str, Sample)]) -> Result<(), StorageError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.series.ingest(samples)?;
        self.durability.commit().await?;
        Ok(())
    }

    /// The resolution a query of `[from, to]` uses: the finest within retention that gives at
    /// most 5,000 points at nominal 10 s polling, or the one matching `step_ms`.
    pub fn resolution_for(&self, from: u64, to: u64, step_ms: Option<u64>) -> Resolution {
        let now = self.config.clock.now_ms();
        let age = now.saturating_sub(from);
        let by_retention = if age > self.config.five_min_retention.as_millis() as u64 {
            Resolution::Hour
        } else if age > self.config.raw_retention.as_millis() as u64 {
            Resolution::FiveMinutes
        } else {
            Resolution::Raw
        };
        let span = to.saturating_sub(from);
        let by_size = match step_ms {
            Some(s) if s >= HOUR_MS => Resolution::Hour,
            Some(s) if s >= FIVE_MIN_MS => Resolution::FiveMinutes,
            Some(_) => Resolution::Raw,
            None if span > 5_000 * FIVE_MIN_MS => Resolution::Hour,
            None if span > 5_000 * 10_000 => Resolution::FiveMinutes,
            None => Resolution::Raw,
        };
        by_retention.max(by_size)
    }

    /// One metric of one miner in `[from, to]` at `res`, through the query cache.
    pub fn history(
        &self,
        miner: &str,
        metric: Metric,
        from: u64,
        to: u64,
        res: Resolution,
    ) -> Result<Arc<Vec<Point>>, StorageError> {
        let Some(series) = self.series.series(miner) else {
            return Ok(Arc::new(Vec::new()));
        };
        let key = QueryKey {
            series,
            metric,
            from,
            to,
            res,
        };
        let mark = self.series.mark(series);
        if let Some(points) = self.cache.get(&key, mark) {
            return Ok(points);
        }
        let points = Arc::new(self.series.query(series, metric, from, to, res)?);
        self.cache.put(key, points.clone(), mark);
        Ok(points)
    }

    /// The same without the query cache, for readers whose ranges never repeat: a rule asks
    /// for "the last hour" from its own `now`, so its queries never hit the cache and only
    /// pushed the dashboard's out (at 10,000 miners about 700,000 points held for nothing).
    pub fn history_uncached(
        &self,
        miner: &str,
        metric: Metric,
        from: u64,
        to: u64,
        res: Resolution,
    ) -> Result<Vec<Point>, StorageError> {
        match self.series.series(miner) {
            Some(series) => self.series.query(series, metric, from, to, res),
            None => Ok(Vec::new()),
        }
    }

    /// Every stored sample of a miner in `[from, to]`.
    pub fn samples(&self, miner: &str, from: u64, to: u64) -> Result<Vec<Sample>, StorageError> {
        match self.series.series(miner) {
            Some(s) => self.series.samples(s, from, to),
            None => Ok(Vec::new()),
        }
    }

    /// Rolls raw history past its retention up into 5-minute and hourly rows, deletes rows past
    /// theirs, and merges the raw chunks of each hour that ended over an hour ago.
    pub fn prune(&self) -> Result<Pruned, StorageError> {
        let now = self.config.clock.now_ms();
        let cutoff = |d: Duration| now.saturating_sub(d.as_millis() as u64);
        Ok(Pruned {
            // Raw samples are not deleted but rolled up, whole days at a time: raw history is
            // kept between its retention and a day more.
            chunks: self.series.roll_up(cutoff(self.config.raw_retention))?,
            minute: self.series.prune(
                Resolution::FiveMinutes,
                cutoff(self.config.five_min_retention),
            )?,
            hour: self
                .series
                .prune(Resolution::Hour, cutoff(self.config.hour_retention))?,
            // After the roll-up: what leaves raw retention is not worth rewriting first. An
            // hour is left alone until an hour after it ended, when all its chunks are sealed.
            // Only chunks the head budget cut short (a big fleet's) are worth rewriting.
            compacted: self
                .series
                .compact(now.saturating_sub(HOUR_MS), self.config.chunk_samples / 2)?,
        })
    }

    /// Query cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Miners added at run time.
    pub fn miners(&self) -> &miners::Miners {
        &self.miners
    }

    /// Alerts and their history.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// Notifications waiting to be delivered.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Alert mutes.
    pub fn mutes(&self) -> &Mutes {
        &self.mutes
    }

    /// The `plugin-state` backend.
    pub fn plugin_state(&self) -> Arc<SledState> {
        self.state.clone()
    }

    /// Flushes everything now (at shutdown).
    pub fn flush(&self) -> Result<(), StorageError> {
        Ok(self.durability.flush_now()?)
    }

    /// Bytes of the database and of the write-ahead log on disk.
    pub fn size_on_disk_parts(&self) -> Result<(u64, u64), StorageError> {
        Ok((self.db.size_on_disk()?, self.wal.size_on_disk()))
    }

    /// Bytes the database and its write-ahead log take on disk.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()? + self.wal.size_on_disk())
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.config.path
    }
}

//! Miner history in one sled tree, keyed so range scans are cheap:
//!
//! | key | value |
//! |---|---|
//! | `i` + miner id | the miner's u32 series number |
//! | `c` + u32 + first ts | last ts (BE u64) + a chunk of samples ([`super::codec`]) |
//! | `m` + u32 + day start | last bucket (BE u64) + that day's 5-minute rollup rows |
//! | `h` + u32 + 30-day period start | last bucket (BE u64) + that period's 1-hour rollup rows |
//! | `s` + u32 | the highest write sequence sealed into its chunks (BE u64) |
//! | `a` + u32 + first ts of an hour | last ts (BE u64) + that hour's samples, merged from its chunks ([`compact`]) |
//! | `x` | every hour before this (Unix ms, BE u64) is compacted |
//!
//! Unsealed samples live in memory (the head) and in the write-ahead log ([`super::wal`]),
//! which replays them at open, skipping what the `s` watermarks say is already sealed. Every
//! ingest appends one log entry and applies one sled batch: a miner whose unsealed samples
//! reach the chunk size is sealed in that batch (chunk and watermark together).
//!
//! sled keeps about 200 bytes of memory for every tree node, resident or not, and a leaf holds
//! at most 16 keys: memory grows with the number of keys stored. So keys are few and large.
//! One key per ~128 samples of a miner (fewer samples for big fleets, whose heads are bounded),
//! and an hour after an hour ends, one key per miner for all of that hour ([`compact`]).
//! Rollups are not written as chunks seal: rollup queries over raw retention aggregate the raw
//! samples, and [`Series::roll_up`] turns whole days of raw samples leaving retention into one
//! 5-minute block per day and one hourly block per 30 days, deleting the raw chunks (and hour
//! blocks) in the same batch. Raw samples and rollup rows never cover the same sample. So that
//! a miner that stops reporting cannot pin old log segments forever, a checkpoint seals the
//! partial heads that hold samples of the oldest log entries once too many are live.

mod compact;

use compact::MERGED;

use super::codec::{Reader, decode_chunk, decode_column, encode_chunk, put_varint};
use super::head::Pending;
use super::metrics::{Metric, Sample};
use super::rollup::{
    Agg, Row, aggregate, decode_rows, decode_rows_column, encode_rows, merge_rows,
};
use super::wal::{Entry, Wal};
use super::{Point, Resolution, StorageError};
use crate::hashing::FastMap;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const ID: u8 = b'i';
const SEALED: u8 = b's';
const CHUNK: u8 = b'c';
const MINUTE: u8 = b'm';
const HOUR: u8 = b'h';

/// 5 minutes in ms.
pub const FIVE_MIN_MS: u64 = 300_000;
/// 1 hour in ms.
pub const HOUR_MS: u64 = 3_600_000;
/// 1 day in ms: raw samples are rolled up a whole day at a time, into one 5-minute block.
pub const DAY_MS: u64 = 86_400_000;
/// Hourly rows of 30 days share one block.
const HOUR_BLOCK_MS: u64 = 30 * DAY_MS;

fn key(prefix: u8, series: u32, ts: u64) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = prefix;
    k[1..5].copy_from_slice(&series.to_be_bytes());
    k[5..].copy_from_slice(&ts.to_be_bytes());
    k
}

fn ts_of(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(5..13)?.try_into().ok()?))
}

/// Of consecutive items with the same time, keeps the last (the most recent write).
fn keep_last_per_ts<T>(v: &mut Vec<T>, ts: impl Fn(&T) -> u64) {
    v.reverse();
    v.dedup_by(|a, b| ts(a) == ts(b));
    v.reverse();
}

/// Seals the whole head of `series` into `batch`: the chunk, and the watermark that tells replay
/// these log entries are done.
fn seal_into(batch: &mut sled::Batch, head: &mut Head, series: u32) {
    let pending = head
        .samples
        .remove(&series)
        .map(|p| p.samples())
        .unwrap_or_default();
    head.total = head.total.saturating_sub(pending.len());
    let samples: Vec<Sample> = pending.iter().map(|(s, _)| *s).collect();
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return;
    };
    batch.insert(
        &key(CHUNK, series, first.ts_ms)[..],
        value_with_last(last.ts_ms, encode_chunk(&samples)),
    );
    // Sealing takes the whole head, so every entry up to the newest here is done for `series`.
    if let Some(max_seq) = pending.iter().map(|(_, q)| *q).max() {
        let mut k = vec![SEALED];
        k.extend_from_slice(&series.to_be_bytes());
        batch.insert(k, max_seq.to_be_bytes().to_vec());
    }
    for (_, seq) in pending {
        head.release(seq);
    }
}

/// What a cached query of a miner was computed against (see `cache.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// Newest sample time ingested.
    pub head_ts: u64,
    /// Bumped when a sample not newer than `head_ts` arrives (it may land in a closed range).
    pub late: u64,
}

/// Unsealed samples, each with the write sequence of the `w` key that holds it.
#[derive(Default)]
struct Head {
    samples: FastMap<u32, Pending>,
    /// Unsealed samples per live log entry (by write sequence).
    refs: BTreeMap<u64, usize>,
    /// Log segment of each live entry.
    segments: FastMap<u64, u64>,
    next_seq: u64,
    /// Samples held across all series (bounded by `max_head_samples`).
    total: usize,
}

impl Head {
    /// The oldest log segment still holding an unsealed sample.
    fn min_live_segment(&self) -> Option<u64> {
        self.refs
            .keys()
            .next()
            .and_then(|seq| self.segments.get(seq))
            .copied()
    }

    /// Drops one reference to `seq`; true if that was the last.
    fn release(&mut self, seq: u64) -> bool {
        match self.refs.get_mut(&seq) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.refs.remove(&seq);
                self.segments.remove(&seq);
                true
            }
            None => false,
        }
    }
}

/// The history store.
pub struct Series {
    tree: sled::Tree,
    wal: Arc<Wal>,
    /// Set when sled refused a write: memory may be ahead of disk until a restart replays.
    failed: std::sync::atomic::AtomicBool,
    chunk_samples: usize,
    max_live_wal: usize,
    max_head_samples: usize,
    ids: RwLock<FastMap<String, u32>>,
    /// Also serialises writers.
    head: Mutex<Head>,
    marks: RwLock<FastMap<u32, Mark>>,
    /// The day (since the epoch) raw history was last rolled up to, and 5-minute and hourly
    /// rows pruned to: see [`due`].
    rolled_day: AtomicU64,
    pruned_day: [AtomicU64; 2],
}

/// Whether `cutoff` falls on a later day than the one `done` records. Retention is called
/// hourly, but rolls up and prunes whole-day blocks: running it once a day keeps data at most a
/// day longer and spares the scan of a node of every miner, which sled keeps in memory.
fn due(done: &AtomicU64, cutoff: u64) -> bool {
    cutoff / DAY_MS > done.load(Ordering::Relaxed)
}

/// Records that retention reached the day of `cutoff`.
fn finished(done: &AtomicU64, cutoff: u64) {
    done.fetch_max(cutoff / DAY_MS, Ordering::Relaxed);
}

fn value_with_last(last: u64, body: Vec<u8>) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&last.to_be_bytes());
    v.extend_from_slice(&body);
    v
}

fn split_last(v: &[u8]) -> Result<(u64, &[u8]), StorageError> {
    let last = v
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(StorageError::Corrupt("short value"))?;
    Ok((last, &v[8..]))
}

/// Encodes one ingest call's samples: their count, their miner ids (not series numbers, so a
/// crash before sled persisted a new miner's number cannot orphan its samples), then all
/// samples as one column chunk.
fn encode_wal(samples: &[(&str, Sample)]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, samples.len() as u64);
    for (miner, _) in samples {
        put_varint(&mut out, miner.len() as u64);
        out.extend_from_slice(miner.as_bytes());
    }
    let all: Vec<Sample> = samples.iter().map(|(_, s)| *s).collect();
    out.extend_from_slice(&encode_chunk(&all));
    out
}

fn decode_wal(buf: &[u8]) -> Result<Vec<(String, Sample)>, StorageError> {
    let mut r = Reader::new(buf);
    let n = usize::try_from(r.varint()?).map_err(|_| StorageError::Corrupt("wal count"))?;
    if n > buf.len() {
        return Err(StorageError::Corrupt("wal count"));
    }
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::try_from(r.varint()?).map_err(|_| StorageError::Corrupt("wal name"))?;
        names.push(String::from_utf8_lossy(r.bytes_pub(len)?).into_owned());
    }
    let samples = decode_chunk(r.rest())?;
    if samples.len() != n {
        return Err(StorageError::Corrupt("wal sample count"));
    }
    Ok(names.into_iter().zip(samples).collect())
}

/// The series number an `i` key holds.
fn series_number(v: &[u8]) -> Result<u32, StorageError> {
    v.try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| StorageError::Corrupt("series id"))
}

/// Schema 1 -> 2: schema 1 wrote rollup rows for every sealed chunk, also for chunks still
/// held raw; schema 2 aggregates raw samples at query time. Rows of buckets that raw chunks
/// still cover are deleted so they are not counted twice (the one bucket a retention cut split
/// keeps only its raw part).
pub fn migrate_per_chunk_rollups(tree: &sled::Tree) -> Result<(), StorageError> {
    let mut batch = sled::Batch::default();
    for item in tree.scan_prefix([ID]) {
        let (_, v) = item?;
        let series = series_number(&v)?;
        let mut chunk_prefix = vec![CHUNK];
        chunk_prefix.extend_from_slice(&series.to_be_bytes());
        let Some(first_raw) = tree
            .scan_prefix(&chunk_prefix)
            .next()
            .transpose()?
            .and_then(|(k, _)| ts_of(&k))
        else {
            continue;
        };
        for (prefix, bucket) in [(MINUTE, FIVE_MIN_MS), (HOUR, HOUR_MS)] {
            let cut = first_raw - first_raw % bucket;
            for item in tree.range(key(prefix, series, 0)..=key(prefix, series, u64::MAX)) {
                let (k, v) = item?;
                let (last, body) = split_last(&v)?;
                if last < cut {
                    continue;
                }
                let kept: Vec<Row> = decode_rows(body)?
                    .into_iter()
                    .filter(|r| r.ts_ms < cut)
                    .collect();
                match kept.last() {
                    Some(l) => batch.insert(k, value_with_last(l.ts_ms, encode_rows(&kept))),
                    None => batch.remove(k),
                }
            }
        }
    }
    Ok(tree.apply_batch(batch)?)
}

impl Series {
    /// Opens the tree and rebuilds the head from the replayed log `entries`.
    pub fn open(
        tree: sled::Tree,
        wal: Arc<Wal>,
        entries: Vec<Entry>,
        chunk_samples: usize,
        max_live_wal: usize,
        max_head_samples: usize,
    ) -> Result<Series, StorageError> {
        let mut ids = FastMap::default();
        for item in tree.scan_prefix([ID]) {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k[1..]).into_owned();
            let n = series_number(&v)?;
            ids.insert(id, n);
        }
        let mut sealed: HashMap<u32, u64> = HashMap::new();
        for item in tree.scan_prefix([SEALED]) {
            let (k, v) = item?;
            let series = k
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(StorageError::Corrupt("sealed key"))?;
            let seq = v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt("sealed seq"))?;
            sealed.insert(series, seq);
        }
        let mut head = Head {
            next_seq: sealed.values().max().map_or(0, |s| s + 1),
            ..Default::default()
        };
        let mut new_ids = sled::Batch::default();
        for entry in entries {
            head.next_seq = head.next_seq.max(entry.seq + 1);
            for (miner, s) in decode_wal(&entry.payload)? {
                let next = u32::try_from(ids.len() + 1)
                    .map_err(|_| StorageError::Corrupt("too many series"))?;
                let series = *ids.entry(miner.clone()).or_insert_with(|| {
                    let mut k = vec![ID];
                    k.extend_from_slice(miner.as_bytes());
                    new_ids.insert(k, next.to_be_bytes().to_vec());
                    next
                });
                if sealed.get(&series).is_some_and(|&done| entry.seq <= done) {
                    continue;
                }
                *head.refs.entry(entry.seq).or_default() += 1;
                head.segments.insert(entry.seq, entry.segment);
                match head.samples.entry(series).or_default().insert(s, entry.seq) {
                    Some(old) => {
                        head.release(old);
                    }
                    None => head.total += 1,
                }
            }
        }
        tree.apply_batch(new_ids)?;
        let mut marks: FastMap<u32, Mark> = FastMap::default();
        for (series, samples) in &head.samples {
            marks.entry(*series).or_default().head_ts = samples.last_ts().unwrap_or(0);
        }
        wal.set_min_live(
            head.min_live_segment()
                .unwrap_or_else(|| wal.current_segment()),
        );
        Ok(Series {
            tree,
            wal,
            failed: std::sync::atomic::AtomicBool::new(false),
            chunk_samples: chunk_samples.max(2),
            max_live_wal: max_live_wal.max(2),
            max_head_samples: max_head_samples.max(1),
            ids: RwLock::new(ids),
            head: Mutex::new(head),
            marks: RwLock::new(marks),
            rolled_day: Default::default(),
            pruned_day: Default::default(),
        })
    }

    /// The series number of a miner, if it has history.
    pub fn series(&self, miner: &str) -> Option<u32> {
        self.ids.read().get(miner).copied()
    }

    /// Every series number, ascending: a pass over all miners in that order visits each leaf
    /// once, as neighbouring series share leaves.
    fn series_in_key_order(&self) -> Vec<u32> {
        let mut series: Vec<u32> = self.ids.read().values().copied().collect();
        series.sort_unstable();
        series
    }

    /// The cache mark of a series.
    pub fn mark(&self, series: u32) -> Mark {
        self.marks.read().get(&series).copied().unwrap_or_default()
    }

    fn head_samples(&self, series: u32, from: u64, to: u64) -> Vec<Sample> {
        self.head
            .lock()
            .samples
            .get(&series)
            .map(|h| {
                h.samples()
                    .into_iter()
                    .map(|(s, _)| s)
                    .filter(|s| s.ts_ms >= from && s.ts_ms <= to)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Unsealed samples in memory.
    pub fn head_len(&self) -> usize {
        self.head.lock().total
    }

    /// Live write-ahead keys (for tests and metrics).
    pub fn live_wal_keys(&self) -> usize {
        self.head.lock().refs.len()
    }

    /// Appends samples of many miners to the log and applies the resulting sled batch. Not yet
    /// durable: the caller commits (fsyncs the log).
    pub fn ingest(&self, samples: &[(&str, Sample)]) -> Result<(), StorageError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StorageError::Failed);
        }
        let mut tree_batch = sled::Batch::default();
        let mut head = self.head.lock();
        let seq = head.next_seq;
        // The log first: if this fails nothing has changed.
        let segment = self
            .wal
            .append(seq, &encode_wal(samples))
            .map_err(|e| StorageError::Log(e.to_string()))?;
        head.next_seq += 1;
        head.segments.insert(seq, segment);
        head.refs.insert(seq, samples.len());

        let mut new_ids: Vec<(String, u32)> = Vec::new();
        let mut groups: BTreeMap<u32, Vec<Sample>> = BTreeMap::new();
        {
            let ids = self.ids.read();
            let mut next = u32::try_from(ids.len() + 1)
                .map_err(|_| StorageError::Corrupt("too many series"))?;
            for (miner, sample) in samples {
                let known = ids
                    .get(*miner)
                    .copied()
                    .or_else(|| new_ids.iter().find(|(m, _)| m == miner).map(|(_, n)| *n));
                let series = known.unwrap_or_else(|| {
                    let n = next;
                    next += 1;
                    let mut k = vec![ID];
                    k.extend_from_slice(miner.as_bytes());
                    tree_batch.insert(k, n.to_be_bytes().to_vec());
                    new_ids.push(((*miner).to_string(), n));
                    n
                });
                groups.entry(series).or_default().push(*sample);
            }
        }

        let mut late: Vec<u32> = Vec::new();
        let mut newest: HashMap<u32, u64> = HashMap::new();
        let mut added = 0usize;
        for (series, incoming) in &groups {
            let mut released = Vec::new();
            let seen = newest
                .entry(*series)
                .or_insert_with(|| self.mark(*series).head_ts);
            let pending = head.samples.entry(*series).or_default();
            for s in incoming {
                if *seen > 0 && s.ts_ms <= *seen {
                    // May land inside a range a cached query already covered.
                    late.push(*series);
                }
                *seen = (*seen).max(s.ts_ms);
                // Same time again: the newer write replaces the older one.
                match pending.insert(*s, seq) {
                    Some(old) => released.push(old),
                    None => added += 1,
                }
            }
            for old in released {
                head.release(old);
            }
        }
        head.total += added;
        let full: Vec<u32> = groups
            .keys()
            .filter(|s| {
                head.samples
                    .get(s)
                    .is_some_and(|v| v.len() >= self.chunk_samples)
            })
            .copied()
            .collect();
        for series in full {
            seal_into(&mut tree_batch, &mut head, series);
        }
        // Over the memory budget (a big fleet gets shorter chunks): seal the fullest heads,
        // just enough to fit. Sealing by oldest log entry instead took every miner polled in
        // the same second, so a fleet sealed in lockstep waves of thousands of chunks, and the
        // bursts fragmented the heap; fullest-first spreads a fleet's seals evenly over time.
        if head.total > self.max_head_samples {
            let mut sizes: Vec<(usize, u32)> =
                head.samples.iter().map(|(s, v)| (v.len(), *s)).collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            for (_, series) in sizes {
                if head.total <= self.max_head_samples {
                    break;
                }
                seal_into(&mut tree_batch, &mut head, series);
            }
        }
        // Checkpoint: seal partial heads pinning the oldest log entries (a miner that stopped
        // reporting must not keep old log segments alive).
        while head.refs.len() > self.max_live_wal {
            let Some(oldest) = head.refs.keys().next().copied() else {
                break;
            };
            let holders: Vec<u32> = head
                .samples
                .iter()
                // The oldest live entry is the smallest sequence any head holds.
                .filter(|(_, v)| v.min_seq() == Some(oldest))
                .map(|(s, _)| *s)
                .collect();
            if holders.is_empty() {
                head.refs.remove(&oldest);
                head.segments.remove(&oldest);
            }
            for series in holders {
                seal_into(&mut tree_batch, &mut head, series);
            }
        }

        if let Err(e) = self.tree.apply_batch(tree_batch) {
            // Memory is now ahead of sled; the log still has everything, so a restart recovers.
            self.failed.store(true, Ordering::SeqCst);
            tracing::error!("history write failed; further writes are refused until restart: {e}");
            return Err(e.into());
        }
        self.wal
            .set_min_live(head.min_live_segment().unwrap_or(segment));
        self.ids.write().extend(new_ids);
        let mut marks = self.marks.write();
        for (series, ts) in newest {
            let m = marks.entry(series).or_default();
            m.head_ts = m.head_ts.max(ts);
        }
        for series in late {
            marks.entry(series).or_default().late += 1;
        }
        Ok(())
    }

    /// Calls `f(first_ts, value)` for every stored block of `prefix` that may overlap
    /// `[from, to]`, oldest first.
    fn blocks(
        &self,
        prefix: u8,
        series: u32,
        from: u64,
        to: u64,
        mut f: impl FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        // The block that starts at or before `from` may reach into the range.
        if let Some(item) = self
            .tree
            .range(key(prefix, series, 0)..=key(prefix, series, from))
            .next_back()
        {
            let (_, v) = item?;
            let (last, body) = split_last(&v)?;
            if last >= from {
                f(body)?;
            }
        }
        if from < u64::MAX {
            for item in self
                .tree
                .range(key(prefix, series, from.saturating_add(1))..=key(prefix, series, to))
            {
                let (_, v) = item?;
                f(split_last(&v)?.1)?;
            }
        }
        Ok(())
    }

    /// Points of one metric of one miner in `[from, to]` at `res`, oldest first.
    pub fn query(
        &self,
        series: u32,
        metric: Metric,
        from: u64,
        to: u64,
        res: Resolution,
    ) -> Result<Vec<Point>, StorageError> {
        let m = metric.index();
        let mut out: Vec<Point> = Vec::new();
        match res {
            Resolution::Raw => {
                let head: Vec<Sample> = self.head_samples(series, from, to);
                self.raw_blocks(series, from, to, |body| {
                    decode_column(body, m, |t, v| {
                        if t >= from && t <= to && !v.is_nan() {
                            out.push(Point::single(t, v));
                        }
                    })?;
                    Ok(())
                })?;
                out.extend(
                    head.iter()
                        .filter_map(|s| s.get(metric).map(|v| Point::single(s.ts_ms, v))),
                );
                // Late samples may interleave; chunks and head are each sorted. A time written
                // again after its chunk was sealed is in both: the later write (head) wins.
                out.sort_by_key(|p| p.ts_ms);
                keep_last_per_ts(&mut out, |p| p.ts_ms);
            }
            Resolution::FiveMinutes | Resolution::Hour => {
                let (prefix, bucket, span) = if res == Resolution::FiveMinutes {
                    (MINUTE, FIVE_MIN_MS, DAY_MS)
                } else {
                    (HOUR, HOUR_MS, HOUR_BLOCK_MS)
                };
                let start = from - from % bucket;
                let end = (to - to % bucket).saturating_add(bucket - 1);
                let mut rows: Vec<(u64, Agg)> = Vec::new();
                // Rolled-up days. Blocks written before rollups were per day (schema 1) may
                // start inside a newer block's span, so scan back a whole span.
                for item in self.tree.range(
                    key(prefix, series, start.saturating_sub(span))..=key(prefix, series, end),
                ) {
                    let (_, v) = item?;
                    let (last, body) = split_last(&v)?;
                    if last >= start {
                        decode_rows_column(body, m, |t, a| {
                            if t >= start && t <= to && a.n > 0 {
                                rows.push((t, a));
                            }
                        })?;
                    }
                }
                // Raw samples not yet rolled up, whole buckets.
                let mut raw: Vec<(u64, f64)> = Vec::new();
                self.raw_blocks(series, start, end, |body| {
                    decode_column(body, m, |t, v| {
                        if t >= start && t <= end {
                            raw.push((t, v));
                        }
                    })?;
                    Ok(())
                })?;
                raw.extend(
                    self.head_samples(series, start, end)
                        .iter()
                        .map(|s| (s.ts_ms, s.values[m])),
                );
                raw.sort_by_key(|(t, _)| *t);
                keep_last_per_ts(&mut raw, |(t, _)| *t);
                let mut raw_rows: Vec<(u64, Agg)> = Vec::new();
                for (t, v) in raw {
                    let b = t - t % bucket;
                    if raw_rows.last().is_none_or(|(lt, _)| *lt != b) {
                        raw_rows.push((b, Agg::EMPTY));
                    }
                    if let Some((_, a)) = raw_rows.last_mut() {
                        a.add(v);
                    }
                }
                rows.extend(raw_rows.into_iter().filter(|(t, a)| *t <= to && a.n > 0));
                rows.sort_by_key(|(t, _)| *t);
                // A bucket split across blocks appears more than once.
                let mut merged: Vec<(u64, Agg)> = Vec::with_capacity(rows.len());
                for (t, a) in rows {
                    match merged.last_mut() {
                        Some((lt, la)) if *lt == t => *la = la.merge(a),
                        _ => merged.push((t, a)),
                    }
                }
                out = merged
                    .into_iter()
                    .map(|(t, a)| Point {
                        ts_ms: t,
                        min: a.min,
                        avg: a.avg,
                        max: a.max,
                    })
                    .collect();
            }
        }
        Ok(out)
    }

    /// Rolls every raw sample before `before` (a day boundary) up into 5-minute and hourly
    /// blocks and deletes those raw chunks and hour blocks, one series per atomic batch; a chunk
    /// that reaches past `before` keeps its newer samples. Returns the chunks and blocks
    /// removed.
    pub fn roll_up(&self, before: u64) -> Result<usize, StorageError> {
        if self.failed.load(Ordering::SeqCst) {
            // Memory may be ahead of sled: moving data now could lose what a restart replays.
            return Err(StorageError::Failed);
        }
        let before = before - before % DAY_MS;
        if !due(&self.rolled_day, before) {
            return Ok(0);
        }
        let series = self.series_in_key_order();
        let mut removed = 0;
        for s in series {
            // Holding the writers' lock: an ingest must not seal into this range meanwhile.
            let _writers = self.head.lock();
            let mut batch = sled::Batch::default();
            let mut samples: Vec<Sample> = Vec::new();
            let mut tail: Vec<Sample> = Vec::new();
            // Hour blocks hold only samples of their hour, so none reaches past `before`.
            // First: of equal times, a chunk (a later write) wins.
            for item in self.tree.range(key(MERGED, s, 0)..key(MERGED, s, before)) {
                let (k, v) = item?;
                samples.extend(decode_chunk(split_last(&v)?.1)?);
                batch.remove(k);
                removed += 1;
            }
            for item in self.tree.range(key(CHUNK, s, 0)..key(CHUNK, s, before)) {
                let (k, v) = item?;
                let (last, body) = split_last(&v)?;
                let chunk = decode_chunk(body)?;
                if last >= before {
                    tail.extend(chunk.iter().filter(|x| x.ts_ms >= before));
                }
                samples.extend(chunk.into_iter().filter(|x| x.ts_ms < before));
                batch.remove(k);
                removed += 1;
            }
            if samples.is_empty() && tail.is_empty() {
                continue;
            }
            if let Some(first) = tail.iter().map(|x| x.ts_ms).min() {
                let k = key(CHUNK, s, first);
                if let Some(v) = self.tree.get(k)? {
                    // A late write made another chunk start there: keep both.
                    tail.extend(decode_chunk(split_last(&v)?.1)?);
                }
                tail.sort_by_key(|x| x.ts_ms);
                keep_last_per_ts(&mut tail, |x| x.ts_ms);
                let last = tail.last().map_or(first, |x| x.ts_ms);
                batch.insert(&k[..], value_with_last(last, encode_chunk(&tail)));
            }
            samples.sort_by_key(|x| x.ts_ms);
            keep_last_per_ts(&mut samples, |x| x.ts_ms);
            for (prefix, bucket, span) in [
                (MINUTE, FIVE_MIN_MS, DAY_MS),
                (HOUR, HOUR_MS, HOUR_BLOCK_MS),
            ] {
                let rows = aggregate(&samples, bucket);
                let mut i = 0;
                while i < rows.len() {
                    let block = rows[i].ts_ms - rows[i].ts_ms % span;
                    let n = rows[i..]
                        .iter()
                        .take_while(|r| r.ts_ms - r.ts_ms % span == block)
                        .count();
                    let k = key(prefix, s, block);
                    let mut group: Vec<Row> = rows[i..i + n].to_vec();
                    if let Some(v) = self.tree.get(k)? {
                        // Rolled up before (a late sample, or an earlier day of the period).
                        group = merge_rows(decode_rows(split_last(&v)?.1)?, group);
                    }
                    if let Some(l) = group.last() {
                        batch.insert(&k[..], value_with_last(l.ts_ms, encode_rows(&group)));
                    }
                    i += n;
                }
            }
            self.tree.apply_batch(batch)?;
            // A query that read across the move is not kept in the cache.
            self.marks.write().entry(s).or_default().late += 1;
        }
        finished(&self.rolled_day, before);
        Ok(removed)
    }

    /// Deletes blocks of `kind` that end before `cutoff` (raw: chunks and hour blocks alike);
    /// returns how many.
    pub fn prune(&self, kind: Resolution, cutoff: u64) -> Result<usize, StorageError> {
        let (prefixes, pruned_day): (&[u8], _) = match kind {
            Resolution::Raw => (&[MERGED, CHUNK], None),
            Resolution::FiveMinutes => (&[MINUTE], Some(&self.pruned_day[0])),
            Resolution::Hour => (&[HOUR], Some(&self.pruned_day[1])),
        };
        if pruned_day.is_some_and(|done| !due(done, cutoff)) {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for s in self.series_in_key_order() {
            for &prefix in prefixes {
                for item in self.tree.range(key(prefix, s, 0)..key(prefix, s, cutoff)) {
                    let (k, v) = item?;
                    let (last, _) = split_last(&v)?;
                    if last < cutoff && ts_of(&k).is_some() {
                        batch.remove(k);
                        n += 1;
                    }
                }
            }
        }
        self.tree.apply_batch(batch)?;
        if let Some(done) = pruned_day {
            finished(done, cutoff);
        }
        Ok(n)
    }

    /// Samples of a miner (all metrics) in `[from, to]`: for tests and exports.
    pub fn samples(&self, series: u32, from: u64, to: u64) -> Result<Vec<Sample>, StorageError> {
        let mut out = Vec::new();
        self.raw_blocks(series, from, to, |body| {
            out.extend(
                decode_chunk(body)?
                    .into_iter()
                    .filter(|s| s.ts_ms >= from && s.ts_ms <= to),
            );
            Ok(())
        })?;
        out.extend(self.head_samples(series, from, to));
        out.sort_by_key(|s| s.ts_ms);
        keep_last_per_ts(&mut out, |s| s.ts_ms);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::metrics::METRICS;

    fn minute(m: u64) -> Sample {
        let mut values = [f64::NAN; METRICS];
        values[0] = m as f64;
        Sample {
            ts_ms: m * 60_000,
            values,
        }
    }

    fn row_times(tree: &sled::Tree, prefix: u8) -> Vec<u64> {
        let mut out = Vec::new();
        for item in tree.scan_prefix([prefix]) {
            let (_, v) = item.expect("read");
            let body = split_last(&v).expect("value").1;
            out.extend(decode_rows(body).expect("rows").iter().map(|r| r.ts_ms));
        }
        out
    }

    #[test]
    fn migration_drops_schema_1_rows_that_raw_chunks_still_cover() {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let tree = db.open_tree("series").expect("tree");
        tree.insert([ID, b'a'], &1u32.to_be_bytes()).expect("id");
        // Minutes 0-62 were pruned from raw long ago; minutes 63-90 are still raw. Schema 1
        // wrote rollup rows for every chunk, keyed by its first bucket.
        let chunks: [Vec<Sample>; 3] = [
            (0..30).map(minute).collect(),
            (30..63).map(minute).collect(),
            (63..91).map(minute).collect(),
        ];
        let raw = &chunks[2];
        tree.insert(
            &key(CHUNK, 1, raw[0].ts_ms)[..],
            value_with_last(raw[raw.len() - 1].ts_ms, encode_chunk(raw)),
        )
        .expect("chunk");
        for chunk in &chunks {
            for (prefix, bucket) in [(MINUTE, FIVE_MIN_MS), (HOUR, HOUR_MS)] {
                let rows = aggregate(chunk, bucket);
                tree.insert(
                    &key(prefix, 1, rows[0].ts_ms)[..],
                    value_with_last(rows[rows.len() - 1].ts_ms, encode_rows(&rows)),
                )
                .expect("rows");
            }
        }
        migrate_per_chunk_rollups(&tree).expect("migrates");
        // Buckets from minute 60 on are aggregated from the raw chunk now; the rows before
        // stay, also those of a block that reached past that bucket.
        let five: Vec<u64> = (0..12).map(|i| i * FIVE_MIN_MS).collect();
        let mut got = row_times(&tree, MINUTE);
        got.sort_unstable();
        assert_eq!(got, five);
        assert_eq!(row_times(&tree, HOUR), vec![0]);
        assert_eq!(
            tree.scan_prefix([CHUNK]).count(),
            1,
            "raw chunks are untouched"
        );
    }
}

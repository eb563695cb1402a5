//! Miner history in one sled tree, keyed so range scans are cheap:
//!
//! | key | value |
//! |---|---|
//! | `i` + miner id | the miner's u32 series number |
//! | `w` + u32 + ts (BE) | one unsealed sample (the write-ahead part) |
//! | `c` + u32 + first ts | last ts (BE u64) + a chunk of samples ([`super::codec`]) |
//! | `m` / `h` + u32 + first bucket | last bucket (BE u64) + 1-minute / 1-hour rollup rows |
//!
//! Every ingest is one atomic `apply_batch`: the samples go in as `w` keys, and a miner whose
//! unsealed samples reach the chunk size is sealed in the same batch (chunk and rollups
//! written, its `w` keys removed). Unsealed samples are mirrored in memory (the head), rebuilt
//! from the `w` keys at open. Because one key holds ~128 samples, sled's per-key overhead is
//! spread thin: this is what keeps a stored record under 80 bytes.

use super::codec::{decode_chunk, decode_column, encode_chunk};
use super::metrics::{Metric, Sample};
use super::rollup::{Agg, aggregate, decode_rows_column, encode_rows};
use super::{Point, Resolution, StorageError};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;

const ID: u8 = b'i';
const WAL: u8 = b'w';
const CHUNK: u8 = b'c';
const MINUTE: u8 = b'm';
const HOUR: u8 = b'h';

/// 1 minute and 1 hour in ms.
pub const MINUTE_MS: u64 = 60_000;
/// 1 hour in ms.
pub const HOUR_MS: u64 = 3_600_000;

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

fn series_of(k: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(k.get(1..5)?.try_into().ok()?))
}

/// What a cached query of a miner was computed against (see `cache.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// Newest sample time ingested.
    pub head_ts: u64,
    /// Bumped when a sample older than `head_ts` arrives (it may land in a closed range).
    pub late: u64,
}

/// The history store.
pub struct Series {
    tree: sled::Tree,
    chunk_samples: usize,
    ids: RwLock<HashMap<String, u32>>,
    /// Unsealed samples per series, sorted by time. Also serialises writers.
    head: Mutex<HashMap<u32, Vec<Sample>>>,
    marks: RwLock<HashMap<u32, Mark>>,
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

impl Series {
    /// Opens the tree and rebuilds ids and the head from it.
    pub fn open(tree: sled::Tree, chunk_samples: usize) -> Result<Series, StorageError> {
        let mut ids = HashMap::new();
        for item in tree.scan_prefix([ID]) {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k[1..]).into_owned();
            let n = v
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StorageError::Corrupt("series id"))?;
            ids.insert(id, n);
        }
        let mut head: HashMap<u32, Vec<Sample>> = HashMap::new();
        let mut marks: HashMap<u32, Mark> = HashMap::new();
        for item in tree.scan_prefix([WAL]) {
            let (k, v) = item?;
            let series = series_of(&k).ok_or(StorageError::Corrupt("wal key"))?;
            let mut samples = decode_chunk(&v)?;
            head.entry(series).or_default().append(&mut samples);
        }
        for (series, samples) in &head {
            let m = marks.entry(*series).or_default();
            m.head_ts = samples.iter().map(|s| s.ts_ms).max().unwrap_or(0);
        }
        Ok(Series {
            tree,
            chunk_samples: chunk_samples.max(2),
            ids: RwLock::new(ids),
            head: Mutex::new(head),
            marks: RwLock::new(marks),
        })
    }

    /// The series number of a miner, if it has history.
    pub fn series(&self, miner: &str) -> Option<u32> {
        self.ids.read().get(miner).copied()
    }

    /// The cache mark of a series.
    pub fn mark(&self, series: u32) -> Mark {
        self.marks.read().get(&series).copied().unwrap_or_default()
    }

    /// Writes samples of many miners in one atomic batch (not yet flushed: the caller commits).
    pub fn ingest(&self, samples: &[(&str, Sample)]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        let mut head = self.head.lock();
        let mut new_ids: Vec<(String, u32)> = Vec::new();
        let mut changed: HashMap<u32, Vec<Sample>> = HashMap::new();
        let mut late: Vec<u32> = Vec::new();
        let mut newest: HashMap<u32, u64> = HashMap::new();
        {
            let ids = self.ids.read();
            let mut next = u32::try_from(ids.len() + 1)
                .map_err(|_| StorageError::Corrupt("too many series"))?;
            for (miner, sample) in samples {
                let series = match ids
                    .get(*miner)
                    .copied()
                    .or_else(|| new_ids.iter().find(|(m, _)| m == miner).map(|(_, n)| *n))
                {
                    Some(n) => n,
                    None => {
                        let n = next;
                        next += 1;
                        let mut k = vec![ID];
                        k.extend_from_slice(miner.as_bytes());
                        batch.insert(k, n.to_be_bytes().to_vec());
                        new_ids.push(((*miner).to_string(), n));
                        n
                    }
                };
                batch.insert(
                    &key(WAL, series, sample.ts_ms)[..],
                    encode_chunk(std::slice::from_ref(sample)),
                );
                let seen = newest
                    .entry(series)
                    .or_insert_with(|| self.mark(series).head_ts);
                if sample.ts_ms <= *seen && *seen > 0 {
                    // May land inside a range a cached query already covered.
                    late.push(series);
                }
                *seen = (*seen).max(sample.ts_ms);
                let pending = changed
                    .entry(series)
                    .or_insert_with(|| head.get(&series).cloned().unwrap_or_default());
                match pending.last() {
                    Some(last) if last.ts_ms > sample.ts_ms => {
                        let pos = pending.partition_point(|s| s.ts_ms <= sample.ts_ms);
                        pending.insert(pos, *sample);
                    }
                    Some(last) if last.ts_ms == sample.ts_ms => {
                        // The same key: the newer write replaces the older one.
                        if let Some(l) = pending.last_mut() {
                            *l = *sample;
                        }
                    }
                    _ => pending.push(*sample),
                }
            }
        }
        for (series, pending) in changed.iter_mut() {
            if pending.len() >= self.chunk_samples {
                self.seal(&mut batch, *series, pending);
                pending.clear();
            }
        }
        self.tree.apply_batch(batch)?;
        // Only now that sled took the batch does memory follow.
        self.ids.write().extend(new_ids);
        let mut marks = self.marks.write();
        for (series, pending) in changed {
            let m = marks.entry(series).or_default();
            m.head_ts = m.head_ts.max(newest.get(&series).copied().unwrap_or(0));
            head.insert(series, pending);
        }
        for series in late {
            marks.entry(series).or_default().late += 1;
        }
        Ok(())
    }

    /// Adds to `batch` the chunk and rollups of `samples` and the removal of their `w` keys.
    fn seal(&self, batch: &mut sled::Batch, series: u32, samples: &[Sample]) {
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return;
        };
        batch.insert(
            &key(CHUNK, series, first.ts_ms)[..],
            value_with_last(last.ts_ms, encode_chunk(samples)),
        );
        for (prefix, bucket) in [(MINUTE, MINUTE_MS), (HOUR, HOUR_MS)] {
            let rows = aggregate(samples, bucket);
            if let (Some(f), Some(l)) = (rows.first(), rows.last()) {
                batch.insert(
                    &key(prefix, series, f.ts_ms)[..],
                    value_with_last(l.ts_ms, encode_rows(&rows)),
                );
            }
        }
        for s in samples {
            batch.remove(&key(WAL, series, s.ts_ms)[..]);
        }
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
        let head: Vec<Sample> = self
            .head
            .lock()
            .get(&series)
            .map(|h| {
                h.iter()
                    .filter(|s| s.ts_ms >= from && s.ts_ms <= to)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut out: Vec<Point> = Vec::new();
        match res {
            Resolution::Raw => {
                self.blocks(CHUNK, series, from, to, |body| {
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
                // Late samples may interleave; chunks and head are each sorted.
                out.sort_by_key(|p| p.ts_ms);
            }
            Resolution::Minute | Resolution::Hour => {
                let (prefix, bucket) = if res == Resolution::Minute {
                    (MINUTE, MINUTE_MS)
                } else {
                    (HOUR, HOUR_MS)
                };
                let start = from - from % bucket;
                let mut rows: Vec<(u64, Agg)> = Vec::new();
                self.blocks(prefix, series, start, to, |body| {
                    decode_rows_column(body, m, |t, a| {
                        if t >= start && t <= to && a.n > 0 {
                            rows.push((t, a));
                        }
                    })?;
                    Ok(())
                })?;
                rows.extend(
                    aggregate(&head, bucket)
                        .into_iter()
                        .map(|r| (r.ts_ms, r.aggs[m]))
                        .filter(|(_, a)| a.n > 0),
                );
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

    /// Deletes blocks of `prefix` that end before `cutoff`; returns how many.
    pub fn prune(&self, prefix_kind: Resolution, cutoff: u64) -> Result<usize, StorageError> {
        let prefix = match prefix_kind {
            Resolution::Raw => CHUNK,
            Resolution::Minute => MINUTE,
            Resolution::Hour => HOUR,
        };
        let mut batch = sled::Batch::default();
        let mut n = 0;
        let series: Vec<u32> = self.ids.read().values().copied().collect();
        for s in series {
            for item in self.tree.range(key(prefix, s, 0)..key(prefix, s, cutoff)) {
                let (k, v) = item?;
                let (last, _) = split_last(&v)?;
                if last < cutoff && ts_of(&k).is_some() {
                    batch.remove(k);
                    n += 1;
                }
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(n)
    }

    /// Samples of a miner (all metrics) in `[from, to]`: for tests and exports.
    pub fn samples(&self, series: u32, from: u64, to: u64) -> Result<Vec<Sample>, StorageError> {
        let mut out = Vec::new();
        self.blocks(CHUNK, series, from, to, |body| {
            out.extend(
                decode_chunk(body)?
                    .into_iter()
                    .filter(|s| s.ts_ms >= from && s.ts_ms <= to),
            );
            Ok(())
        })?;
        if let Some(h) = self.head.lock().get(&series) {
            out.extend(h.iter().filter(|s| s.ts_ms >= from && s.ts_ms <= to));
        }
        out.sort_by_key(|s| s.ts_ms);
        Ok(out)
    }
}

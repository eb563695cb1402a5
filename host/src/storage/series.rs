//! Miner history in one sled tree, keyed so range scans are cheap:
//!
//! | key | value |
//! |---|---|
//! | `i` + miner id | the miner's u32 series number |
//! | `c` + u32 + first ts | last ts (BE u64) + a chunk of samples ([`super::codec`]) |
//! | `m` / `h` + u32 + first bucket | last bucket (BE u64) + 5-minute / 1-hour rollup rows |
//!
//! and, in a second tree (so its churn never rewrites chunk nodes), the write-ahead part:
//! write sequence (BE u64) -> the samples of one ingest call not yet sealed, as one column
//! chunk across miners (a fleet's values are alike, so this compresses too).
//!
//! Every ingest is one sled transaction over both trees: the call's samples go in as one
//! write-ahead key, and a miner whose unsealed samples reach the chunk size is sealed in the
//! same transaction (chunk and rollups written). A write-ahead key is deleted in the
//! transaction that seals its last sample. Unsealed samples are mirrored in memory (the head)
//! and rebuilt from the write-ahead keys at open.
//!
//! One key per ingest call, and one per ~128 samples of a miner once sealed: sled's per-key
//! overhead (hundreds of bytes) is spread thin, which is what keeps a stored record small. So
//! that a miner that stops reporting cannot pin old `w` keys forever, a checkpoint seals the
//! partial heads that hold samples of the oldest `w` keys once too many are live.

use super::codec::{Reader, decode_chunk, decode_column, encode_chunk};
use super::metrics::{Metric, Sample};
use super::rollup::{Agg, aggregate, decode_rows_column, encode_rows};
use super::{Point, Resolution, StorageError};
use parking_lot::{Mutex, RwLock};
use sled::Transactional;
use std::collections::{BTreeMap, HashMap};

const ID: u8 = b'i';
const CHUNK: u8 = b'c';
const MINUTE: u8 = b'm';
const HOUR: u8 = b'h';

/// 5 minutes in ms.
pub const FIVE_MIN_MS: u64 = 300_000;
/// 1 hour in ms.
pub const HOUR_MS: u64 = 3_600_000;

fn key(prefix: u8, series: u32, ts: u64) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = prefix;
    k[1..5].copy_from_slice(&series.to_be_bytes());
    k[5..].copy_from_slice(&ts.to_be_bytes());
    k
}

fn wal_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn ts_of(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(5..13)?.try_into().ok()?))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Of consecutive items with the same time, keeps the last (the most recent write).
fn keep_last_per_ts<T>(v: &mut Vec<T>, ts: impl Fn(&T) -> u64) {
    v.reverse();
    v.dedup_by(|a, b| ts(a) == ts(b));
    v.reverse();
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
    samples: HashMap<u32, Vec<(Sample, u64)>>,
    /// Unsealed samples per live `w` key.
    refs: BTreeMap<u64, usize>,
    next_seq: u64,
}

impl Head {
    /// Drops one reference to `seq`; true if that was the last.
    fn release(&mut self, seq: u64) -> bool {
        match self.refs.get_mut(&seq) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.refs.remove(&seq);
                true
            }
            None => false,
        }
    }
}

/// The history store.
pub struct Series {
    tree: sled::Tree,
    wal: sled::Tree,
    chunk_samples: usize,
    max_live_wal: usize,
    ids: RwLock<HashMap<String, u32>>,
    /// Also serialises writers.
    head: Mutex<Head>,
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

/// Encodes one ingest call's samples: their count, their series numbers, then all samples as
/// one column chunk (in series order).
fn encode_wal(groups: &BTreeMap<u32, Vec<Sample>>) -> Vec<u8> {
    let mut out = Vec::new();
    let n: usize = groups.values().map(Vec::len).sum();
    put_varint(&mut out, n as u64);
    for (series, samples) in groups {
        for _ in samples {
            put_varint(&mut out, u64::from(*series));
        }
    }
    let all: Vec<Sample> = groups.values().flatten().copied().collect();
    out.extend_from_slice(&encode_chunk(&all));
    out
}

fn decode_wal(buf: &[u8]) -> Result<Vec<(u32, Sample)>, StorageError> {
    let mut r = Reader::new(buf);
    let n = usize::try_from(r.varint()?).map_err(|_| StorageError::Corrupt("wal count"))?;
    if n > buf.len() {
        return Err(StorageError::Corrupt("wal count"));
    }
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        series.push(u32::try_from(r.varint()?).map_err(|_| StorageError::Corrupt("wal series"))?);
    }
    let samples = decode_chunk(r.rest())?;
    if samples.len() != n {
        return Err(StorageError::Corrupt("wal sample count"));
    }
    Ok(series.into_iter().zip(samples).collect())
}

impl Series {
    /// Opens the trees and rebuilds ids and the head from them.
    pub fn open(
        tree: sled::Tree,
        wal: sled::Tree,
        chunk_samples: usize,
        max_live_wal: usize,
    ) -> Result<Series, StorageError> {
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
        let (head, marks) = Self::load_head(&wal)?;
        Ok(Series {
            tree,
            wal,
            chunk_samples: chunk_samples.max(2),
            max_live_wal: max_live_wal.max(2),
            ids: RwLock::new(ids),
            head: Mutex::new(head),
            marks: RwLock::new(marks),
        })
    }

    /// The unsealed samples, from the write-ahead tree.
    fn load_head(wal: &sled::Tree) -> Result<(Head, HashMap<u32, Mark>), StorageError> {
        let mut head = Head::default();
        for item in wal.iter() {
            let (k, v) = item?;
            let seq = k
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt("wal key"))?;
            let samples = decode_wal(&v)?;
            head.refs.insert(seq, samples.len());
            for (series, s) in samples {
                head.samples.entry(series).or_default().push((s, seq));
            }
            head.next_seq = head.next_seq.max(seq + 1);
        }
        let mut marks: HashMap<u32, Mark> = HashMap::new();
        for (series, samples) in head.samples.iter_mut() {
            samples.sort_by_key(|(s, _)| s.ts_ms);
            marks.entry(*series).or_default().head_ts = samples.last().map_or(0, |(s, _)| s.ts_ms);
        }
        Ok((head, marks))
    }

    /// The series number of a miner, if it has history.
    pub fn series(&self, miner: &str) -> Option<u32> {
        self.ids.read().get(miner).copied()
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
                h.iter()
                    .map(|(s, _)| *s)
                    .filter(|s| s.ts_ms >= from && s.ts_ms <= to)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Live write-ahead keys (for tests and metrics).
    pub fn live_wal_keys(&self) -> usize {
        self.head.lock().refs.len()
    }

    /// Writes samples of many miners in one sled transaction (not yet flushed: the caller
    /// commits).
    pub fn ingest(&self, samples: &[(&str, Sample)]) -> Result<(), StorageError> {
        let mut tree_batch = sled::Batch::default();
        let mut wal_batch = sled::Batch::default();
        let mut head = self.head.lock();
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
        let seq = head.next_seq;
        head.next_seq += 1;
        wal_batch.insert(&wal_key(seq)[..], encode_wal(&groups));
        head.refs.insert(seq, samples.len());

        // The head is changed in place; if sled refuses the write it is rebuilt from disk.
        let mut late: Vec<u32> = Vec::new();
        let mut newest: HashMap<u32, u64> = HashMap::new();
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
                let pos = pending.partition_point(|(p, _)| p.ts_ms < s.ts_ms);
                if pending.get(pos).is_some_and(|(p, _)| p.ts_ms == s.ts_ms) {
                    // Same time again: the newer write replaces the older one.
                    released.push(std::mem::replace(&mut pending[pos], (*s, seq)).1);
                } else {
                    pending.insert(pos, (*s, seq));
                }
            }
            for old in released {
                if head.release(old) {
                    wal_batch.remove(&wal_key(old)[..]);
                }
            }
        }
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
            self.seal_into(&mut tree_batch, &mut wal_batch, &mut head, series);
        }
        // Checkpoint: seal partial heads pinning the oldest write-ahead keys.
        while head.refs.len() > self.max_live_wal {
            let Some(oldest) = head.refs.keys().next().copied() else {
                break;
            };
            let holders: Vec<u32> = head
                .samples
                .iter()
                .filter(|(_, v)| v.iter().any(|(_, q)| *q == oldest))
                .map(|(s, _)| *s)
                .collect();
            if holders.is_empty() {
                head.refs.remove(&oldest);
                wal_batch.remove(&wal_key(oldest)[..]);
            }
            for series in holders {
                self.seal_into(&mut tree_batch, &mut wal_batch, &mut head, series);
            }
        }

        let written = (&self.tree, &self.wal).transaction(|(t, w)| {
            t.apply_batch(&tree_batch)?;
            w.apply_batch(&wal_batch)?;
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        });
        if let Err(e) = written {
            let (h, marks) = Self::load_head(&self.wal)?;
            *head = h;
            *self.marks.write() = marks;
            return Err(match e {
                sled::transaction::TransactionError::Storage(e) => StorageError::Sled(e),
                sled::transaction::TransactionError::Abort(()) => {
                    StorageError::Corrupt("ingest transaction aborted")
                }
            });
        }
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

    /// Seals the whole head of `series`: chunk and rollups into `tree_batch`, write-ahead keys
    /// whose last sample this was removed in `wal_batch`.
    fn seal_into(
        &self,
        tree_batch: &mut sled::Batch,
        wal_batch: &mut sled::Batch,
        head: &mut Head,
        series: u32,
    ) {
        let pending = head.samples.remove(&series).unwrap_or_default();
        let samples: Vec<Sample> = pending.iter().map(|(s, _)| *s).collect();
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return;
        };
        tree_batch.insert(
            &key(CHUNK, series, first.ts_ms)[..],
            value_with_last(last.ts_ms, encode_chunk(&samples)),
        );
        for (prefix, bucket) in [(MINUTE, FIVE_MIN_MS), (HOUR, HOUR_MS)] {
            let rows = aggregate(&samples, bucket);
            if let (Some(f), Some(l)) = (rows.first(), rows.last()) {
                tree_batch.insert(
                    &key(prefix, series, f.ts_ms)[..],
                    value_with_last(l.ts_ms, encode_rows(&rows)),
                );
            }
        }
        for (_, seq) in pending {
            if head.release(seq) {
                wal_batch.remove(&wal_key(seq)[..]);
            }
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
        let head: Vec<Sample> = self.head_samples(series, from, to);
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
                // Late samples may interleave; chunks and head are each sorted. A time written
                // again after its chunk was sealed is in both: the later write (head) wins.
                out.sort_by_key(|p| p.ts_ms);
                keep_last_per_ts(&mut out, |p| p.ts_ms);
            }
            Resolution::FiveMinutes | Resolution::Hour => {
                let (prefix, bucket) = if res == Resolution::FiveMinutes {
                    (MINUTE, FIVE_MIN_MS)
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
            Resolution::FiveMinutes => MINUTE,
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
        out.extend(self.head_samples(series, from, to));
        out.sort_by_key(|s| s.ts_ms);
        keep_last_per_ts(&mut out, |s| s.ts_ms);
        Ok(out)
    }
}

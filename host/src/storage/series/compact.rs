//! Compaction: a miner's small sealed chunks moved into one block per clock hour.
//!
//! A big fleet seals small chunks (at 10,000 miners polled every 5 s the bounded head seals
//! about 40 samples a chunk, 19 chunks a miner an hour), and sled's memory grows with the keys
//! it holds. Once an hour has passed, each miner's chunks of that hour become one block, in one
//! atomic batch per miner: the same samples under a nineteenth of the keys. `solomon bench
//! storage`, 10,000 miners, 24 simulated hours: RSS 149-154 MB at the end instead of 200, the
//! database 4.9 GB instead of 5.1. Ingest is slower (~330,000 samples/s instead of ~470,000,
//! far above the 2,000/s such a fleet makes) and a pass takes ~6 s an hour.
//!
//! The blocks have a region of the tree to themselves (`a` + series + hour), apart from the
//! chunks, so a leaf of a miner's blocks gets one new key an hour. Merged in place, among the
//! miner's chunks, every new chunk made sled rewrite a leaf of big blocks as it consolidated,
//! and the database grew nearly three times as fast. Keyed hour first, blocks were appended in
//! order, but a one-miner query would read a leaf of 16 miners' blocks for each hour.
//!
//! A block holds only samples of its hour: a chunk crossing the hour's end is split, so a query
//! reads the blocks of exactly the hours it spans. A watermark (`x`) records the hours done, so
//! each is read once, also across restarts. A chunk sealed into an hour after it was compacted
//! (a late sample) stays a chunk: queries merge chunks and blocks anyway.

use super::{CHUNK, HOUR_MS, Series, keep_last_per_ts, key, split_last, ts_of, value_with_last};
use crate::storage::StorageError;
use crate::storage::codec::{decode_chunk, encode_chunk};
use crate::storage::metrics::Sample;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Prefix of an hour block: `a` + series (BE u32) + hour start (BE u64).
pub(super) const MERGED: u8 = b'a';

/// Key of the watermark: every hour before it (Unix ms, BE u64) is compacted.
const COMPACTED: &[u8] = b"x";

/// Sorted by time; of equal times the later in `samples` wins (the later write).
fn in_time_order(mut samples: Vec<Sample>) -> Vec<Sample> {
    samples.sort_by_key(|s| s.ts_ms);
    keep_last_per_ts(&mut samples, |s| s.ts_ms);
    samples
}

impl Series {
    /// The time before which every hour is compacted.
    fn compacted_until(&self) -> Result<u64, StorageError> {
        Ok(match self.tree.get(COMPACTED)? {
            None => 0,
            Some(v) => v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt("compaction watermark"))?,
        })
    }

    /// Calls `f` with the encoded samples of every block and chunk of `series` that may hold
    /// samples in `[from, to]`: the hour blocks first, so that a chunk (a later write) wins
    /// where both hold a time.
    pub(super) fn raw_blocks(
        &self,
        series: u32,
        from: u64,
        to: u64,
        mut f: impl FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.blocks(MERGED, series, from, to, &mut f)?;
        self.blocks(CHUNK, series, from, to, f)
    }

    /// Moves each miner's chunks that start in a whole hour before `before` (rounded down to
    /// an hour) and not compacted yet into one block per hour, if they average fewer than
    /// `small` samples; returns the chunks moved. Query results do not change.
    ///
    /// Chunks of a normal size are left alone: at 1,000 miners, whose chunks are full, moving
    /// them made the database 8% bigger after a day and saved no memory.
    pub fn compact(&self, before: u64, small: usize) -> Result<usize, StorageError> {
        if self.failed.load(Ordering::SeqCst) {
            // Memory may be ahead of sled: rewriting chunks now could lose what replay restores.
            return Err(StorageError::Failed);
        }
        let before = before - before % HOUR_MS;
        let from = self.compacted_until()?;
        if before <= from {
            return Ok(0);
        }
        let series = self.series_in_key_order();
        let mut moved = 0;
        for s in series {
            // Holding the writers' lock: a late sample must not be sealed into this range while
            // this series is rewritten.
            let _writers = self.head.lock();
            let mut batch = sled::Batch::default();
            let mut samples: Vec<Sample> = Vec::new();
            let mut n = 0usize;
            for item in self.tree.range(key(CHUNK, s, from)..key(CHUNK, s, before)) {
                let (k, v) = item?;
                if ts_of(&k).is_none() {
                    continue;
                }
                samples.extend(decode_chunk(split_last(&v)?.1)?);
                batch.remove(k);
                n += 1;
            }
            if n < 2 || samples.len() >= n.saturating_mul(small) {
                continue;
            }
            let mut hours: BTreeMap<u64, Vec<Sample>> = BTreeMap::new();
            let mut tail: Vec<Sample> = Vec::new();
            for x in in_time_order(samples) {
                if x.ts_ms >= before {
                    // The end of a chunk that crosses `before`: a chunk again, of a later hour.
                    tail.push(x);
                } else {
                    hours
                        .entry(x.ts_ms - x.ts_ms % HOUR_MS)
                        .or_default()
                        .push(x);
                }
            }
            for (hour, mut block) in hours {
                let k = key(MERGED, s, hour);
                if let Some(v) = self.tree.get(k)? {
                    // Written by a pass that stopped before its watermark: the older write.
                    let mut all = decode_chunk(split_last(&v)?.1)?;
                    all.append(&mut block);
                    block = in_time_order(all);
                }
                let last = block.last().map_or(hour, |x| x.ts_ms);
                batch.insert(&k[..], value_with_last(last, encode_chunk(&block)));
            }
            if let Some(first) = tail.first().map(|x| x.ts_ms) {
                let k = key(CHUNK, s, first);
                if let Some(v) = self.tree.get(k)? {
                    // A later chunk starts there too: it is the later write.
                    tail.extend(decode_chunk(split_last(&v)?.1)?);
                    tail = in_time_order(tail);
                }
                let last = tail.last().map_or(first, |x| x.ts_ms);
                batch.insert(&k[..], value_with_last(last, encode_chunk(&tail)));
            }
            self.tree.apply_batch(batch)?;
            // A query that read across the move is not kept in the cache.
            self.marks.write().entry(s).or_default().late += 1;
            moved += n;
        }
        self.tree.insert(COMPACTED, &before.to_be_bytes())?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Resolution, Wal};
    use super::*;
    use crate::storage::metrics::{METRICS, Metric};
    use std::sync::Arc;

    /// An hour boundary, so that hours are easy to count.
    const T0: u64 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS;
    const MIN: u64 = 60_000;
    /// Chunks of any size are moved.
    const ALL: usize = usize::MAX;

    fn sample(ts_ms: u64, v: f64) -> Sample {
        let mut values = [f64::NAN; METRICS];
        values[Metric::Hashrate.index()] = v;
        Sample { ts_ms, values }
    }

    fn open(dir: &std::path::Path, db: &sled::Db) -> Series {
        let (wal, entries) = Wal::open(&dir.join("wal"), 1 << 20).expect("wal");
        let tree = db.open_tree("series").expect("tree");
        // Chunks of 4 samples; no head bound or log checkpoint seals anything else.
        Series::open(tree, Arc::new(wal), entries, 4, 100_000, 100_000).expect("series")
    }

    /// Keys of chunks and of hour blocks.
    fn keys(db: &sled::Db) -> (usize, usize) {
        let tree = db.open_tree("series").expect("tree");
        (
            tree.scan_prefix([CHUNK]).count(),
            tree.scan_prefix([MERGED]).count(),
        )
    }

    fn everything(s: &Series, miner: &str) -> Vec<(u64, f64)> {
        let n = s.series(miner).expect("series");
        s.samples(n, 0, u64::MAX)
            .expect("samples")
            .iter()
            .map(|x| (x.ts_ms, x.values[Metric::Hashrate.index()]))
            .collect()
    }

    #[test]
    fn each_hour_becomes_one_block_and_no_query_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("db")).expect("sled");
        let s = open(dir.path(), &db);
        // A sample a minute for three hours: "a" from minute 0, "b" from minute 2, so that
        // b's chunks of 4 cross the hours' ends.
        for i in 0..180u64 {
            s.ingest(&[
                ("a", sample(T0 + i * MIN, i as f64)),
                ("b", sample(T0 + (i + 2) * MIN, 2.0 * i as f64)),
            ])
            .expect("ingest");
        }
        // Minutes 10-13 of "a" written again later: a chunk of their own.
        let late: Vec<(&str, Sample)> = (10..14)
            .map(|m| ("a", sample(T0 + m * MIN, 999.0)))
            .collect();
        s.ingest(&late).expect("late ingest");
        assert_eq!(keys(&db), (91, 0));
        let (a, b) = (everything(&s, "a"), everything(&s, "b"));
        assert_eq!(a[10], (T0 + 10 * MIN, 999.0), "the late write wins");
        let series_b = s.series("b").expect("b");
        let window = |s: &Series| {
            s.query(
                series_b,
                Metric::Hashrate,
                T0 + 30 * MIN,
                T0 + 150 * MIN,
                Resolution::Raw,
            )
            .expect("query")
            .iter()
            .map(|p| (p.ts_ms, p.avg))
            .collect::<Vec<_>>()
        };
        let b_window = window(&s);
        assert_eq!(b_window.len(), 121);

        // Half way through the third hour: the first two are done. "a" moves 30 chunks and
        // the late one, "b" 30, the last of which crosses into the third hour: its end is a
        // chunk again.
        assert_eq!(
            s.compact(T0 + 2 * HOUR_MS + 30 * MIN, ALL)
                .expect("compact"),
            61
        );
        assert_eq!(keys(&db), (15 + 16, 4));
        assert_eq!(everything(&s, "a"), a);
        assert_eq!(everything(&s, "b"), b);
        assert_eq!(window(&s), b_window);
        assert_eq!(
            s.compact(T0 + 2 * HOUR_MS + 40 * MIN, ALL).expect("again"),
            0
        );

        // A compacted hour is not read again: a chunk sealed into it later stays a chunk, and
        // wins over the block.
        let late: Vec<(&str, Sample)> =
            (20..24).map(|m| ("b", sample(T0 + m * MIN, 7.0))).collect();
        s.ingest(&late).expect("late ingest");
        let b = everything(&s, "b");
        assert_eq!(b[18], (T0 + 20 * MIN, 7.0));
        assert_eq!(
            s.compact(T0 + 2 * HOUR_MS + 45 * MIN, ALL).expect("again"),
            0
        );
        assert_eq!(keys(&db), (15 + 16 + 1, 4));

        // The watermark outlives a restart; the third hour is moved once it is due.
        drop(s);
        let s = open(dir.path(), &db);
        assert_eq!(
            s.compact(T0 + 2 * HOUR_MS + 50 * MIN, ALL)
                .expect("reopened"),
            0
        );
        assert_eq!(
            s.compact(T0 + 3 * HOUR_MS, ALL).expect("third hour"),
            15 + 16
        );
        // Left as chunks: b's late one and the end of its last chunk (minutes 180-181).
        assert_eq!(keys(&db), (2, 6));
        assert_eq!(everything(&s, "a"), a);
        assert_eq!(everything(&s, "b"), b);
        let b_window = window(&s);
        assert_eq!(b_window.len(), 121);
    }

    #[test]
    fn chunks_of_a_normal_size_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("db")).expect("sled");
        let s = open(dir.path(), &db);
        for i in 0..120u64 {
            s.ingest(&[("a", sample(T0 + i * MIN, i as f64))])
                .expect("ingest");
        }
        let a = everything(&s, "a");
        // Full chunks of 4 average no fewer than 3 samples: the first hour stays as it is.
        assert_eq!(s.compact(T0 + HOUR_MS, 3).expect("compact"), 0);
        assert_eq!(keys(&db), (30, 0));
        // Fewer than 5: the second hour's 15 chunks become a block.
        assert_eq!(s.compact(T0 + 2 * HOUR_MS, 5).expect("compact"), 15);
        assert_eq!(keys(&db), (15, 1));
        assert_eq!(everything(&s, "a"), a);
        // Pruning raw history takes blocks as it takes chunks.
        assert_eq!(
            s.prune(Resolution::Raw, T0 + 2 * HOUR_MS).expect("prune"),
            16
        );
        assert_eq!(keys(&db), (0, 0));
    }
}

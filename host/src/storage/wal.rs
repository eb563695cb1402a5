//! The write-ahead log of unsealed samples: append-only segment files next to the database.
//!
//! Samples must be durable before an ingest is acknowledged, but they are sealed into
//! compressed chunks only ~128 at a time per miner. Keeping them in sled until then cost ~36
//! bytes of dead log per record (sled reclaims space poorly); here each segment is simply
//! deleted once every entry in it has been sealed into chunks that sled has flushed.
//!
//! Entry: `len: u32 LE | crc32: u32 LE | seq: u64 LE | payload` (len and crc cover seq and
//! payload). A crash can leave a torn last entry; replay stops there and truncates it.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest entry accepted at replay (a larger length field is corruption).
const MAX_ENTRY: u32 = 256 * 1024 * 1024;

struct Current {
    file: File,
    segment: u64,
    size: u64,
}

/// The log.
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    current: Mutex<Current>,
    /// Segments below this hold no unsealed entry (set by the series store).
    min_live: AtomicU64,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016x}.log"))
}

fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| u64::from_str_radix(n, 16).ok())
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// One replayed entry.
pub struct Entry {
    /// Write sequence.
    pub seq: u64,
    /// Segment it was read from.
    pub segment: u64,
    /// What was written.
    pub payload: Vec<u8>,
}

impl Wal {
    /// Opens the log in `dir`, replays every intact entry (oldest first) and truncates a torn
    /// tail. New entries go to a fresh segment.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<(Wal, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        let mut entries = Vec::new();
        let existing = segments(dir)?;
        for &n in &existing {
            let path = segment_path(dir, n);
            let mut bytes = Vec::new();
            File::open(&path)?.read_to_end(&mut bytes)?;
            let mut pos = 0usize;
            while pos + 8 <= bytes.len() {
                let len = u32::from_le_bytes([
                    bytes[pos],
                    bytes[pos + 1],
                    bytes[pos + 2],
                    bytes[pos + 3],
                ]);
                let crc = u32::from_le_bytes([
                    bytes[pos + 4],
                    bytes[pos + 5],
                    bytes[pos + 6],
                    bytes[pos + 7],
                ]);
                let end = pos + 8 + len as usize;
                if !(8..=MAX_ENTRY).contains(&len)
                    || end > bytes.len()
                    || crc32fast::hash(&bytes[pos + 8..end]) != crc
                {
                    break;
                }
                let body = &bytes[pos + 8..end];
                let seq = u64::from_le_bytes(
                    body[..8]
                        .try_into()
                        .map_err(|_| io::Error::other("short entry"))?,
                );
                entries.push(Entry {
                    seq,
                    segment: n,
                    payload: body[8..].to_vec(),
                });
                pos = end;
            }
            if pos < bytes.len() {
                tracing::warn!(segment = %path.display(), at = pos, dropped = bytes.len() - pos, "truncating a torn write-ahead entry");
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(pos as u64)?;
            }
        }
        let next = existing.last().map_or(0, |n| n + 1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, next))?;
        sync_dir(dir)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            segment_bytes,
            current: Mutex::new(Current {
                file,
                segment: next,
                size: 0,
            }),
            min_live: AtomicU64::new(existing.first().copied().unwrap_or(next)),
        };
        Ok((wal, entries))
    }

    /// Appends an entry (not yet synced) and returns the segment it went to.
    pub fn append(&self, seq: u64, payload: &[u8]) -> io::Result<u64> {
        let mut cur = self.current.lock();
        if cur.size >= self.segment_bytes {
            // Everything before the new segment must be on disk before anything after it.
            cur.file.sync_data()?;
            let segment = cur.segment + 1;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, segment))?;
            sync_dir(&self.dir)?;
            *cur = Current {
                file,
                segment,
                size: 0,
            };
        }
        let len = u32::try_from(payload.len() + 8)
            .map_err(|_| io::Error::other("write-ahead entry too large"))?;
        let mut frame = Vec::with_capacity(16 + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.extend_from_slice(payload);
        let crc = crc32fast::hash(&frame[8..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        cur.file.write_all(&frame)?;
        cur.size += frame.len() as u64;
        Ok(cur.segment)
    }

    /// The segment new entries go to.
    pub fn current_segment(&self) -> u64 {
        self.current.lock().segment
    }

    /// Records that segments below `segment` hold no unsealed entry.
    pub fn set_min_live(&self, segment: u64) {
        self.min_live.store(segment, Ordering::SeqCst);
    }

    /// Makes every appended entry durable, then deletes segments that no longer hold unsealed
    /// entries, after `flush_sealed` made the chunks that sealed them durable.
    pub fn sync(&self, flush_sealed: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let current = {
            let cur = self.current.lock();
            cur.file.sync_data()?;
            cur.segment
        };
        let min_live = self.min_live.load(Ordering::SeqCst).min(current);
        let old: Vec<u64> = segments(&self.dir)?
            .into_iter()
            .filter(|n| *n < min_live)
            .collect();
        if !old.is_empty() {
            flush_sealed()?;
            for n in old {
                std::fs::remove_file(segment_path(&self.dir, n))?;
            }
        }
        Ok(())
    }

    /// Bytes the log takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        segments(&self.dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| std::fs::metadata(segment_path(&self.dir, *n)).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// fsyncs a directory so a created file's name is durable too.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_intact_entries_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (wal, entries) = Wal::open(dir.path(), 64).expect("open");
            assert!(entries.is_empty());
            for seq in 0..10u64 {
                wal.append(seq, &[seq as u8; 20]).expect("append");
            }
            wal.sync(|| Ok(())).expect("sync");
        }
        // Tear the last entry of the newest segment.
        let last = *segments(dir.path())
            .expect("list")
            .last()
            .expect("segments");
        let path = segment_path(dir.path(), last);
        let len = std::fs::metadata(&path).expect("meta").len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open")
            .set_len(len - 5)
            .expect("truncate");
        let (wal, entries) = Wal::open(dir.path(), 64).expect("reopen");
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (0..9).collect::<Vec<_>>()
        );
        assert!(entries.iter().all(|e| e.payload == vec![e.seq as u8; 20]));
        // Nothing is live any more: old segments go.
        wal.set_min_live(wal.current_segment());
        let mut flushed = false;
        wal.sync(|| {
            flushed = true;
            Ok(())
        })
        .expect("sync");
        assert!(
            flushed,
            "sealed chunks are flushed before segments are deleted"
        );
        assert_eq!(
            segments(dir.path()).expect("list"),
            vec![wal.current_segment()]
        );
    }
}

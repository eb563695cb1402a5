//! One miner's unsealed samples, delta-encoded in memory.
//!
//! A big fleet's heads are bounded, and the bound decides how many samples a sealed chunk
//! holds: at 10,000 miners, 200,000 plain samples (104 bytes each, with their log sequence)
//! made chunks of 20 samples, and sled's memory grows with every key. Encoded, a sample costs
//! about a third: each one is stored as varints of its time delta, its sequence delta and the
//! XOR of each value with the previous one (0, one byte, when a value did not change).
//! Appending in time order is the common case and costs no decoding; a late or repeated
//! timestamp decodes the miner's head and encodes it again.

use super::codec::{Reader, put_varint};
use super::metrics::{METRICS, Sample};

/// A miner's unsealed samples with the write sequence of each, in time order.
#[derive(Debug, Default)]
pub struct Pending {
    buf: Vec<u8>,
    len: usize,
    /// The newest sample and its sequence, the base of the next delta.
    last: Option<(Sample, u64)>,
    min_seq: u64,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl Pending {
    /// Samples held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The oldest write sequence held.
    pub fn min_seq(&self) -> Option<u64> {
        (self.len > 0).then_some(self.min_seq)
    }

    /// Time of the newest sample held.
    pub fn last_ts(&self) -> Option<u64> {
        self.last.map(|(s, _)| s.ts_ms)
    }

    /// Bytes of encoded samples.
    #[cfg(test)]
    pub fn encoded_bytes(&self) -> usize {
        self.buf.len()
    }

    fn append(&mut self, s: Sample, seq: u64) {
        let (prev, prev_seq) = self.last.unwrap_or((
            Sample {
                ts_ms: 0,
                values: [0.0; METRICS],
            },
            0,
        ));
        put_varint(&mut self.buf, s.ts_ms.wrapping_sub(prev.ts_ms));
        put_varint(
            &mut self.buf,
            zigzag((seq as i64).wrapping_sub(prev_seq as i64)),
        );
        for (v, p) in s.values.iter().zip(prev.values) {
            put_varint(&mut self.buf, v.to_bits() ^ p.to_bits());
        }
        self.min_seq = if self.len == 0 {
            seq
        } else {
            self.min_seq.min(seq)
        };
        self.len += 1;
        self.last = Some((s, seq));
    }

    /// Adds `s`, written by log entry `seq`. A sample at a time already held replaces it:
    /// returns the sequence of the sample replaced.
    pub fn insert(&mut self, s: Sample, seq: u64) -> Option<u64> {
        if self.last.is_none_or(|(l, _)| s.ts_ms > l.ts_ms) {
            self.append(s, seq);
            return None;
        }
        let mut all = self.samples();
        let pos = all.partition_point(|(p, _)| p.ts_ms < s.ts_ms);
        let replaced = if all.get(pos).is_some_and(|(p, _)| p.ts_ms == s.ts_ms) {
            Some(std::mem::replace(&mut all[pos], (s, seq)).1)
        } else {
            all.insert(pos, (s, seq));
            None
        };
        *self = Pending::default();
        for (s, q) in all {
            self.append(s, q);
        }
        replaced
    }

    /// Every sample held, oldest first, with its write sequence.
    pub fn samples(&self) -> Vec<(Sample, u64)> {
        let mut out = Vec::with_capacity(self.len);
        let mut r = Reader::new(&self.buf);
        let (mut ts, mut seq, mut values) = (0u64, 0u64, [0u64; METRICS]);
        for _ in 0..self.len {
            // The buffer is only written by `append`: a short read would be a bug here, and
            // then the samples decoded so far are what there is.
            let Ok(dt) = r.varint() else { break };
            let Ok(dq) = r.varint() else { break };
            ts = ts.wrapping_add(dt);
            seq = (seq as i64).wrapping_add(unzigzag(dq)) as u64;
            let mut sample = Sample {
                ts_ms: ts,
                values: [0.0; METRICS],
            };
            for (bits, v) in values.iter_mut().zip(sample.values.iter_mut()) {
                let Ok(x) = r.varint() else { return out };
                *bits ^= x;
                *v = f64::from_bits(*bits);
            }
            out.push((sample, seq));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ts: u64, i: u64) -> Sample {
        let mut values = [f64::NAN; METRICS];
        values[0] = 1.1e12 + (i * 7919 % 1000) as f64 * 1e6;
        values[1] = 55.5;
        values[7] = i as f64;
        values[9] = -0.0;
        Sample { ts_ms: ts, values }
    }

    fn same(a: &[(Sample, u64)], b: &[(Sample, u64)]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|((x, p), (y, q))| {
                p == q
                    && x.ts_ms == y.ts_ms
                    && x.values
                        .iter()
                        .zip(y.values)
                        .all(|(u, v)| u.to_bits() == v.to_bits())
            })
    }

    #[test]
    fn samples_round_trip_bit_for_bit_and_take_a_third_of_their_size() {
        let mut p = Pending::default();
        let want: Vec<(Sample, u64)> = (0..100)
            .map(|i| (sample(1_800_000_000_000 + i * 5_000, i), 40 + i / 3))
            .collect();
        for (s, q) in &want {
            assert_eq!(p.insert(*s, *q), None);
        }
        assert!(same(&p.samples(), &want));
        assert_eq!((p.len(), p.min_seq()), (100, Some(40)));
        let plain = want.len() * std::mem::size_of::<(Sample, u64)>();
        assert!(
            p.encoded_bytes() * 3 < plain,
            "{} bytes encoded for {plain} plain",
            p.encoded_bytes()
        );
    }

    #[test]
    fn late_and_repeated_times_land_in_order() {
        let mut p = Pending::default();
        for i in [10u64, 30, 40] {
            p.insert(sample(i * 1000, i), i);
        }
        assert_eq!(p.insert(sample(20_000, 20), 50), None, "a late sample");
        assert_eq!(
            p.insert(sample(30_000, 31), 51),
            Some(30),
            "the same time again"
        );
        let got: Vec<(u64, u64)> = p.samples().iter().map(|(s, q)| (s.ts_ms, *q)).collect();
        assert_eq!(
            got,
            vec![(10_000, 10), (20_000, 50), (30_000, 51), (40_000, 40)]
        );
        assert_eq!(p.samples()[2].0.values[7], 31.0);
        assert_eq!(p.min_seq(), Some(10));
        p.insert(sample(50_000, 5), 52);
        assert_eq!(p.samples().last().map(|(s, _)| s.ts_ms), Some(50_000));
    }
}

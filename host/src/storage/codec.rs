//! Compact encoding of sample chunks: Gorilla-style, at byte granularity (simpler and faster to
//! decode than bit packing, at some cost in size).
//!
//! Chunk = `n` (varint), then the timestamp column (first value, first delta, then
//! delta-of-deltas, zigzag varints: regular polling costs 1 byte per sample), then one column
//! per metric. A value column XORs each value's bits with the previous one's and writes a
//! header byte (leading zero bytes << 4 | significant byte count) and only the significant
//! bytes: an unchanged value costs 1 byte. All decoding is bounds-checked: corrupt input gives
//! an error, never a panic.

use super::metrics::{METRICS, Sample};

/// A chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct CodecError(pub &'static str);

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads from a byte slice with bounds checks.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    /// A LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError("varint too long"))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(CodecError("unexpected end"))?;
        self.pos = end;
        Ok(s)
    }

    /// The next `n` bytes.
    pub fn bytes_pub(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        self.bytes(n)
    }

    /// Everything not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    /// Whether everything was read.
    pub fn done(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// Appends the XOR encoding of `values` (NaNs canonicalised, so "absent" is one pattern).
pub fn encode_values(out: &mut Vec<u8>, values: impl Iterator<Item = f64>) {
    let mut prev = 0u64;
    for v in values {
        let bits = if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        };
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            out.push(0);
            continue;
        }
        let lead = (x.leading_zeros() / 8) as usize;
        let trail = (x.trailing_zeros() / 8) as usize;
        let len = 8 - lead - trail;
        out.push(((lead as u8) << 4) | len as u8);
        out.extend_from_slice(&x.to_be_bytes()[lead..lead + len]);
    }
}

/// Reads `n` values written by [`encode_values`].
pub fn decode_values(
    r: &mut Reader<'_>,
    n: usize,
    mut sink: impl FnMut(usize, f64),
) -> Result<(), CodecError> {
    let mut prev = 0u64;
    for i in 0..n {
        let h = r.byte()?;
        if h != 0 {
            let lead = usize::from(h >> 4);
            let len = usize::from(h & 0x0f);
            if len == 0 || lead + len > 8 {
                return Err(CodecError("bad value header"));
            }
            let mut be = [0u8; 8];
            be[lead..lead + len].copy_from_slice(r.bytes(len)?);
            prev ^= u64::from_be_bytes(be);
        }
        sink(i, f64::from_bits(prev));
    }
    Ok(())
}

/// Appends the timestamp column.
pub fn encode_timestamps(out: &mut Vec<u8>, ts: impl Iterator<Item = u64>) {
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for (i, t) in ts.enumerate() {
        let t = t as i64;
        match i {
            0 => put_varint(out, t as u64),
            _ => {
                let delta = t.wrapping_sub(prev);
                put_varint(out, zigzag(delta.wrapping_sub(prev_delta)));
                prev_delta = delta;
            }
        }
        prev = t;
    }
}

/// Reads `n` timestamps written by [`encode_timestamps`].
pub fn decode_timestamps(
    r: &mut Reader<'_>,
    n: usize,
    mut sink: impl FnMut(usize, u64),
) -> Result<(), CodecError> {
    let (mut prev, mut delta) = (0i64, 0i64);
    for i in 0..n {
        let t = if i == 0 {
            r.varint()? as i64
        } else {
            delta = delta.wrapping_add(unzigzag(r.varint()?));
            prev.wrapping_add(delta)
        };
        sink(i, t as u64);
        prev = t;
    }
    Ok(())
}

/// Encodes samples (sorted by time) as one chunk.
pub fn encode_chunk(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + samples.len() * 24);
    put_varint(&mut out, samples.len() as u64);
    encode_timestamps(&mut out, samples.iter().map(|s| s.ts_ms));
    for m in 0..METRICS {
        encode_values(&mut out, samples.iter().map(|s| s.values[m]));
    }
    out
}

/// Decodes a whole chunk.
pub fn decode_chunk(buf: &[u8]) -> Result<Vec<Sample>, CodecError> {
    let mut r = Reader::new(buf);
    let n = usize::try_from(r.varint()?).map_err(|_| CodecError("count overflow"))?;
    // Each sample takes at least one byte per column: a larger count is corrupt.
    if n > buf.len() {
        return Err(CodecError("count larger than the chunk"));
    }
    let mut samples = vec![
        Sample {
            ts_ms: 0,
            values: [0.0; METRICS]
        };
        n
    ];
    decode_timestamps(&mut r, n, |i, t| samples[i].ts_ms = t)?;
    for m in 0..METRICS {
        decode_values(&mut r, n, |i, v| samples[i].values[m] = v)?;
    }
    if !r.done() {
        return Err(CodecError("trailing bytes"));
    }
    Ok(samples)
}

/// Reads the count and the timestamp column that start every chunk and rollup block; returns
/// the reader positioned at the first value column.
pub fn read_head(buf: &[u8]) -> Result<(Reader<'_>, Vec<u64>), CodecError> {
    let mut r = Reader::new(buf);
    let n = usize::try_from(r.varint()?).map_err(|_| CodecError("count overflow"))?;
    // Each entry takes at least one byte per column: a larger count is corrupt.
    if n > buf.len() {
        return Err(CodecError("count larger than the chunk"));
    }
    let mut ts = Vec::with_capacity(n);
    decode_timestamps(&mut r, n, |_, t| ts.push(t))?;
    Ok((r, ts))
}

/// Decodes only the timestamps and one metric column of a chunk (what a chart needs).
pub fn decode_column(
    buf: &[u8],
    metric: usize,
    mut sink: impl FnMut(u64, f64),
) -> Result<(), CodecError> {
    let (mut r, ts) = read_head(buf)?;
    let n = ts.len();
    for m in 0..METRICS {
        if m == metric {
            return decode_values(&mut r, n, |i, v| sink(ts[i], v));
        }
        decode_values(&mut r, n, |_, _| {})?;
    }
    Err(CodecError("no such column"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    fn sample(ts: u64, v: f64) -> Sample {
        let mut values = [f64::NAN; METRICS];
        values[0] = v;
        values[2] = 60.25;
        Sample { ts_ms: ts, values }
    }

    #[test]
    fn regular_samples_are_small() {
        let samples: Vec<Sample> = (0..128)
            .map(|i| {
                sample(
                    1_700_000_000_000 + i * 10_000,
                    1.2e12 + (i % 3) as f64 * 1e9,
                )
            })
            .collect();
        let buf = encode_chunk(&samples);
        // 1 byte per timestamp, ~7 for the noisy hashrate, 1 each for the 10 steady columns.
        assert!(buf.len() < 128 * 20, "{} bytes", buf.len());
        let back = decode_chunk(&buf).expect("decodes");
        assert_eq!(back.len(), 128);
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!(a.ts_ms, b.ts_ms);
            assert!(a.values.iter().zip(&b.values).all(|(x, y)| same(*x, *y)));
        }
        let mut col = Vec::new();
        decode_column(&buf, 2, |t, v| col.push((t, v))).expect("column");
        assert_eq!(col[5], (1_700_000_050_000, 60.25));
    }

    #[test]
    fn corrupt_chunks_are_errors() {
        let buf = encode_chunk(&[sample(1, 2.0), sample(2, 3.0)]);
        for cut in 0..buf.len() {
            assert!(decode_chunk(&buf[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_chunk(&[0xff; 12]).is_err());
        assert!(decode_chunk(&[5, 0x80]).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(ts in proptest::collection::vec(any::<u64>(), 0..50), vals in proptest::collection::vec(any::<f64>(), 0..50)) {
            let n = ts.len().min(vals.len());
            let samples: Vec<Sample> = (0..n).map(|i| {
                let mut values = [f64::NAN; METRICS];
                for (m, v) in values.iter_mut().enumerate() { *v = vals[(i + m) % n]; }
                Sample { ts_ms: ts[i], values }
            }).collect();
            let back = decode_chunk(&encode_chunk(&samples)).expect("decodes");
            prop_assert_eq!(back.len(), n);
            for (a, b) in samples.iter().zip(&back) {
                prop_assert_eq!(a.ts_ms, b.ts_ms);
                for (x, y) in a.values.iter().zip(&b.values) { prop_assert!(same(*x, *y)); }
            }
        }

        #[test]
        fn never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_chunk(&bytes);
            let _ = decode_column(&bytes, 3, |_, _| {});
        }
    }
}

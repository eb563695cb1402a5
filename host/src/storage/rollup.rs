//! Downsampled history: per time bucket (1 minute, 1 hour), min/avg/max and the count of each
//! metric. Rows are computed when a chunk of raw samples is sealed and are stored with the same
//! column codec. A bucket cut by a chunk boundary appears in two rows, merged on read by count.

use super::codec::{
    CodecError, decode_values, encode_timestamps, encode_values, put_varint, read_head,
};
use super::metrics::{METRICS, Sample};

/// One metric's aggregate over a bucket. `n == 0`: not reported in the bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    /// Smallest value.
    pub min: f64,
    /// Mean value.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
    /// Values aggregated.
    pub n: u32,
}

impl Agg {
    /// No value yet.
    pub const EMPTY: Agg = Agg {
        min: f64::NAN,
        avg: f64::NAN,
        max: f64::NAN,
        n: 0,
    };

    /// Adds one value (NaN: not reported, ignored).
    pub fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        if self.n == 0 {
            *self = Agg {
                min: v,
                avg: v,
                max: v,
                n: 1,
            };
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.avg += (v - self.avg) / f64::from(self.n + 1);
            self.n += 1;
        }
    }

    /// Combines two aggregates of the same bucket.
    pub fn merge(self, o: Agg) -> Agg {
        match (self.n, o.n) {
            (0, _) => o,
            (_, 0) => self,
            (a, b) => Agg {
                min: self.min.min(o.min),
                max: self.max.max(o.max),
                avg: (self.avg * f64::from(a) + o.avg * f64::from(b)) / f64::from(a + b),
                n: a + b,
            },
        }
    }
}

/// One bucket of one miner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Bucket start, Unix ms.
    pub ts_ms: u64,
    /// Indexed by metric.
    pub aggs: [Agg; METRICS],
}

/// Buckets `samples` (sorted by time) into rows of `bucket_ms`.
pub fn aggregate(samples: &[Sample], bucket_ms: u64) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for s in samples {
        let start = s.ts_ms - s.ts_ms % bucket_ms;
        if rows.last().is_none_or(|r| r.ts_ms != start) {
            rows.push(Row {
                ts_ms: start,
                aggs: [Agg::EMPTY; METRICS],
            });
        }
        if let Some(row) = rows.last_mut() {
            for (agg, v) in row.aggs.iter_mut().zip(s.values) {
                agg.add(v);
            }
        }
    }
    rows
}

fn to_f32(v: f64) -> f64 {
    f64::from(v as f32)
}

/// Encodes rows (sorted by time).
pub fn encode_rows(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + rows.len() * METRICS * 6);
    put_varint(&mut out, rows.len() as u64);
    encode_timestamps(&mut out, rows.iter().map(|r| r.ts_ms));
    for m in 0..METRICS {
        for r in rows {
            put_varint(&mut out, u64::from(r.aggs[m].n));
        }
        // Rollups feed charts: f32 precision (7 digits) halves their size; raw stays exact.
        encode_values(&mut out, rows.iter().map(|r| to_f32(r.aggs[m].min)));
        encode_values(&mut out, rows.iter().map(|r| to_f32(r.aggs[m].avg)));
        encode_values(&mut out, rows.iter().map(|r| to_f32(r.aggs[m].max)));
    }
    out
}

/// Decodes every row of encoded rows.
pub fn decode_rows(buf: &[u8]) -> Result<Vec<Row>, CodecError> {
    let (mut r, ts) = read_head(buf)?;
    let mut rows: Vec<Row> = ts
        .into_iter()
        .map(|ts_ms| Row {
            ts_ms,
            aggs: [Agg::EMPTY; METRICS],
        })
        .collect();
    for m in 0..METRICS {
        for row in rows.iter_mut() {
            row.aggs[m].n = u32::try_from(r.varint()?).map_err(|_| CodecError("count overflow"))?;
        }
        let n = rows.len();
        decode_values(&mut r, n, |i, v| rows[i].aggs[m].min = v)?;
        decode_values(&mut r, n, |i, v| rows[i].aggs[m].avg = v)?;
        decode_values(&mut r, n, |i, v| rows[i].aggs[m].max = v)?;
    }
    Ok(rows)
}

/// Both sets of rows in one, sorted by time; rows of the same bucket are merged.
pub fn merge_rows(a: Vec<Row>, b: Vec<Row>) -> Vec<Row> {
    let mut all = a;
    all.extend(b);
    all.sort_by_key(|r| r.ts_ms);
    let mut out: Vec<Row> = Vec::with_capacity(all.len());
    for row in all {
        match out.last_mut() {
            Some(last) if last.ts_ms == row.ts_ms => {
                for (x, y) in last.aggs.iter_mut().zip(row.aggs) {
                    *x = x.merge(y);
                }
            }
            _ => out.push(row),
        }
    }
    out
}

/// Decodes the timestamps and one metric's aggregates of encoded rows.
pub fn decode_rows_column(
    buf: &[u8],
    metric: usize,
    mut sink: impl FnMut(u64, Agg),
) -> Result<(), CodecError> {
    let (mut r, ts) = read_head(buf)?;
    let n = ts.len();
    for m in 0..METRICS {
        let mut aggs = vec![Agg::EMPTY; n];
        for a in aggs.iter_mut() {
            a.n = u32::try_from(r.varint()?).map_err(|_| CodecError("count overflow"))?;
        }
        decode_values(&mut r, n, |i, v| aggs[i].min = v)?;
        decode_values(&mut r, n, |i, v| aggs[i].avg = v)?;
        decode_values(&mut r, n, |i, v| aggs[i].max = v)?;
        if m == metric {
            for (t, a) in ts.into_iter().zip(aggs) {
                sink(t, a);
            }
            return Ok(());
        }
    }
    Err(CodecError("no such column"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts: u64, v: f64) -> Sample {
        let mut values = [f64::NAN; METRICS];
        values[0] = v;
        Sample { ts_ms: ts, values }
    }

    #[test]
    fn buckets_aggregate_and_round_trip() {
        let samples = [s(0, 1.0), s(10_000, 3.0), s(59_999, 2.0), s(60_000, 10.0)];
        let rows = aggregate(&samples, 60_000);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].aggs[0],
            Agg {
                min: 1.0,
                avg: 2.0,
                max: 3.0,
                n: 3
            }
        );
        assert_eq!(rows[0].aggs[1].n, 0, "absent metric has no values");
        let mut back = Vec::new();
        decode_rows_column(&encode_rows(&rows), 0, |t, a| back.push((t, a))).expect("decodes");
        assert_eq!(back, vec![(0, rows[0].aggs[0]), (60_000, rows[1].aggs[0])]);
        assert_eq!(
            decode_rows(&encode_rows(&rows)).expect("decodes")[1].aggs[0],
            rows[1].aggs[0]
        );
        let both = merge_rows(rows.clone(), aggregate(&[s(30_000, 5.0)], 60_000));
        assert_eq!(both.len(), 2, "the same bucket merges");
        assert_eq!((both[0].aggs[0].n, both[0].aggs[0].max), (4, 5.0));
        let merged = rows[0].aggs[0].merge(Agg {
            min: 0.0,
            avg: 6.0,
            max: 6.0,
            n: 1,
        });
        assert_eq!(
            merged,
            Agg {
                min: 0.0,
                avg: 3.0,
                max: 6.0,
                n: 4
            }
        );
    }
}

//! A fixed-size latency histogram: exact below 128 µs, then 64 buckets per power of two
//! (under 1.6 % error), up to about 70 minutes. Recording is two increments; percentiles
//! are read by walking the buckets.

/// Sub-buckets per power of two.
const SUB: u64 = 64;
/// Powers of two covered above the exact range (2^7 .. 2^32 µs).
const OCTAVES: u64 = 26;

/// Latencies in microseconds.
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; usize::try_from(2 * SUB + OCTAVES * SUB).unwrap_or(0)],
            total: 0,
            max: 0,
        }
    }

    /// The bucket of `v`, and the smallest value it holds.
    fn bucket(v: u64) -> u64 {
        if v < 2 * SUB {
            return v;
        }
        // v in [2^e, 2^(e+1)) with e >= 7: 64 buckets of width 2^(e-6).
        let e = u64::from(v.ilog2());
        let octave = (e - 7).min(OCTAVES - 1);
        let sub = (v >> (e - 6)) - SUB;
        2 * SUB + octave * SUB + sub.min(SUB - 1)
    }

    /// The smallest value of bucket `b`.
    fn value(b: u64) -> u64 {
        if b < 2 * SUB {
            return b;
        }
        let octave = (b - 2 * SUB) / SUB;
        let sub = (b - 2 * SUB) % SUB;
        (SUB + sub) << (octave + 1)
    }

    pub fn record(&mut self, micros: u64) {
        if let Some(c) = usize::try_from(Self::bucket(micros))
            .ok()
            .and_then(|b| self.counts.get_mut(b))
        {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), in microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank among at most 2^53 samples, rounded up"
        )]
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, c) in (0u64..).zip(&self.counts) {
            seen += c;
            if seen >= rank {
                return Self::value(b).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_round_trip_within_two_percent() {
        for v in [0, 1, 127, 128, 129, 1000, 65_535, 1 << 20, 3_000_000_000] {
            let b = Histogram::bucket(v);
            let low = Histogram::value(b);
            assert!(low <= v, "{v}: {low}");
            assert!(v - low <= v / 60 + 1, "{v}: {low}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 500);
        assert!(
            (980..=990).contains(&h.quantile(0.99)),
            "{}",
            h.quantile(0.99)
        );
        assert_eq!(h.max(), 1000);
    }
}

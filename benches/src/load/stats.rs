//! What subscribers count: a latency histogram and per-stream sequence accounting (loss,
//! duplicates, reordering), all fixed-size so the receive path never allocates.

/// Log-linear latency histogram in microseconds: exact below 64 µs, then 32 buckets per
/// power of two (≤ 3 % error), up to ~2^40 µs.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u32>,
    count: u64,
    max: u64,
}

const LINEAR: u64 = 64;
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 40;

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        let n = LINEAR as usize + (MAX_EXP as usize - 5) * SUB as usize;
        Histogram {
            buckets: vec![0; n],
            count: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let e = (63 - v.leading_zeros()).min(MAX_EXP - 1);
        let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
        LINEAR as usize + (e as usize - 6) * SUB as usize + sub as usize
    }

    /// The lower bound of bucket `i` (what percentiles report).
    fn value_of(i: usize) -> u64 {
        if (i as u64) < LINEAR {
            return i as u64;
        }
        let k = i as u64 - LINEAR;
        let e = k / SUB + 6;
        let sub = k % SUB;
        (1u64 << e) + (sub << (e - u64::from(SUB_BITS)))
    }

    pub fn record(&mut self, v: u64) {
        let i = Self::index(v).min(self.buckets.len() - 1);
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.count += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (0..=1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let target = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += u64::from(c);
            if seen >= target {
                return Some(Self::value_of(i));
            }
        }
        Some(self.max)
    }
}

/// Window of recently seen sequence numbers for duplicate detection.
const WINDOW: u64 = 1024;

/// Sequence accounting of one received stream, on a 64-bit sequence (the tool's own counter
/// from the payload trailer, or the extended RTP sequence number for mixed audio).
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    first: Option<u64>,
    highest: u64,
    window: [u64; (WINDOW / 64) as usize],
    /// Packets accepted (first copies), duplicates, and packets older than the window.
    pub unique: u64,
    pub duplicates: u64,
    pub too_old: u64,
    pub reordered: u64,
}

impl SeqTracker {
    fn bit(&mut self, seq: u64) -> (&mut u64, u64) {
        let i = (seq % WINDOW) as usize;
        (&mut self.window[i / 64], 1u64 << (i % 64))
    }

    /// Records `seq`; returns false for a duplicate.
    pub fn record(&mut self, seq: u64) -> bool {
        let Some(_) = self.first else {
            self.first = Some(seq);
            self.highest = seq;
            let (w, m) = self.bit(seq);
            *w |= m;
            self.unique += 1;
            return true;
        };
        let late = seq < self.highest;
        if seq > self.highest {
            // Clear the slots the window slides over.
            let gap = (seq - self.highest).min(WINDOW);
            for s in (seq - gap + 1)..=seq {
                let (w, m) = self.bit(s);
                *w &= !m;
            }
            self.highest = seq;
        } else if self.highest - seq >= WINDOW {
            self.too_old += 1;
            return false;
        }
        let (w, m) = self.bit(seq);
        if *w & m != 0 {
            self.duplicates += 1;
            return false;
        }
        *w |= m;
        self.unique += 1;
        if late {
            self.reordered += 1;
        }
        true
    }

    pub fn first(&self) -> Option<u64> {
        self.first
    }

    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Packets missing between the first received and `last_sent` (inclusive).
    pub fn lost_until(&self, last_sent: u64) -> u64 {
        match self.first {
            Some(f) if last_sent >= f => (last_sent - f + 1).saturating_sub(self.unique),
            _ => 0,
        }
    }
}

/// Extends 16-bit RTP sequence numbers to 64 bits (RFC 3550 A.1 style roll-over counting).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    pub fn extend(&mut self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            let v = (1u64 << 16) + u64::from(seq);
            self.last = Some(v);
            return v;
        };
        let base = last & !0xffff;
        let mut best = base + u64::from(seq);
        for cand in [best.wrapping_sub(1 << 16), best + (1 << 16)] {
            if cand.abs_diff(last) < best.abs_diff(last) {
                best = cand;
            }
        }
        if best > last {
            self.last = Some(best);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_bucket_error() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5).expect("p50") as f64;
        let p99 = h.quantile(0.99).expect("p99") as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.04, "{p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.04, "{p99}");
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn seq_tracker_counts_loss_duplicates_and_reordering() {
        let mut t = SeqTracker::default();
        for s in [2000u64, 2001, 2003, 2002, 2003, 2005] {
            t.record(s);
        }
        assert_eq!(t.unique, 5);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.lost_until(2006), 2); // 2004 and 2006
        assert!(!t.record(2005 - WINDOW));
        assert_eq!(t.too_old, 1);
    }

    #[test]
    fn extender_follows_rollover() {
        let mut e = SeqExtender::default();
        let a = e.extend(65534);
        let b = e.extend(65535);
        let c = e.extend(0);
        let d = e.extend(65535);
        assert_eq!((b - a, c - b), (1, 1));
        assert_eq!(d, b);
    }
}

//! Keyframe requests to one published stream, aggregated: whoever asks (subscriber joins,
//! layer switches, subscribers' PLI/FIR, `fir_freq`, `keyframe:true`), at most one PLI
//! compound (RFC 4585 §6.3.1; Janus 1.x never sends FIR) goes out per [`PLI_INTERVAL`]. A
//! keyframe arriving on a layer satisfies every request for it made so far, so requests made
//! while one PLI is in flight cost nothing more.

use std::time::{Duration, Instant};

/// At most one PLI per publisher stream per this interval: an encoder answers each PLI with
/// a large keyframe, and a room of N subscribers must not make it send N of them.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone)]
pub(crate) struct KeyframeRequests {
    /// Layers (bit per simulcast layer) someone wants a keyframe of.
    wanted: u8,
    last_sent: Option<Instant>,
}

impl KeyframeRequests {
    pub(crate) fn request(&mut self, layers: u8) {
        self.wanted |= layers;
    }

    pub(crate) fn keyframe_seen(&mut self, layer: u8) {
        self.wanted &= !(1u8 << (layer & 7));
    }

    /// The layers to put in a PLI now (only those in `known`, whose SSRC we have): marks
    /// them sent. Zero when nothing is wanted or the interval has not passed.
    pub(crate) fn take(&mut self, now: Instant, known: u8) -> u8 {
        let mask = self.wanted & known;
        if mask == 0 || self.next_due(now).is_some_and(|t| now < t) {
            return 0;
        }
        self.wanted &= !mask;
        self.last_sent = Some(now);
        mask
    }

    /// When a wanted PLI may go out (`None` when nothing is wanted; `now` when at once).
    pub(crate) fn next_due(&self, now: Instant) -> Option<Instant> {
        if self.wanted == 0 {
            return None;
        }
        Some(self.last_sent.map_or(now, |t| (t + PLI_INTERVAL).max(now)))
    }

    pub(crate) fn wanted(&self) -> u8 {
        self.wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_within_the_interval_are_aggregated() {
        let t0 = Instant::now();
        let mut k = KeyframeRequests::default();
        assert_eq!(k.take(t0, 0b111), 0);
        k.request(0b001);
        assert_eq!(k.take(t0, 0b111), 0b001);
        k.request(0b001);
        k.request(0b100);
        assert_eq!(k.take(t0 + Duration::from_millis(100), 0b111), 0);
        assert_eq!(k.next_due(t0), Some(t0 + PLI_INTERVAL));
        // A keyframe on layer 0 satisfies its request; layer 2 is still wanted.
        k.keyframe_seen(0);
        assert_eq!(k.take(t0 + PLI_INTERVAL, 0b111), 0b100);
        // Unknown SSRCs stay wanted.
        k.request(0b010);
        assert_eq!(k.take(t0 + 2 * PLI_INTERVAL, 0b001), 0);
        assert_eq!(k.wanted(), 0b010);
    }
}

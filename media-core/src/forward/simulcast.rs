//! Simulcast substream and VP8 temporal-layer selection per subscriber (plugins API §0.6,
//! draft-ietf-mmusic-sdp-simulcast / RFC 8853 for the layers, RFC 7741 §4.2 for TID/Y).
//!
//! Substream: relay the highest layer ≤ the target that has sent within `fallback`; when
//! none has, the lowest one above it. The switch itself happens on the new layer's keyframe
//! (the receiver's decoder cannot start elsewhere); until then the old layer keeps flowing.
//!
//! Temporal: pictures with TID above the relayed temporal layer are dropped. Going down takes
//! effect at the next picture; going up waits for a layer-sync picture (VP8 Y bit: it
//! references only TL0; VP9 U bit, RFC 9628 §4.2, as libwebrtc sets it) or a keyframe, so no
//! relayed picture references one that was dropped.

use std::time::{Duration, Instant};

/// Simulcast layers Ianus relays (Janus: three "substreams").
pub const MAX_LAYERS: usize = 3;

/// When each layer of a published stream was last heard from.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LayerActivity {
    pub(crate) last_seen: [Option<Instant>; MAX_LAYERS],
}

impl LayerActivity {
    fn active(&self, layer: usize, now: Instant, fallback: Duration) -> bool {
        self.last_seen
            .get(layer)
            .copied()
            .flatten()
            .is_some_and(|t| now.saturating_duration_since(t) < fallback)
    }

    /// The layer to relay for `target` among `layers`: the highest active one ≤ target,
    /// else the lowest active one above it.
    pub(crate) fn choose(
        &self,
        target: u8,
        layers: u8,
        now: Instant,
        fallback: Duration,
    ) -> Option<u8> {
        let n = usize::from(layers.clamp(1, MAX_LAYERS as u8));
        let t = usize::from(target).min(n - 1);
        (0..=t)
            .rev()
            .chain(t + 1..n)
            .find(|&l| self.active(l, now, fallback))
            .map(|l| l as u8)
    }
}

/// The temporal layer to relay from the next picture on (`None` = unchanged).
pub(crate) fn next_temporal(
    current: u8,
    target: u8,
    tid: u8,
    layer_sync: bool,
    keyframe: bool,
) -> Option<u8> {
    if keyframe {
        return (current != target).then_some(target);
    }
    if target < current {
        return Some(target);
    }
    if tid > current && tid <= target && layer_sync {
        return Some(tid);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_lower_layers_and_climbs_back() {
        let t0 = Instant::now();
        let fb = Duration::from_millis(250);
        let mut a = LayerActivity::default();
        assert_eq!(a.choose(2, 3, t0, fb), None);
        a.last_seen = [Some(t0), Some(t0), Some(t0)];
        assert_eq!(a.choose(2, 3, t0, fb), Some(2));
        assert_eq!(a.choose(1, 3, t0, fb), Some(1));
        // Layer 2 stalls.
        let t1 = t0 + Duration::from_millis(300);
        a.last_seen[0] = Some(t1);
        a.last_seen[1] = Some(t1);
        assert_eq!(a.choose(2, 3, t1, fb), Some(1));
        // Only layer 2 is left: above the target, still better than nothing.
        let t2 = t1 + Duration::from_millis(300);
        a.last_seen[2] = Some(t2);
        assert_eq!(a.choose(0, 3, t2, fb), Some(2));
        // Targets above the layer count clamp.
        assert_eq!(a.choose(2, 1, t0, fb), Some(0));
    }

    #[test]
    fn temporal_goes_down_at_once_and_up_on_sync() {
        assert_eq!(next_temporal(2, 0, 1, false, false), Some(0));
        assert_eq!(next_temporal(0, 2, 2, false, false), None);
        assert_eq!(next_temporal(0, 2, 1, true, false), Some(1));
        assert_eq!(next_temporal(1, 2, 2, true, false), Some(2));
        assert_eq!(next_temporal(0, 2, 0, false, true), Some(2));
    }
}

//! Streaming rational resampler between G.711's 8 kHz and a room's rate (8, 12, 16, 24 or
//! 48 kHz): up by `L`, low-pass, down by `M` (8 → 12 kHz is 3/2, 12 → 8 kHz is 2/3, the
//! others integer), as a polyphase FIR so that the zeros of the up-sampled signal and the
//! dropped samples are never computed.
//!
//! The filter is a Blackman-windowed sinc of [`TAPS_PER_PHASE`] × max(L, M) taps, cut off at
//! 0.45 × the lower rate (3.6 kHz when one side is 8 kHz, transition ~3.1–4.1 kHz): the
//! telephone band (300–3400 Hz) passes, and what would alias (above 4 kHz) is attenuated by
//! the window's ~70 dB. It costs [`TAPS_PER_PHASE`] × max(L, M) / L multiply-adds per output
//! sample: ~46k per 20 ms frame either way between 8 and 48 kHz, a few µs of vectorised
//! `f32`, next to an Opus encode's ~90 µs.
//!
//! Why not a crate: the usual Rust resamplers (`rubato`) work on `f32`/`f64` planar buffers
//! with their own chunk sizes and allocate their working buffers per instance in ways that do
//! not match a fixed 20 ms cadence of `i16` frames; the fixed ratios here make a direct-form
//! polyphase filter of ~60 lines enough. The state (input history and output phase) is kept
//! across calls, so consecutive frames join without clicks; nothing is allocated after
//! [`Resampler::new`].

/// Filter taps per polyphase branch: the filter's length relative to the narrower band.
pub const TAPS_PER_PHASE: usize = 48;
/// Cut-off as a fraction of the lower rate.
const CUTOFF: f64 = 0.45;
/// Input samples processed per inner block (bounds the history buffer).
const BLOCK: usize = 960;

/// A resampler from one fixed rate to another; see the module doc.
#[derive(Debug, Clone)]
pub struct Resampler {
    up: usize,
    down: usize,
    /// Taps per phase (`K`): each output sample is a dot product of `K` input samples.
    taps: usize,
    /// `phases[p * taps + k]` = `L × h[p + k·L]`.
    phases: Vec<f32>,
    /// The last `K − 1` input samples, then the block being processed.
    hist: Vec<f32>,
    /// Position of the next output on the up-sampled time line, relative to the start of the
    /// next input block.
    t: usize,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both positive).
    pub fn new(from: u32, to: u32) -> Self {
        let g = gcd(from.max(1), to.max(1));
        let up = (to.max(1) / g) as usize;
        let down = (from.max(1) / g) as usize;
        let wide = up.max(down);
        // The filter's length is set by the narrower band; each phase gets `len / up` taps.
        let taps = if up == down {
            1
        } else {
            (TAPS_PER_PHASE * wide).div_ceil(up)
        };
        let len = taps * up;
        let mut phases = vec![0f32; len];
        if up == down {
            phases[0] = 1.0;
        } else {
            // Cut-off in cycles per up-sampled sample.
            let fc = CUTOFF / wide as f64;
            let centre = (len - 1) as f64 / 2.0;
            let mut h: Vec<f64> = (0..len)
                .map(|i| {
                    let x = i as f64 - centre;
                    let sinc = if x == 0.0 {
                        2.0 * fc
                    } else {
                        (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
                    };
                    let w = 2.0 * std::f64::consts::PI * i as f64 / (len - 1) as f64;
                    sinc * (0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos())
                })
                .collect();
            // Unity gain at DC, then ×L for the energy the up-sampling zeros take away.
            let sum: f64 = h.iter().sum();
            for v in &mut h {
                *v *= up as f64 / sum;
            }
            for p in 0..up {
                for k in 0..taps {
                    phases[p * taps + k] = h[p + k * up] as f32;
                }
            }
        }
        Resampler {
            up,
            down,
            taps,
            phases,
            hist: vec![0.0; taps - 1 + BLOCK],
            t: 0,
        }
    }

    /// Whether this resampler only copies (same rate both sides).
    pub fn is_identity(&self) -> bool {
        self.up == self.down
    }

    /// The most output `input` samples can produce.
    pub fn max_output(&self, input: usize) -> usize {
        (input * self.up).div_ceil(self.down)
    }

    /// The most input that is sure to fit `output` samples.
    pub fn max_input(&self, output: usize) -> usize {
        output * self.down / self.up
    }

    /// Forgets the history (a new stream starts).
    pub fn reset(&mut self) {
        self.hist.iter_mut().for_each(|s| *s = 0.0);
        self.t = 0;
    }

    /// Resamples `input` into `out`; returns the samples written. Output beyond `out`'s
    /// length is dropped (size `out` with [`Self::max_output`]).
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) -> usize {
        if self.is_identity() {
            let n = input.len().min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            return n;
        }
        let mut written = 0;
        let keep = self.taps - 1;
        for chunk in input.chunks(BLOCK) {
            for (h, &s) in self.hist[keep..].iter_mut().zip(chunk) {
                *h = f32::from(s);
            }
            let span = chunk.len() * self.up;
            while self.t < span {
                let p = self.t % self.up;
                let q = self.t / self.up;
                // x[q - k] is hist[keep + q - k].
                let coeffs = &self.phases[p * self.taps..(p + 1) * self.taps];
                let window = &self.hist[q..q + self.taps];
                let acc: f32 = coeffs
                    .iter()
                    .zip(window.iter().rev())
                    .map(|(c, x)| c * x)
                    .sum();
                if let Some(o) = out.get_mut(written) {
                    *o = acc.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
                    written += 1;
                }
                self.t += self.down;
            }
            self.t -= span;
            // The newest `keep` inputs become the history of the next block.
            let n = chunk.len();
            self.hist.copy_within(n..n + keep, 0);
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, n: usize, start: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    fn amplitude(x: &[i16], freq: f64, rate: u32) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            re += f64::from(v) * (w * i as f64).cos();
            im += f64::from(v) * (w * i as f64).sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    /// Runs 1 s through in 20 ms frames; returns the last 0.5 s of output.
    fn run(from: u32, to: u32, freq: f64) -> Vec<i16> {
        let mut r = Resampler::new(from, to);
        let fin = (from / 50) as usize;
        let mut all = Vec::new();
        let mut out = vec![0i16; r.max_output(fin)];
        for f in 0..50 {
            let x = tone(freq, from, fin, f * fin);
            let n = r.process(&x, &mut out);
            assert_eq!(
                n,
                (to / 50) as usize,
                "{from} → {to}: one frame in, one frame out"
            );
            all.extend_from_slice(&out[..n]);
        }
        all.split_off(all.len() - (to / 2) as usize)
    }

    #[test]
    fn speech_band_tones_pass_at_every_room_rate() {
        for rate in [12_000, 16_000, 24_000, 48_000] {
            for f in [300.0, 1000.0, 3000.0] {
                let up = run(8000, rate, f);
                let a = amplitude(&up, f, rate);
                assert!((7400.0..8400.0).contains(&a), "8k → {rate}, {f} Hz: {a}");
                let down = run(rate, 8000, f);
                let a = amplitude(&down, f, 8000);
                assert!((7400.0..8400.0).contains(&a), "{rate} → 8k, {f} Hz: {a}");
            }
        }
    }

    #[test]
    fn what_would_alias_is_removed_when_downsampling() {
        for rate in [12_000, 16_000, 24_000, 48_000] {
            // 5 kHz at the room rate would fold to 3 kHz at 8 kHz.
            let down = run(rate, 8000, 5000.0);
            let a = amplitude(&down, 3000.0, 8000);
            assert!(a < 40.0, "{rate} → 8k: alias of 5 kHz at {a}");
        }
        // Up-sampling leaves no image of 1 kHz at 7 kHz.
        let up = run(8000, 48_000, 1000.0);
        assert!(amplitude(&up, 7000.0, 48_000) < 40.0);
    }

    #[test]
    fn frames_join_without_a_click() {
        // A continuous tone through 20 ms frames equals the tone through one call.
        let mut a = Resampler::new(8000, 48_000);
        let x = tone(700.0, 8000, 1600, 0);
        let mut whole = vec![0i16; a.max_output(x.len())];
        let n = a.process(&x, &mut whole);
        let mut b = Resampler::new(8000, 48_000);
        let mut pieces = Vec::new();
        let mut out = [0i16; 960];
        for c in x.chunks(160) {
            let k = b.process(c, &mut out);
            pieces.extend_from_slice(&out[..k]);
        }
        assert_eq!(&whole[..n], &pieces[..]);
    }

    #[test]
    fn same_rate_copies() {
        let mut r = Resampler::new(8000, 8000);
        assert!(r.is_identity());
        let x = tone(500.0, 8000, 160, 0);
        let mut out = [0i16; 160];
        assert_eq!(r.process(&x, &mut out), 160);
        assert_eq!(&out[..], &x[..]);
    }
}

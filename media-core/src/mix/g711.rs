//! G.711 μ-law (PCMU) and A-law (PCMA), ITU-T G.711 §3 (tables 1a/2a): 8-bit companded
//! samples at 8 kHz, one byte per sample (RFC 3551 §4.5.14), static payload types 0 and 8.
//!
//! Hand-written rather than taken from a crate: each direction is a few lines of bit
//! arithmetic fixed by the Recommendation since 1972, decoding is a 256-entry table built at
//! compile time, and encoding needs no table (a leading-zero count finds the segment). The
//! crates that exist for it are small, rarely maintained wrappers of the same lines; a
//! dependency would add review and supply-chain cost for no code saved. Correctness is pinned
//! by the properties every G.711 implementation has (tests below): decode∘encode is the
//! identity on the 256 codes, encoding is monotonic, and the extreme codes decode to the
//! Recommendation's end points (±32124 for μ-law, ±32256 for A-law in 16-bit scale).

/// Which companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law, PCMU, RTP payload type 0.
    Mu,
    /// A-law, PCMA, RTP payload type 8.
    A,
}

impl Law {
    /// The static RTP payload type (RFC 3551 §6, table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// Encodes `pcm` (16-bit linear, 8 kHz) into `out`, one byte per sample; returns the
    /// bytes written (the shorter of the two).
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        match self {
            Law::Mu => {
                for (o, &s) in out.iter_mut().zip(&pcm[..n]) {
                    *o = ulaw_encode(s);
                }
            }
            Law::A => {
                for (o, &s) in out.iter_mut().zip(&pcm[..n]) {
                    *o = alaw_encode(s);
                }
            }
        }
        n
    }

    /// Decodes `codes` into `out`; returns the samples written (the shorter of the two).
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        let n = codes.len().min(out.len());
        let table = match self {
            Law::Mu => &ULAW_TABLE,
            Law::A => &ALAW_TABLE,
        };
        for (o, &c) in out.iter_mut().zip(&codes[..n]) {
            *o = table[usize::from(c)];
        }
        n
    }
}

/// μ-law bias: added to the magnitude so that every segment starts at a power of two.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude μ-law represents before the bias is added.
const ULAW_CLIP: i32 = 32_635;

/// One 16-bit sample to μ-law: sign, 3-bit segment, 4-bit step, all bits inverted.
pub fn ulaw_encode(sample: i16) -> u8 {
    let v = i32::from(sample);
    let (sign, mag) = if v < 0 { (0x80, -v) } else { (0, v) };
    let biased = mag.min(ULAW_CLIP) + ULAW_BIAS;
    // `biased` is in 132..=32767: its top bit is bit 7..=14, i.e. segment 0..=7.
    let top = 31 - (biased as u32).leading_zeros() as i32;
    let segment = top - 7;
    let step = (biased >> (segment + 3)) & 0x0f;
    !((sign | (segment << 4) | step) as u8)
}

/// μ-law to 16-bit linear (the middle of the code's interval).
pub const fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let segment = ((c >> 4) & 0x07) as i32;
    let step = (c & 0x0f) as i32;
    let mag = (((step << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    if c & 0x80 != 0 {
        -mag as i16
    } else {
        mag as i16
    }
}

/// One 16-bit sample to A-law: 13-bit magnitude, sign bit set for positive values, even bits
/// inverted.
pub fn alaw_encode(sample: i16) -> u8 {
    let v = i32::from(sample) >> 3;
    // One's complement for negatives keeps the two halves symmetric (−1 → magnitude 0).
    let (sign, mag) = if v >= 0 { (0x80, v) } else { (0, -v - 1) };
    let mag = mag.min(0x0fff);
    let code = if mag < 32 {
        mag >> 1
    } else {
        // Segment s ≥ 1 covers [16 << s, 32 << s) in steps of 1 << s.
        let segment = 31 - (mag as u32).leading_zeros() as i32 - 4;
        (segment << 4) | ((mag >> segment) & 0x0f)
    };
    ((sign | code) as u8) ^ 0x55
}

/// A-law to 16-bit linear (the middle of the code's interval).
pub const fn alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = ((c >> 4) & 0x07) as i32;
    let step = (c & 0x0f) as i32;
    let mag = if segment == 0 {
        (step << 4) + 8
    } else {
        ((step << 4) + 0x108) << (segment - 1)
    };
    if c & 0x80 != 0 {
        mag as i16
    } else {
        -mag as i16
    }
}

const fn table(law: Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Law::Mu => ulaw_decode(i as u8),
            Law::A => alaw_decode(i as u8),
        };
        i += 1;
    }
    t
}

static ULAW_TABLE: [i16; 256] = table(Law::Mu);
static ALAW_TABLE: [i16; 256] = table(Law::A);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_decode_then_encode() {
        for law in [Law::Mu, Law::A] {
            for c in 0..=255u8 {
                let mut pcm = [0i16; 1];
                law.decode(&[c], &mut pcm);
                let mut back = [0u8; 1];
                law.encode(&pcm, &mut back);
                // μ-law has two zeros (0x7f and 0xff); both decode to 0, which encodes to 0xff.
                if law == Law::Mu && c == 0x7f {
                    assert_eq!(back[0], 0xff);
                } else {
                    assert_eq!(back[0], c, "{law:?} code {c:#04x} → {}", pcm[0]);
                }
            }
        }
    }

    #[test]
    fn encoding_is_monotonic_and_close() {
        for law in [Law::Mu, Law::A] {
            let mut prev = i16::MIN;
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let mut c = [0u8; 1];
                law.encode(&[s], &mut c);
                let mut d = [0i16; 1];
                law.decode(&c, &mut d);
                assert!(d[0] >= prev, "{law:?}: {s} decodes to {} < {prev}", d[0]);
                prev = d[0];
                // The quantisation step is at most 1/16 of the value's segment (+ clipping).
                let err = (i32::from(d[0]) - i32::from(s)).abs();
                let bound = (i32::from(s).abs() / 16).max(16) + 1;
                if i32::from(s).abs() < 32_000 {
                    assert!(err <= bound, "{law:?}: {s} → {} (err {err})", d[0]);
                }
            }
        }
    }

    #[test]
    fn end_points_are_the_recommendations() {
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_decode(0xaa), 32_256);
        assert_eq!(alaw_decode(0x2a), -32_256);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(Law::Mu.payload_type(), 0);
        assert_eq!(Law::A.payload_type(), 8);
    }
}

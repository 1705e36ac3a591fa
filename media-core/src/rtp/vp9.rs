//! VP9 RTP payload descriptor (RFC 9628 §4.2): what a forwarder needs to drop spatial and
//! temporal layers of an SVC stream and to keep picture ids continuous.
//!
//! ```text
//!  I P L F B E V Z        (required)
//!  M PICTURE ID           (if I; M = 15-bit)
//!  EXTENDED PICTURE ID    (if M)
//!  TID U SID D            (if L)
//!  TL0PICIDX              (if L and not F: non-flexible mode)
//!  P_DIFF N               (if F and P, up to 3 times)
//!  SS                     (if V; not parsed, the forwarder relays it untouched)
//! ```
//!
//! Layer semantics used by `forward`: a *layer frame* is one spatial layer of one picture;
//! B/E mark its first/last packet. A layer frame with P=0 needs no earlier picture, so a
//! receiver can start (or climb to) that spatial layer there. U ("switching up point") on a
//! picture with temporal id T means later pictures above T do not reference pictures before
//! this one above T, so a forwarder relaying up to T or more may add higher temporal layers
//! from here on.

use super::RtpError;

/// Spatial and temporal ids a descriptor can carry (3 bits each).
pub const MAX_LAYER_ID: u8 = 7;
/// P_DIFF entries a flexible-mode descriptor may carry (RFC 9628 §4.2: "up to 3").
pub const MAX_P_DIFF: usize = 3;

/// Parsed VP9 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Descriptor {
    /// P: the layer frame uses inter-picture prediction.
    pub inter_picture_predicted: bool,
    /// F: flexible mode (reference indices in the descriptor, no TL0PICIDX).
    pub flexible: bool,
    /// B: first packet of a layer frame.
    pub start_of_frame: bool,
    /// E: last packet of a layer frame.
    pub end_of_frame: bool,
    /// V: a scalability structure follows.
    pub has_scalability_structure: bool,
    /// Z: not used for inter-layer prediction by the next spatial layer.
    pub not_reference_for_upper: bool,
    pub picture_id: Option<u16>,
    /// M bit: the picture id is 15 bits wide (else 7).
    pub picture_id_15bit: bool,
    /// Temporal layer id (from the layer indices octet, L=1).
    pub tid: Option<u8>,
    /// U: switching up point.
    pub switching_up: bool,
    /// Spatial layer id (L=1).
    pub sid: Option<u8>,
    /// D: depends on the lower spatial layer of the same picture.
    pub inter_layer_dependency: bool,
    /// Non-flexible mode only.
    pub tl0picidx: Option<u8>,
    /// Offsets in the payload of the picture id and TL0PICIDX (for in-place rewriting).
    pub picture_id_offset: Option<usize>,
    pub tl0picidx_offset: Option<usize>,
    /// Bytes up to the end of the reference indices (the scalability structure, if any,
    /// starts here).
    pub len: usize,
}

impl Vp9Descriptor {
    pub fn parse(payload: &[u8]) -> Result<Self, RtpError> {
        let b0 = *payload
            .first()
            .ok_or(RtpError::Codec("empty VP9 payload"))?;
        let short = RtpError::Codec("truncated VP9 descriptor");
        let mut d = Vp9Descriptor {
            inter_picture_predicted: b0 & 0x40 != 0,
            flexible: b0 & 0x10 != 0,
            start_of_frame: b0 & 0x08 != 0,
            end_of_frame: b0 & 0x04 != 0,
            has_scalability_structure: b0 & 0x02 != 0,
            not_reference_for_upper: b0 & 0x01 != 0,
            picture_id: None,
            picture_id_15bit: false,
            tid: None,
            switching_up: false,
            sid: None,
            inter_layer_dependency: false,
            tl0picidx: None,
            picture_id_offset: None,
            tl0picidx_offset: None,
            len: 1,
        };
        let mut off = 1;
        if b0 & 0x80 != 0 {
            let p0 = *payload.get(off).ok_or(short.clone())?;
            d.picture_id_offset = Some(off);
            if p0 & 0x80 != 0 {
                let p1 = *payload.get(off + 1).ok_or(short.clone())?;
                d.picture_id = Some((u16::from(p0 & 0x7f) << 8) | u16::from(p1));
                d.picture_id_15bit = true;
                off += 2;
            } else {
                d.picture_id = Some(u16::from(p0));
                off += 1;
            }
        }
        if b0 & 0x20 != 0 {
            let l = *payload.get(off).ok_or(short.clone())?;
            d.tid = Some(l >> 5);
            d.switching_up = l & 0x10 != 0;
            d.sid = Some((l >> 1) & 0x07);
            d.inter_layer_dependency = l & 0x01 != 0;
            off += 1;
            if !d.flexible {
                d.tl0picidx = Some(*payload.get(off).ok_or(short.clone())?);
                d.tl0picidx_offset = Some(off);
                off += 1;
            }
        }
        if d.flexible && d.inter_picture_predicted {
            for i in 0..MAX_P_DIFF {
                let r = *payload.get(off).ok_or(short.clone())?;
                off += 1;
                if r & 0x01 == 0 {
                    break;
                }
                if i + 1 == MAX_P_DIFF {
                    return Err(RtpError::Codec("more than 3 VP9 reference indices"));
                }
            }
        }
        d.len = off;
        Ok(d)
    }

    /// The first packet of a picture: the start of its lowest spatial layer frame (SID 0,
    /// or no layer indices at all).
    pub fn is_picture_start(&self) -> bool {
        self.start_of_frame && self.sid.unwrap_or(0) == 0
    }

    /// A keyframe starts here: the picture's first packet, not inter-picture predicted.
    pub fn is_keyframe(&self) -> bool {
        self.is_picture_start() && !self.inter_picture_predicted
    }
}

/// Whether this VP9 RTP payload starts a keyframe.
pub fn is_keyframe(payload: &[u8]) -> bool {
    Vp9Descriptor::parse(payload).is_ok_and(|d| d.is_keyframe())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_flexible_with_layer_indices() {
        // I=1 P=0 L=1 F=0 B=1 E=0 V=0 Z=0; 15-bit picture id 0x1234; TID 2 U=1 SID 1 D=1;
        // TL0PICIDX 9.
        let p = [
            0xA8,
            0x80 | 0x12,
            0x34,
            (2 << 5) | 0x10 | (1 << 1) | 1,
            9,
            0xFF,
        ];
        let d = Vp9Descriptor::parse(&p).expect("parses");
        assert_eq!(d.picture_id, Some(0x1234));
        assert!(d.picture_id_15bit);
        assert_eq!((d.tid, d.sid), (Some(2), Some(1)));
        assert!(d.switching_up && d.inter_layer_dependency);
        assert_eq!(d.tl0picidx, Some(9));
        assert_eq!(
            (d.picture_id_offset, d.tl0picidx_offset),
            (Some(1), Some(4))
        );
        assert_eq!(d.len, 5);
        assert!(d.start_of_frame && !d.end_of_frame);
        // SID 1: a layer frame start, not a picture start (nor a keyframe).
        assert!(!d.is_picture_start());
        assert!(!d.is_keyframe());
    }

    #[test]
    fn flexible_mode_skips_reference_indices() {
        // I=1 P=1 L=1 F=1 B=0 E=1; 7-bit picture id 5; TID 0 SID 0; two P_DIFFs (N=1, N=0).
        let p = [0xF4, 0x05, 0x00, 0x03, 0x04, 0xAA];
        let d = Vp9Descriptor::parse(&p).expect("parses");
        assert_eq!(d.picture_id, Some(5));
        assert!(!d.picture_id_15bit);
        assert_eq!(d.tl0picidx, None);
        assert_eq!(d.len, 5);
        assert!(d.end_of_frame && d.inter_picture_predicted);
        // A fourth reference index is malformed.
        assert!(Vp9Descriptor::parse(&[0xF4, 0x05, 0x00, 0x03, 0x03, 0x03, 0x02]).is_err());
    }

    #[test]
    fn keyframes_are_unpredicted_picture_starts() {
        // B=1 P=0, no layer indices.
        assert!(is_keyframe(&[0x08, 0x00]));
        // P=1.
        assert!(!is_keyframe(&[0x48, 0x00]));
        // B=0.
        assert!(!is_keyframe(&[0x04, 0x00]));
        // L=1 SID 0 TID 0, non-flexible: TL0PICIDX follows.
        assert!(is_keyframe(&[0x28, 0x00, 0x00]));
    }

    #[test]
    fn truncated_descriptors_are_errors() {
        assert!(Vp9Descriptor::parse(&[]).is_err());
        assert!(Vp9Descriptor::parse(&[0x80]).is_err());
        assert!(Vp9Descriptor::parse(&[0x80, 0x80]).is_err());
        assert!(Vp9Descriptor::parse(&[0x20]).is_err());
        assert!(
            Vp9Descriptor::parse(&[0x20, 0x00]).is_err(),
            "TL0PICIDX missing"
        );
        assert!(Vp9Descriptor::parse(&[0x50]).is_err(), "P_DIFF missing");
    }
}

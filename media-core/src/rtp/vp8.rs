//! VP8 RTP payload descriptor (RFC 7741 §4.2) parsing, keyframe detection (§4.3) and the
//! in-place picture-id / TL0PICIDX rewrite simulcast relaying needs (so the receiver sees one
//! continuous picture-id space across layer switches).
//!
//! ```text
//!  X R N S R PID        (required)
//!  I L T K RSV          (if X)
//!  M PictureID[7|15]    (if I; M = 15-bit)
//!  TL0PICIDX            (if L)
//!  TID Y KEYIDX         (if T or K)
//! ```

use super::RtpError;

/// Parsed VP8 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// N: frame can be discarded without affecting others.
    pub non_reference: bool,
    /// S: first packet of a VP8 partition.
    pub start_of_partition: bool,
    pub partition_id: u8,
    pub picture_id: Option<u16>,
    /// M bit: the picture id is 15 bits wide (else 7).
    pub picture_id_15bit: bool,
    pub tl0picidx: Option<u8>,
    /// Temporal layer index (TID), when T is set.
    pub tid: Option<u8>,
    /// Y: layer sync.
    pub layer_sync: bool,
    pub keyidx: Option<u8>,
    /// Descriptor length: the VP8 payload header starts here.
    pub len: usize,
    picture_id_offset: Option<usize>,
    tl0picidx_offset: Option<usize>,
}

impl Vp8Descriptor {
    pub fn parse(payload: &[u8]) -> Result<Self, RtpError> {
        let b0 = *payload
            .first()
            .ok_or(RtpError::Codec("empty VP8 payload"))?;
        let mut d = Vp8Descriptor {
            non_reference: b0 & 0x20 != 0,
            start_of_partition: b0 & 0x10 != 0,
            partition_id: b0 & 0x07,
            picture_id: None,
            picture_id_15bit: false,
            tl0picidx: None,
            tid: None,
            layer_sync: false,
            keyidx: None,
            len: 1,
            picture_id_offset: None,
            tl0picidx_offset: None,
        };
        if b0 & 0x80 == 0 {
            return Ok(d);
        }
        let short = RtpError::Codec("truncated VP8 descriptor");
        let x = *payload.get(1).ok_or(short.clone())?;
        let mut off = 2;
        if x & 0x80 != 0 {
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
        if x & 0x40 != 0 {
            d.tl0picidx = Some(*payload.get(off).ok_or(short.clone())?);
            d.tl0picidx_offset = Some(off);
            off += 1;
        }
        if x & 0x30 != 0 {
            let b = *payload.get(off).ok_or(short)?;
            if x & 0x20 != 0 {
                d.tid = Some(b >> 6);
                d.layer_sync = b & 0x20 != 0;
            }
            if x & 0x10 != 0 {
                d.keyidx = Some(b & 0x1f);
            }
            off += 1;
        }
        d.len = off;
        Ok(d)
    }

    /// RFC 7741 §4.3: a keyframe starts in partition 0 with S set, and the VP8 payload
    /// header's P bit (inverse key frame flag) is 0.
    pub fn is_keyframe(&self, payload: &[u8]) -> bool {
        self.start_of_partition
            && self.partition_id == 0
            && payload.get(self.len).is_some_and(|b| b & 0x01 == 0)
    }
}

/// Whether this VP8 RTP payload starts a keyframe.
pub fn is_keyframe(payload: &[u8]) -> bool {
    Vp8Descriptor::parse(payload).is_ok_and(|d| d.is_keyframe(payload))
}

/// Rewrites the picture id in place, keeping its width (7-bit ids wrap at 128, 15-bit at
/// 32768). Fails when the descriptor carries no picture id.
pub fn set_picture_id(payload: &mut [u8], picture_id: u16) -> Result<(), RtpError> {
    let d = Vp8Descriptor::parse(payload)?;
    let off = d
        .picture_id_offset
        .ok_or(RtpError::Codec("no VP8 picture id"))?;
    if d.picture_id_15bit {
        let v = 0x8000 | (picture_id & 0x7fff);
        payload[off..off + 2].copy_from_slice(&v.to_be_bytes());
    } else {
        payload[off] = (picture_id & 0x7f) as u8;
    }
    Ok(())
}

/// Rewrites TL0PICIDX in place. Fails when the descriptor has none.
pub fn set_tl0picidx(payload: &mut [u8], tl0picidx: u8) -> Result<(), RtpError> {
    let d = Vp8Descriptor::parse(payload)?;
    let off = d
        .tl0picidx_offset
        .ok_or(RtpError::Codec("no VP8 TL0PICIDX"))?;
    payload[off] = tl0picidx;
    Ok(())
}

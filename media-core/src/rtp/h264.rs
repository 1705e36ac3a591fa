//! H.264 keyframe detection on RTP payloads (RFC 6184 §5.6-5.8): a packet starts a keyframe
//! when it carries (or starts) an IDR slice (NAL type 5) or an SPS (7), in a single NAL unit,
//! a STAP-A aggregate or the first fragment of an FU-A/FU-B.

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const STAP_A: u8 = 24;
const STAP_B: u8 = 25;
const FU_A: u8 = 28;
const FU_B: u8 = 29;

/// Bounds the NAL units examined in one STAP-A (each costs ≥ 3 bytes anyway).
const MAX_STAP_UNITS: usize = 64;

fn is_key_nal(t: u8) -> bool {
    t == NAL_IDR || t == NAL_SPS
}

/// NAL unit type of the payload's first byte (RFC 6184 §5.3).
pub fn nal_type(payload: &[u8]) -> Option<u8> {
    payload.first().map(|b| b & 0x1f)
}

pub fn is_keyframe(payload: &[u8]) -> bool {
    let Some(t) = nal_type(payload) else {
        return false;
    };
    match t {
        1..=23 => is_key_nal(t),
        STAP_A | STAP_B => {
            // STAP-B carries a 16-bit DON after the header (§5.7.1).
            let mut off = if t == STAP_B { 3 } else { 1 };
            for _ in 0..MAX_STAP_UNITS {
                let Some(len) = payload.get(off..off + 2) else {
                    return false;
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                off += 2;
                let Some(hdr) = payload.get(off) else {
                    return false;
                };
                if len == 0 {
                    return false;
                }
                if is_key_nal(hdr & 0x1f) {
                    return true;
                }
                off += len;
            }
            false
        }
        FU_A | FU_B => {
            // §5.8: FU header S bit marks the first fragment; its type is the NAL's.
            payload
                .get(1)
                .is_some_and(|fu| fu & 0x80 != 0 && is_key_nal(fu & 0x1f))
        }
        _ => false,
    }
}

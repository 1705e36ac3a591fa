//! Typed readers (and writers where Ianus rewrites) for the header-extension values of the
//! URIs in [`crate::sdp::RtpExtension`]. The IDs come from the SDP; these functions see
//! only the element value (`RtpView::extension(id)`).

/// `urn:ietf:params:rtp-hdrext:sdes:mid` (RFC 9143 §15.1): the mid as SDES text.
pub fn mid(value: &[u8]) -> Option<&str> {
    sdes_text(value)
}

/// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id` (RFC 8852 §3.1).
pub fn rid(value: &[u8]) -> Option<&str> {
    sdes_text(value)
}

/// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id` (RFC 8852 §3.2).
pub fn repaired_rid(value: &[u8]) -> Option<&str> {
    sdes_text(value)
}

/// SDES items carried in extensions are UTF-8; senders may pad with NULs (two-byte form).
fn sdes_text(value: &[u8]) -> Option<&str> {
    let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
    let s = std::str::from_utf8(&value[..end]).ok()?;
    (!s.is_empty()).then_some(s)
}

/// RFC 6464 §3 client-to-mixer audio level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// The V bit: the sender's VAD thinks this packet holds voice.
    pub voice: bool,
    /// Level in -dBov, 0 (loudest) to 127 (silence).
    pub level: u8,
}

/// `urn:ietf:params:rtp-hdrext:ssrc-audio-level`.
pub fn audio_level(value: &[u8]) -> Option<AudioLevel> {
    let b = *value.first()?;
    Some(AudioLevel {
        voice: b & 0x80 != 0,
        level: b & 0x7f,
    })
}

/// Transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2).
pub fn transport_cc_seq(value: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*value.first()?, *value.get(1)?]))
}

/// Writes a transport-wide sequence number into a 2-byte element value.
pub fn write_transport_cc_seq(value: &mut [u8], seq: u16) -> bool {
    match value.get_mut(..2) {
        Some(v) => {
            v.copy_from_slice(&seq.to_be_bytes());
            true
        }
        None => false,
    }
}

/// abs-send-time: 24-bit 6.18 fixed-point seconds (webrtc.org abs-send-time spec).
pub fn abs_send_time(value: &[u8]) -> Option<u32> {
    let v = value.get(..3)?;
    Some(u32::from_be_bytes([0, v[0], v[1], v[2]]))
}

/// abs-send-time → microseconds within its 64-second wrap.
pub fn abs_send_time_micros(t: u32) -> u64 {
    (u64::from(t & 0x00ff_ffff) * 1_000_000) >> 18
}

/// Writes abs-send-time for `micros` (taken modulo 64 s) into a 3-byte element value.
pub fn write_abs_send_time(value: &mut [u8], micros: u64) -> bool {
    let t = (((micros << 18) / 1_000_000) & 0x00ff_ffff) as u32;
    match value.get_mut(..3) {
        Some(v) => {
            v.copy_from_slice(&t.to_be_bytes()[1..]);
            true
        }
        None => false,
    }
}

/// webrtc.org playout-delay: two 12-bit values in 10 ms units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayoutDelay {
    pub min: u16,
    pub max: u16,
}

pub fn playout_delay(value: &[u8]) -> Option<PlayoutDelay> {
    let v = value.get(..3)?;
    Some(PlayoutDelay {
        min: (u16::from(v[0]) << 4) | u16::from(v[1] >> 4),
        max: (u16::from(v[1] & 0x0f) << 8) | u16::from(v[2]),
    })
}

/// Writes a playout delay (values above 4095 are clamped) into a 3-byte element value.
pub fn write_playout_delay(value: &mut [u8], d: PlayoutDelay) -> bool {
    let (min, max) = (d.min.min(0x0fff), d.max.min(0x0fff));
    match value.get_mut(..3) {
        Some(v) => {
            v[0] = (min >> 4) as u8;
            v[1] = (((min & 0x0f) << 4) as u8) | ((max >> 8) as u8);
            v[2] = max as u8;
            true
        }
        None => false,
    }
}

/// 3GPP TS 26.114 §7.4.5 coordination of video orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoOrientation {
    /// C: back-facing camera.
    pub back_camera: bool,
    /// F: horizontal flip.
    pub flip: bool,
    /// Clockwise rotation: 0, 90, 180 or 270.
    pub rotation: u16,
}

pub fn video_orientation(value: &[u8]) -> Option<VideoOrientation> {
    let b = *value.first()?;
    Some(VideoOrientation {
        back_camera: b & 0x08 != 0,
        flip: b & 0x04 != 0,
        rotation: u16::from(b & 0x03) * 90,
    })
}

/// The AV1 dependency descriptor is kept as raw bytes: Ianus forwards it untouched.
pub fn dependency_descriptor(value: &[u8]) -> &[u8] {
    value
}

//! Pre-encoded media: VP8-shaped video packets and real Opus frames, made once at start-up.
//!
//! Video: servers never decode VP8, they only read the RFC 7741 payload descriptor and the
//! keyframe bit (and the start code and size of a keyframe). So the payloads are synthetic but
//! valid-shaped: a descriptor with a 15-bit picture id, a VP8 payload header on the first packet
//! of each frame (keyframe: start code + 640x480), then a fixed pseudo-random body. Each packet
//! ends in a [`Trailer`] (stream, sequence, send time, CRC-32 of everything after the
//! descriptor) so subscribers check latency, continuity and integrity.
//!
//! Audio: AudioBridge decodes what it receives, so it must be real Opus: 20 ms frames of a tone
//! (talking) or of −60 dBov noise (a quiet microphone), each with its RFC 6464 level, encoded
//! with the system libopus (crate `opus`) at start-up. Why not ffmpeg into an Ogg file:
//! the tool would need a second program at run time and an Ogg parser, where the library call
//! is ten lines and libopus is already a build dependency of the project's AudioBridge.

use std::time::Instant;

/// Bytes of the trailer at the end of every video payload.
pub const TRAILER_LEN: usize = 4 + 4 + 4 + 8 + 4;
/// "IANL": marks a load-tool payload.
pub const TRAILER_MAGIC: u32 = 0x4941_4e4c;
/// Largest VP8 body per packet (descriptor and trailer excluded): keeps datagrams < 1200 B.
pub const MAX_BODY: usize = 1100;
/// VP8 payload descriptor as we write it: X, I and a 15-bit picture id.
pub const DESCRIPTOR_LEN: usize = 4;
pub const VIDEO_PT: u8 = 96;
pub const OPUS_PT: u8 = 111;
pub const VIDEO_CLOCK: u32 = 90_000;
pub const FPS: u32 = 30;

/// What the trailer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub stream: u32,
    pub seq: u32,
    pub send_us: u64,
}

/// Microseconds since a process-wide epoch: the send stamp and the receive clock share it.
pub fn now_us(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

/// One frame's packets as body templates (VP8 header + filler, no descriptor, no trailer).
pub struct FrameTemplate {
    pub bodies: Vec<Vec<u8>>,
}

/// The video source: a keyframe template and a delta-frame template, at a bitrate.
pub struct VideoSource {
    pub key: FrameTemplate,
    pub delta: FrameTemplate,
    pub keyframe_every: u32,
}

fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn frame_template(bytes: usize, keyframe: bool) -> FrameTemplate {
    let mut header = Vec::with_capacity(10);
    // VP8 payload header (RFC 7741 §4.3): size0 | show_frame | version 0 | P (0 = key).
    header.push(0x10 | u8::from(!keyframe));
    header.extend_from_slice(&[0x00, 0x00]);
    if keyframe {
        // Start code and 640x480 (scale 0), as a decoder and the servers' keyframe sniffers read.
        header.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        header.extend_from_slice(&640u16.to_le_bytes());
        header.extend_from_slice(&480u16.to_le_bytes());
    }
    let bytes = bytes.max(header.len() + 16);
    let n = bytes.div_ceil(MAX_BODY);
    let per = bytes / n;
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let mut b = if i == 0 { header.clone() } else { Vec::new() };
        let fill = per.saturating_sub(b.len());
        b.extend_from_slice(&filler(
            0x9e37_79b9 + i as u64 * 7 + u64::from(keyframe),
            fill,
        ));
        bodies.push(b);
    }
    FrameTemplate { bodies }
}

impl VideoSource {
    /// `bitrate` in bit/s (RTP payload), a keyframe every `keyframe_secs` seconds.
    pub fn new(bitrate: u64, keyframe_secs: u32) -> Self {
        let frame_bytes = (bitrate / 8 / u64::from(FPS)) as usize;
        VideoSource {
            // Keyframes twice the size of delta frames, roughly as encoders do at this rate.
            key: frame_template(frame_bytes * 2, true),
            delta: frame_template(frame_bytes, false),
            keyframe_every: (keyframe_secs * FPS).max(1),
        }
    }
}

/// Writes one RTP packet of the video stream into `out` (cleared first).
#[allow(clippy::too_many_arguments)]
pub fn write_video_packet(
    out: &mut Vec<u8>,
    ssrc: u32,
    rtp_seq: u16,
    rtp_ts: u32,
    marker: bool,
    picture_id: u16,
    first_in_frame: bool,
    body: &[u8],
    trailer: Trailer,
) {
    out.clear();
    out.push(0x80);
    out.push(VIDEO_PT | if marker { 0x80 } else { 0 });
    out.extend_from_slice(&rtp_seq.to_be_bytes());
    out.extend_from_slice(&rtp_ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    let desc_at = out.len();
    out.push(0x80 | if first_in_frame { 0x10 } else { 0 });
    out.push(0x80);
    out.extend_from_slice(&(0x8000 | (picture_id & 0x7fff)).to_be_bytes());
    let body_at = out.len();
    debug_assert_eq!(body_at - desc_at, DESCRIPTOR_LEN);
    out.extend_from_slice(body);
    out.extend_from_slice(&TRAILER_MAGIC.to_be_bytes());
    out.extend_from_slice(&trailer.stream.to_be_bytes());
    out.extend_from_slice(&trailer.seq.to_be_bytes());
    out.extend_from_slice(&trailer.send_us.to_be_bytes());
    let crc = crc32fast::hash(&out[body_at..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Why a received video payload fails the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than RTP header + descriptor + trailer, or a bad RTP header.
    Malformed,
    /// No trailer magic: not what the tool sent.
    NoTrailer,
    /// CRC mismatch: the payload was altered.
    Corrupt,
}

/// The RTP payload range of a plain RTP packet (CSRCs, extension and padding skipped).
pub fn rtp_payload(p: &[u8]) -> Option<(usize, usize)> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let mut at = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        let h = p.get(at..at + 4)?;
        at += 4 + 4 * usize::from(u16::from_be_bytes([h[2], h[3]]));
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*p.last()?))?;
    }
    (at <= end).then_some((at, end))
}

/// Length of the VP8 payload descriptor at the start of `payload` (RFC 7741 §4.2).
fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let b0 = *payload.first()?;
    if b0 & 0x80 == 0 {
        return Some(1);
    }
    let b1 = *payload.get(1)?;
    let mut n = 2;
    if b1 & 0x80 != 0 {
        n += if *payload.get(n)? & 0x80 != 0 { 2 } else { 1 };
    }
    if b1 & 0x40 != 0 {
        n += 1;
    }
    if b1 & 0x30 != 0 {
        n += 1;
    }
    (n <= payload.len()).then_some(n)
}

/// Checks a received (decrypted) video RTP packet and returns its trailer.
pub fn check_video_packet(p: &[u8]) -> Result<Trailer, PayloadError> {
    let (start, end) = rtp_payload(p).ok_or(PayloadError::Malformed)?;
    let payload = &p[start..end];
    let d = vp8_descriptor_len(payload).ok_or(PayloadError::Malformed)?;
    if payload.len() < d + TRAILER_LEN {
        return Err(PayloadError::Malformed);
    }
    let t = &payload[payload.len() - TRAILER_LEN..];
    let word = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    if word(0) != TRAILER_MAGIC {
        return Err(PayloadError::NoTrailer);
    }
    let crc = word(20);
    if crc32fast::hash(&payload[d..payload.len() - 4]) != crc {
        return Err(PayloadError::Corrupt);
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&t[12..20]);
    Ok(Trailer {
        stream: word(4),
        seq: word(8),
        send_us: u64::from_be_bytes(ts),
    })
}

/// What an AudioBridge participant's microphone picks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sound {
    /// Talking: a 440 Hz tone with a slow tremolo, around −17 dBov.
    Tone,
    /// Not talking: low noise around −60 dBov, as a quiet room through a browser's microphone
    /// (browsers keep sending such frames; the audio level tells the server they are quiet).
    Quiet,
}

/// One pre-encoded 20 ms Opus frame and its RFC 6464 level (−dBov, 0..=127) with the voice
/// activity flag, as a browser puts them in the ssrc-audio-level extension.
#[derive(Debug, Clone)]
pub struct AudioFrame {
    pub opus: Vec<u8>,
    pub level: u8,
    pub voice: bool,
}

/// RFC 6464 level of a frame: −dBov of its RMS, 127 for digital silence.
fn level_of(pcm: &[i16]) -> u8 {
    let ms = pcm
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / pcm.len() as f64;
    if ms <= 0.0 {
        return 127;
    }
    let dbov = 10.0 * (ms / (32768.0 * 32768.0)).log10();
    (-dbov).round().clamp(0.0, 127.0) as u8
}

/// `seconds` of 20 ms Opus frames (48 kHz mono) of `sound`, encoded once at start-up.
pub fn opus_frames(
    seconds: u32,
    bitrate: i32,
    sound: Sound,
) -> Result<Vec<AudioFrame>, opus::Error> {
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)?;
    enc.set_bitrate(opus::Bitrate::Bits(bitrate))?;
    let mut frames = Vec::new();
    let mut pcm = [0i16; 960];
    let mut out = [0u8; 1275];
    let mut noise: u32 = 0x1234_5678;
    for f in 0..(seconds * 50) as usize {
        for (i, s) in pcm.iter_mut().enumerate() {
            *s = match sound {
                Sound::Tone => {
                    let t = (f * 960 + i) as f64 / 48_000.0;
                    let amp = 8000.0 * (0.6 + 0.4 * (2.0 * std::f64::consts::PI * 0.5 * t).sin());
                    (amp * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                }
                Sound::Quiet => {
                    // xorshift32: uniform in ±57, RMS ≈ 33 (−60 dBov).
                    noise ^= noise << 13;
                    noise ^= noise >> 17;
                    noise ^= noise << 5;
                    (noise % 115) as i16 - 57
                }
            };
        }
        let n = enc.encode(&pcm, &mut out)?;
        frames.push(AudioFrame {
            opus: out[..n].to_vec(),
            level: level_of(&pcm),
            voice: sound == Sound::Tone,
        });
    }
    Ok(frames)
}

/// The one-byte-header extension block carrying an ssrc-audio-level element (RFC 8285 §4.2,
/// RFC 6464): profile 0xBEDE, one word, then id/len, V + level, padding.
const AUDIO_LEVEL_EXT_LEN: usize = 8;

/// Writes one Opus RTP packet into `out` (cleared first); with `level_ext = Some(id)` the
/// frame's audio level goes in an ssrc-audio-level extension with that id (1..=14).
pub fn write_audio_packet(
    out: &mut Vec<u8>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    frame: &AudioFrame,
    level_ext: Option<u8>,
) {
    out.clear();
    out.reserve(12 + AUDIO_LEVEL_EXT_LEN + frame.opus.len()); // no-op: made with room for 1500
    out.push(if level_ext.is_some() { 0x90 } else { 0x80 });
    out.push(OPUS_PT);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(id) = level_ext {
        let v = if frame.voice { 0x80 } else { 0 };
        out.extend_from_slice(&[
            0xbe,
            0xde,
            0,
            1,
            (id & 0x0f) << 4,
            v | (frame.level & 0x7f),
            0,
            0,
        ]);
    }
    out.extend_from_slice(&frame.opus);
}

/// Whether a mixed-audio payload is a well-formed 20 ms Opus packet (TOC and frame count,
/// RFC 6716 §3.1; no decode): what a browser's decoder would accept and play as one frame.
pub fn is_opus_20ms(payload: &[u8]) -> bool {
    matches!(opus::packet::get_nb_samples(payload, 48_000), Ok(960))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_packets_round_trip_and_corruption_is_caught() {
        let src = VideoSource::new(1_000_000, 2);
        assert!(src.key.bodies.iter().all(|b| b.len() <= MAX_BODY));
        let total: usize = src.delta.bodies.iter().map(Vec::len).sum();
        assert!((4000..4300).contains(&total), "{total}");
        let t = Trailer {
            stream: 3,
            seq: 77,
            send_us: 123_456,
        };
        let mut p = Vec::new();
        write_video_packet(&mut p, 1, 5, 90, true, 9, true, &src.key.bodies[0], t);
        assert!(p.len() < 1200);
        assert_eq!(check_video_packet(&p), Ok(t));
        // A server may rewrite the descriptor's picture id: still intact.
        p[15] ^= 0x01;
        assert_eq!(check_video_packet(&p), Ok(t));
        p[40] ^= 0x01;
        assert_eq!(check_video_packet(&p), Err(PayloadError::Corrupt));
    }

    #[test]
    fn opus_frames_are_real_opus() {
        let frames = opus_frames(1, 32_000, Sound::Tone).expect("libopus");
        assert_eq!(frames.len(), 50);
        let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
        let mut pcm = [0i16; 960];
        for f in &frames {
            assert!(is_opus_20ms(&f.opus));
            assert_eq!(dec.decode(&f.opus, &mut pcm, false).expect("decode"), 960);
            assert!(f.voice && (10..=25).contains(&f.level), "{}", f.level);
        }
        assert!(pcm.iter().any(|&s| s.abs() > 1000));
        let quiet = opus_frames(1, 32_000, Sound::Quiet).expect("libopus");
        assert!(quiet
            .iter()
            .all(|f| !f.voice && (57..=63).contains(&f.level)));
        assert!(!is_opus_20ms(&[]));
    }

    #[test]
    fn the_audio_level_extension_is_rfc_8285_one_byte() {
        let f = AudioFrame {
            opus: vec![0x78, 1, 2],
            level: 30,
            voice: true,
        };
        let mut p = Vec::new();
        write_audio_packet(&mut p, 7, 1, 2, &f, Some(3));
        assert_eq!(p[0], 0x90);
        assert_eq!(&p[12..20], &[0xbe, 0xde, 0, 1, 0x30, 0x80 | 30, 0, 0]);
        assert_eq!(rtp_payload(&p), Some((12 + AUDIO_LEVEL_EXT_LEN, p.len())));
        write_audio_packet(&mut p, 7, 1, 2, &f, None);
        assert_eq!(rtp_payload(&p), Some((12, p.len())));
    }
}

//! [`MixCore`]: the sans-IO mixer of one room. Inputs carry `now`; outputs are polled.
//!
//! A frame ([`MixCore::handle_timeout`], once per 20 ms of the core's clock):
//! 1. every participant yields one frame of PCM: jitter buffer → Opus decode (FEC from the
//!    next packet on a loss when it is buffered, PLC otherwise) or G.711 decode + up-sampling
//!    (silence for a loss) into a small PCM FIFO, so 10/40/60 ms packets work too; its
//!    energy decides activity and, without the audio-level extension, feeds talking
//!    detection;
//! 2. contributors (unmuted, active within the hangover) are summed in `i32`, panned when the
//!    room is spatial;
//! 3. one encode per distinct mix: each contributor's mix-minus with its own encoder (Opus, or
//!    G.711 after down-sampling to 8 kHz), the full mix (or a group's sub-mix) once per shared
//!    stream in use (listeners and forwarders, per codec and settings);
//! 4. outputs are produced lazily by [`MixCore::poll_output`], one participant or forwarder
//!    per call, each a header written over the right payload in one scratch buffer.
//!
//! Nothing is allocated per packet or per frame once participants are set up: buffers live in
//! the participants, encoders come from a pool.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use opus::{Application, Bandwidth, Bitrate, Channels, Decoder, Encoder};

use super::g711::Law;
use super::jitter::{JitterBuffer, Playout, Rejected};
use super::resample::Resampler;
use super::{
    AudioCodec, ForwarderConfig, MixOut, MixerConfig, MixerEvent, MixerInput, ParticipantConfig,
    ParticipantId, CONTRIBUTOR_HANGOVER_FRAMES, FRAME, MAX_CATCH_UP, MAX_GROUPS,
};
use crate::rtp::{self, RtpView};

/// The largest Opus packet (RFC 6716 §3.4 R2) plus room for our RTP header.
const MAX_OPUS_PAYLOAD: usize = 1275;
const MAX_HEADER: usize = 12 + 4 + 20;
/// PCM a participant may hold beyond the current frame: one 120 ms Opus packet at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5760;
/// G.711 samples (8 kHz) decoded from one packet: 120 ms, as the longest Opus packet; the
/// rest of a longer packet is dropped.
const MAX_G711_IN: usize = 960;
/// Forwarders per room (each costs one send per frame; their encodes are shared).
pub const MAX_FORWARDERS: usize = 64;
/// Shared streams unused for this many frames give their encoder back to the pool.
const SHARED_IDLE_FRAMES: u32 = 50;
/// Opus encoder complexity (0..=10). Janus's AudioBridge uses 4: at 16 kHz a SILK encode
/// costs ~4x less than at libopus's default, for a small quality difference in speech.
pub const ENCODER_COMPLEXITY: i32 = 4;
/// Distinct shared-stream settings (bitrate, expected loss) per room.
pub const MAX_SHARED_STREAMS: usize = 8;
/// Participants per room.
pub const MAX_PARTICIPANTS: usize = 4096;

/// Counters kept by the core (the task publishes them as [`super::MixerStats`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoreStats {
    pub packets_in: u64,
    /// Not RTP, wrong payload type, empty payload, unknown participant.
    pub packets_invalid: u64,
    pub packets_late: u64,
    pub duplicates: u64,
    /// Packets discarded because the sender jumped far ahead (restart, long outage).
    pub jitter_overflows: u64,
    /// Frames concealed with the next packet's in-band FEC.
    pub fec_frames: u64,
    /// Frames concealed with PLC.
    pub plc_frames: u64,
    pub decode_errors: u64,
    /// Packets not decoded because nobody would hear them (muted, or silent per their
    /// audio level while not contributing).
    pub decodes_skipped: u64,
    pub encode_errors: u64,
    /// Mixing periods run.
    pub frames: u64,
    /// Periods skipped because the task fell more than [`MAX_CATCH_UP`] behind.
    pub frames_skipped: u64,
    /// Opus encodes (one per distinct mix per frame).
    pub encodes: u64,
    /// G.711 encodes (one per distinct mix and law per frame).
    pub g711_encodes: u64,
    /// Encoders in use now (own + shared), and created since the start.
    pub encoders_live: u64,
    pub encoders_created: u64,
    /// Contributors in the last frame.
    pub contributors: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Outputs of a frame not produced because an input arrived before they were drained.
    pub outputs_abandoned: u64,
}

/// What the core wants done. Packets borrow the core's scratch buffer: send them before
/// polling again.
pub enum MixOutput<'a> {
    /// One frame of mixed audio for a participant or a forwarder.
    Rtp {
        to: Destination,
        out: &'a Arc<dyn MixOut>,
        packet: &'a [u8],
    },
    Event(MixerEvent),
    /// The full mix of the frame (interleaved when stereo), when the room records
    /// ([`MixCore::set_recording`]); produced after the frame's packets.
    Recording(&'a [i16]),
}

impl std::fmt::Debug for MixOutput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MixOutput::Rtp { to, packet, .. } => f
                .debug_struct("Rtp")
                .field("to", to)
                .field("len", &packet.len())
                .finish_non_exhaustive(),
            MixOutput::Event(e) => write!(f, "Event({e:?})"),
            MixOutput::Recording(pcm) => write!(f, "Recording({} samples)", pcm.len()),
        }
    }
}

/// Who a [`MixOutput::Rtp`] is for, and which mix it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Participant {
        id: ParticipantId,
        /// `Some(k)`: the full mix of shared stream `k`; `None`: the participant's own
        /// mix-minus.
        shared: Option<usize>,
    },
    Forwarder {
        stream_id: u32,
        shared: usize,
    },
}

/// Encoder settings that make two encodings of the same mix differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EncoderParams {
    bitrate: u32,
    loss: u8,
}

/// The RTP header state of one outgoing stream.
#[derive(Debug)]
struct OutStream {
    /// V/P/X/CC, M/PT, seq, ts, SSRC, then the extension block (mid) when configured.
    template: Vec<u8>,
    seq: u16,
    ts: u32,
    first: bool,
    /// Timestamp units per frame: 960 (Opus, 48 kHz clock) or 160 (G.711, 8 kHz).
    ts_step: u32,
}

impl OutStream {
    fn new(pt: u8, ssrc: u32, mid: Option<(u8, &str)>, codec: AudioCodec) -> Self {
        let mut template = Vec::with_capacity(MAX_HEADER);
        template.extend_from_slice(&[0x80, pt & 0x7f, 0, 0, 0, 0, 0, 0]);
        template.extend_from_slice(&ssrc.to_be_bytes());
        if let Some((id, mid)) = mid {
            let mid = &mid.as_bytes()[..mid.len().min(16)];
            if (1..=14).contains(&id) && !mid.is_empty() {
                // RFC 8285 §4.2 one-byte element, padded to a 32-bit boundary.
                let words = (1 + mid.len()).div_ceil(4);
                template[0] |= 0x10;
                template.extend_from_slice(&rtp::ONE_BYTE_PROFILE.to_be_bytes());
                template.extend_from_slice(&(words as u16).to_be_bytes());
                template.push((id << 4) | (mid.len() as u8 - 1));
                template.extend_from_slice(mid);
                template.resize(16 + words * 4, 0);
            }
        }
        OutStream {
            template,
            seq: rand::random(),
            ts: rand::random(),
            first: true,
            ts_step: codec.ts_per_frame(),
        }
    }

    /// Writes the next header followed by `payload` into `buf`.
    fn write(&mut self, buf: &mut Vec<u8>, payload: &[u8]) {
        buf.clear();
        buf.extend_from_slice(&self.template);
        if self.first {
            buf[1] |= 0x80;
            self.first = false;
        }
        buf[2..4].copy_from_slice(&self.seq.to_be_bytes());
        buf[4..8].copy_from_slice(&self.ts.to_be_bytes());
        buf.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.ts_step);
    }

    /// Keeps the timestamp line running over frames not sent (RFC 3550 §5.1: time, not
    /// packets).
    fn skip_frame(&mut self) {
        self.skip_frames(1);
    }

    fn skip_frames(&mut self, frames: u32) {
        self.ts = self.ts.wrapping_add(self.ts_step.wrapping_mul(frames));
    }
}

#[derive(Debug, Default)]
struct Talk {
    sum: u32,
    count: u32,
    talking: bool,
}

struct Participant {
    id: ParticipantId,
    config: ParticipantConfig,
    out: Arc<dyn MixOut>,
    stream: OutStream,
    params: EncoderParams,
    jitter: JitterBuffer,
    decoder: Decode,
    in_ssrc: Option<u32>,
    /// Decoded samples not yet mixed (mono, room rate).
    pcm: Vec<i16>,
    pcm_len: usize,
    /// This frame's samples after the volume gain; valid when `has_frame`.
    frame: Vec<i16>,
    has_frame: bool,
    /// Frames left as a contributor (0 = not one).
    hangover: u32,
    contributor: bool,
    /// Packets were skipped: the decoder restarts at the next one it decodes.
    decoder_stale: bool,
    /// Encodes its mix-minus while it contributes.
    own: OwnEncoder,
    payload: Vec<u8>,
    payload_len: usize,
    /// Shared stream this participant listens to when it is not a contributor.
    shared: usize,
    talk: Talk,
}

/// What a shared stream encodes: Opus with given settings, or G.711.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Opus(EncoderParams),
    G711(Law),
}

/// A shared stream is one encoding of one mix: the room's (group 0) or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StreamKey {
    kind: StreamKind,
    group: usize,
}

struct SharedStream {
    key: StreamKey,
    /// Opus streams: taken from the pool while in use.
    encoder: Option<Encoder>,
    /// G.711 streams: the down-sampler state, kept for the stream's life.
    g711: Option<G711Out>,
    payload: Vec<u8>,
    payload_len: usize,
    /// Needed in this frame; frames since last needed.
    used: bool,
    idle: u32,
}

/// A file being played into the mix (a contributor nobody hears back).
struct FilePlayer {
    id: String,
    packets: Vec<Bytes>,
    pos: usize,
    loop_: bool,
    /// Forwarding group (0 = none).
    group: usize,
    decoder: Decoder,
    pcm: Vec<i16>,
    pcm_len: usize,
}

/// Files played at once per room.
pub const MAX_FILES: usize = 16;

struct Forwarder {
    stream_id: u32,
    out: Arc<dyn MixOut>,
    stream: OutStream,
    /// The shared stream it sends.
    shared: usize,
    group: usize,
    always_on: bool,
}

/// How a participant's own mix-minus is encoded while it contributes.
enum OwnEncoder {
    /// Taken from the pool when it becomes a contributor, returned when it stops.
    Opus(Option<Encoder>),
    /// Kept for the participant's life (a resampler and two small buffers); `on` while it
    /// contributes (its history is reset when it starts again).
    G711 { out: G711Out, on: bool },
}

/// A participant's decoder: Opus at the room's rate, or G.711 up-sampled to it.
enum Decode {
    Opus(Decoder),
    G711(G711In),
}

/// A G.711 participant's receive side: codes → 8 kHz PCM → the room's rate.
struct G711In {
    law: Law,
    up: Resampler,
    /// One packet's 8 kHz samples.
    pcm8: Vec<i16>,
    /// Samples in its last packet: how much silence a lost packet is concealed with.
    last: usize,
}

impl Decode {
    fn new(codec: AudioCodec, rate: u32) -> Result<Self, MixError> {
        Ok(match codec.law() {
            None => Decode::Opus(Decoder::new(rate, Channels::Mono)?),
            Some(law) => Decode::G711(G711In {
                law,
                up: Resampler::new(8000, rate),
                pcm8: vec![0; MAX_G711_IN],
                last: (super::G711_TS_PER_FRAME) as usize,
            }),
        })
    }

    /// Decodes one packet into `dst`; `None` on a broken packet.
    fn packet(&mut self, payload: &[u8], dst: &mut [i16]) -> Option<usize> {
        match self {
            Decode::Opus(d) => d.decode(payload, dst, false).ok(),
            Decode::G711(g) => {
                let k = payload
                    .len()
                    .min(MAX_G711_IN)
                    .min(g.up.max_input(dst.len()));
                let k = g.law.decode(&payload[..k], &mut g.pcm8[..k]);
                g.last = k;
                Some(g.up.process(&g.pcm8[..k], dst))
            }
        }
    }

    /// Recovers a lost packet from the next one's in-band FEC (Opus only).
    fn fec(&mut self, next: &[u8], dst: &mut [i16]) -> Option<usize> {
        match self {
            Decode::Opus(d) => d.decode(next, dst, true).ok(),
            Decode::G711(_) => None,
        }
    }

    /// Conceals a lost packet: Opus PLC of one `frame`, silence of the last packet's length for
    /// G.711 (through the resampler, so its history decays smoothly).
    fn conceal(&mut self, dst: &mut [i16], frame: usize) -> usize {
        match self {
            Decode::Opus(d) => {
                let frame = frame.min(dst.len());
                d.decode(&[], &mut dst[..frame], false).unwrap_or(0)
            }
            Decode::G711(g) => {
                let k = g.last.min(g.up.max_input(dst.len()));
                g.pcm8[..k].iter_mut().for_each(|s| *s = 0);
                g.up.process(&g.pcm8[..k], dst)
            }
        }
    }

    fn reset(&mut self) {
        match self {
            Decode::Opus(d) => {
                let _ = d.reset_state();
            }
            Decode::G711(g) => g.up.reset(),
        }
    }
}

/// G.711 encoding of a mix: mono down-mix (spatial rooms), down-sampling to 8 kHz,
/// companding into 160 bytes per frame.
struct G711Out {
    law: Law,
    down: Resampler,
    mono: Vec<i16>,
    pcm8: Vec<i16>,
}

impl G711Out {
    fn new(law: Law, rate: u32, frame_samples: usize) -> Self {
        let down = Resampler::new(rate, 8000);
        let max = down.max_output(frame_samples);
        G711Out {
            law,
            down,
            mono: vec![0; frame_samples],
            pcm8: vec![0; max],
        }
    }

    /// Encodes one frame of `pcm` (room rate, `ch` interleaved channels) into `out`.
    fn encode(&mut self, pcm: &[i16], ch: usize, out: &mut [u8]) -> usize {
        let mono: &[i16] = if ch == 2 {
            for (m, s) in self.mono.iter_mut().zip(pcm.chunks_exact(2)) {
                *m = ((i32::from(s[0]) + i32::from(s[1])) / 2) as i16;
            }
            &self.mono
        } else {
            pcm
        };
        let k = self.down.process(mono, &mut self.pcm8);
        self.law.encode(&self.pcm8[..k], out)
    }
}

/// An output chosen by [`MixCore::next_target`]: participant index and shared stream
/// (`None` = own mix-minus), or forwarder index and shared stream.
#[derive(Debug, Clone, Copy)]
enum Target {
    Participant(usize, Option<usize>),
    Forwarder(usize, usize),
}

/// Where [`MixCore::poll_output`] is in the current frame's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    Idle,
    Participant(usize),
    Forwarder(usize),
    Recording,
}

/// The mixer of one room; see the module doc.
pub struct MixCore {
    config: MixerConfig,
    rate: u32,
    /// Mono samples per frame at the room's rate.
    frame_samples: usize,
    channels: usize,
    next_frame: Instant,
    participants: Vec<Participant>,
    index: HashMap<ParticipantId, usize>,
    shared: Vec<SharedStream>,
    forwarders: Vec<Forwarder>,
    files: Vec<FilePlayer>,
    pool: Vec<Encoder>,
    room_muted: bool,
    /// The full mix of this frame (interleaved when stereo).
    mix: Vec<i32>,
    /// Group `g`'s sub-mix at `g - 1`, for the groups forwarders ask for (`1..=groups_used`;
    /// buffers grow on the control path only).
    group_mix: Vec<Vec<i32>>,
    groups_used: usize,
    /// Saturated PCM handed to an encoder.
    pcm_out: Vec<i16>,
    scratch: Vec<u8>,
    cursor: Cursor,
    recording: bool,
    /// The saturated full mix of this frame, kept when recording.
    record_pcm: Vec<i16>,
    events: VecDeque<MixerEvent>,
    /// Mean-square energy per sample at the activity threshold.
    activity_energy: f64,
    stats: CoreStats,
}

/// Why a core or participant could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MixError {
    #[error("sampling rate {0} is not one of 8000, 12000, 16000, 24000, 48000")]
    BadRate(u32),
    #[error("too many participants")]
    Full,
    #[error("too many files playing")]
    TooManyFiles,
    #[error("too many forwarders")]
    TooManyForwarders,
    #[error("opus: {0}")]
    Opus(String),
}

impl From<opus::Error> for MixError {
    fn from(e: opus::Error) -> Self {
        MixError::Opus(e.to_string())
    }
}

fn valid_rate(rate: u32) -> bool {
    matches!(rate, 8000 | 12000 | 16000 | 24000 | 48000)
}

/// Saturates an `i32` sample to `i16`.
#[inline]
fn sat(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Left/right gains in percent for a stereo position 0..=100 (centre = both full).
#[inline]
fn pan(position: u8) -> (i32, i32) {
    let p = i32::from(position.min(100));
    ((2 * (100 - p)).min(100), (2 * p).min(100))
}

/// RFC 6464 style level (−dBov, 0..=127) of a mean-square energy.
fn level_of(mean_square: f64) -> u8 {
    if mean_square <= 0.0 {
        return 127;
    }
    let full = f64::from(i16::MAX) * f64::from(i16::MAX);
    let db = -10.0 * (mean_square / full).log10();
    db.round().clamp(0.0, 127.0) as u8
}

impl MixCore {
    /// A room whose first frame is due one period after `now`.
    pub fn new(config: MixerConfig, now: Instant) -> Result<Self, MixError> {
        if !valid_rate(config.sampling_rate) {
            return Err(MixError::BadRate(config.sampling_rate));
        }
        let rate = config.sampling_rate;
        let frame_samples = (rate / 50) as usize;
        let channels = if config.spatial_audio { 2 } else { 1 };
        let full = f64::from(i16::MAX) * f64::from(i16::MAX);
        let activity_energy = full * 10f64.powf(-f64::from(config.activity_dbov.min(127)) / 10.0);
        Ok(MixCore {
            rate,
            frame_samples,
            channels,
            next_frame: now + FRAME,
            participants: Vec::new(),
            index: HashMap::new(),
            shared: Vec::new(),
            forwarders: Vec::new(),
            files: Vec::new(),
            pool: Vec::new(),
            room_muted: false,
            mix: vec![0; frame_samples * channels],
            group_mix: Vec::new(),
            groups_used: 0,
            pcm_out: vec![0; frame_samples * channels],
            scratch: Vec::with_capacity(MAX_HEADER + MAX_OPUS_PAYLOAD),
            cursor: Cursor::Idle,
            recording: false,
            record_pcm: vec![0; frame_samples * channels],
            events: VecDeque::new(),
            activity_energy,
            stats: CoreStats::default(),
            config,
        })
    }

    pub fn config(&self) -> &MixerConfig {
        &self.config
    }

    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// When the next frame is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_frame
    }

    /// Whether a frame would do nothing: no participant, no file, no forwarder, no
    /// recording. The task then waits for an input instead of waking 50 times a second
    /// (Janus's mixer thread keeps ticking in every empty room), and restarts the frame grid
    /// ([`Self::restart_clock`]) when something arrives.
    pub fn is_idle(&self) -> bool {
        self.participants.is_empty()
            && self.files.is_empty()
            && self.forwarders.is_empty()
            && !self.recording
    }

    /// Whether each frame's full mix is output as [`MixOutput::Recording`].
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// Samples per channel per frame and channels (the recording's format).
    pub fn frame_format(&self) -> (usize, usize) {
        (self.frame_samples, self.channels)
    }

    /// Whether `id` is contributing to the mix (has its own mix-minus stream).
    pub fn is_contributor(&self, id: ParticipantId) -> bool {
        self.index
            .get(&id)
            .is_some_and(|&i| self.participants[i].contributor)
    }

    fn abandon_outputs(&mut self) {
        if self.cursor != Cursor::Idle {
            self.stats.outputs_abandoned += 1;
            self.cursor = Cursor::Idle;
        }
    }

    /// A control input. File playback is read by the task and handed over as packets
    /// ([`MixCore::play_packets`]); `PlayFile` here is ignored.
    pub fn handle_input(&mut self, _now: Instant, input: MixerInput) -> Result<(), MixError> {
        self.abandon_outputs();
        match input {
            MixerInput::AddParticipant { id, config, out } => self.add(id, config, out)?,
            MixerInput::UpdateParticipant { id, config } => self.update(id, config)?,
            MixerInput::RemoveParticipant { id } => self.remove(id),
            MixerInput::MuteRoom(m) => self.room_muted = m,
            MixerInput::ResetDecoder { id } => {
                if let Some(&i) = self.index.get(&id) {
                    let p = &mut self.participants[i];
                    p.jitter.reset();
                    p.pcm_len = 0;
                    p.decoder.reset();
                }
            }
            // IO: done by the task.
            MixerInput::PlayFile { .. } | MixerInput::Record { .. } => {}
            MixerInput::StopFile { file_id } => self.files.retain(|f| f.id != file_id),
            MixerInput::AddForwarder { stream_id, config } => {
                self.add_forwarder(stream_id, config)?
            }
            MixerInput::RemoveForwarder { stream_id } => {
                self.forwarders.retain(|f| f.stream_id != stream_id);
                self.update_groups_used();
            }
        }
        Ok(())
    }

    /// Starts playing Opus `packets` (one frame each, as read from an Ogg file) into the
    /// mix, as a member of `group` (0 = none) for group forwarders; a file with the same id
    /// is replaced. [`MixerEvent::FileDone`] when it ends.
    pub fn play_packets(
        &mut self,
        file_id: String,
        packets: Vec<Bytes>,
        loop_: bool,
        group: usize,
    ) -> Result<(), MixError> {
        self.files.retain(|f| f.id != file_id);
        if self.files.len() >= MAX_FILES {
            return Err(MixError::TooManyFiles);
        }
        self.files.push(FilePlayer {
            id: file_id,
            packets,
            pos: 0,
            loop_,
            group: valid_group(group),
            decoder: Decoder::new(self.rate, Channels::Mono)?,
            pcm: vec![0; MAX_PACKET_SAMPLES + self.frame_samples],
            pcm_len: 0,
        });
        Ok(())
    }

    /// Ids of the files playing now.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.id.as_str())
    }

    fn params_of(&self, c: &ParticipantConfig) -> EncoderParams {
        EncoderParams {
            bitrate: c.bitrate.unwrap_or(self.config.default_bitrate),
            loss: c.expected_loss.unwrap_or(self.config.default_expectedloss),
        }
    }

    fn room_params(&self) -> EncoderParams {
        EncoderParams {
            bitrate: self.config.default_bitrate,
            loss: self.config.default_expectedloss,
        }
    }

    /// What a participant (or forwarder, with the room's Opus settings) is sent when it
    /// does not get its own mix-minus.
    fn kind_of(&self, codec: AudioCodec, params: EncoderParams) -> StreamKind {
        match codec.law() {
            Some(law) => StreamKind::G711(law),
            None => StreamKind::Opus(params),
        }
    }

    fn shared_for(&mut self, key: StreamKey) -> usize {
        if let Some(k) = self.shared.iter().position(|s| s.key == key) {
            return k;
        }
        // Bounded: beyond this many Opus settings, listeners with unusual settings hear the
        // room's stream. (G.711 and group streams are bounded by 2 laws × groups.)
        if let StreamKind::Opus(params) = key.kind {
            let opus = self
                .shared
                .iter()
                .filter(|s| matches!(s.key.kind, StreamKind::Opus(_)))
                .count();
            let room = self.room_params();
            if opus >= MAX_SHARED_STREAMS && params != room {
                return self.shared_for(StreamKey {
                    kind: StreamKind::Opus(room),
                    ..key
                });
            }
        }
        let g711 = match key.kind {
            StreamKind::G711(law) => Some(G711Out::new(law, self.rate, self.frame_samples)),
            StreamKind::Opus(_) => None,
        };
        self.shared.push(SharedStream {
            key,
            encoder: None,
            g711,
            payload: vec![0; MAX_OPUS_PAYLOAD],
            payload_len: 0,
            used: false,
            idle: 0,
        });
        self.shared.len() - 1
    }

    fn add(
        &mut self,
        id: ParticipantId,
        config: ParticipantConfig,
        out: Arc<dyn MixOut>,
    ) -> Result<(), MixError> {
        if self.index.contains_key(&id) {
            self.remove(id);
        }
        if self.participants.len() >= MAX_PARTICIPANTS {
            return Err(MixError::Full);
        }
        let params = self.params_of(&config);
        let shared = self.shared_for(StreamKey {
            kind: self.kind_of(config.codec, params),
            group: 0,
        });
        let p = Participant {
            id,
            stream: OutStream::new(
                config.pt,
                config.ssrc,
                config.mid_ext.zip(config.mid.as_deref()),
                config.codec,
            ),
            params,
            jitter: JitterBuffer::new(config.prebuffer),
            decoder: Decode::new(config.codec, self.rate)?,
            in_ssrc: None,
            pcm: vec![0; MAX_PACKET_SAMPLES + self.frame_samples],
            pcm_len: 0,
            frame: vec![0; self.frame_samples],
            has_frame: false,
            hangover: 0,
            contributor: false,
            decoder_stale: false,
            own: self.own_encoder(config.codec),
            payload: vec![0; MAX_OPUS_PAYLOAD],
            payload_len: 0,
            shared,
            talk: Talk::default(),
            config,
            out,
        };
        self.index.insert(id, self.participants.len());
        self.participants.push(p);
        Ok(())
    }

    fn own_encoder(&self, codec: AudioCodec) -> OwnEncoder {
        match codec.law() {
            None => OwnEncoder::Opus(None),
            Some(law) => OwnEncoder::G711 {
                out: G711Out::new(law, self.rate, self.frame_samples),
                on: false,
            },
        }
    }

    fn update(&mut self, id: ParticipantId, config: ParticipantConfig) -> Result<(), MixError> {
        let Some(&i) = self.index.get(&id) else {
            return Ok(());
        };
        let params = self.params_of(&config);
        let shared = self.shared_for(StreamKey {
            kind: self.kind_of(config.codec, params),
            group: 0,
        });
        if self.participants[i].config.codec != config.codec {
            // A codec change (not something Janus clients do) restarts both directions.
            let decoder = Decode::new(config.codec, self.rate)?;
            let own = self.own_encoder(config.codec);
            let p = &mut self.participants[i];
            p.decoder = decoder;
            p.jitter.reset();
            p.pcm_len = 0;
            if let OwnEncoder::Opus(Some(e)) = std::mem::replace(&mut p.own, own) {
                self.release(e);
            }
        }
        let p = &mut self.participants[i];
        let old = &p.config;
        if old.pt != config.pt
            || old.codec != config.codec
            || old.ssrc != config.ssrc
            || old.mid_ext != config.mid_ext
            || old.mid != config.mid
        {
            let mut s = OutStream::new(
                config.pt,
                config.ssrc,
                config.mid_ext.zip(config.mid.as_deref()),
                config.codec,
            );
            // Same SSRC and clock: the sequence and timestamp lines go on.
            if old.ssrc == config.ssrc && old.codec.ts_per_frame() == config.codec.ts_per_frame() {
                s.seq = p.stream.seq;
                s.ts = p.stream.ts;
                s.first = p.stream.first;
            }
            p.stream = s;
        }
        p.jitter.set_prebuffer(config.prebuffer);
        if p.params != params {
            p.params = params;
            if let OwnEncoder::Opus(Some(e)) = &mut p.own {
                configure(e, params);
            }
        }
        p.shared = shared;
        if config.talking_packets != old.talking_packets {
            p.talk = Talk {
                talking: p.talk.talking,
                ..Talk::default()
            };
        }
        p.config = config;
        Ok(())
    }

    fn remove(&mut self, id: ParticipantId) {
        let Some(i) = self.index.remove(&id) else {
            return;
        };
        let mut p = self.participants.swap_remove(i);
        if let Some(moved) = self.participants.get(i) {
            self.index.insert(moved.id, i);
        }
        if let OwnEncoder::Opus(Some(e)) = std::mem::replace(&mut p.own, OwnEncoder::Opus(None)) {
            self.release(e);
        }
    }

    fn add_forwarder(&mut self, stream_id: u32, config: ForwarderConfig) -> Result<(), MixError> {
        self.forwarders.retain(|f| f.stream_id != stream_id);
        if self.forwarders.len() >= MAX_FORWARDERS {
            return Err(MixError::TooManyForwarders);
        }
        let group = valid_group(config.group);
        let kind = self.kind_of(config.codec, self.room_params());
        let shared = self.shared_for(StreamKey { kind, group });
        self.forwarders.push(Forwarder {
            stream_id,
            stream: OutStream::new(config.pt, config.ssrc, None, config.codec),
            out: config.out,
            shared,
            group,
            always_on: config.always_on,
        });
        self.update_groups_used();
        Ok(())
    }

    /// Sub-mixes are kept only for groups a forwarder sends.
    fn update_groups_used(&mut self) {
        self.groups_used = self.forwarders.iter().map(|f| f.group).max().unwrap_or(0);
        let len = self.mix.len();
        while self.group_mix.len() < self.groups_used {
            self.group_mix.push(vec![0; len]);
        }
    }

    fn take_encoder(&mut self, params: EncoderParams) -> Result<Encoder, MixError> {
        let mut e = match self.pool.pop() {
            Some(mut e) => {
                e.reset_state()?;
                e
            }
            None => {
                let ch = if self.channels == 2 {
                    Channels::Stereo
                } else {
                    Channels::Mono
                };
                self.stats.encoders_created += 1;
                Encoder::new(self.rate, ch, Application::Voip)?
            }
        };
        configure(&mut e, params);
        let _ = e.set_max_bandwidth(max_bandwidth(self.rate));
        self.stats.encoders_live += 1;
        Ok(e)
    }

    fn release(&mut self, e: Encoder) {
        self.stats.encoders_live = self.stats.encoders_live.saturating_sub(1);
        self.pool.push(e);
    }

    /// One received RTP packet of participant `id`. Malformed packets are dropped and
    /// counted.
    pub fn handle_packet(&mut self, _now: Instant, id: ParticipantId, packet: Bytes) {
        self.stats.packets_in += 1;
        let Some(&i) = self.index.get(&id) else {
            self.stats.packets_invalid += 1;
            return;
        };
        let p = &mut self.participants[i];
        let Ok(view) = RtpView::try_parse(&packet) else {
            self.stats.packets_invalid += 1;
            return;
        };
        let range = view.payload_range();
        if view.payload_type() != p.config.pt || range.is_empty() {
            self.stats.packets_invalid += 1;
            return;
        }
        let (seq, ssrc) = (view.sequence_number(), view.ssrc());
        let level = p
            .config
            .audio_level_ext
            .and_then(|id| view.extension(id))
            .and_then(rtp::ext::audio_level);
        if p.in_ssrc != Some(ssrc) {
            // A new source: its sequence numbers have nothing to do with the old one's.
            if p.in_ssrc.is_some() {
                p.jitter.reset();
            }
            p.in_ssrc = Some(ssrc);
        }
        let before = p.jitter.overflows;
        match p
            .jitter
            .push(seq, packet.slice(range), level.map(|l| l.level))
        {
            Ok(()) => {}
            Err(Rejected::Late) => {
                self.stats.packets_late += 1;
                return;
            }
            Err(Rejected::Duplicate) => {
                self.stats.duplicates += 1;
                return;
            }
        }
        self.stats.jitter_overflows += p.jitter.overflows - before;
        if let Some(level) = level {
            let window = p
                .config
                .talking_packets
                .unwrap_or(self.config.audio_active_packets);
            let threshold = p
                .config
                .talking_level
                .unwrap_or(self.config.audio_level_average);
            talk_sample(
                &mut p.talk,
                p.id,
                level.level,
                window,
                threshold,
                &mut self.events,
            );
        }
    }

    /// Runs one frame if one is due at `now`; `true` if it did (drain the outputs, then call
    /// again: a late caller catches up frame by frame).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if now < self.next_frame {
            return false;
        }
        // Too far behind (the task was starved): skip to the latest due frame, keeping the
        // `start + k × FRAME` grid.
        let behind = now - self.next_frame;
        if behind > MAX_CATCH_UP {
            let skip = (behind.as_nanos() / FRAME.as_nanos()) as u32;
            self.next_frame += FRAME * skip;
            self.stats.frames_skipped += u64::from(skip);
            for p in &mut self.participants {
                p.stream.skip_frames(skip);
                // What arrived meanwhile would only add latency: play past it.
                for _ in 0..skip.min(super::jitter::SLOTS as u32) {
                    let _ = p.jitter.pop();
                }
                p.pcm_len = 0;
            }
            for f in &mut self.forwarders {
                f.stream.skip_frames(skip);
            }
        }
        self.next_frame += FRAME;
        self.abandon_outputs();
        self.mix_frame();
        true
    }

    fn mix_frame(&mut self) {
        self.stats.frames += 1;
        let n = self.frame_samples;
        let ch = self.channels;
        self.mix.iter_mut().for_each(|s| *s = 0);
        let groups = self.groups_used;
        for g in &mut self.group_mix[..groups] {
            g.iter_mut().for_each(|s| *s = 0);
        }
        let mut contributors = 0u64;
        let room_muted = self.room_muted;
        let hangover = CONTRIBUTOR_HANGOVER_FRAMES;
        let (window_default, level_default) = (
            self.config.audio_active_packets,
            self.config.audio_level_average,
        );

        // 1 + 2: decode, decide, sum.
        let activity_dbov = i16::from(self.config.activity_dbov.min(127));
        for p in &mut self.participants {
            // With the audio-level extension (talking detection from it), packets nobody
            // will hear are not decoded: a muted participant's, and a silent one's below the
            // activity gate while it is not a contributor.
            let skip_above = if p.config.audio_level_ext.is_none() {
                NEVER_SKIP
            } else if p.config.muted || room_muted {
                SKIP_ALL
            } else if p.contributor {
                NEVER_SKIP
            } else {
                activity_dbov
            };
            decode_frame(p, n, skip_above, &mut self.stats);
            let mut energy = 0f64;
            if p.has_frame {
                let sum: i64 = p.frame[..n]
                    .iter()
                    .map(|&s| i64::from(s) * i64::from(s))
                    .sum();
                energy = sum as f64 / n as f64;
                if p.config.audio_level_ext.is_none() {
                    let window = p.config.talking_packets.unwrap_or(window_default);
                    let threshold = p.config.talking_level.unwrap_or(level_default);
                    talk_sample(
                        &mut p.talk,
                        p.id,
                        level_of(energy),
                        window,
                        threshold,
                        &mut self.events,
                    );
                }
            }
            let active = p.has_frame && energy >= self.activity_energy && energy > 0.0;
            if p.config.muted || room_muted {
                p.hangover = 0;
            } else if active {
                p.hangover = hangover;
            } else {
                p.hangover = p.hangover.saturating_sub(1);
            }
            p.contributor = p.hangover > 0;
            if !p.contributor {
                continue;
            }
            contributors += 1;
            if !p.has_frame {
                continue;
            }
            apply_volume(&mut p.frame[..n], p.config.volume);
            let position = p.config.spatial_position;
            add_into(&mut self.mix, &p.frame[..n], ch, position);
            // Janus: group forwarders carry their group's sub-mix; the room's mix (what
            // participants hear) is the sum of all.
            let g = p.config.group;
            if (1..=groups).contains(&g) {
                add_into(&mut self.group_mix[g - 1], &p.frame[..n], ch, position);
            }
        }
        // Files: mixed centred, heard by everyone.
        let mut i = 0;
        while i < self.files.len() {
            let f = &mut self.files[i];
            let group = f.group;
            let (frame, done) = file_frame(f, n, &mut self.stats);
            if let Some(frame) = frame {
                contributors += 1;
                add_into(&mut self.mix, frame, ch, 50);
                if (1..=groups).contains(&group) {
                    add_into(&mut self.group_mix[group - 1], frame, ch, 50);
                }
                f.pcm.copy_within(n..f.pcm_len, 0);
                f.pcm_len -= n;
            }
            if done {
                let f = self.files.swap_remove(i);
                self.events
                    .push_back(MixerEvent::FileDone { file_id: f.id });
            } else {
                i += 1;
            }
        }
        self.stats.contributors = contributors;

        // 3a: own encoders follow contributor status.
        for i in 0..self.participants.len() {
            let p = &mut self.participants[i];
            let contrib = p.contributor;
            let has_enc = match &mut p.own {
                OwnEncoder::G711 { out, on } => {
                    if contrib && !*on {
                        out.down.reset();
                    }
                    *on = contrib;
                    continue;
                }
                OwnEncoder::Opus(e) => e.is_some(),
            };
            let params = p.params;
            if contrib && !has_enc {
                match self.take_encoder(params) {
                    Ok(e) => self.participants[i].own = OwnEncoder::Opus(Some(e)),
                    Err(_) => self.stats.encode_errors += 1,
                }
            } else if !contrib && has_enc {
                if let OwnEncoder::Opus(Some(e)) =
                    std::mem::replace(&mut self.participants[i].own, OwnEncoder::Opus(None))
                {
                    self.release(e);
                }
            }
        }

        // 3b: mix-minus per contributor.
        for p in &mut self.participants {
            p.payload_len = 0;
            let encoding = match &p.own {
                OwnEncoder::Opus(e) => e.is_some(),
                OwnEncoder::G711 { on, .. } => *on,
            };
            if !encoding {
                continue;
            }
            let frame = p.has_frame.then(|| &p.frame[..n]);
            mix_minus(
                &mut self.pcm_out,
                &self.mix,
                frame,
                ch,
                p.config.spatial_position,
            );
            match &mut p.own {
                OwnEncoder::Opus(Some(enc)) => match enc.encode(&self.pcm_out, &mut p.payload) {
                    Ok(len) => {
                        p.payload_len = len;
                        self.stats.encodes += 1;
                    }
                    Err(_) => self.stats.encode_errors += 1,
                },
                OwnEncoder::G711 { out, .. } => {
                    p.payload_len = out.encode(&self.pcm_out, ch, &mut p.payload);
                    self.stats.g711_encodes += 1;
                }
                OwnEncoder::Opus(None) => {}
            }
        }

        // 3c: shared streams in use: listeners and forwarders.
        for s in &mut self.shared {
            s.used = false;
            s.payload_len = 0;
        }
        for p in &self.participants {
            if !p.contributor {
                if let Some(s) = self.shared.get_mut(p.shared) {
                    s.used = true;
                }
            }
        }
        let empty = self.room_is_empty();
        for f in &self.forwarders {
            if f.always_on || !empty {
                if let Some(s) = self.shared.get_mut(f.shared) {
                    s.used = true;
                }
            }
        }
        // Which mix `pcm_out` holds saturated (the room's is group 0).
        let mut saturated: Option<usize> = None;
        for k in 0..self.shared.len() {
            if !self.shared[k].used {
                self.shared[k].idle += 1;
                if self.shared[k].idle >= SHARED_IDLE_FRAMES {
                    if let Some(e) = self.shared[k].encoder.take() {
                        self.release(e);
                    }
                }
                continue;
            }
            self.shared[k].idle = 0;
            let key = self.shared[k].key;
            if let StreamKind::Opus(params) = key.kind {
                if self.shared[k].encoder.is_none() {
                    match self.take_encoder(params) {
                        Ok(e) => self.shared[k].encoder = Some(e),
                        Err(_) => {
                            self.stats.encode_errors += 1;
                            continue;
                        }
                    }
                }
            }
            if saturated != Some(key.group) {
                let src = match key.group {
                    0 => &self.mix,
                    g => &self.group_mix[g - 1],
                };
                for (o, &m) in self.pcm_out.iter_mut().zip(src) {
                    *o = sat(m);
                }
                saturated = Some(key.group);
            }
            let s = &mut self.shared[k];
            if let Some(enc) = s.encoder.as_mut() {
                match enc.encode(&self.pcm_out, &mut s.payload) {
                    Ok(len) => {
                        s.payload_len = len;
                        self.stats.encodes += 1;
                    }
                    Err(_) => self.stats.encode_errors += 1,
                }
            } else if let Some(g) = s.g711.as_mut() {
                s.payload_len = g.encode(&self.pcm_out, ch, &mut s.payload);
                self.stats.g711_encodes += 1;
            }
        }

        if self.recording {
            for (o, &m) in self.record_pcm.iter_mut().zip(&self.mix) {
                *o = sat(m);
            }
        }
        self.cursor = Cursor::Participant(0);
    }

    /// The next output of the current frame (one participant or forwarder per call), then
    /// events.
    pub fn poll_output(&mut self) -> Option<MixOutput<'_>> {
        if let Some(e) = self.events.pop_front() {
            return Some(MixOutput::Event(e));
        }
        let Some(target) = self.next_target() else {
            if self.cursor == Cursor::Recording {
                self.cursor = Cursor::Idle;
                return Some(MixOutput::Recording(&self.record_pcm));
            }
            return None;
        };
        match target {
            Target::Participant(i, shared) => {
                let p = &mut self.participants[i];
                let payload = match shared {
                    None => &p.payload[..p.payload_len],
                    Some(k) => &self.shared[k].payload[..self.shared[k].payload_len],
                };
                p.stream.write(&mut self.scratch, payload);
                self.stats.packets_out += 1;
                self.stats.bytes_out += self.scratch.len() as u64;
                Some(MixOutput::Rtp {
                    to: Destination::Participant { id: p.id, shared },
                    out: &p.out,
                    packet: &self.scratch,
                })
            }
            Target::Forwarder(i, k) => {
                let f = &mut self.forwarders[i];
                let s = &self.shared[k];
                f.stream
                    .write(&mut self.scratch, &s.payload[..s.payload_len]);
                self.stats.packets_out += 1;
                self.stats.bytes_out += self.scratch.len() as u64;
                Some(MixOutput::Rtp {
                    to: Destination::Forwarder {
                        stream_id: f.stream_id,
                        shared: k,
                    },
                    out: &f.out,
                    packet: &self.scratch,
                })
            }
        }
    }

    /// Advances the cursor to the next destination that has a payload this frame (the
    /// others keep their timestamp line running).
    fn next_target(&mut self) -> Option<Target> {
        loop {
            match self.cursor {
                Cursor::Idle | Cursor::Recording => return None,
                Cursor::Participant(i) if i >= self.participants.len() => {
                    self.cursor = Cursor::Forwarder(0);
                }
                Cursor::Participant(i) => {
                    self.cursor = Cursor::Participant(i + 1);
                    let p = &mut self.participants[i];
                    let (len, shared) = if p.contributor {
                        (p.payload_len, None)
                    } else {
                        let len = self.shared.get(p.shared).map_or(0, |s| s.payload_len);
                        (len, Some(p.shared))
                    };
                    if len == 0 {
                        p.stream.skip_frame();
                        continue;
                    }
                    return Some(Target::Participant(i, shared));
                }
                Cursor::Forwarder(i) if i >= self.forwarders.len() => {
                    if self.recording {
                        self.cursor = Cursor::Recording;
                        return None;
                    }
                    self.cursor = Cursor::Idle;
                }
                Cursor::Forwarder(i) => {
                    self.cursor = Cursor::Forwarder(i + 1);
                    let k = self.forwarders[i].shared;
                    let sends = self.forwarders[i].always_on || !self.room_is_empty();
                    if sends && self.shared.get(k).is_some_and(|s| s.payload_len > 0) {
                        return Some(Target::Forwarder(i, k));
                    }
                    self.forwarders[i].stream.skip_frame();
                }
            }
        }
    }

    /// Janus sends forwarders nothing (unless `always_on`) while nobody is in the room and
    /// no file plays.
    fn room_is_empty(&self) -> bool {
        self.participants.is_empty() && self.files.is_empty()
    }

    /// Lets the core's clock start at `at` (the first frame is due one period later).
    pub fn restart_clock(&mut self, at: Instant) {
        self.next_frame = at + FRAME;
    }

    /// Interval between frames.
    pub const fn period() -> Duration {
        FRAME
    }
}

/// The widest audio band a room's rate carries (Janus sets the same limit).
fn max_bandwidth(rate: u32) -> Bandwidth {
    match rate {
        8000 => Bandwidth::Narrowband,
        12000 => Bandwidth::Mediumband,
        16000 => Bandwidth::Wideband,
        24000 => Bandwidth::Superwideband,
        _ => Bandwidth::Fullband,
    }
}

fn configure(e: &mut Encoder, params: EncoderParams) {
    let bitrate = if params.bitrate == 0 {
        Bitrate::Auto
    } else {
        Bitrate::Bits(params.bitrate.clamp(500, 512_000) as i32)
    };
    // Settings libopus refuses keep their previous values; nothing to recover.
    let _ = e.set_bitrate(bitrate);
    let _ = e.set_inband_fec(params.loss > 0);
    let _ = e.set_packet_loss_perc(i32::from(params.loss.min(100)));
    let _ = e.set_complexity(ENCODER_COMPLEXITY);
}

/// Adds a mono `frame` into `mix` (interleaved stereo panned by `position` when `ch` is 2).
fn add_into(mix: &mut [i32], frame: &[i16], ch: usize, position: u8) {
    if ch == 1 {
        for (m, &s) in mix.iter_mut().zip(frame) {
            *m += i32::from(s);
        }
    } else {
        let (l, r) = pan(position);
        for (m, &s) in mix.chunks_exact_mut(2).zip(frame) {
            m[0] += i32::from(s) * l / 100;
            m[1] += i32::from(s) * r / 100;
        }
    }
}

/// `out` = `mix` without `own` (panned as it was added), saturated.
fn mix_minus(out: &mut [i16], mix: &[i32], own: Option<&[i16]>, ch: usize, position: u8) {
    match (ch, own) {
        (1, Some(own)) => {
            for ((o, &m), &s) in out.iter_mut().zip(mix).zip(own) {
                *o = sat(m - i32::from(s));
            }
        }
        (_, Some(own)) => {
            let (l, r) = pan(position);
            for ((o, m), &s) in out.chunks_exact_mut(2).zip(mix.chunks_exact(2)).zip(own) {
                o[0] = sat(m[0] - i32::from(s) * l / 100);
                o[1] = sat(m[1] - i32::from(s) * r / 100);
            }
        }
        (_, None) => {
            for (o, &m) in out.iter_mut().zip(mix) {
                *o = sat(m);
            }
        }
    }
}

/// A group index the core keeps a sub-mix for, else 0 (the whole room).
fn valid_group(group: usize) -> usize {
    if group <= MAX_GROUPS {
        group
    } else {
        0
    }
}

fn apply_volume(frame: &mut [i16], volume: u32) {
    if volume == 100 {
        return;
    }
    let v = volume.min(10_000) as i32;
    for s in frame {
        *s = sat(i32::from(*s) * v / 100);
    }
}

/// Janus's talking detection: levels averaged over a window of `window` samples.
fn talk_sample(
    t: &mut Talk,
    id: ParticipantId,
    level: u8,
    window: u32,
    threshold: u8,
    events: &mut VecDeque<MixerEvent>,
) {
    if window == 0 {
        return;
    }
    t.sum += u32::from(level);
    t.count += 1;
    if t.count < window {
        return;
    }
    let avg = t.sum as f32 / t.count as f32;
    t.sum = 0;
    t.count = 0;
    let talking = avg < f32::from(threshold);
    if talking != t.talking {
        t.talking = talking;
        events.push_back(MixerEvent::Talking {
            id,
            talking,
            level_avg: avg,
        });
    }
}

/// `skip_above` for [`decode_frame`]: decode every packet / none that carries a level.
const NEVER_SKIP: i16 = 128;
const SKIP_ALL: i16 = -1;

/// Fills `p.frame` with the participant's next `n` samples (decoding as needed). Packets whose
/// audio level is above `skip_above` (quieter) are not decoded; they play as silence and the
/// decoder restarts clean at the next decoded packet (its state no longer matches the
/// stream, and a concealment from it would be noise).
fn decode_frame(p: &mut Participant, n: usize, skip_above: i16, stats: &mut CoreStats) {
    while p.pcm_len < n {
        let free = p.pcm.len() - p.pcm_len;
        let dst = &mut p.pcm[p.pcm_len..];
        let popped = p.jitter.pop();
        let skip = match popped {
            Playout::Packet(_, Some(level)) => i16::from(level) > skip_above,
            Playout::Lost { .. } => p.decoder_stale,
            _ => false,
        };
        if skip {
            stats.decodes_skipped += 1;
            p.decoder_stale = true;
            break;
        }
        if p.decoder_stale && matches!(popped, Playout::Packet(..)) {
            p.decoder.reset();
            p.decoder_stale = false;
        }
        let plc = n.min(free);
        let got = match popped {
            Playout::Silent => break,
            Playout::Packet(payload, _) => match p.decoder.packet(payload, dst) {
                Some(k) => k,
                None => {
                    stats.decode_errors += 1;
                    // Conceal the broken packet instead of leaving a hole.
                    p.decoder.conceal(dst, plc)
                }
            },
            Playout::Lost { next: Some(next) } => match p.decoder.fec(next, &mut dst[..plc]) {
                Some(k) => {
                    stats.fec_frames += 1;
                    k
                }
                None => {
                    stats.plc_frames += 1;
                    p.decoder.conceal(dst, plc)
                }
            },
            Playout::Lost { next: None } => {
                stats.plc_frames += 1;
                p.decoder.conceal(dst, plc)
            }
        };
        if got == 0 {
            break;
        }
        p.pcm_len += got;
    }
    if p.pcm_len == 0 {
        p.has_frame = false;
        return;
    }
    p.has_frame = true;
    let take = p.pcm_len.min(n);
    p.frame[..take].copy_from_slice(&p.pcm[..take]);
    p.frame[take..n].iter_mut().for_each(|s| *s = 0);
    p.pcm.copy_within(take..p.pcm_len, 0);
    p.pcm_len -= take;
}

/// The file's next frame (the first `n` samples of its FIFO, consumed by the caller) and
/// whether it has ended.
fn file_frame<'a>(
    f: &'a mut FilePlayer,
    n: usize,
    stats: &mut CoreStats,
) -> (Option<&'a [i16]>, bool) {
    while f.pcm_len < n {
        if f.pos >= f.packets.len() {
            if f.loop_ && !f.packets.is_empty() {
                f.pos = 0;
            } else {
                break;
            }
        }
        let packet = &f.packets[f.pos];
        f.pos += 1;
        let dst = &mut f.pcm[f.pcm_len..];
        match f.decoder.decode(packet, dst, false) {
            Ok(k) => f.pcm_len += k,
            Err(_) => stats.decode_errors += 1,
        }
    }
    if f.pcm_len == 0 {
        return (None, true);
    }
    if f.pcm_len < n {
        f.pcm[f.pcm_len..n].iter_mut().for_each(|s| *s = 0);
        f.pcm_len = n;
    }
    let done = !f.loop_ && f.pos >= f.packets.len() && f.pcm_len <= n;
    (Some(&f.pcm[..n]), done)
}

//! The AudioBridge mixing engine: one task per room decoding every participant's Opus or
//! G.711, mixing, and sending each participant the mix without its own voice.
//!
//! Shape (as [`crate::forward`]): the room's state lives in ONE task that owns it (`&mut`,
//! no lock per packet). Participants' packets reach it through [`MixerHandle::participant_sink`]
//! (a [`MediaSink`] for WebRTC peers) or [`MixerHandle::push_rtp`] (plain RTP) as a bounded
//! channel message carrying the packet as one `Bytes`; a full channel drops and counts. The
//! core ([`room::MixCore`]) is sans-IO: `handle_packet(now, ..)`, `handle_input(now, ..)`,
//! `handle_timeout(now)` (one 20 ms frame when due) and `poll_output()`; the task in [`task`]
//! drives it with real time, tests with a virtual clock.
//!
//! Per participant: a jitter buffer ([`jitter`]: reorder by sequence number, prebuffer, drop
//! late and duplicate packets, report losses) and an Opus decoder at the room's rate; a loss is
//! concealed with the in-band FEC of the next packet when it is already buffered, with PLC
//! otherwise. Mixing is in `i32`, saturated to `i16` once per output.
//!
//! One encode per distinct mix. A participant *contributes* while unmuted and active (decoded
//! energy above the gate, with a hangover); only contributors are mixed. Each contributor
//! gets its own mix-minus (the sum without itself) and its own encoder; everyone else — muted,
//! silent, not sending — receives ONE shared encoding of the full mix (one per distinct
//! bitrate/expected-loss setting), with its own RTP header (SSRC, sequence, timestamp, mid)
//! written over the shared payload; SRTP stays per peer in [`Peer::send_rtp`]. Janus runs one
//! encoder per participant; in a 500-person room with 10 talkers this runs ~11.
//!
//! Encoder state policy: an Opus encoder predicts from previous frames, so a stream must not
//! hop between encoders every frame. A contributor keeps its own encoder for as long as it
//! contributes, and a contributor stays one for [`CONTRIBUTOR_HANGOVER_FRAMES`] after its last
//! active frame (speech pauses do not cause switches); encoders are taken from and returned
//! to a pool (reset on reuse) so talk spurts do not allocate. A switch between the shared
//! stream and an own stream happens at most once per talk spurt, at a moment where the two
//! mixes differ only by the participant's own (quiet) signal.
//!
//! Decoding only what is heard: with the RFC 6464 audio-level extension negotiated (talking
//! detection then reads it), a packet is not decoded when its participant is muted, or is not
//! a contributor and the packet's level is below the activity gate; the decoder restarts
//! clean at the next packet it decodes. Without the extension every packet is decoded (its
//! energy is the only activity signal).
//!
//! G.711 (PCMU/PCMA, [`g711`]): a G.711 participant's packets are decoded and up-sampled
//! from 8 kHz to the room's rate ([`resample`], state kept across packets; a lost packet
//! becomes silence of its length), then mixed like anyone's. What it hears is down-sampled to
//! 8 kHz and encoded with its law, 160 samples per 20 ms with timestamps advancing by 160
//! (RFC 3551 §4.5.14): its own mix-minus while it contributes, otherwise one shared encoding
//! per law, as Opus listeners share one Opus encode. Nothing is allocated per packet: the
//! resamplers and 8 kHz buffers are created with the participant or stream.
//!
//! Groups (Janus `groups`): each contributor and file is also summed into its group's
//! sub-mix, kept only for the groups a forwarder sends; a group forwarder sends its group's
//! sub-mix, everyone else the room's (participants' own mixes ignore groups, as in Janus).
//! Forwarders are shared streams too: one encode per (codec, group) per frame, whatever the
//! number of forwarders; SRTP forwarders encrypt per forwarder in [`udp::SrtpUdpOut`].
//!
//! Clock: frames are due at `start + k × 20 ms` (virtual in the core), so the cadence never
//! drifts; a late task catches up frame by frame, and more than [`MAX_CATCH_UP`] behind skips
//! ahead (counted). Outgoing Opus RTP timestamps always advance by 960 (Opus RTP clock is
//! 48 kHz, RFC 7587 §4.1) whatever the room's sampling rate, G.711 ones by 160; the decoders
//! and encoders run at the room's rate.
//!
//! Opus: the `opus` 0.3 crate over `audiopus_sys` 0.2, whose build script finds Debian's
//! `libopus-dev` through `pkg-config` and links it dynamically (it only builds its bundled copy
//! when pkg-config fails, which `scripts/test.sh` prevents by installing `libopus-dev`).
//! `opus` 0.4 moved to `opusic-sys`, which compiles its bundled libopus with CMake by default.
//! The safe wrapper's `decode`/`encode` take caller-owned slices: nothing is allocated per frame.
//! Encoders run at complexity 4 with the band limited to the room's rate, as Janus's.
//!
//! Cost (`benches/benches/opus_mix.rs`, thread CPU time per 20 ms cycle on this 2-core
//! machine class, 16 kHz room; talkers send a tone, the others a −60 dBov mic, with the
//! audio level; no SRTP/socket):
//!
//! | room | cycle | CPU per participant per s | cores |
//! |---|---|---|---|
//! | 2 talking | 200 µs | 5.0 ms | 0.010 |
//! | 10, all talking | 1.11 ms | 5.6 ms | 0.056 |
//! | 50, 10 talking | 1.31 ms | 1.31 ms | 0.065 |
//! | 100, 10 talking | 1.25 ms | 0.62 ms | 0.062 |
//! | 500, 10 talking | 1.35 ms | 0.135 ms | 0.068 |
//! | 500, 10 talking, no audio level (all decoded) | 13.6 ms | 1.36 ms | 0.68 |
//! | 500, 10 talking, 48 kHz | 1.72 ms | 0.17 ms | 0.086 |
//! | 500, 10 talking, 48 kHz, no audio level | 18.3 ms | 1.83 ms | 0.91 |
//! | Janus's scheme (all decoded, one encoder each), 100, 10 talking | 12.2 ms | 6.1 ms | 0.61 |
//!
//! A decode costs ~20–25 µs, an encode ~90 µs (16 kHz, complexity 4): per participant the
//! cost is one decode (none when quiet and the level is sent) plus its share of ~11 encodes,
//! against Janus's decode + encode each.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::{Peer, SendError};

pub mod g711;
pub mod jitter;
pub mod ogg;
pub mod resample;
pub mod room;
pub mod task;
pub mod udp;
pub mod wav;

pub use room::{MixCore, MixOutput};
pub use task::{MixerHandle, MixerStats};
pub use udp::{SrtpUdpOut, UdpOut};

/// The mixing period. Every participant gets exactly one packet per period.
pub const FRAME: Duration = Duration::from_millis(20);
/// RTP timestamp increment per frame (Opus RTP clock is always 48 kHz).
pub const RTP_TS_PER_FRAME: u32 = 960;
/// RTP timestamp increment per frame of G.711 (8 kHz clock, RFC 3551 §4.5.14): 160 samples.
pub const G711_TS_PER_FRAME: u32 = 160;
/// Forwarding groups per room the mixer keeps separate sub-mixes for (Janus allows 5;
/// a participant or forwarder with a higher group counts as the whole room's).
pub const MAX_GROUPS: usize = 16;

/// The audio codec of a participant or forwarder (Janus `codec`: `opus`, `pcmu`, `pcma`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioCodec {
    #[default]
    Opus,
    /// G.711 μ-law, 8 kHz mono.
    Pcmu,
    /// G.711 A-law, 8 kHz mono.
    Pcma,
}

impl AudioCodec {
    /// The G.711 law, `None` for Opus.
    pub fn law(self) -> Option<g711::Law> {
        match self {
            AudioCodec::Opus => None,
            AudioCodec::Pcmu => Some(g711::Law::Mu),
            AudioCodec::Pcma => Some(g711::Law::A),
        }
    }

    /// RTP timestamp units per 20 ms frame.
    pub fn ts_per_frame(self) -> u32 {
        match self {
            AudioCodec::Opus => RTP_TS_PER_FRAME,
            AudioCodec::Pcmu | AudioCodec::Pcma => G711_TS_PER_FRAME,
        }
    }
}
/// Frames a contributor stays one after its last active frame (1 s).
pub const CONTRIBUTOR_HANGOVER_FRAMES: u32 = 50;
/// A task further behind than this skips frames instead of bursting them out.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(200);

/// A participant of a room (the plugin's participant id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

/// Room-wide settings (Janus `audiobridge` room parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct MixerConfig {
    /// Decode/mix/encode rate: 8000, 12000, 16000, 24000 or 48000 (Janus `sampling_rate`).
    pub sampling_rate: u32,
    /// Stereo mix with each contributor panned by its `spatial_position`.
    pub spatial_audio: bool,
    /// Talking events: RFC 6464 levels averaged over this many packets (0 = no events).
    pub audio_active_packets: u32,
    /// Talking when the window's average level (−dBov, 0..127) is below this.
    pub audio_level_average: u8,
    /// Default expected loss in percent (0..=20): turns on in-band FEC in the encoders.
    pub default_expectedloss: u8,
    /// Default encoder bitrate in bit/s (0 = libopus's own choice).
    pub default_bitrate: u32,
    /// Decoded frames quieter than this (−dBov) are inactive: they neither make a participant
    /// a contributor nor extend its hangover. 127 = every decoded frame is active (Janus:
    /// everyone unmuted is mixed, one encoder each).
    pub activity_dbov: u8,
    /// Record the full mix as a WAV file here (16-bit PCM at the room's rate).
    pub record_file: Option<PathBuf>,
}

impl Default for MixerConfig {
    /// Janus's defaults: 16 kHz, mono, 100 packets / level 25, no FEC, libopus bitrate.
    fn default() -> Self {
        MixerConfig {
            sampling_rate: 16_000,
            spatial_audio: false,
            audio_active_packets: 100,
            audio_level_average: 25,
            default_expectedloss: 0,
            default_bitrate: 0,
            activity_dbov: 55,
            record_file: None,
        }
    }
}

/// One participant's settings. Replaced whole by [`MixerInput::UpdateParticipant`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantConfig {
    /// Muted participants are decoded (talking events still work) but never mixed.
    pub muted: bool,
    /// Gain in percent applied to this participant's voice (100 = unchanged; Janus `volume`).
    pub volume: u32,
    /// Stereo position 0 (left) ..= 100 (right), 50 = centre; used with `spatial_audio`.
    pub spatial_position: u8,
    /// What it sends and receives. G.711 is decoded and up-sampled to the room's rate, and
    /// its mix down-sampled to 8 kHz and encoded (see [`resample`]).
    pub codec: AudioCodec,
    /// Payload type, received and sent (the negotiated one, the plain-RTP `pt`, 0/8 for
    /// G.711).
    pub pt: u8,
    /// Forwarding group (1-based; 0 = none). Only selects which group forwarders carry this
    /// participant's voice; everyone's own mix is the whole room's, as in Janus.
    pub group: usize,
    /// SSRC of the mix we send to this participant (announced in our SDP).
    pub ssrc: u32,
    /// RFC 6464 audio-level extension id in the participant's packets.
    pub audio_level_ext: Option<u8>,
    /// Mid extension id and our mid, written into every outgoing packet when both are set.
    pub mid_ext: Option<u8>,
    pub mid: Option<String>,
    /// Expected loss in percent for this participant's own encoder (`None` = room default).
    pub expected_loss: Option<u8>,
    /// Bitrate for this participant's own encoder (`None` = room default).
    pub bitrate: Option<u32>,
    /// Packets buffered before playout starts (Janus `prebuffer`, default 6).
    pub prebuffer: u16,
    /// Per-participant talking thresholds overriding the room's (`audio_active_packets`,
    /// `audio_level_average`).
    pub talking_packets: Option<u32>,
    pub talking_level: Option<u8>,
}

impl Default for ParticipantConfig {
    fn default() -> Self {
        ParticipantConfig {
            muted: false,
            volume: 100,
            spatial_position: 50,
            codec: AudioCodec::Opus,
            pt: 111,
            group: 0,
            ssrc: 0,
            audio_level_ext: None,
            mid_ext: None,
            mid: None,
            expected_loss: None,
            bitrate: None,
            prebuffer: 6,
            talking_packets: None,
            talking_level: None,
        }
    }
}

/// Where a participant's (or forwarder's) mixed RTP goes: plain RTP in, encrypted or sent
/// by the implementation. Called from the mixing task: never block.
pub trait MixOut: Send + Sync {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError>;
}

/// A WebRTC participant: SRTP-protected and sent on its selected path.
impl MixOut for Peer {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError> {
        Peer::send_rtp(self, packet)
    }
}

/// An RTP forwarder of the full mix or of one group's (Janus `rtp_forward`). SRTP, when
/// wanted, is done by `out` ([`SrtpUdpOut`]).
#[derive(Clone)]
pub struct ForwarderConfig {
    pub ssrc: u32,
    pub pt: u8,
    pub codec: AudioCodec,
    /// 0 = the whole room; `g` = only the participants (and files) of group `g`.
    pub group: usize,
    /// Janus `always_on`: send (silence) even while the room has nobody and plays nothing;
    /// otherwise such frames are not sent (the timestamp keeps running).
    pub always_on: bool,
    pub out: Arc<dyn MixOut>,
}

impl ForwarderConfig {
    /// An Opus forwarder of the whole room's mix.
    pub fn opus(ssrc: u32, pt: u8, out: Arc<dyn MixOut>) -> Self {
        ForwarderConfig {
            ssrc,
            pt,
            codec: AudioCodec::Opus,
            group: 0,
            always_on: false,
            out,
        }
    }
}

impl std::fmt::Debug for ForwarderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwarderConfig")
            .field("ssrc", &self.ssrc)
            .field("pt", &self.pt)
            .field("codec", &self.codec)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// Control inputs of a room (signalling rate); media goes through the sinks.
#[derive(Clone)]
pub enum MixerInput {
    /// Adds (or replaces) a participant; its mix goes to `out`.
    AddParticipant {
        id: ParticipantId,
        config: ParticipantConfig,
        out: Arc<dyn MixOut>,
    },
    UpdateParticipant {
        id: ParticipantId,
        config: ParticipantConfig,
    },
    RemoveParticipant {
        id: ParticipantId,
    },
    /// Janus `mute_room`: nobody is mixed while set (participants keep their own `muted`).
    MuteRoom(bool),
    /// Drops the participant's jitter buffer and decoder state (e.g. after an ICE restart).
    ResetDecoder {
        id: ParticipantId,
    },
    /// Plays an Ogg Opus file into the mix (Janus `play_file`); `loop_` repeats it. With a
    /// `group` (1-based, 0 = none) it counts as that group's for group forwarders.
    PlayFile {
        file_id: String,
        path: PathBuf,
        loop_: bool,
        group: usize,
    },
    StopFile {
        file_id: String,
    },
    /// Sends the full mix to `config.out` (Janus `rtp_forward`), keyed by `stream_id`.
    AddForwarder {
        stream_id: u32,
        config: ForwarderConfig,
    },
    RemoveForwarder {
        stream_id: u32,
    },
    /// Starts recording the full mix to a new WAV file (`Some`, replacing a running
    /// recording), or stops (`None`): Janus `enable_recording`. The file is complete once the
    /// writer has flushed it, shortly after the stop.
    Record {
        path: Option<PathBuf>,
    },
}

impl std::fmt::Debug for MixerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MixerInput::AddParticipant { id, config, .. } => f
                .debug_struct("AddParticipant")
                .field("id", id)
                .field("config", config)
                .finish_non_exhaustive(),
            MixerInput::UpdateParticipant { id, config } => f
                .debug_struct("UpdateParticipant")
                .field("id", id)
                .field("config", config)
                .finish(),
            MixerInput::RemoveParticipant { id } => write!(f, "RemoveParticipant({id:?})"),
            MixerInput::MuteRoom(m) => write!(f, "MuteRoom({m})"),
            MixerInput::ResetDecoder { id } => write!(f, "ResetDecoder({id:?})"),
            MixerInput::PlayFile {
                file_id,
                path,
                loop_,
                group,
            } => write!(
                f,
                "PlayFile({file_id}, {}, loop={loop_}, group={group})",
                path.display()
            ),
            MixerInput::StopFile { file_id } => write!(f, "StopFile({file_id})"),
            MixerInput::AddForwarder { stream_id, config } => {
                write!(f, "AddForwarder({stream_id}, {config:?})")
            }
            MixerInput::RemoveForwarder { stream_id } => write!(f, "RemoveForwarder({stream_id})"),
            MixerInput::Record { path } => write!(f, "Record({path:?})"),
        }
    }
}

/// What a room reports to its owner (the plugin turns these into Janus events).
#[derive(Debug, Clone, PartialEq)]
pub enum MixerEvent {
    /// A participant's talking state changed (Janus `talking` / `stopped-talking`), with the
    /// window's average level in −dBov.
    Talking {
        id: ParticipantId,
        talking: bool,
        level_avg: f32,
    },
    /// A file finished playing (not emitted for looping files until stopped).
    FileDone { file_id: String },
    /// A file could not be played (unreadable, not Ogg Opus).
    FileError { file_id: String, reason: String },
}

/// Receives a room's events. Called from the mixing task: never block.
pub trait MixerObserver: Send + Sync {
    fn on_event(&self, event: MixerEvent);
}

/// A packet on its way into a room (what the sinks send to the task).
#[derive(Debug, Clone)]
pub struct IncomingRtp {
    pub id: ParticipantId,
    pub packet: Bytes,
}

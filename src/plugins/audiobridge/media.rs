//! The media side of AudioBridge: one mixer per room, the participants' peers and plain-RTP
//! sockets, and the seam to the mixing engine.
//!
//! Audio never touches plugin code: a participant's peer sink hands its packets to the
//! room's mixer, which decodes, mixes every 20 ms and sends each participant the mix minus
//! its own voice. The mixer sits behind [`RoomMixer`] (as VideoRoom's router sits behind
//! `RoomRouter`), so the plugin builds and its tests run without the engine; [`MixerFactory`]
//! makes one per room. The plugin only ever hands the mixer *snapshots* of a participant's
//! settings ([`MixParticipant`]), computed by the state machine on every change.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use media_core::engine::{MediaSink, Peer};
use signaling::ids::HandleId;

use super::api::Id;
use super::core::MediaOp;
use super::room::{ForwardCodec, Forwarder};
use crate::app::MediaHost;

/// What a room's mixer runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixConfig {
    /// 8000, 12000, 16000, 24000 or 48000 Hz.
    pub sampling_rate: u32,
    /// Stereo mix, participants panned by `spatial_position`.
    pub spatial_audio: bool,
    /// Forwarding groups (0 = none): each group has its own mix for forwarders.
    pub groups: usize,
    /// Talking events (`audiolevel_event` with the extension): packets per window (0 = no
    /// events) and the −dBov threshold.
    pub audio_active_packets: u32,
    pub audio_level_average: u8,
    /// Record the mix to a WAV file.
    pub record: Option<RecordTarget>,
    /// Opus FEC loss percentage and bitrate for forwarders (0 = off / automatic).
    pub default_expectedloss: u8,
    pub default_bitrate: u32,
}

/// Where the room's WAV recording goes (Janus names it when recording starts:
/// `<dir>/<file>` or `<dir>/janus-audioroom-<room>-<µs>.wav`, plus `.<tmp_ext>` while open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTarget {
    pub dir: Option<String>,
    pub file: Option<String>,
    pub tmp_ext: Option<String>,
    pub room: String,
}

/// How a participant's audio arrives and leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixTransport {
    /// Through its handle's PeerConnection.
    WebRtc,
    /// Plain RTP on our socket `local_port` (see [`RtpPorts`]); we send to `remote` (if
    /// given, else to where its packets come from) once a valid packet arrived.
    PlainRtp {
        local_port: u16,
        remote: Option<SocketAddr>,
    },
}

/// One participant as the mixer must treat it (a snapshot; replaced whole on change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixParticipant {
    pub transport: MixTransport,
    pub codec: ForwardCodec,
    /// Payload type of its audio, both ways (Opus: from its SDP; G.711: 0 or 8).
    pub pt: u8,
    /// SSRC of the mix we send it (announced in our SDP).
    pub ssrc: u32,
    /// The ssrc-audio-level extension id it sends, for talk detection and silence.
    pub audio_level_ext: Option<u8>,
    /// The mid extension id and its audio mid, written into the mix we send it.
    pub mid_ext: Option<u8>,
    pub mid: Option<String>,
    /// Its voice goes into the mix (joined, PeerConnection up, not muted, room not muted
    /// unless it joined with the room secret).
    pub mixed: bool,
    /// It gets the mix (its PeerConnection is up).
    pub receives: bool,
    /// Gain in percent (100 = unchanged).
    pub volume: u64,
    /// Panning 0 (left) ..= 100 (right), spatial rooms only.
    pub spatial_position: Option<u8>,
    /// Group index + 1 (0 = none).
    pub group: usize,
    /// Packets buffered before its audio is mixed.
    pub prebuffer: u32,
    /// Opus encoder settings for its mix: bitrate (0 = auto), complexity 1..=10, FEC.
    pub bitrate: u32,
    pub complexity: u8,
    pub expected_loss: u8,
    pub fec: bool,
    /// Talk detection: (packets per window, dBov threshold); `None` = no events.
    pub talk_window: Option<(u32, u8)>,
    /// Record its received RTP to `<base>-audio.mjr` (`None` = not recording).
    pub recording: Option<String>,
}

/// What a mixer reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixerEvent {
    /// A participant's average level crossed the threshold over a talk window.
    Talking { handle: HandleId, talking: bool },
    /// The first frame of an announcement was mixed.
    AnnouncementStarted { file_id: String },
    /// An announcement ended (end of file without `loop`, or unreadable).
    AnnouncementEnded { file_id: String },
}

/// What the plugin needs of a room's mixing engine.
pub trait RoomMixer: Send + Sync {
    fn set_config(&self, config: MixConfig);
    /// Adds or updates a participant; `peer` is its PeerConnection (WebRTC participants
    /// whose PC exists) and `rtp` its plain-RTP socket.
    fn set_participant(
        &self,
        handle: HandleId,
        params: MixParticipant,
        peer: Option<Peer>,
        rtp: Option<Arc<UdpSocket>>,
    );
    fn remove_participant(&self, handle: HandleId);
    /// Where a WebRTC participant's peer delivers its packets.
    fn participant_sink(&self, handle: HandleId) -> Option<Arc<dyn MediaSink>>;
    fn reset_decoder(&self, handle: HandleId);
    fn set_forwarders(&self, forwarders: Vec<(u32, Forwarder)>);
    fn play_file(&self, file_id: String, path: String, group: usize, looping: bool);
    fn stop_file(&self, file_id: String);
    fn close(&self);
}

/// Reports a room's mixer events back to the plugin (never blocks the mixer).
pub type MixerEvents = Arc<dyn Fn(MixerEvent) + Send + Sync>;

/// Starts a room's mixer; `None` when no mixing engine is available (signalling still
/// works; nobody hears anybody).
pub type MixerFactory =
    Arc<dyn Fn(MixConfig, MixerEvents) -> Option<Arc<dyn RoomMixer>> + Send + Sync>;

/// No mixing engine: rooms work for signalling only.
#[cfg(test)]
pub fn no_mixer() -> MixerFactory {
    Arc::new(|_, _| None)
}

/// Ports for plain-RTP participants (Janus's `rtp_port_range` + `local_ip`).
pub trait RtpPorts: Send + Sync {
    /// Binds a socket for `handle`; returns its port.
    fn allocate(&self, handle: HandleId) -> Option<u16>;
    /// The address participants are told to send to.
    fn local_ip(&self) -> IpAddr;
    fn socket(&self, handle: HandleId) -> Option<Arc<UdpSocket>>;
    fn release(&self, handle: HandleId);
}

/// Real sockets in a port range (tried from a random start, like Janus).
pub struct UdpPorts {
    bind: IpAddr,
    announce: IpAddr,
    range: (u16, u16),
    sockets: Mutex<HashMap<HandleId, Arc<UdpSocket>>>,
}

impl UdpPorts {
    pub fn new(local_ip: Option<IpAddr>, range: (u16, u16)) -> UdpPorts {
        UdpPorts {
            bind: local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            announce: local_ip.unwrap_or_else(detect_local_ip),
            range,
            sockets: Mutex::new(HashMap::new()),
        }
    }
}

/// The address of the interface the default route uses (a connected UDP socket sends
/// nothing); 127.0.0.1 when there is none, as Janus falls back.
fn detect_local_ip() -> IpAddr {
    let probe = || -> Option<IpAddr> {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.connect("192.0.2.1:9").ok()?;
        Some(s.local_addr().ok()?.ip())
    };
    probe()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl RtpPorts for UdpPorts {
    fn allocate(&self, handle: HandleId) -> Option<u16> {
        let (lo, hi) = self.range;
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let start = rand::random::<u32>() % span;
        // RTP wants even ports (RFC 3550 §11); try each even port of the range once.
        for i in 0..span {
            let port = lo as u32 + (start + i) % span;
            if !port.is_multiple_of(2) {
                continue;
            }
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            if let Ok(s) = UdpSocket::bind(SocketAddr::new(self.bind, port)) {
                if s.set_nonblocking(true).is_err() {
                    continue;
                }
                if let Ok(mut m) = self.sockets.lock() {
                    m.insert(handle, Arc::new(s));
                }
                return Some(port);
            }
        }
        None
    }

    fn local_ip(&self) -> IpAddr {
        self.announce
    }

    fn socket(&self, handle: HandleId) -> Option<Arc<UdpSocket>> {
        self.sockets.lock().ok()?.get(&handle).cloned()
    }

    fn release(&self, handle: HandleId) {
        if let Ok(mut m) = self.sockets.lock() {
            m.remove(&handle);
        }
    }
}

/// Executes [`MediaOp`]s against the rooms' mixers and the peers of [`MediaHost`].
pub struct Media {
    host: Option<Arc<MediaHost>>,
    factory: MixerFactory,
    /// Where mixers report (room, event) back to the plugin.
    events: Arc<dyn Fn(Id, MixerEvent) + Send + Sync>,
    ports: Arc<dyn RtpPorts>,
    mixers: Mutex<HashMap<Id, Arc<dyn RoomMixer>>>,
}

impl Media {
    pub fn new(
        host: Option<Arc<MediaHost>>,
        factory: MixerFactory,
        events: Arc<dyn Fn(Id, MixerEvent) + Send + Sync>,
        ports: Arc<dyn RtpPorts>,
    ) -> Media {
        Media {
            host,
            factory,
            events,
            ports,
            mixers: Mutex::new(HashMap::new()),
        }
    }

    fn mixer(&self, room: &Id) -> Option<Arc<dyn RoomMixer>> {
        self.mixers.lock().ok()?.get(room).cloned()
    }

    fn peer(&self, handle: HandleId) -> Option<Peer> {
        self.host.as_ref()?.peer(handle)
    }

    pub fn apply(&self, op: MediaOp) {
        match op {
            MediaOp::OpenRoom { room, config } => {
                let events = self.events.clone();
                let id = room.clone();
                let report: MixerEvents = Arc::new(move |ev| events(id.clone(), ev));
                if let Some(m) = (self.factory)(config, report) {
                    if let Ok(mut mixers) = self.mixers.lock() {
                        mixers.insert(room, m);
                    }
                }
            }
            MediaOp::SetConfig { room, config } => {
                if let Some(m) = self.mixer(&room) {
                    m.set_config(config);
                }
            }
            MediaOp::CloseRoom { room } => {
                let m = self.mixers.lock().ok().and_then(|mut m| m.remove(&room));
                if let Some(m) = m {
                    m.close();
                }
            }
            MediaOp::SetParticipant {
                room,
                handle,
                params,
            } => {
                let Some(m) = self.mixer(&room) else { return };
                let (peer, rtp) = match params.transport {
                    MixTransport::WebRtc => (self.peer(handle), None),
                    MixTransport::PlainRtp { .. } => (None, self.ports.socket(handle)),
                };
                let install = peer.as_ref().filter(|_| params.receives).cloned();
                m.set_participant(handle, params, peer, rtp);
                // The peer's packets go to the mixer of the room it is in now.
                if let (Some(peer), Some(sink)) = (install, m.participant_sink(handle)) {
                    peer.set_sink(Some(sink));
                }
            }
            MediaOp::RemoveParticipant { room, handle } => {
                if let Some(m) = self.mixer(&room) {
                    m.remove_participant(handle);
                }
            }
            MediaOp::ResetDecoder { room, handle } => {
                if let Some(m) = self.mixer(&room) {
                    m.reset_decoder(handle);
                }
            }
            MediaOp::Forwarders { room, forwarders } => {
                if let Some(m) = self.mixer(&room) {
                    m.set_forwarders(forwarders);
                }
            }
            MediaOp::PlayFile {
                room,
                file_id,
                path,
                group,
                looping,
            } => {
                // Without an engine the file never starts (`is_playing` stays false).
                if let Some(m) = self.mixer(&room) {
                    m.play_file(file_id, path, group, looping);
                }
            }
            MediaOp::StopFile { room, file_id } => {
                if let Some(m) = self.mixer(&room) {
                    m.stop_file(file_id);
                }
            }
            MediaOp::ReleaseRtp { handle } => self.ports.release(handle),
        }
    }
}

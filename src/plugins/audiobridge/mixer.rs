//! [`RoomMixer`] on the real engine: one `media_core::mix::MixerHandle` task per room.
//!
//! Translates the plugin's snapshots into the engine's inputs. Mixed as Janus 1.1.2 mixes:
//! - Opus and G.711 (`"codec": "pcmu"`/`"pcma"`) participants, WebRTC and plain RTP: G.711 is
//!   decoded and up-sampled to the room's rate, and each G.711 listener gets its mix-minus
//!   (or, while silent or muted, one shared encoding) down-sampled to 8 kHz, PT 0/8, 160
//!   samples per 20 ms (`media_core::mix::g711`, `media_core::mix::resample`);
//! - RTP forwarders in Opus, PCMU or PCMA, of the whole room or of one `group` (only that
//!   group's participants and announcements; everyone's own mix stays the whole room's, as
//!   in Janus), optionally SRTP (`srtp_suite` 32/80 + base64 `srtp_crypto`, AES-CM-128 with
//!   the project's SRTP, `media_core::mix::SrtpUdpOut`);
//! - `play_file` announcements, group-scoped when given a group.
//!
//! Forwarders send nothing while the engine has no participant and no announcement, unless
//! `always_on` (Janus counts joined participants whose media is not up yet too; the engine
//! only knows those it sends to). Recording starts and stops at run time (`enable_recording`);
//! other room settings changed after creation are logged and apply from the mixer's next
//! start. Room-wide `mute_room` is applied per participant (the
//! plugin's `mixed` flag), because Janus keeps mixing participants who joined with the room
//! secret while the room is muted.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use media_core::engine::{MediaSink, Peer, SendError};
use media_core::mix::{
    AudioCodec, ForwarderConfig, MixOut, MixerConfig, MixerHandle, MixerInput, MixerObserver,
    ParticipantConfig, ParticipantId, SrtpUdpOut, UdpOut,
};
use media_core::srtp::SdesKey;
use signaling::ids::HandleId;

use super::media::{
    MixConfig, MixParticipant, MixTransport, MixerEvent, MixerEvents, MixerFactory, RecordTarget,
    RoomMixer,
};
use super::room::{ForwardCodec, Forwarder};

/// Bytes reserved per received plain-RTP datagram (an Ethernet MTU).
const RECV_BUF: usize = 1500;
/// Receive block datagrams are split off (one allocation per many packets).
const RECV_BLOCK: usize = 64 * 1024;

/// The real engine (needs a tokio runtime; without one, e.g. in unit tests, no mixer).
pub fn engine_mixers() -> MixerFactory {
    Arc::new(|config, events| {
        tokio::runtime::Handle::try_current().ok()?;
        let observer = Arc::new(Observer {
            events: events.clone(),
        });
        match MixerHandle::spawn(engine_config(&config), observer) {
            Ok(handle) => {
                let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut live) = LIVE.lock() {
                    live.push((key, handle.clone()));
                }
                Some(Arc::new(EngineMixer {
                    key,
                    handle,
                    events,
                    state: Mutex::new(Members::default()),
                    config: Mutex::new(config),
                }) as Arc<dyn RoomMixer>)
            }
            Err(e) => {
                tracing::warn!("audiobridge: mixer not started: {e}");
                None
            }
        }
    })
}

fn engine_config(c: &MixConfig) -> MixerConfig {
    MixerConfig {
        sampling_rate: c.sampling_rate,
        spatial_audio: c.spatial_audio,
        audio_active_packets: c.audio_active_packets,
        audio_level_average: c.audio_level_average,
        default_expectedloss: c.default_expectedloss,
        default_bitrate: c.default_bitrate,
        record_file: c.record.as_ref().map(record_path),
        ..MixerConfig::default()
    }
}

/// Janus's WAV name: `<dir>/<file>` or `<dir>/janus-audioroom-<room>-<µs>.wav`, plus
/// `.<tmp_ext>` while it is written.
fn record_path(t: &RecordTarget) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let mut name = match &t.file {
        Some(f) => f.clone(),
        None => format!("janus-audioroom-{}-{now}.wav", t.room),
    };
    if let Some(ext) = &t.tmp_ext {
        name = format!("{name}.{ext}");
    }
    match &t.dir {
        Some(d) => PathBuf::from(d).join(name),
        None => PathBuf::from(name),
    }
}

/// Engine events → plugin events.
struct Observer {
    events: MixerEvents,
}

impl MixerObserver for Observer {
    fn on_event(&self, event: media_core::mix::MixerEvent) {
        use media_core::mix::MixerEvent as E;
        let ev = match event {
            E::Talking { id, talking, .. } => MixerEvent::Talking {
                handle: HandleId(id.0),
                talking,
            },
            E::FileDone { file_id } => MixerEvent::AnnouncementEnded { file_id },
            E::FileError { file_id, reason } => {
                tracing::info!("audiobridge: announcement {file_id} failed: {reason}");
                MixerEvent::AnnouncementEnded { file_id }
            }
        };
        (self.events)(ev);
    }
}

/// Who the engine knows, so snapshots become add/update/remove.
#[derive(Default)]
struct Members {
    added: HashSet<HandleId>,
    /// Receive tasks of plain-RTP participants.
    rtp_tasks: HashMap<HandleId, tokio::task::JoinHandle<()>>,
    forwarders: HashMap<u32, Forwarder>,
}

/// The running mixers (for `/metrics`), and the totals of those already closed, so the
/// exported counters never go backwards when a room goes away.
static LIVE: Mutex<Vec<(u64, MixerHandle)>> = Mutex::new(Vec::new());
static RETIRED: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Mixer counters summed over every room since start: packets in, packets out, invalid
/// packets dropped, packets dropped on a full media queue, frames skipped by a late task.
pub fn mixer_totals() -> [u64; 5] {
    let mut t: [u64; 5] = std::array::from_fn(|i| RETIRED[i].load(Ordering::Relaxed));
    if let Ok(live) = LIVE.lock() {
        for (_, h) in live.iter() {
            for (sum, v) in t.iter_mut().zip(counters(h)) {
                *sum += v;
            }
        }
    }
    t
}

fn counters(h: &MixerHandle) -> [u64; 5] {
    let s = h.stats();
    let r = Ordering::Relaxed;
    [
        s.packets_in.load(r),
        s.packets_out.load(r),
        s.packets_invalid.load(r),
        s.media_queue_drops.load(r),
        s.frames_skipped.load(r),
    ]
}

struct EngineMixer {
    /// Its entry in [`LIVE`].
    key: u64,
    handle: MixerHandle,
    events: MixerEvents,
    state: Mutex<Members>,
    /// The settings the task runs with (recording follows changes; the rest is fixed at start).
    config: Mutex<MixConfig>,
}

fn audio_codec(c: ForwardCodec) -> AudioCodec {
    match c {
        ForwardCodec::Opus => AudioCodec::Opus,
        ForwardCodec::Pcmu => AudioCodec::Pcmu,
        ForwardCodec::Pcma => AudioCodec::Pcma,
    }
}

fn participant_config(p: &MixParticipant) -> ParticipantConfig {
    ParticipantConfig {
        muted: !p.mixed,
        volume: u32::try_from(p.volume).unwrap_or(u32::MAX),
        spatial_position: p.spatial_position.unwrap_or(50),
        codec: audio_codec(p.codec),
        pt: p.pt,
        group: p.group,
        ssrc: p.ssrc,
        audio_level_ext: p.audio_level_ext,
        mid_ext: p.mid_ext,
        mid: p.mid.clone(),
        expected_loss: Some(p.expected_loss),
        bitrate: (p.bitrate > 0).then_some(p.bitrate),
        prebuffer: u16::try_from(p.prebuffer).unwrap_or(u16::MAX),
        talking_packets: p.talk_window.map(|(n, _)| n),
        talking_level: p.talk_window.map(|(_, l)| l),
    }
}

/// A plain-RTP participant's way back: to the address it gave in `join`, else to where its
/// packets come from (learnt from the first one; nothing is sent before, as in Janus).
struct PlainRtpOut {
    socket: Arc<tokio::net::UdpSocket>,
    /// Per participant, uncontended: set once by its receive task.
    to: Mutex<Option<SocketAddr>>,
}

impl MixOut for PlainRtpOut {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError> {
        let to = self
            .to
            .lock()
            .ok()
            .and_then(|t| *t)
            .ok_or(SendError::NotConnected)?;
        self.socket
            .try_send_to(packet, to)
            .map(|_| ())
            .map_err(|_| SendError::WouldBlock)
    }
}

/// Feeds a plain-RTP participant's datagrams to the mixer until the room or socket closes.
fn spawn_receiver(
    mixer: MixerHandle,
    id: ParticipantId,
    out: Arc<PlainRtpOut>,
) -> tokio::task::JoinHandle<()> {
    let socket = out.socket.clone();
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(RECV_BLOCK);
        loop {
            if buf.capacity() < RECV_BUF {
                buf = BytesMut::with_capacity(RECV_BLOCK);
            }
            buf.clear();
            match socket.recv_buf_from(&mut buf).await {
                Ok((n, from)) if n > 0 => {
                    if let Ok(mut to) = out.to.lock() {
                        to.get_or_insert(from);
                    }
                    if !mixer.push_rtp(id, buf.split_to(n).freeze()) {
                        break;
                    }
                }
                Ok(_) => {}
                // ICMP port unreachable surfaces as an error on Linux: keep receiving.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(_) => break,
            }
        }
    })
}

/// A std socket as a tokio one (must run inside the runtime).
fn to_tokio(socket: &UdpSocket) -> Option<Arc<tokio::net::UdpSocket>> {
    let s = socket.try_clone().ok()?;
    s.set_nonblocking(true).ok()?;
    tokio::net::UdpSocket::from_std(s).ok().map(Arc::new)
}

/// An SRTP forwarder from Janus's `srtp_suite` (32/80) and `srtp_crypto` (base64 of the
/// 30-byte AES-CM-128 master key and salt, read as Janus reads it: `media_core::srtp::sdes`).
fn srtp_out(udp: UdpOut, suite: u8, crypto: &str) -> Option<SrtpUdpOut> {
    let key = SdesKey::from_base64(suite, crypto).ok()?;
    SrtpUdpOut::with_key(udp, &key).ok()
}

impl RoomMixer for EngineMixer {
    fn set_config(&self, config: MixConfig) {
        let Ok(mut current) = self.config.lock() else {
            return;
        };
        // `enable_recording` / `edit` of the record settings: start or stop the WAV now, as
        // Janus does (a new file each time recording starts).
        if config.record != current.record {
            self.handle.control(MixerInput::Record {
                path: config.record.as_ref().map(record_path),
            });
        }
        let rest_changed = MixConfig {
            record: None,
            ..config.clone()
        } != MixConfig {
            record: None,
            ..current.clone()
        };
        if rest_changed {
            tracing::info!(
                "audiobridge: room settings other than recording apply from the mixer's next start"
            );
        }
        *current = config;
    }

    fn set_participant(
        &self,
        handle: HandleId,
        params: MixParticipant,
        peer: Option<Peer>,
        rtp: Option<Arc<UdpSocket>>,
    ) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let id = ParticipantId(handle.0);
        let config = participant_config(&params);
        if st.added.contains(&handle) {
            if params.receives {
                self.handle
                    .control(MixerInput::UpdateParticipant { id, config });
            } else {
                st.added.remove(&handle);
                self.handle.control(MixerInput::RemoveParticipant { id });
            }
            return;
        }
        if !params.receives {
            return;
        }
        let out: Arc<dyn MixOut> = match (params.transport, peer, rtp) {
            (MixTransport::WebRtc, Some(peer), _) => Arc::new(peer),
            (MixTransport::PlainRtp { remote, .. }, _, Some(sock)) => {
                let Some(socket) = to_tokio(&sock) else {
                    return;
                };
                let out = Arc::new(PlainRtpOut {
                    socket,
                    to: Mutex::new(remote),
                });
                let task = spawn_receiver(self.handle.clone(), id, out.clone());
                if let Some(old) = st.rtp_tasks.insert(handle, task) {
                    old.abort();
                }
                out
            }
            _ => return,
        };
        st.added.insert(handle);
        self.handle
            .control(MixerInput::AddParticipant { id, config, out });
    }

    fn remove_participant(&self, handle: HandleId) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(t) = st.rtp_tasks.remove(&handle) {
                t.abort();
            }
            if st.added.remove(&handle) {
                self.handle.control(MixerInput::RemoveParticipant {
                    id: ParticipantId(handle.0),
                });
            }
        }
    }

    fn participant_sink(&self, handle: HandleId) -> Option<Arc<dyn MediaSink>> {
        Some(self.handle.participant_sink(ParticipantId(handle.0)))
    }

    fn reset_decoder(&self, handle: HandleId) {
        self.handle.control(MixerInput::ResetDecoder {
            id: ParticipantId(handle.0),
        });
    }

    fn set_forwarders(&self, forwarders: Vec<(u32, Forwarder)>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let wanted: HashMap<u32, Forwarder> = forwarders.into_iter().collect();
        let gone: Vec<u32> = st
            .forwarders
            .keys()
            .filter(|k| !wanted.contains_key(k))
            .copied()
            .collect();
        for stream_id in gone {
            st.forwarders.remove(&stream_id);
            self.handle
                .control(MixerInput::RemoveForwarder { stream_id });
        }
        for (stream_id, f) in wanted {
            if st.forwarders.contains_key(&stream_id) {
                continue;
            }
            let any: SocketAddr = if f.addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let Some(sock) = UdpSocket::bind(any).ok().as_ref().and_then(to_tokio) else {
                continue;
            };
            let udp = UdpOut::new(sock, f.addr);
            let out: Arc<dyn MixOut> = match &f.srtp {
                None => Arc::new(udp),
                Some((suite, crypto)) => match srtp_out(udp, *suite, crypto) {
                    Some(out) => Arc::new(out),
                    None => {
                        tracing::warn!("audiobridge: forwarder {stream_id}: unusable SRTP key");
                        continue;
                    }
                },
            };
            let config = ForwarderConfig {
                ssrc: if f.ssrc != 0 { f.ssrc } else { stream_id },
                pt: (f.pt & 0x7f) as u8,
                codec: audio_codec(f.codec),
                group: f.group,
                always_on: f.always_on,
                out,
            };
            st.forwarders.insert(stream_id, f);
            self.handle
                .control(MixerInput::AddForwarder { stream_id, config });
        }
    }

    fn play_file(&self, file_id: String, path: String, group: usize, looping: bool) {
        self.handle.control(MixerInput::PlayFile {
            file_id: file_id.clone(),
            path: PathBuf::from(path),
            loop_: looping,
            group,
        });
        // The engine mixes the file from its next frame on; Janus announces the start then.
        (self.events)(MixerEvent::AnnouncementStarted { file_id });
    }

    fn stop_file(&self, file_id: String) {
        self.handle.control(MixerInput::StopFile { file_id });
    }

    fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            for (_, t) in st.rtp_tasks.drain() {
                t.abort();
            }
        }
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|(k, _)| *k != self.key);
        }
        for (total, v) in RETIRED.iter().zip(counters(&self.handle)) {
            total.fetch_add(v, Ordering::Relaxed);
        }
        self.handle.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn recordings_are_named_as_janus_names_them() {
        let t = RecordTarget {
            dir: Some("/rec".into()),
            file: Some("mix.wav".into()),
            tmp_ext: Some("tmp".into()),
            room: "1234".into(),
        };
        assert_eq!(record_path(&t), PathBuf::from("/rec/mix.wav.tmp"));
        let t = RecordTarget {
            dir: None,
            file: None,
            tmp_ext: None,
            room: "1234".into(),
        };
        let name = record_path(&t).to_string_lossy().into_owned();
        assert!(
            name.starts_with("janus-audioroom-1234-") && name.ends_with(".wav"),
            "{name}"
        );
    }

    /// `enable_recording` on a running room: the WAV starts now (not at the mixer's next
    /// start) and is finished when recording is turned off.
    #[tokio::test]
    async fn recording_follows_the_room_settings_at_run_time() {
        let dir = std::env::temp_dir().join(format!(
            "ianus-ab-rec-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut config = MixConfig {
            sampling_rate: 16_000,
            spatial_audio: false,
            groups: 0,
            audio_active_packets: 0,
            audio_level_average: 25,
            record: None,
            default_expectedloss: 0,
            default_bitrate: 0,
        };
        let events: MixerEvents = Arc::new(|_| {});
        let mixer = engine_mixers()(config.clone(), events).expect("a mixer");
        let wav = dir.join("mix.wav");
        config.record = Some(RecordTarget {
            dir: Some(dir.display().to_string()),
            file: Some("mix.wav".into()),
            tmp_ext: None,
            room: "1".into(),
        });
        mixer.set_config(config.clone());
        // The recording writes the mix (silence here) every 20 ms: the file grows.
        let grew = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0) > 44 + 3200 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(grew.is_ok(), "no recording after enable_recording");
        config.record = None;
        mixer.set_config(config);
        // Stopped: the size settles.
        let settled = tokio::time::timeout(Duration::from_secs(10), async {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let len = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
                if len == last {
                    break len;
                }
                last = len;
            }
        })
        .await;
        assert!(settled.is_ok(), "recording did not stop");
        mixer.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn participant_settings_map_to_the_engine() {
        let p = MixParticipant {
            transport: MixTransport::WebRtc,
            codec: ForwardCodec::Opus,
            pt: 111,
            ssrc: 42,
            audio_level_ext: Some(1),
            mid_ext: Some(4),
            mid: Some("0".into()),
            mixed: false,
            receives: true,
            volume: 120,
            spatial_position: None,
            group: 0,
            prebuffer: 6,
            bitrate: 0,
            complexity: 4,
            expected_loss: 5,
            fec: true,
            talk_window: Some((100, 25)),
            recording: None,
        };
        let c = participant_config(&p);
        assert!(c.muted, "not mixed = muted for the engine");
        assert_eq!(
            (c.pt, c.ssrc, c.volume, c.spatial_position),
            (111, 42, 120, 50)
        );
        assert_eq!(
            (c.audio_level_ext, c.mid_ext, c.mid.as_deref()),
            (Some(1), Some(4), Some("0"))
        );
        assert_eq!(
            (c.bitrate, c.expected_loss, c.prebuffer),
            (None, Some(5), 6)
        );
        assert_eq!((c.talking_packets, c.talking_level), (Some(100), Some(25)));
        assert_eq!((c.codec, c.group), (AudioCodec::Opus, 0));

        let g711 = MixParticipant {
            codec: ForwardCodec::Pcma,
            pt: 8,
            group: 2,
            ..p
        };
        let c = participant_config(&g711);
        assert_eq!((c.codec, c.pt, c.group), (AudioCodec::Pcma, 8, 2));
    }

    #[tokio::test]
    async fn srtp_forwarders_take_janus_base64_keys() {
        use base64::Engine as _;
        let udp = || {
            let s = UdpSocket::bind(("127.0.0.1", 0)).expect("bind");
            UdpOut::new(
                to_tokio(&s).expect("tokio socket"),
                ([127, 0, 0, 1], 9).into(),
            )
        };
        // 30 bytes of key + salt, with and without padding.
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 30]);
        assert!(key.ends_with("=") || key.len() == 40);
        assert!(srtp_out(udp(), 80, &key).is_some());
        assert!(srtp_out(udp(), 32, key.trim_end_matches('=')).is_some());
        // Too short for AES-CM-128, or not base64.
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 20]);
        assert!(srtp_out(udp(), 80, &short).is_none());
        assert!(srtp_out(udp(), 80, "not base64!").is_none());
    }
}

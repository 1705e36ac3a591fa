//! `janus.plugin.echotest`: sends the caller's own media and data back (plugins API §1).
//!
//! The answer mirrors the offer; received RTP is rewritten to the SSRCs we announced and sent
//! back on the same PeerConnection; RTCP feedback about what we send (NACK, PLI, FIR) is
//! turned into feedback about what the browser sends, so its encoder answers it; the
//! browser's REMB is swallowed and replaced by ours (`bitrate`, or 10 Mbit/s when 0).
//! Simulcast: only the selected substream is echoed, rewritten onto one continuous stream.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use dashmap::DashMap;
use media_core::engine::{MediaKind, MediaSink, OutgoingMessage, Peer, RtpIn};
use media_core::rtp::{RtpView, RtpViewMut, SeqRewriter, TsRewriter};
use media_core::sdp::{
    AnswerOptions, Codec, LocalMedia, MediaKind as SdpKind, RtpExtension, SessionDescription,
};
use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};
use signaling::plugin::{Plugin, PluginEvents, PluginInfo, PluginResult};

use super::validate::{self, Kind};
use crate::app::MediaHost;

const PACKAGE: &str = "janus.plugin.echotest";
/// The body fields Janus counts as "supported attributes": a body with none of them (and no
/// SDP) is refused with 413, even if it carries `audiocodec` or `filename` (janus_echotest.c).
const SUPPORTED_ATTRIBUTES: [&str; 12] = [
    "audio",
    "video",
    "videocodec",
    "videoprofile",
    "opusred",
    "bitrate",
    "substream",
    "temporal",
    "fallback",
    "record",
    "min_delay",
    "max_delay",
];
const ERROR_INVALID_ELEMENT: u16 = 413;
const ERROR_INVALID_SDP: u16 = 414;
/// REMB sent when `bitrate` is 0 ("no limit").
const NO_LIMIT_BITRATE: u32 = 10_000_000;
/// Largest RTP packet we echo (bigger packets cannot come from a 1500-byte MTU anyway).
const MAX_RTP: usize = 1500;

/// One echoed m-line.
struct EchoStream {
    kind: MediaKind,
    local_ssrc: u32,
    /// Last SSRC seen from the browser on this m-line (for feedback rewriting).
    remote_ssrc: AtomicU32,
    simulcast: bool,
    /// Negotiated codec (keyframe detection when switching layers).
    codec: Codec,
    /// Simulcast relay state: which layer goes out, rewritten onto one continuous stream.
    relay: Mutex<SimulcastRelay>,
}

/// Keeps one outgoing stream continuous while the relayed substream changes (only on a
/// keyframe of the new layer, so the receiver's decoder never sees a broken reference).
struct SimulcastRelay {
    current: Option<u8>,
    seq: SeqRewriter,
    ts: TsRewriter,
}

impl SimulcastRelay {
    fn new() -> Self {
        SimulcastRelay {
            current: None,
            seq: SeqRewriter::new(),
            ts: TsRewriter::new(90_000),
        }
    }

    /// Rewrites `packet` if its layer is the one relayed (switching to `target` on a keyframe);
    /// `None` = do not send it; `Some(true)` = sent, and the relayed layer just changed.
    fn relay(
        &mut self,
        packet: &mut [u8],
        codec: Codec,
        layer: u8,
        target: u8,
        now: std::time::Instant,
    ) -> Option<bool> {
        let view = RtpView::try_parse(packet).ok()?;
        let mut switched = false;
        if self.current != Some(layer) {
            let wanted = layer == target || self.current.is_none();
            if !wanted || !media_core::rtp::is_keyframe(codec, view.payload()) {
                return None;
            }
            self.current = Some(layer);
            self.seq.switch_source();
            self.ts.switch_source();
            switched = true;
        }
        let (seq, ts) = (view.sequence_number(), view.timestamp());
        let (seq, ts) = (self.seq.rewrite(seq), self.ts.rewrite(ts, now));
        let mut v = RtpViewMut::try_parse(packet).ok()?;
        v.set_sequence_number(seq);
        v.set_timestamp(ts);
        Some(switched)
    }
}

/// Per-handle state; it is also the peer's media sink.
struct EchoSession {
    handle: HandleId,
    audio: AtomicBool,
    video: AtomicBool,
    bitrate: AtomicU32,
    /// Last REMB the browser sent (Admin `peer-bitrate`).
    peer_bitrate: AtomicU32,
    /// The offer flagged insertable streams: the answer says so too (Janus `e2ee`).
    e2ee: AtomicBool,
    substream: AtomicU8,
    temporal: AtomicU8,
    streams: Mutex<Arc<Vec<EchoStream>>>,
    hungup: AtomicBool,
    events: Option<Arc<dyn PluginEvents>>,
}

pub struct EchoTest {
    me: std::sync::Weak<EchoTest>,
    host: Arc<MediaHost>,
    events: OnceLock<Arc<dyn PluginEvents>>,
    sessions: DashMap<HandleId, Arc<EchoSession>>,
}

impl EchoTest {
    pub fn new(host: Arc<MediaHost>) -> Arc<EchoTest> {
        Arc::new_cyclic(|me| EchoTest {
            me: me.clone(),
            host,
            events: OnceLock::new(),
            sessions: DashMap::new(),
        })
    }

    fn push(&self, handle: HandleId, transaction: Option<String>, data: Value, jsep: Option<Jsep>) {
        if let Some(ev) = self.events.get() {
            if let Err(e) = ev.push_event(handle, transaction, data, jsep) {
                tracing::debug!("echotest: push_event failed: {e}");
            }
        }
    }

    fn error(&self, handle: HandleId, transaction: String, code: u16, text: String) {
        self.push(
            handle,
            Some(transaction),
            json!({"echotest":"event","error_code":code,"error":text}),
            None,
        );
    }

    /// The asynchronous part of `handle_message` (Janus runs it on the plugin's thread).
    fn process(&self, handle: HandleId, transaction: String, body: Value, jsep: Option<Jsep>) {
        let Some(session) = self.sessions.get(&handle).map(|s| s.clone()) else {
            return;
        };
        if !body.is_object() {
            self.error(handle, transaction, 412, "JSON error: not an object".into());
            return;
        }
        if let Err(text) = validate::optional(
            &body,
            &[
                ("audio", Kind::Bool),
                ("video", Kind::Bool),
                ("bitrate", Kind::PositiveInt),
                ("substream", Kind::PositiveInt),
                ("temporal", Kind::PositiveInt),
                ("fallback", Kind::PositiveInt),
                ("record", Kind::Bool),
                ("filename", Kind::String),
                ("audiocodec", Kind::String),
                ("videocodec", Kind::String),
                ("videoprofile", Kind::String),
                ("opusred", Kind::Bool),
                ("min_delay", Kind::Int),
                ("max_delay", Kind::Int),
            ],
        ) {
            self.error(handle, transaction, ERROR_INVALID_ELEMENT, text);
            return;
        }
        if jsep.is_none() && !SUPPORTED_ATTRIBUTES.iter().any(|k| body.get(*k).is_some()) {
            self.error(
                handle,
                transaction,
                ERROR_INVALID_ELEMENT,
                "Message error: no supported attributes found".into(),
            );
            return;
        }
        for key in ["substream", "temporal"] {
            if body.get(key).and_then(Value::as_u64).is_some_and(|v| v > 2) {
                self.error(
                    handle,
                    transaction,
                    ERROR_INVALID_ELEMENT,
                    format!("Invalid value ({key} should be 0, 1 or 2)"),
                );
                return;
            }
        }
        let peer = self.host.peer(handle);
        if jsep.as_ref().is_some_and(|j| j.e2ee) {
            session.e2ee.store(true, Ordering::Relaxed);
        }
        if let Some(a) = body.get("audio").and_then(Value::as_bool) {
            session.audio.store(a, Ordering::Relaxed);
        }
        if let Some(v) = body.get("video").and_then(Value::as_bool) {
            let was = session.video.swap(v, Ordering::Relaxed);
            if v && !was {
                if let Some(p) = &peer {
                    session.request_keyframe(p);
                }
            }
        }
        if let Some(b) = body.get("bitrate").and_then(Value::as_u64) {
            session
                .bitrate
                .store(b.min(u64::from(u32::MAX)) as u32, Ordering::Relaxed);
            if let Some(p) = &peer {
                session.send_remb(p);
            }
        }
        // Like Janus: a target already being relayed is confirmed at once; otherwise the
        // notification comes when the relay actually switches (after a keyframe).
        if let Some(s) = body.get("substream").and_then(Value::as_u64) {
            session.substream.store(s as u8, Ordering::Relaxed);
            match session.relayed_layer() {
                Some((codec, current)) if u64::from(current) == s => session.notify(
                    json!({"echotest":"event","videocodec":codec.janus_name(),"substream":s}),
                ),
                _ => {
                    if let Some(p) = &peer {
                        session.request_keyframe(p);
                    }
                }
            }
        }
        if let Some(t) = body.get("temporal").and_then(Value::as_u64) {
            session.temporal.store(t as u8, Ordering::Relaxed);
            // Every temporal layer of the relayed substream is echoed, i.e. layer 2 (Janus
            // only confirms for VP8).
            if t == 2 {
                if let Some((Codec::Vp8, _)) = session.relayed_layer() {
                    session.notify(json!({"echotest":"event","videocodec":"vp8","temporal":t}));
                }
            }
        }
        let mut answer = None;
        if let Some(jsep) = jsep {
            if jsep.kind == JsepType::Answer {
                // EchoTest never offers: ignore a stray answer as Janus does.
            } else {
                match self.answer(&session, &body, &jsep) {
                    Ok(a) => answer = Some(a),
                    Err(text) => {
                        self.error(handle, transaction, ERROR_INVALID_SDP, text);
                        return;
                    }
                }
            }
        }
        self.push(
            handle,
            Some(transaction),
            json!({"echotest":"event","result":"ok"}),
            answer,
        );
    }

    fn answer(&self, session: &EchoSession, body: &Value, offer: &Jsep) -> Result<Jsep, String> {
        let sd = SessionDescription::parse(&offer.sdp)
            .map_err(|e| format!("Error parsing offer: {e}"))?;
        let mut opts = AnswerOptions {
            sendonly_becomes_inactive: true,
            // Janus's EchoTest list: abs-send-time (and toffset) are not echoed.
            extensions: vec![
                RtpExtension::Mid,
                RtpExtension::Rid,
                RtpExtension::RepairedRid,
                RtpExtension::AudioLevel,
                RtpExtension::VideoOrientation,
                RtpExtension::PlayoutDelay,
                RtpExtension::TransportCc,
                RtpExtension::DependencyDescriptor,
            ],
            ..AnswerOptions::default()
        };
        if let Some(c) = body
            .get("audiocodec")
            .and_then(Value::as_str)
            .and_then(Codec::from_janus_name)
        {
            opts.audio_codecs = vec![c];
        }
        let video_codec = body
            .get("videocodec")
            .and_then(Value::as_str)
            .and_then(Codec::from_janus_name);
        if let Some(c) = video_codec {
            opts.video_codecs = vec![c];
        }
        if let Some(profile) = body.get("videoprofile").and_then(Value::as_str) {
            match video_codec {
                Some(Codec::Vp9) => opts.vp9_profile = Some(profile.to_owned()),
                Some(Codec::H264) => opts.h264_profile = Some(profile.to_owned()),
                _ => {}
            }
        }
        // Simulcast m-lines as the core reports them (the SDP we see has no rid lines).
        let simulcast_mindexes: Vec<u64> = offer
            .simulcast
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.get("mindex").and_then(Value::as_u64))
                    .collect()
            })
            .unwrap_or_default();
        let mut streams = Vec::new();
        for (mindex, m) in sd.media.iter().enumerate().filter(|(_, m)| m.kind.is_rtp()) {
            let kind = if m.kind == SdpKind::Video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            };
            let local_ssrc = random_ssrc();
            opts.local.push(LocalMedia {
                mid: m.mid.clone().unwrap_or_else(|| mindex.to_string()),
                ssrc: Some(local_ssrc),
                rtx_ssrc: (kind == MediaKind::Video).then(random_ssrc),
                ..LocalMedia::default()
            });
            streams.push(EchoStream {
                kind,
                local_ssrc,
                remote_ssrc: AtomicU32::new(0),
                simulcast: simulcast_mindexes.contains(&(mindex as u64)),
                codec: Codec::Other,
                relay: Mutex::new(SimulcastRelay::new()),
            });
        }
        let answer = media_core::sdp::answer(&sd, &opts);
        // The codec each m-line ended up with (keyframe detection depends on it).
        let rtp_sections = answer.media.iter().filter(|m| m.kind.is_rtp());
        for (stream, m) in streams.iter_mut().zip(rtp_sections) {
            stream.codec = m
                .formats_in_order()
                .next()
                .map(|p| p.codec())
                .unwrap_or(Codec::Other);
        }
        if streams.iter().any(|s| s.simulcast) {
            // Janus aims every new simulcast offer at the best layers.
            session.substream.store(2, Ordering::Relaxed);
            session.temporal.store(2, Ordering::Relaxed);
        }
        if let Ok(mut s) = session.streams.lock() {
            *s = Arc::new(streams);
        }
        let mut jsep = Jsep::new(JsepType::Answer, answer.to_sdp_string());
        jsep.e2ee = session.e2ee.load(Ordering::Relaxed);
        Ok(jsep)
    }
}

fn random_ssrc() -> u32 {
    rand::random::<u32>().max(1)
}

impl EchoSession {
    /// An unsolicited event for this handle (e.g. the relayed substream changed).
    fn notify(&self, data: Value) {
        if let Some(ev) = &self.events {
            let _ = ev.push_event(self.handle, None, data, None);
        }
    }

    /// The codec and substream of the simulcast video being relayed, once one is.
    fn relayed_layer(&self) -> Option<(Codec, u8)> {
        let streams = self.streams.lock().ok()?.clone();
        streams
            .iter()
            .filter(|s| s.simulcast)
            .find_map(|s| Some((s.codec, s.relay.lock().ok()?.current?)))
    }

    /// The negotiated codec of the first `kind` m-line (Admin `audio_codec`/`video_codec`).
    fn codec_of(&self, kind: MediaKind) -> Option<&'static str> {
        let streams = self.streams.lock().ok()?.clone();
        streams
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.codec)
            .filter(|c| *c != Codec::Other)
            .map(Codec::janus_name)
    }

    fn stream_by_index(&self, i: usize) -> Option<(Arc<Vec<EchoStream>>, usize)> {
        let streams = self.streams.lock().ok()?.clone();
        if i < streams.len() {
            Some((streams, i))
        } else {
            None
        }
    }

    fn request_keyframe(&self, peer: &Peer) {
        let Ok(streams) = self.streams.lock().map(|s| s.clone()) else {
            return;
        };
        let mut buf = Vec::with_capacity(64);
        for s in streams.iter().filter(|s| s.kind == MediaKind::Video) {
            let remote = s.remote_ssrc.load(Ordering::Relaxed);
            if remote != 0 {
                buf.clear();
                media_core::rtcp::build::pli(&mut buf, s.local_ssrc, remote);
                let _ = peer.send_rtcp(&buf);
            }
        }
    }

    fn send_remb(&self, peer: &Peer) {
        let Ok(streams) = self.streams.lock().map(|s| s.clone()) else {
            return;
        };
        let bitrate = match self.bitrate.load(Ordering::Relaxed) {
            0 => NO_LIMIT_BITRATE,
            b => b,
        };
        let ssrcs: Vec<u32> = streams
            .iter()
            .filter(|s| s.kind == MediaKind::Video)
            .map(|s| s.remote_ssrc.load(Ordering::Relaxed))
            .filter(|s| *s != 0)
            .collect();
        if let Some(first) = streams.first() {
            let mut buf = Vec::with_capacity(64);
            media_core::rtcp::build::remb(&mut buf, first.local_ssrc, u64::from(bitrate), &ssrcs);
            let _ = peer.send_rtcp(&buf);
        }
    }
}

impl MediaSink for EchoSession {
    fn on_rtp(&self, peer: &Peer, rtp: RtpIn) {
        let enabled = match rtp.kind {
            MediaKind::Audio => self.audio.load(Ordering::Relaxed),
            MediaKind::Video => self.video.load(Ordering::Relaxed),
        };
        let Some((streams, i)) = self.stream_by_index(rtp.stream) else {
            return;
        };
        let s = &streams[i];
        let len = rtp.packet.len();
        if !(12..=MAX_RTP).contains(&len) {
            return;
        }
        let ssrc =
            u32::from_be_bytes([rtp.packet[8], rtp.packet[9], rtp.packet[10], rtp.packet[11]]);
        if s.simulcast {
            let target = self.substream.load(Ordering::Relaxed);
            if rtp.layer == target {
                s.remote_ssrc.store(ssrc, Ordering::Relaxed);
            }
        } else {
            s.remote_ssrc.store(ssrc, Ordering::Relaxed);
        }
        if !enabled {
            return;
        }
        let mut buf = [0u8; MAX_RTP];
        buf[..len].copy_from_slice(&rtp.packet);
        let out = &mut buf[..len];
        if s.simulcast {
            let target = self.substream.load(Ordering::Relaxed);
            let Ok(mut relay) = s.relay.lock() else {
                return;
            };
            match relay.relay(out, s.codec, rtp.layer, target, std::time::Instant::now()) {
                None => return,
                Some(true) => self.notify(json!({
                    "echotest": "event",
                    "videocodec": s.codec.janus_name(),
                    "substream": rtp.layer,
                })),
                Some(false) => {}
            }
        }
        let Ok(mut view) = RtpViewMut::try_parse(out) else {
            return;
        };
        view.set_ssrc(s.local_ssrc);
        let _ = peer.send_rtp(out);
    }

    fn on_rtcp(&self, peer: &Peer, packet: Bytes) {
        use media_core::rtcp::{CompoundIter, Rtcp};
        let Ok(streams) = self.streams.lock().map(|s| s.clone()) else {
            return;
        };
        // Feedback names our SSRC (what we echo): ask the browser about its own stream.
        let remote_of = |ssrc: u32| {
            streams
                .iter()
                .find(|s| s.local_ssrc == ssrc)
                .map(|s| (s, s.remote_ssrc.load(Ordering::Relaxed)))
                .filter(|(_, r)| *r != 0)
        };
        let mut out = Vec::with_capacity(64);
        for p in CompoundIter::new(&packet) {
            let Ok(p) = p else { break };
            out.clear();
            match p.parse() {
                Ok(Rtcp::Remb(remb)) => {
                    // Swallowed: the browser gets our cap instead (`send_remb`).
                    self.peer_bitrate.store(
                        remb.bitrate.min(u64::from(u32::MAX)) as u32,
                        Ordering::Relaxed,
                    );
                    continue;
                }
                Ok(Rtcp::Pli(pli)) => {
                    let Some((s, remote)) = remote_of(pli.media_ssrc) else {
                        continue;
                    };
                    media_core::rtcp::build::pli(&mut out, s.local_ssrc, remote);
                }
                Ok(Rtcp::Fir(fir)) => {
                    let Some((s, remote)) = fir.entries().find_map(|(ssrc, _)| remote_of(ssrc))
                    else {
                        continue;
                    };
                    media_core::rtcp::build::pli(&mut out, s.local_ssrc, remote);
                }
                Ok(Rtcp::Nack(nack)) => {
                    let Some((s, remote)) = remote_of(nack.media_ssrc) else {
                        continue;
                    };
                    if s.simulcast {
                        // Sequence numbers were rewritten: the browser's own ones differ.
                        continue;
                    }
                    let lost: Vec<u16> = nack.lost().collect();
                    media_core::rtcp::build::nack(&mut out, s.local_ssrc, remote, &lost);
                }
                _ => continue,
            }
            let _ = peer.send_rtcp(&out);
        }
    }

    fn on_data(&self, peer: &Peer, label: &str, protocol: &str, data: Bytes, text: bool) {
        let reply = if text {
            let mut s = String::from("Janus EchoTest here! You wrote: ");
            s.push_str(&String::from_utf8_lossy(&data));
            Bytes::from(s)
        } else {
            data
        };
        let _ = peer.send_data(OutgoingMessage {
            label: Some(label.to_owned()),
            protocol: if protocol.is_empty() {
                None
            } else {
                Some(protocol.to_owned())
            },
            data: reply,
            text,
        });
    }
}

impl Plugin for EchoTest {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS EchoTest plugin",
            author: "Meetecho s.r.l.",
            description: "This is a trivial EchoTest plugin for Janus, just used to showcase the plugin interface.",
            version_string: "0.0.7",
            version: 7,
        }
    }

    fn init(&self, events: Arc<dyn PluginEvents>) {
        let _ = self.events.set(events);
    }

    fn create_session(&self, handle: HandleId) -> Result<(), i32> {
        self.sessions.insert(
            handle,
            Arc::new(EchoSession {
                handle,
                audio: AtomicBool::new(true),
                video: AtomicBool::new(true),
                bitrate: AtomicU32::new(0),
                peer_bitrate: AtomicU32::new(0),
                e2ee: AtomicBool::new(false),
                substream: AtomicU8::new(2),
                temporal: AtomicU8::new(2),
                streams: Mutex::new(Arc::new(Vec::new())),
                hungup: AtomicBool::new(false),
                events: self.events.get().cloned(),
            }),
        );
        Ok(())
    }

    fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    ) -> PluginResult {
        if !self.sessions.contains_key(&handle) {
            return PluginResult::Error("No session associated with this handle...".into());
        }
        // Like Janus: ack now, work on the plugin's own task, push the result as an event.
        let Some(me) = self.me.upgrade() else {
            return PluginResult::Error("Plugin not initialized".into());
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { me.process(handle, transaction, body, jsep) });
            }
            Err(_) => me.process(handle, transaction, body, jsep),
        }
        PluginResult::OkWait(Some("I'm taking my time!".into()))
    }

    fn setup_media(&self, handle: HandleId) {
        let Some(session) = self.sessions.get(&handle).map(|s| s.clone()) else {
            return;
        };
        session.hungup.store(false, Ordering::Relaxed);
        if let Some(peer) = self.host.peer(handle) {
            peer.set_sink(Some(session.clone() as Arc<dyn MediaSink>));
            session.send_remb(&peer);
        }
    }

    fn hangup_media(&self, handle: HandleId) {
        let Some(session) = self.sessions.get(&handle).map(|s| s.clone()) else {
            return;
        };
        if session.hungup.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Ok(mut s) = session.streams.lock() {
            *s = Arc::new(Vec::new());
        }
        session.audio.store(true, Ordering::Relaxed);
        session.video.store(true, Ordering::Relaxed);
        session.bitrate.store(0, Ordering::Relaxed);
        session.peer_bitrate.store(0, Ordering::Relaxed);
        session.e2ee.store(false, Ordering::Relaxed);
        self.push(
            handle,
            None,
            json!({"echotest":"event","result":"done"}),
            None,
        );
    }

    fn destroy_session(&self, handle: HandleId) {
        if let Some((_, s)) = self.sessions.remove(&handle) {
            s.hungup.store(true, Ordering::Relaxed);
        }
    }

    /// Janus's keys and types (janus_echotest_query_session): codecs once negotiated,
    /// simulcast state only with simulcast, `hangingup`/`destroyed` as integers.
    fn query_session(&self, handle: HandleId) -> Value {
        let Some(s) = self.sessions.get(&handle).map(|s| s.clone()) else {
            return json!({});
        };
        let mut info = serde_json::Map::new();
        info.insert(
            "audio_active".into(),
            s.audio.load(Ordering::Relaxed).into(),
        );
        info.insert(
            "video_active".into(),
            s.video.load(Ordering::Relaxed).into(),
        );
        if let Some(c) = s.codec_of(MediaKind::Audio) {
            info.insert("audio_codec".into(), c.into());
        }
        if let Some(c) = s.codec_of(MediaKind::Video) {
            info.insert("video_codec".into(), c.into());
        }
        info.insert("bitrate".into(), s.bitrate.load(Ordering::Relaxed).into());
        info.insert(
            "peer-bitrate".into(),
            s.peer_bitrate.load(Ordering::Relaxed).into(),
        );
        let simulcast = s
            .streams
            .lock()
            .map(|st| st.iter().any(|x| x.simulcast))
            .unwrap_or(false);
        if simulcast {
            // -1 = nothing relayed yet; all temporal layers of the relayed substream pass.
            let current = s.relayed_layer().map(|(_, l)| i64::from(l));
            info.insert("simulcast".into(), true.into());
            info.insert("substream".into(), current.unwrap_or(-1).into());
            info.insert(
                "substream-target".into(),
                s.substream.load(Ordering::Relaxed).into(),
            );
            info.insert("temporal-layer".into(), current.map_or(-1, |_| 2).into());
            info.insert(
                "temporal-layer-target".into(),
                s.temporal.load(Ordering::Relaxed).into(),
            );
        }
        if s.e2ee.load(Ordering::Relaxed) {
            info.insert("e2ee".into(), true.into());
        }
        // No slow-link detection yet; hangups complete synchronously; a session still in the
        // map is not destroyed.
        info.insert("slowlink_count".into(), 0.into());
        info.insert("hangingup".into(), 0.into());
        info.insert("destroyed".into(), 0.into());
        Value::Object(info)
    }
}

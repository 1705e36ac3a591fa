//! Publishers: the participant side of a room (plugins API §2.3) and the SDP answer to their
//! offers (§2.5).
//!
//! A publisher handle is also the participant's notification channel: it joins, may publish,
//! and receives `publishers`/`unpublished`/`leaving` events about the others.

use media_core::engine::MediaKind as EngineKind;
use media_core::forward::{ExtensionIds, PublishedStream};
use media_core::sdp::{
    self, AnswerOptions, Codec, Direction, LocalMedia, MediaKind, RtpExtension, SdpLine,
    SessionDescription,
};
use serde_json::{json, Map, Value};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};

use super::api::{self, Id, Ty};
use super::core::{MediaOp, Session, State};
use super::errors::VideoRoomError;
use super::room::RoomSettings;

/// Fields a publisher `join` may carry (Janus's `join_parameters`).
const JOIN_PARAMS: &[api::Param] = &[
    ("ptype", Ty::Str, true),
    ("audio", Ty::Bool, false),
    ("video", Ty::Bool, false),
    ("data", Ty::Bool, false),
    ("bitrate", Ty::PosInt, false),
    ("record", Ty::Bool, false),
    ("filename", Ty::Str, false),
    ("token", Ty::Str, false),
];

/// Fields of `configure`/`publish` (Janus's `publish_parameters`; its misspelt
/// `audio_level_averge` means `audio_level_average` is never type-checked, kept as is).
const PUBLISH_PARAMS: &[api::Param] = &[
    ("descriptions", Ty::Array, false),
    ("audiocodec", Ty::Str, false),
    ("videocodec", Ty::Str, false),
    ("bitrate", Ty::PosInt, false),
    ("keyframe", Ty::Bool, false),
    ("record", Ty::Bool, false),
    ("filename", Ty::Str, false),
    ("display", Ty::Str, false),
    ("secret", Ty::Str, false),
    ("audio_active_packets", Ty::PosInt, false),
    ("audio", Ty::Bool, false),
    ("video", Ty::Bool, false),
    ("data", Ty::Bool, false),
    ("update", Ty::Bool, false),
    ("restart", Ty::Bool, false),
];

const PUBLISH_STREAM_PARAMS: &[api::Param] = &[
    ("mid", Ty::Str, false),
    ("send", Ty::Bool, false),
    ("min_delay", Ty::Int, false),
    ("max_delay", Ty::Int, false),
];

const DESCRIPTION_PARAMS: &[api::Param] = &[("mid", Ty::Str, true), ("description", Ty::Str, true)];

/// What a stream carries (Janus's `janus_videoroom_media`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Audio,
    Video,
    Data,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Audio => "audio",
            StreamKind::Video => "video",
            StreamKind::Data => "data",
        }
    }
}

/// Janus's canonical payload type for a codec: what subscribers are offered (§0.5).
pub fn canonical_pt(codec: Codec) -> u8 {
    match codec {
        Codec::Opus | Codec::Multiopus => 111,
        Codec::Red => 120,
        Codec::Pcmu => 0,
        Codec::Pcma => 8,
        Codec::G722 => 9,
        Codec::Vp8 => 96,
        Codec::Vp9 => 101,
        Codec::H264 => 107,
        Codec::Av1 => 98,
        Codec::H265 => 100,
        _ => 96,
    }
}

/// One m-line a publisher offered.
#[derive(Debug, Clone, PartialEq)]
pub struct PubStream {
    pub kind: StreamKind,
    pub mindex: usize,
    pub mid: String,
    /// Not relayable: offered `recvonly`/`inactive`, or no room codec matched.
    pub disabled: bool,
    pub description: Option<String>,
    pub codec: Option<Codec>,
    /// The publisher's payload type for `codec` and its clock rate.
    pub pt: u8,
    pub clock_rate: u32,
    pub opus_fec: bool,
    pub opus_dtx: bool,
    pub opus_stereo: bool,
    pub h264_profile: Option<String>,
    pub vp9_profile: Option<String>,
    /// Simulcast substreams (1 = none).
    pub layers: u8,
    pub audio_level_ext: Option<u8>,
    pub video_orient_ext: Option<u8>,
    pub playout_delay_ext: Option<u8>,
    /// AV1 dependency descriptor (AV1 RTP spec Appendix A), negotiated for AV1 streams only:
    /// the engine selects SVC layers with it and relays it to subscribers.
    pub dd_ext: Option<u8>,
    /// Index among the RTP m-lines (`RtpIn::stream` on the publisher's peer).
    pub rtp_index: Option<usize>,
    /// The publisher's own send toggle (`configure` `send`/`audio`/`video`/`data`).
    pub active: bool,
    /// Muted by a moderator.
    pub muted: bool,
    pub talking: bool,
    pub min_delay: i32,
    pub max_delay: i32,
}

impl PubStream {
    pub fn codec_name(&self) -> Option<&'static str> {
        self.codec.map(Codec::janus_name)
    }

    pub fn simulcast(&self) -> bool {
        self.layers > 1
    }
}

/// A participant that joined as `publisher`.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub handle: HandleId,
    /// `None` once it left, was kicked, or the room was destroyed.
    pub room: Option<Id>,
    pub id: Id,
    pub display: Option<String>,
    pub private_id: u32,
    /// Its PeerConnection is up (Janus `session->started`).
    pub started: bool,
    pub streams: Vec<PubStream>,
    pub kicked: bool,
    /// Codecs forced with `audiocodec`/`videocodec` (Janus names).
    pub audio_codec: Option<String>,
    pub video_codec: Option<String>,
    pub bitrate: u32,
    /// Accepted and reported; not implemented yet.
    pub recording: bool,
    pub recording_base: Option<String>,
    pub audio_active_packets: Option<u64>,
    pub audio_level_average: Option<u64>,
    pub e2ee: bool,
    pub firefox: bool,
    /// `unpublished` was already broadcast for the current publication.
    pub unpublished_sent: bool,
    /// Subscriber handles that joined with our `private_id`.
    pub subscriptions: Vec<HandleId>,
    /// RTP forwarders of its streams (they go with the streams, as in Janus).
    pub forwarders: Vec<super::forwarder::Forwarder>,
}

/// Which flavour of a stream description an event carries: Janus builds three slightly
/// different ones (joined list, `publishers` notification, the publisher's own `configured`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Joined,
    Notify,
    Own,
}

pub fn stream_json(ps: &PubStream, view: View, talking_so_far: bool) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), ps.kind.as_str().into());
    m.insert("mindex".into(), ps.mindex.into());
    m.insert("mid".into(), ps.mid.clone().into());
    if ps.disabled {
        m.insert("disabled".into(), true.into());
        return Value::Object(m);
    }
    if let Some(d) = &ps.description {
        m.insert("description".into(), d.clone().into());
    }
    match ps.kind {
        StreamKind::Audio => {
            if let Some(c) = ps.codec_name() {
                m.insert("codec".into(), c.into());
            }
            if ps.codec == Some(Codec::Opus) {
                for (k, on) in [
                    ("stereo", ps.opus_stereo),
                    ("fec", ps.opus_fec),
                    ("dtx", ps.opus_dtx),
                ] {
                    if on {
                        m.insert(k.into(), true.into());
                    }
                }
            }
            if view == View::Joined && ps.audio_level_ext.is_some() {
                // Janus writes the running "anyone talking" flag here, not the stream's own.
                m.insert("talking".into(), talking_so_far.into());
            }
        }
        StreamKind::Video => {
            if let Some(c) = ps.codec_name() {
                m.insert("codec".into(), c.into());
            }
            match ps.codec {
                Some(Codec::H264) => {
                    if let Some(p) = &ps.h264_profile {
                        m.insert("h264_profile".into(), p.clone().into());
                    }
                }
                Some(Codec::Vp9) => {
                    if let Some(p) = &ps.vp9_profile {
                        m.insert("vp9_profile".into(), p.clone().into());
                    }
                }
                _ => {}
            }
            if view == View::Notify && ps.muted {
                m.insert("moderated".into(), true.into());
            }
            if ps.simulcast() {
                m.insert("simulcast".into(), true.into());
            }
        }
        StreamKind::Data => {}
    }
    if view == View::Joined && ps.muted {
        m.insert("moderated".into(), true.into());
    }
    Value::Object(m)
}

impl Publisher {
    /// The publisher object of `joined.publishers` and of `publishers` events.
    pub fn entry(&self, view: View) -> Value {
        let mut pl = Map::new();
        pl.insert("id".into(), self.id.to_json());
        if let Some(d) = &self.display {
            pl.insert("display".into(), d.clone().into());
        }
        let mut streams = Vec::new();
        let (mut audio_added, mut video_added) = (false, false);
        let (mut talking_found, mut talking) = (false, false);
        for ps in &self.streams {
            streams.push(stream_json(ps, view, talking));
            if ps.disabled {
                continue;
            }
            match ps.kind {
                StreamKind::Audio if !audio_added => {
                    audio_added = true;
                    if let Some(c) = ps.codec_name() {
                        pl.insert("audio_codec".into(), c.into());
                    }
                }
                StreamKind::Video if !video_added => {
                    video_added = true;
                    if let Some(c) = ps.codec_name() {
                        pl.insert("video_codec".into(), c.into());
                    }
                }
                _ => {}
            }
            if ps.kind == StreamKind::Audio && ps.audio_level_ext.is_some() {
                talking_found = true;
                talking |= ps.talking;
            }
        }
        pl.insert("streams".into(), Value::Array(streams));
        if view == View::Joined && talking_found {
            pl.insert("talking".into(), talking.into());
        }
        Value::Object(pl)
    }

    /// The header-extension IDs the engine reads from this publisher (one ID per URI for the
    /// whole BUNDLE, RFC 8285 §6): video orientation (3GPP TS 26.114 §7.4.5, so a rotated
    /// phone camera shows upright to subscribers), playout delay and the AV1 dependency
    /// descriptor, each relayed under the subscriber's own ID. The audio level travels per
    /// stream in [`PublishedStream`]; mid, rid and transport-wide CC are never relayed.
    pub fn engine_extensions(&self) -> ExtensionIds {
        ExtensionIds {
            video_orientation: self.streams.iter().find_map(|s| s.video_orient_ext),
            playout_delay: self.streams.iter().find_map(|s| s.playout_delay_ext),
            dependency_descriptor: self.streams.iter().find_map(|s| s.dd_ext),
            ..ExtensionIds::default()
        }
    }

    /// What the forwarding engine relays: the enabled audio/video streams.
    pub fn published_streams(&self) -> Vec<PublishedStream> {
        self.streams
            .iter()
            .filter(|s| !s.disabled && s.kind != StreamKind::Data)
            .filter_map(|s| {
                Some(PublishedStream {
                    index: s.rtp_index?,
                    mid: s.mid.clone(),
                    kind: if s.kind == StreamKind::Audio {
                        EngineKind::Audio
                    } else {
                        EngineKind::Video
                    },
                    codec: s.codec?,
                    pt: s.pt,
                    clock_rate: s.clock_rate,
                    layers: s.layers.max(1),
                    audio_level_ext: s.audio_level_ext,
                })
            })
            .collect()
    }

    pub fn stream_by_mid(&self, mid: &str) -> Option<&PubStream> {
        self.streams.iter().find(|s| s.mid == mid)
    }

    pub fn has_data(&self) -> bool {
        self.streams
            .iter()
            .any(|s| s.kind == StreamKind::Data && !s.disabled)
    }
}

/// A new random `private_id` not used in the room.
fn new_private_id(used: &std::collections::HashMap<u32, HandleId>) -> u32 {
    loop {
        let id: u32 = rand::random();
        if id != 0 && !used.contains_key(&id) {
            return id;
        }
    }
}

/// Whether `offer` section `m` has a payload of `codec` (with `profile` when given).
fn offers(m: &sdp::MediaSection, codec: Codec, profile: Option<&str>) -> bool {
    m.formats_in_order().any(|p| {
        p.codec() == codec
            && match (codec, profile) {
                (Codec::Vp9, Some(want)) => p.fmtp_param("profile-id").unwrap_or("0") == want,
                (Codec::H264, Some(want)) => p
                    .fmtp_param("profile-level-id")
                    .is_some_and(|have| have.eq_ignore_ascii_case(want)),
                _ => true,
            }
    })
}

fn ext_id(m: &sdp::MediaSection, ext: RtpExtension) -> Option<u8> {
    m.extmap(ext).and_then(|e| u8::try_from(e.id).ok())
}

/// Simulcast substreams the core reported for `mindex` (`jsep.simulcast`).
fn simulcast_layers(simulcast: Option<&Value>, mindex: usize) -> u8 {
    let Some(list) = simulcast.and_then(Value::as_array) else {
        return 1;
    };
    list.iter()
        .filter(|s| s.get("mindex").and_then(Value::as_u64) == Some(mindex as u64))
        .map(|s| {
            let n = s
                .get("rids")
                .or_else(|| s.get("ssrcs"))
                .and_then(Value::as_array)
                .map_or(1, Vec::len);
            n.clamp(1, 3) as u8
        })
        .next()
        .unwrap_or(1)
}

/// The outcome of answering a publisher's offer.
pub struct Answer {
    pub sdp: SessionDescription,
    pub audio_codec: Option<&'static str>,
    pub video_codec: Option<&'static str>,
}

/// Extensions a VideoRoom answer keeps, per kind (§2.5); the offerer's IDs are kept.
fn accepted_extensions(room: &RoomSettings, kind: &MediaKind) -> Vec<RtpExtension> {
    let mut v = vec![
        RtpExtension::Mid,
        RtpExtension::Rid,
        RtpExtension::RepairedRid,
    ];
    match kind {
        MediaKind::Audio if room.audiolevel_ext => v.push(RtpExtension::AudioLevel),
        MediaKind::Video => {
            if room.videoorient_ext {
                v.push(RtpExtension::VideoOrientation);
            }
            if room.playoutdelay_ext {
                v.push(RtpExtension::PlayoutDelay);
            }
            if room.transport_wide_cc_ext {
                v.push(RtpExtension::TransportCc);
            }
        }
        _ => {}
    }
    v
}

/// Answers a publisher's (stripped) offer and updates its streams (§2.5): one stream per
/// m-line, the forced codec or the first room codec offered, `recvonly`, Opus FEC/DTX/stereo
/// echoed, session name `VideoRoom <room>`. Existing streams (renegotiation) keep their codec.
pub fn answer_offer(
    room_id: &Id,
    room: &RoomSettings,
    p: &mut Publisher,
    offer: &SessionDescription,
    simulcast: Option<&Value>,
    descriptions: Option<&Value>,
) -> Answer {
    let mut streams = Vec::with_capacity(offer.media.len());
    let mut local = Vec::new();
    let mut vp9_profile = room.vp9_profile.clone();
    let mut h264_profile = room.h264_profile.clone();
    let mut rtp_index = 0usize;
    for (mindex, m) in offer.media.iter().enumerate() {
        let kind = match m.kind {
            MediaKind::Audio => StreamKind::Audio,
            MediaKind::Video => StreamKind::Video,
            _ => StreamKind::Data,
        };
        let previous = p.streams.iter().find(|s| s.mindex == mindex).cloned();
        let mid = m.mid.clone().unwrap_or_else(|| mindex.to_string());
        let mut ps = previous.unwrap_or(PubStream {
            kind,
            mindex,
            mid: mid.clone(),
            disabled: false,
            description: None,
            codec: None,
            pt: 0,
            clock_rate: 0,
            opus_fec: false,
            opus_dtx: false,
            opus_stereo: false,
            h264_profile: None,
            vp9_profile: None,
            layers: 1,
            audio_level_ext: None,
            video_orient_ext: None,
            playout_delay_ext: None,
            dd_ext: None,
            rtp_index: None,
            active: true,
            muted: false,
            talking: false,
            min_delay: -1,
            max_delay: -1,
        });
        ps.mid = mid.clone();
        let offered_inactive = m.is_rejected() || m.direction() == Direction::Inactive;
        if m.kind.is_rtp() {
            ps.rtp_index = Some(rtp_index);
            rtp_index += 1;
            if room.audiolevel_ext && kind == StreamKind::Audio {
                ps.audio_level_ext = ext_id(m, RtpExtension::AudioLevel);
            }
            if room.videoorient_ext && kind == StreamKind::Video {
                ps.video_orient_ext = ext_id(m, RtpExtension::VideoOrientation);
            }
            if room.playoutdelay_ext && kind == StreamKind::Video {
                ps.playout_delay_ext = ext_id(m, RtpExtension::PlayoutDelay);
            }
            if room.opus_fec && kind == StreamKind::Audio {
                // Janus looks at every fmtp line of the section.
                let has = |k: &str| m.payloads.iter().any(|f| f.fmtp_param(k) == Some("1"));
                ps.opus_fec = has("useinbandfec");
                ps.opus_dtx = has("usedtx");
                ps.opus_stereo = has("stereo");
            }
            let mut codec = ps.codec.filter(|c| offers(m, *c, None));
            if codec.is_none() && !offered_inactive {
                codec = choose_codec(room, p, kind, m, &mut vp9_profile, &mut h264_profile);
            }
            if kind == StreamKind::Video {
                if codec == Some(Codec::Vp9) && ps.vp9_profile.is_none() {
                    ps.vp9_profile = vp9_profile.clone();
                }
                if codec == Some(Codec::H264) && ps.h264_profile.is_none() {
                    ps.h264_profile = h264_profile.clone();
                }
                ps.layers = match codec {
                    Some(Codec::Vp8 | Codec::H264) => simulcast_layers(simulcast, mindex),
                    _ => 1,
                };
            }
            ps.codec = codec;
            ps.dd_ext = if codec == Some(Codec::Av1) {
                ext_id(m, RtpExtension::DependencyDescriptor)
            } else {
                None
            };
            ps.disabled =
                offered_inactive || m.direction() == Direction::RecvOnly || codec.is_none();
            local.push(LocalMedia {
                mid: mid.clone(),
                codec,
                reject: codec.is_none(),
                direction: Some(Direction::RecvOnly),
                ..LocalMedia::default()
            });
        } else {
            ps.disabled = offered_inactive || m.direction() == Direction::RecvOnly;
        }
        if let Some(d) = descriptions.and_then(Value::as_array).and_then(|a| {
            a.iter()
                .find(|d| api::opt_str(d, "mid").is_some_and(|x| x.eq_ignore_ascii_case(&mid)))
        }) {
            if let Some(text) = api::opt_str(d, "description") {
                ps.description = Some(text.to_owned());
            }
        }
        streams.push(ps);
    }

    let opts = AnswerOptions {
        audio_codecs: room.audio_codecs(),
        video_codecs: room.video_codecs(),
        vp9_profile,
        h264_profile,
        extensions: RtpExtension::ALL.to_vec(),
        rtx: true,
        opus_fec: false,
        direction: Direction::RecvOnly,
        sendonly_becomes_inactive: false,
        // The host re-adds rid/simulcast lines (app.rs) from the unstripped offer.
        simulcast: true,
        data_channels: true,
        max_message_size: None,
        session_name: Some(format!("VideoRoom {room_id}")),
        msid_stream: "janus".to_owned(),
        local,
    };
    let mut answer = sdp::answer(offer, &opts);
    let (mut audio_codec, mut video_codec) = (None, None);
    for (m, ps) in answer.media.iter_mut().zip(streams.iter_mut()) {
        if !m.kind.is_rtp() {
            if m.is_rejected() {
                ps.disabled = true;
            }
            continue;
        }
        let mut keep = accepted_extensions(room, &m.kind);
        if ps.dd_ext.is_some() {
            keep.push(RtpExtension::DependencyDescriptor);
        }
        m.extmaps
            .retain(|e| e.extension().is_some_and(|x| keep.contains(&x)));
        // No transport-cc feedback where the extension was dropped (audio, or
        // `transport_wide_cc_ext = false`), as Janus answers: Chromium would otherwise count
        // that stream (e.g. the audio) against the publisher's bandwidth estimate, leaving
        // the video less than the room's `bitrate` cap.
        if m.extmap(RtpExtension::TransportCc).is_none() {
            for f in &mut m.payloads {
                f.rtcp_fb.retain(|fb| fb != "transport-cc");
            }
        }
        if m.is_rejected() {
            ps.disabled = true;
            continue;
        }
        let Some(first) = m.formats_in_order().next().cloned() else {
            continue;
        };
        ps.pt = first.pt;
        ps.clock_rate = first.encoding().map_or(90_000, |(_, c, _)| c);
        if ps.kind == StreamKind::Audio {
            audio_codec = audio_codec.or(ps.codec_name());
        } else {
            video_codec = video_codec.or(ps.codec_name());
        }
        match ps.codec {
            Some(Codec::Opus) => {
                let mut params = Vec::new();
                if ps.opus_fec {
                    params.push("useinbandfec=1");
                }
                if ps.opus_dtx {
                    params.push("usedtx=1");
                }
                if ps.opus_stereo {
                    params.push("stereo=1");
                }
                if let Some(f) = m.payload_mut(first.pt) {
                    f.fmtp = (!params.is_empty()).then(|| params.join(";"));
                }
            }
            Some(Codec::H264) if ps.h264_profile.is_none() => {
                ps.h264_profile = first.fmtp_param("profile-level-id").map(str::to_owned);
            }
            Some(Codec::Vp9) if ps.vp9_profile.is_none() => {
                ps.vp9_profile = first.fmtp_param("profile-id").map(str::to_owned);
            }
            _ => {}
        }
        if m.kind == MediaKind::Video && room.bitrate > 0 && room.bitrate_cap {
            // Firefox understands TIAS (bps) where Chrome wants AS (kbps), as Janus does.
            let value = if p.firefox {
                format!("TIAS:{}", room.bitrate)
            } else {
                format!("AS:{}", room.bitrate / 1000)
            };
            m.lines.push(SdpLine { kind: 'b', value });
        }
    }
    p.streams = streams;
    Answer {
        sdp: answer,
        audio_codec,
        video_codec,
    }
}

/// Janus's codec choice for a new stream: the forced codec when offered, else the room's
/// first offered codec, preferring the configured VP9/H.264 profile when one is set.
fn choose_codec(
    room: &RoomSettings,
    p: &Publisher,
    kind: StreamKind,
    m: &sdp::MediaSection,
    vp9_profile: &mut Option<String>,
    h264_profile: &mut Option<String>,
) -> Option<Codec> {
    let forced = match kind {
        StreamKind::Audio => p.audio_codec.as_deref(),
        StreamKind::Video => p.video_codec.as_deref(),
        StreamKind::Data => None,
    }
    .and_then(Codec::from_janus_name);
    let candidates = match (forced, kind) {
        (Some(c), _) => vec![c],
        (None, StreamKind::Audio) => room.audio_codecs(),
        (None, _) => room.video_codecs(),
    };
    for c in candidates {
        if c == Codec::Vp9 && vp9_profile.is_some() {
            if offers(m, c, vp9_profile.as_deref()) {
                *h264_profile = None;
                return Some(c);
            }
            *vp9_profile = None;
        } else if c == Codec::H264 && h264_profile.is_some() {
            if offers(m, c, h264_profile.as_deref()) {
                *vp9_profile = None;
                return Some(c);
            }
            *h264_profile = None;
        }
        if offers(m, c, None) {
            return Some(c);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Requests

impl State {
    /// `join` with `ptype: "publisher"` (and `joinandconfigure`).
    pub(super) fn join_publisher(
        &mut self,
        h: HandleId,
        tx: &str,
        request: &str,
        room_id: Id,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[("display", Ty::Str, false)])?;
        api::check(body, &[api::id_param("id", string_ids, false)])?;
        validate_descriptions(body)?;
        let room = self.room(&room_id)?;
        if room.check_allowed {
            let token = api::opt_str(body, "token");
            if !token.is_some_and(|t| room.allowed.iter().any(|a| a == t)) {
                return Err(VideoRoomError::Unauthorized(
                    "Unauthorized (not in the allowed list)".into(),
                ));
            }
        }
        let mut id = body.get("id").map(|v| api::loose_id(Some(v), string_ids));
        if let Some(wanted) = &id {
            if self.participant_by_id(&room_id, wanted).is_some() {
                return Err(VideoRoomError::IdExists(wanted.to_string()));
            }
            if wanted.is_unset() {
                id = None;
            }
        }
        let id = match id {
            Some(id) => id,
            None => loop {
                let id = Id::random(string_ids);
                if self.participant_by_id(&room_id, &id).is_none() {
                    break id;
                }
            },
        };
        let configure = request == "joinandconfigure";
        let has_sdp = jsep.is_some();
        let settings = self.room(&room_id)?.settings.clone();
        let mut p = Publisher {
            handle: h,
            room: Some(room_id.clone()),
            id: id.clone(),
            display: api::opt_str(body, "display").map(str::to_owned),
            private_id: 0,
            started: false,
            streams: Vec::new(),
            kicked: false,
            audio_codec: None,
            video_codec: None,
            bitrate: settings.bitrate,
            recording: false,
            recording_base: None,
            audio_active_packets: body.get("audio_active_packets").and_then(Value::as_u64),
            audio_level_average: body.get("audio_level_average").and_then(Value::as_u64),
            e2ee: false,
            firefox: false,
            unpublished_sent: false,
            subscriptions: Vec::new(),
            forwarders: Vec::new(),
        };
        if configure {
            if let (Some(c), true) = (api::opt_str(body, "audiocodec"), has_sdp) {
                if Codec::from_janus_name(c).is_none() || !settings.allows_audio(c) {
                    return Err(VideoRoomError::InvalidElement(
                        "Audio codec unavailable in this room".into(),
                    ));
                }
                p.audio_codec = Some(c.to_ascii_lowercase());
            }
            if let (Some(c), true) = (api::opt_str(body, "videocodec"), has_sdp) {
                if Codec::from_janus_name(c).is_none() || !settings.allows_video(c) {
                    return Err(VideoRoomError::InvalidElement(
                        "Video codec unavailable in this room".into(),
                    ));
                }
                p.video_codec = Some(c.to_ascii_lowercase());
            }
            if let Some(b) = api::opt_u32(body, "bitrate") {
                p.bitrate = b;
            }
            if let Some(r) = api::opt_bool(body, "record") {
                p.recording = r;
            }
            p.recording_base = api::opt_str(body, "filename").map(str::to_owned);
        }
        let room = self.room_mut(&room_id)?;
        p.private_id = new_private_id(&room.private_ids);
        room.participants.push(h);
        room.private_ids.insert(p.private_id, h);
        let notify_joining = room.settings.notify_joining;
        let description = room.settings.description.clone();
        let others: Vec<HandleId> = room
            .participants
            .iter()
            .copied()
            .filter(|x| *x != h)
            .collect();
        let private_id = p.private_id;
        let joining = json!({"id": id.to_json()});
        let joining = match &p.display {
            Some(d) => {
                let mut j = joining;
                j["display"] = d.clone().into();
                j
            }
            None => joining,
        };
        self.sessions.insert(h, Session::Publisher(Box::new(p)));

        let mut publishers = Vec::new();
        let mut attendees = Vec::new();
        for o in &others {
            let Some(op) = self.publisher(*o) else {
                continue;
            };
            if op.started && !op.streams.is_empty() {
                publishers.push(op.entry(View::Joined));
            } else if notify_joining {
                let mut a = json!({"id": op.id.to_json()});
                if let Some(d) = &op.display {
                    a["display"] = d.clone().into();
                }
                attendees.push(a);
            }
        }
        let mut event = Map::new();
        event.insert("videoroom".into(), "joined".into());
        event.insert("room".into(), room_id.to_json());
        event.insert("description".into(), description.into());
        event.insert("id".into(), id.to_json());
        event.insert("private_id".into(), private_id.into());
        event.insert("publishers".into(), Value::Array(publishers));
        if let Some(p) = self.publisher(h) {
            if let Some(v) = p.audio_active_packets.filter(|v| *v > 0) {
                event.insert("audio_active_packets".into(), v.into());
            }
            if let Some(v) = p.audio_level_average.filter(|v| *v > 0) {
                event.insert("audio_level_average".into(), v.into());
            }
        }
        if notify_joining {
            event.insert("attendees".into(), Value::Array(attendees));
            let msg = json!({"videoroom": "event", "room": room_id.to_json(), "joining": joining});
            self.notify_participants(&room_id, &msg, Some(h));
        }
        let answer = match (configure, jsep) {
            (true, Some(offer)) => Some(self.publisher_offer(h, body, offer, &mut event)?),
            _ => None,
        };
        self.push(h, Some(tx), Value::Object(event), answer);
        Ok(())
    }

    /// Requests on a publisher handle after `join`.
    pub(super) fn publisher_request(
        &mut self,
        h: HandleId,
        tx: &str,
        request: &str,
        original: &str,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), VideoRoomError> {
        let in_room = self.publisher(h).and_then(|p| p.room.clone());
        let Some(room_id) = in_room.filter(|r| self.rooms.contains_key(r)) else {
            return Err(match request {
                "join" | "joinandconfigure" => {
                    VideoRoomError::AlreadyJoined("Not in a room (create a new handle)")
                }
                _ => VideoRoomError::RoomGone,
            });
        };
        match request {
            "join" | "joinandconfigure" => Err(VideoRoomError::AlreadyJoined(
                "Already in as a publisher on this handle",
            )),
            "configure" | "publish" => {
                self.configure_publisher(h, tx, request, &room_id, body, jsep)
            }
            "unpublish" => {
                if !self.publisher(h).is_some_and(|p| p.started) {
                    return Err(VideoRoomError::NotPublished);
                }
                self.publisher_hangup(h);
                self.out_close_pc(h);
                let ev =
                    json!({"videoroom": "event", "room": room_id.to_json(), "unpublished": "ok"});
                self.push(h, Some(tx), ev, None);
                Ok(())
            }
            "leave" => {
                self.leave_room(h, Departure::Leaving);
                if let Some(p) = self.publisher_mut(h) {
                    p.started = false;
                }
                let ev = json!({"videoroom": "event", "room": room_id.to_json(), "leaving": "ok"});
                self.push(h, Some(tx), ev, None);
                Ok(())
            }
            _ => Err(VideoRoomError::UnknownRequest(original.to_owned())),
        }
    }

    fn configure_publisher(
        &mut self,
        h: HandleId,
        tx: &str,
        request: &str,
        room_id: &Id,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), VideoRoomError> {
        let (started, kicked) = self
            .publisher(h)
            .map(|p| (p.started, p.kicked))
            .unwrap_or_default();
        if request == "publish" && started {
            return Err(VideoRoomError::AlreadyPublished);
        }
        if kicked {
            return Err(VideoRoomError::Unauthorized(
                "Unauthorized, you have been kicked".into(),
            ));
        }
        api::check(body, PUBLISH_PARAMS)?;
        validate_descriptions(body)?;
        let streams = match body.get("streams") {
            Some(s) => s.as_array().cloned().unwrap_or_default(),
            None => {
                let mut one = Map::new();
                for k in ["mid", "send", "keyframe", "min_delay", "max_delay"] {
                    if let Some(v) = body.get(k) {
                        one.insert(k.into(), v.clone());
                    }
                }
                vec![Value::Object(one)]
            }
        };
        let mut toggles = [
            api::opt_bool(body, "audio"),
            api::opt_bool(body, "video"),
            api::opt_bool(body, "data"),
        ];
        {
            let p = self.publisher(h).ok_or(VideoRoomError::Unknown(
                "Invalid participant instance".into(),
            ))?;
            for s in &streams {
                api::check(s, PUBLISH_STREAM_PARAMS)?;
                match api::opt_str(s, "mid") {
                    None if streams.len() > 1 => {
                        return Err(VideoRoomError::InvalidElement(
                            "Invalid value (mid can't be null in a streams array)".into(),
                        ))
                    }
                    Some(mid) if p.stream_by_mid(mid).is_none() => {
                        return Err(VideoRoomError::NoSuchFeed(format!(
                            "No such mid '{mid}' published"
                        )))
                    }
                    Some(_) => toggles = [None, None, None],
                    None => {}
                }
            }
        }
        let settings = self.room(room_id)?.settings.clone();
        if jsep.is_some() {
            if let Some(c) = api::opt_str(body, "audiocodec") {
                if Codec::from_janus_name(c).is_none() || !settings.allows_audio(c) {
                    return Err(VideoRoomError::InvalidElement(
                        "Audio codec unavailable in this room".into(),
                    ));
                }
                if let Some(p) = self.publisher_mut(h) {
                    p.audio_codec = Some(c.to_ascii_lowercase());
                }
            }
            if let Some(c) = api::opt_str(body, "videocodec") {
                if Codec::from_janus_name(c).is_none() || !settings.allows_video(c) {
                    return Err(VideoRoomError::InvalidElement(
                        "Video codec unavailable in this room".into(),
                    ));
                }
                if let Some(p) = self.publisher_mut(h) {
                    p.video_codec = Some(c.to_ascii_lowercase());
                }
            }
        }
        let mut keyframe = false;
        if let Some(p) = self.publisher_mut(h) {
            for s in &streams {
                let mid = api::opt_str(s, "mid");
                let send = api::opt_bool(s, "send");
                let wants_keyframe = api::is_true(s, "keyframe");
                for ps in &mut p.streams {
                    let mid_found = mid.is_some_and(|m| m.eq_ignore_ascii_case(&ps.mid));
                    let toggle = match ps.kind {
                        StreamKind::Audio => toggles[0],
                        StreamKind::Video => toggles[1],
                        StreamKind::Data => toggles[2],
                    };
                    match (mid_found, send, toggle) {
                        (true, Some(v), _) => ps.active = v,
                        (_, _, Some(v)) => ps.active = v,
                        _ => {}
                    }
                    if ps.kind == StreamKind::Video && (mid_found || mid.is_none()) {
                        keyframe |= wants_keyframe;
                        apply_delays(s, &mut ps.min_delay, &mut ps.max_delay);
                    }
                }
            }
        }
        if keyframe {
            self.media(MediaOp::RequestKeyframe {
                room: room_id.clone(),
                publisher: h,
            });
        }
        if let Some(b) = api::opt_u32(body, "bitrate") {
            if let Some(p) = self.publisher_mut(h) {
                p.bitrate = b;
            }
            self.media(MediaOp::SetPublisherBitrate {
                room: room_id.clone(),
                publisher: h,
                bitrate: b,
            });
        }
        let record_locked = (body.get("record").is_some() || body.get("filename").is_some())
            && settings.lock_record
            && api::check_secret(settings.secret.as_deref(), body, "secret").is_err();
        let mut display_changed = None;
        if let Some(p) = self.publisher_mut(h) {
            if let Some(v) = body.get("audio_active_packets").and_then(Value::as_u64) {
                p.audio_active_packets = Some(v);
            }
            if let Some(v) = body.get("audio_level_average").and_then(Value::as_u64) {
                p.audio_level_average = Some(v);
            }
            if !record_locked {
                if let Some(r) = api::opt_bool(body, "record") {
                    if r {
                        tracing::warn!("videoroom: recording requested, not implemented yet");
                    }
                    p.recording = r;
                }
                if let Some(f) = api::opt_str(body, "filename") {
                    p.recording_base = Some(f.to_owned());
                }
            }
            if let Some(d) = api::opt_str(body, "display") {
                let old = p.display.replace(d.to_owned());
                // Janus only announces a rename, not a first name.
                if old.is_some() {
                    display_changed =
                        Some(json!({"videoroom": "event", "id": p.id.to_json(), "display": d}));
                }
            }
        }
        if let Some(msg) = display_changed {
            self.notify_participants(room_id, &msg, Some(h));
        }
        if jsep.is_none() {
            if let Some(list) = body.get("descriptions").and_then(Value::as_array) {
                let mut changed = false;
                if let Some(p) = self.publisher_mut(h) {
                    for d in list {
                        let (Some(mid), Some(text)) =
                            (api::opt_str(d, "mid"), api::opt_str(d, "description"))
                        else {
                            continue;
                        };
                        if let Some(ps) = p.streams.iter_mut().find(|s| s.mid == mid) {
                            ps.description = Some(text.to_owned());
                            changed = true;
                        }
                    }
                }
                if changed {
                    self.notify_about_publisher(h);
                }
            }
        }
        let mut event = Map::new();
        event.insert("videoroom".into(), "event".into());
        event.insert("room".into(), room_id.to_json());
        event.insert("configured".into(), "ok".into());
        let answer = match jsep {
            Some(offer) => Some(self.publisher_offer(h, body, offer, &mut event)?),
            None => None,
        };
        self.push(h, Some(tx), Value::Object(event), answer);
        Ok(())
    }

    /// Answers a publisher's offer (new publication or renegotiation) and fills the event's
    /// `audio_codec`/`video_codec`/`streams`.
    fn publisher_offer(
        &mut self,
        h: HandleId,
        body: &Value,
        offer: &Jsep,
        event: &mut Map<String, Value>,
    ) -> Result<Jsep, VideoRoomError> {
        if offer.kind != JsepType::Offer {
            return Err(VideoRoomError::InvalidSdpType(format!(
                "Unknown SDP type '{}'",
                offer.kind.as_str()
            )));
        }
        let room_id = self
            .publisher(h)
            .and_then(|p| p.room.clone())
            .ok_or(VideoRoomError::RoomGone)?;
        let settings = self.room(&room_id)?.settings.clone();
        if !offer.update {
            let count = self
                .room(&room_id)?
                .participants
                .iter()
                .filter(|o| **o != h)
                .filter(|o| self.publisher(**o).is_some_and(|p| p.started))
                .count() as u64;
            if count >= settings.max_publishers {
                return Err(VideoRoomError::PublishersFull(settings.max_publishers));
            }
        }
        let prior_e2ee = self.publisher(h).is_some_and(|p| p.e2ee);
        if settings.require_e2ee && !offer.e2ee && !prior_e2ee {
            return Err(VideoRoomError::Unauthorized(
                "Room requires end-to-end encrypted media".into(),
            ));
        }
        let sd = SessionDescription::parse(&offer.sdp)
            .map_err(|e| VideoRoomError::InvalidSdp(format!("Error parsing offer: {e}")))?;
        let p = self.publisher_mut(h).ok_or(VideoRoomError::Unknown(
            "Invalid participant instance".into(),
        ))?;
        if offer.sdp.contains("mozilla") || offer.sdp.contains("Mozilla") {
            p.firefox = true;
        }
        let answer = answer_offer(
            &room_id,
            &settings,
            p,
            &sd,
            offer.simulcast.as_ref(),
            body.get("descriptions"),
        );
        if let Some(c) = answer.audio_codec {
            event.insert("audio_codec".into(), c.into());
        }
        if let Some(c) = answer.video_codec {
            event.insert("video_codec".into(), c.into());
        }
        let own: Vec<Value> = p
            .streams
            .iter()
            .map(|s| stream_json(s, View::Own, false))
            .collect();
        event.insert("streams".into(), Value::Array(own));
        if settings.record || p.recording {
            p.recording = true;
        }
        if offer.e2ee {
            p.e2ee = true;
        }
        let mut jsep = Jsep::new(JsepType::Answer, answer.sdp.to_sdp_string());
        jsep.e2ee = p.e2ee;
        let started = p.started;
        if offer.update && started {
            self.notify_about_publisher(h);
            self.add_publisher_media(h);
        }
        Ok(jsep)
    }

    /// Tells the forwarding engine about a publisher's current streams.
    pub(super) fn add_publisher_media(&mut self, h: HandleId) {
        let Some(p) = self.publisher(h) else { return };
        let Some(room) = p.room.clone() else { return };
        let op = MediaOp::AddPublisher {
            room,
            handle: h,
            label: p.id.to_string(),
            streams: p.published_streams(),
            extensions: p.engine_extensions(),
        };
        self.media(op);
    }

    /// `{"videoroom":"event","publishers":[...]}` to everyone else in the room.
    pub(super) fn notify_about_publisher(&mut self, h: HandleId) {
        let Some(p) = self.publisher(h) else { return };
        let Some(room) = p.room.clone() else { return };
        let msg = json!({"videoroom": "event", "room": room.to_json(),
                         "publishers": [p.entry(View::Notify)]});
        self.notify_participants(&room, &msg, Some(h));
    }
}

/// Janus's playout-delay rule: a negative value disables both, otherwise min ≤ max is kept.
pub fn apply_delays(s: &Value, min: &mut i32, max: &mut i32) {
    let clamp = |v: i64| v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i32;
    if let Some(v) = api::opt_int(s, "min_delay").map(clamp) {
        if v < 0 {
            (*min, *max) = (-1, -1);
        } else {
            *min = v;
            if *min > *max {
                *max = *min;
            }
        }
    }
    if let Some(v) = api::opt_int(s, "max_delay").map(clamp) {
        if v < 0 {
            (*min, *max) = (-1, -1);
        } else {
            *max = v;
            if *max < *min {
                *min = *max;
            }
        }
    }
}

/// Each `descriptions` entry needs a string `mid` and `description`.
fn validate_descriptions(body: &Value) -> Result<(), VideoRoomError> {
    if let Some(list) = body.get("descriptions").and_then(Value::as_array) {
        for d in list {
            api::check(d, DESCRIPTION_PARAMS)?;
        }
    }
    Ok(())
}

/// Why a publisher leaves its room (the key others see in the event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    Leaving,
    Kicked,
}

/// The join parameters table, used by [`State`] before it knows the participant type.
pub fn join_params() -> &'static [api::Param] {
    JOIN_PARAMS
}

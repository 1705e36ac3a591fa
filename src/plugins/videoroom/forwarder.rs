//! RTP forwarders (`rtp_forward`, plugins API §2.8): a publisher's streams copied as RTP or
//! SRTP (or raw data-channel payloads) to UDP destinations, e.g. a Streaming mountpoint.
//!
//! Supported: the `streams` API and the deprecated flat one, per-stream `host`, `pt`/`ssrc`
//! rewriting, simulcast substreams to `port`/`port_2`/`port_3`, SRTP (`srtp_suite` 32/80 +
//! base64 `srtp_crypto`, AES_CM_128_HMAC_SHA1_32/_80, one outbound context per forwarder:
//! `media_core::srtp::sdes`, sent by `forward_out`). As in Janus 1.1.2, SRTP applies to audio
//! and video forwarders, never to data ones, and a `srtp_crypto` that does not decode to the
//! 30-byte key + salt creates no audio/video forwarder (the request still succeeds; the
//! reply lists what was created).
//!
//! `simulcast: true` on a video stream makes the forwarder "act as a viewer", as Janus 1.1.2
//! does with its simulcast context (substream and temporal targets 2, default fallback): ONE
//! stream following the best live substream, falling back when it stops, switching on
//! keyframes, with continuous sequence numbers, timestamps and VP8 picture ids, and the SSRC
//! given in `ssrc` or else the forwarder's `stream_id` (Janus's default). Such a forwarder is
//! not handled on the publisher's packet path like the others: [`ForwardTarget::viewer`]
//! targets become subscribers of the room's forwarding task (`media_core::forward`
//! `RouterInput::SetForwarder`), which already does exactly this for WebRTC subscribers;
//! only the sending end (`forward_out::ForwardEgress`) is ours.
//!
//! Not yet: RTCP feedback ports (`rtcp_port`).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use media_core::srtp::SdesKey;
use serde_json::{json, Map, Value};

use super::api::{self, Ty};
use super::errors::VideoRoomError;
use super::publisher::{Publisher, StreamKind};

/// The per-stream fields of the `streams` form (Janus's `rtp_forward_stream_parameters`).
const STREAM_PARAMS: &[api::Param] = &[
    ("secret", Ty::Str, false),
    ("mid", Ty::Str, true),
    ("host", Ty::Str, false),
    ("host_family", Ty::Str, false),
    ("port", Ty::PosInt, true),
    ("rtcp_port", Ty::PosInt, false),
    ("ssrc", Ty::PosInt, false),
    ("pt", Ty::PosInt, false),
    ("simulcast", Ty::Bool, false),
    ("srtp_suite", Ty::PosInt, false),
    ("srtp_crypto", Ty::Str, false),
    ("port_2", Ty::PosInt, false),
    ("ssrc_2", Ty::PosInt, false),
    ("pt_2", Ty::PosInt, false),
    ("port_3", Ty::PosInt, false),
    ("ssrc_3", Ty::PosInt, false),
    ("pt_3", Ty::PosInt, false),
];

/// One forwarder of one publisher stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarder {
    pub stream_id: u32,
    pub kind: StreamKind,
    /// The publisher stream it copies.
    pub mid: String,
    pub addr: SocketAddr,
    /// Payload type / SSRC written into forwarded packets (0 = keep the publisher's).
    pub pt: u8,
    pub ssrc: u32,
    /// Simulcast substream forwarded (0 = lowest).
    pub substream: u8,
    /// "Act as a viewer": one stream following the best live layer (video only).
    pub simulcast: bool,
    /// SRTP suite and master key (audio/video only).
    pub srtp: Option<SdesKey>,
}

impl Forwarder {
    /// Janus's `rtp_forwarder_summary`.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        m.insert("stream_id".into(), self.stream_id.into());
        m.insert("host".into(), self.addr.ip().to_string().into());
        m.insert("port".into(), self.addr.port().into());
        m.insert("type".into(), self.kind.as_str().into());
        if self.kind != StreamKind::Data {
            if self.pt != 0 {
                m.insert("pt".into(), self.pt.into());
            }
            if self.ssrc != 0 {
                m.insert("ssrc".into(), self.ssrc.into());
            }
            if self.kind == StreamKind::Video && self.substream != 0 {
                m.insert("substream".into(), self.substream.into());
            }
        }
        if self.srtp.is_some() {
            m.insert("srtp".into(), true.into());
        }
        Value::Object(m)
    }
}

/// What the media side needs to forward one stream (resolved against the current streams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    /// The forwarder's `stream_id`: the media side keeps a target's SRTP context across
    /// rebuilt lists by it.
    pub stream_id: u32,
    /// `RtpIn::stream` of the publisher's peer; `None` = data channel.
    pub rtp_index: Option<usize>,
    /// Simulcast layer to forward (`RtpIn::layer`).
    pub layer: u8,
    pub addr: SocketAddr,
    pub pt: u8,
    pub ssrc: u32,
    pub srtp: Option<SdesKey>,
    /// `simulcast: true` on video: relayed by the room task like a subscriber (`layer` is
    /// unused; `pt` and `ssrc` are resolved: never 0).
    pub viewer: bool,
}

/// Resolves a host (IP literal or name) the way Janus does (`getaddrinfo`, first result).
fn resolve(host: &str, family: Option<&str>) -> Result<IpAddr, VideoRoomError> {
    let want_v6 = match family {
        Some(f) if f.eq_ignore_ascii_case("ipv4") => Some(false),
        Some(f) if f.eq_ignore_ascii_case("ipv6") => Some(true),
        Some(f) => {
            return Err(VideoRoomError::InvalidElement(format!(
                "Unsupported protocol family ({f})"
            )))
        }
        None => None,
    };
    let fits = |ip: &IpAddr| want_v6.is_none_or(|v6| ip.is_ipv6() == v6);
    let found = match host.parse::<IpAddr>() {
        Ok(ip) => Some(ip).filter(fits),
        Err(_) => (host, 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.find(|s| fits(&s.ip())))
            .map(|s| s.ip()),
    };
    found.ok_or_else(|| {
        VideoRoomError::InvalidElement(format!("Could not resolve address ({host})..."))
    })
}

fn new_stream_id(p: &Publisher) -> u32 {
    loop {
        let id: u32 = rand::random();
        if id != 0 && !p.forwarders.iter().any(|f| f.stream_id == id) {
            return id;
        }
    }
}

fn u8_of(v: Option<&Value>) -> u8 {
    v.and_then(Value::as_u64).map_or(0, |x| (x & 0x7f) as u8)
}

fn u32_of(v: Option<&Value>) -> u32 {
    v.and_then(Value::as_u64).map_or(0, |x| x as u32)
}

/// Validates the request-level fields that do not need the room (Janus's order: streams,
/// hosts, SRTP). Returns the resolved global host.
pub fn validate(body: &Value) -> Result<IpAddr, VideoRoomError> {
    let family = api::opt_str(body, "host_family");
    if let Some(f) = family {
        if !f.eq_ignore_ascii_case("ipv4") && !f.eq_ignore_ascii_case("ipv6") {
            return Err(VideoRoomError::InvalidElement(format!(
                "Unsupported protocol family ({f})"
            )));
        }
    }
    let host = resolve(api::opt_str(body, "host").unwrap_or_default(), family)?;
    for s in body
        .get("streams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        api::check(s, STREAM_PARAMS)?;
        if let Some(h) = api::opt_str(s, "host") {
            resolve(h, api::opt_str(s, "host_family").or(family))?;
        }
    }
    if let (Some(suite), Some(_)) = (
        body.get("srtp_suite").and_then(Value::as_u64),
        body.get("srtp_crypto"),
    ) {
        if suite != 32 && suite != 80 {
            return Err(VideoRoomError::InvalidElement(format!(
                "Invalid SRTP suite ({suite})"
            )));
        }
    }
    Ok(host)
}

/// What a request asks for as to SRTP (`srtp_suite` + `srtp_crypto`, top level only as
/// in Janus; the suite was checked by [`validate`]).
#[derive(Debug, Clone, Copy)]
enum Srtp {
    Plain,
    Key(SdesKey),
    /// `srtp_crypto` does not decode to a key: Janus creates no audio/video forwarder.
    Unusable,
}

impl Srtp {
    fn of(body: &Value) -> Srtp {
        let (Some(suite), Some(crypto)) = (
            body.get("srtp_suite").and_then(Value::as_u64),
            body.get("srtp_crypto"),
        ) else {
            return Srtp::Plain;
        };
        match SdesKey::from_base64(suite as u8, crypto.as_str().unwrap_or_default()) {
            Ok(key) => Srtp::Key(key),
            Err(e) => {
                tracing::warn!("videoroom: rtp_forward with an unusable srtp_crypto ({e})");
                Srtp::Unusable
            }
        }
    }

    /// The key of a new forwarder of `kind` (data is never encrypted); `Err` = create none.
    fn key_for(self, kind: StreamKind) -> Result<Option<SdesKey>, Srtp> {
        match (kind, self) {
            (StreamKind::Data, _) | (_, Srtp::Plain) => Ok(None),
            (_, Srtp::Key(key)) => Ok(Some(key)),
            (_, Srtp::Unusable) => Err(self),
        }
    }
}

/// Adds the forwarders `body` asks for to `p`; returns the reply's body part (`forwarders`
/// for the `streams` form, `rtp_stream` for the deprecated one) and whether video is
/// forwarded (Janus then asks the publisher for a keyframe).
pub fn add(p: &mut Publisher, body: &Value, host: IpAddr) -> (Map<String, Value>, bool) {
    let mut reply = Map::new();
    let mut video = false;
    let family = api::opt_str(body, "host_family");
    let srtp = Srtp::of(body);
    if let Some(list) = body
        .get("streams")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    {
        let mut out = Vec::new();
        for s in list {
            let Some(ps) = api::opt_str(s, "mid")
                .and_then(|m| p.stream_by_mid(m))
                .cloned()
            else {
                continue;
            };
            let ip = api::opt_str(s, "host")
                .and_then(|h| resolve(h, api::opt_str(s, "host_family").or(family)).ok())
                .unwrap_or(host);
            let simulcast = api::is_true(s, "simulcast");
            let mut ports = vec![(s.get("port"), s.get("pt"), s.get("ssrc"), 0u8)];
            if ps.kind == StreamKind::Video && !simulcast {
                ports.push((s.get("port_2"), s.get("pt_2"), s.get("ssrc_2"), 1));
                ports.push((s.get("port_3"), s.get("pt_3"), s.get("ssrc_3"), 2));
            }
            let Ok(key) = srtp.key_for(ps.kind) else {
                continue;
            };
            for (port, pt, ssrc, substream) in ports {
                let Some(port) = port
                    .and_then(Value::as_u64)
                    .filter(|p| *p > 0 && *p <= 65535)
                else {
                    continue;
                };
                let f = Forwarder {
                    stream_id: new_stream_id(p),
                    kind: ps.kind,
                    mid: ps.mid.clone(),
                    addr: SocketAddr::new(ip, port as u16),
                    pt: u8_of(pt),
                    ssrc: u32_of(ssrc),
                    substream,
                    simulcast,
                    srtp: key,
                };
                video |= f.kind == StreamKind::Video;
                out.push(f.summary());
                p.forwarders.push(f);
            }
        }
        reply.insert("forwarders".into(), Value::Array(out));
        return (reply, video);
    }
    // The deprecated flat form: the first audio, video and data streams.
    let mut rtp = Map::new();
    let first = |k: StreamKind| {
        p.streams
            .iter()
            .find(|s| s.kind == k)
            .map(|s| s.mid.clone())
    };
    let simulcast = api::is_true(body, "simulcast");
    let mut wanted: Vec<(StreamKind, &str, &str, &str, &str, &str, u8)> = vec![
        (
            StreamKind::Audio,
            "audio_port",
            "audio_pt",
            "audio_ssrc",
            "audio_stream_id",
            "audio",
            0,
        ),
        (
            StreamKind::Video,
            "video_port",
            "video_pt",
            "video_ssrc",
            "video_stream_id",
            "video",
            0,
        ),
    ];
    if !simulcast {
        wanted.push((
            StreamKind::Video,
            "video_port_2",
            "video_pt_2",
            "video_ssrc_2",
            "video_stream_id_2",
            "video_2",
            1,
        ));
        wanted.push((
            StreamKind::Video,
            "video_port_3",
            "video_pt_3",
            "video_ssrc_3",
            "video_stream_id_3",
            "video_3",
            2,
        ));
    }
    wanted.push((
        StreamKind::Data,
        "data_port",
        "",
        "",
        "data_stream_id",
        "data",
        0,
    ));
    for (kind, port_k, pt_k, ssrc_k, id_k, out_k, substream) in wanted {
        let Some(port) = body
            .get(port_k)
            .and_then(Value::as_u64)
            .filter(|p| *p > 0 && *p <= 65535)
        else {
            continue;
        };
        let Some(mid) = first(kind) else { continue };
        let Ok(key) = srtp.key_for(kind) else {
            continue;
        };
        let f = Forwarder {
            stream_id: new_stream_id(p),
            kind,
            mid,
            addr: SocketAddr::new(host, port as u16),
            pt: u8_of(body.get(pt_k)),
            ssrc: u32_of(body.get(ssrc_k)),
            substream,
            simulcast: simulcast && kind == StreamKind::Video,
            srtp: key,
        };
        video |= kind == StreamKind::Video;
        rtp.insert(id_k.into(), f.stream_id.into());
        rtp.insert(out_k.into(), port.into());
        p.forwarders.push(f);
    }
    rtp.insert("warning".into(), "deprecated_api".into());
    rtp.insert("host".into(), host.to_string().into());
    reply.insert("rtp_stream".into(), Value::Object(rtp));
    (reply, video)
}

/// The media side's view of a publisher's forwarders.
pub fn targets(p: &Publisher) -> Vec<ForwardTarget> {
    p.forwarders
        .iter()
        .filter_map(|f| {
            let ps = p.stream_by_mid(&f.mid)?;
            let rtp_index = match ps.kind {
                StreamKind::Data => None,
                _ => Some(ps.rtp_index?),
            };
            let viewer = f.simulcast && ps.kind == StreamKind::Video;
            let (pt, ssrc) = if viewer {
                // The room task writes both into every packet: the publisher's PT unless
                // overridden, and Janus's default SSRC for these forwarders, the stream id.
                (
                    if f.pt != 0 { f.pt } else { ps.pt },
                    if f.ssrc != 0 { f.ssrc } else { f.stream_id },
                )
            } else {
                (f.pt, f.ssrc)
            };
            Some(ForwardTarget {
                stream_id: f.stream_id,
                rtp_index,
                layer: f.substream.min(ps.layers.saturating_sub(1)),
                addr: f.addr,
                pt,
                ssrc,
                srtp: f.srtp,
                viewer,
            })
        })
        .collect()
}

/// `listforwarders` entry of one publisher (`None` without forwarders).
pub fn list_entry(p: &Publisher) -> Option<Value> {
    if p.forwarders.is_empty() {
        return None;
    }
    let mut v = json!({"publisher_id": p.id.to_json()});
    if let Some(d) = &p.display {
        v["display"] = d.clone().into();
    }
    v["forwarders"] = Value::Array(p.forwarders.iter().map(Forwarder::summary).collect());
    Some(v)
}

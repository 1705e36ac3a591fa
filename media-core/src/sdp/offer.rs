//! Offers Ianus makes (VideoRoom subscribers, Streaming, TextRoom...), shaped like
//! `janus_sdp_generate_offer_mline`: one codec per section at a caller-chosen payload type
//! (Janus's canonical ones, `janus-plugins-api.md` §0.5), Janus's default extension IDs,
//! optional RTX, our SSRCs and msid. Bare: [`super::merge_transport`] adds the transport.

use super::answer::{add_local_ssrcs, SCTPMAP_STREAMS, SCTP_PORT};
use super::model::*;
use super::transport::{PROTO_DATA, PROTO_DATA_LEGACY, PROTO_RTP};

/// One codec to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferCodec {
    pub codec: Codec,
    pub pt: u8,
    pub fmtp: Option<String>,
    /// RTX payload type for this codec (video), `apt` = `pt`.
    pub rtx_pt: Option<u8>,
    pub rtcp_fb: Vec<String>,
}

impl OfferCodec {
    /// Janus's defaults: video gets `ccm fir`, `nack`, `nack pli`, `goog-remb`,
    /// `transport-cc`; audio `transport-cc`; Opus `useinbandfec=1`.
    pub fn new(codec: Codec, pt: u8) -> Self {
        let rtcp_fb: &[&str] = if codec.is_video() {
            &["ccm fir", "nack", "nack pli", "goog-remb", "transport-cc"]
        } else {
            &["transport-cc"]
        };
        OfferCodec {
            codec,
            pt,
            fmtp: (codec == Codec::Opus).then(|| "useinbandfec=1".to_owned()),
            rtx_pt: None,
            rtcp_fb: rtcp_fb.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn with_rtx(mut self, rtx_pt: u8) -> Self {
        self.rtx_pt = Some(rtx_pt);
        self
    }

    pub fn with_fmtp(mut self, fmtp: impl Into<String>) -> Self {
        self.fmtp = Some(fmtp.into());
        self
    }
}

/// One audio or video section to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferMedia {
    pub kind: MediaKind,
    pub mid: String,
    pub direction: Direction,
    pub codecs: Vec<OfferCodec>,
    /// Extension and ID (1-14 for one-byte headers, RFC 8285 §4.2).
    pub extensions: Vec<(RtpExtension, u16)>,
    pub ssrc: Option<u32>,
    pub rtx_ssrc: Option<u32>,
    pub msid: Option<Msid>,
}

fn default_ids(exts: &[RtpExtension]) -> Vec<(RtpExtension, u16)> {
    exts.iter()
        .filter_map(|e| Some((*e, e.janus_default_id()?)))
        .collect()
}

impl OfferMedia {
    /// Opus/48000/2 at PT 111, sendonly, mid + audio-level at Janus's IDs.
    pub fn audio(mid: impl Into<String>) -> Self {
        OfferMedia {
            kind: MediaKind::Audio,
            mid: mid.into(),
            direction: Direction::SendOnly,
            codecs: vec![OfferCodec::new(Codec::Opus, 111)],
            extensions: default_ids(&[RtpExtension::AudioLevel, RtpExtension::Mid]),
            ssrc: None,
            rtx_ssrc: None,
            msid: None,
        }
    }

    /// VP8 at PT 96 with RTX 97, sendonly, mid + playout-delay + video-orientation.
    pub fn video(mid: impl Into<String>) -> Self {
        OfferMedia {
            kind: MediaKind::Video,
            mid: mid.into(),
            direction: Direction::SendOnly,
            codecs: vec![OfferCodec::new(Codec::Vp8, 96).with_rtx(97)],
            extensions: default_ids(&[
                RtpExtension::Mid,
                RtpExtension::PlayoutDelay,
                RtpExtension::VideoOrientation,
            ]),
            ssrc: None,
            rtx_ssrc: None,
            msid: None,
        }
    }

    pub fn direction(mut self, d: Direction) -> Self {
        self.direction = d;
        self
    }

    pub fn codecs(mut self, codecs: Vec<OfferCodec>) -> Self {
        self.codecs = codecs;
        self
    }

    pub fn extensions(mut self, exts: Vec<(RtpExtension, u16)>) -> Self {
        self.extensions = exts;
        self
    }

    pub fn ssrc(mut self, ssrc: u32, rtx_ssrc: Option<u32>) -> Self {
        self.ssrc = Some(ssrc);
        self.rtx_ssrc = rtx_ssrc;
        self
    }

    pub fn msid(mut self, stream: impl Into<String>, track: impl Into<String>) -> Self {
        self.msid = Some(Msid {
            stream: stream.into(),
            track: Some(track.into()),
        });
        self
    }

    fn into_section(self) -> MediaSection {
        let mut m = MediaSection::new(self.kind, PROTO_RTP);
        m.mid = Some(self.mid.clone());
        m.direction = Some(self.direction);
        let mut has_rtx = false;
        for c in &self.codecs {
            let (name, clock, ch) = c.codec.rtpmap().unwrap_or(("unknown", 90000, None));
            let mut p = PayloadFormat::new(c.pt, name, clock, ch);
            p.fmtp = c.fmtp.clone();
            p.rtcp_fb = c.rtcp_fb.clone();
            m.add_payload(p);
        }
        for c in &self.codecs {
            if let Some(rtx_pt) = c.rtx_pt {
                let mut p = PayloadFormat::new(rtx_pt, "rtx", 90000, None);
                p.fmtp = Some(format!("apt={}", c.pt));
                m.add_payload(p);
                has_rtx = true;
            }
        }
        let mut exts = self.extensions.clone();
        exts.sort_by_key(|(_, id)| *id);
        for (ext, id) in exts {
            if m.extmaps.iter().any(|e| e.id == id) {
                continue;
            }
            m.extmaps.push(ExtMap {
                id,
                direction: None,
                uri: ext.uri().to_owned(),
                attributes: None,
            });
        }
        if self.direction.sends() {
            let msid = self.msid.unwrap_or_else(|| Msid {
                stream: "janus".to_owned(),
                track: Some(format!("janus{}", self.mid)),
            });
            m.msids.push(msid);
            if let Some(ssrc) = self.ssrc {
                add_local_ssrcs(&mut m, ssrc, self.rtx_ssrc.filter(|_| has_rtx));
            }
        }
        m
    }
}

/// Builds an offer section by section.
#[derive(Debug, Clone)]
pub struct OfferBuilder {
    sdp: SessionDescription,
}

impl OfferBuilder {
    /// `session_id` 0 lets [`super::merge_transport`] pick one.
    pub fn new(session_id: u64) -> Self {
        let mut sdp = SessionDescription::default();
        sdp.origin.session_id = session_id;
        OfferBuilder { sdp }
    }

    /// `s=` (VideoRoom: `VideoRoom <room>`, Streaming: `Mountpoint <id>`).
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.sdp.session_name = name.into();
        self
    }

    pub fn session_version(mut self, v: u64) -> Self {
        self.sdp.origin.session_version = v;
        self
    }

    pub fn media(mut self, m: OfferMedia) -> Self {
        self.sdp.media.push(m.into_section());
        self
    }

    /// A data-channel section (`UDP/DTLS/SCTP webrtc-datachannel` + `a=sctp-port:5000`,
    /// or the old `DTLS/SCTP 5000` + `a=sctpmap` when `legacy`).
    pub fn data(mut self, mid: impl Into<String>, legacy: bool) -> Self {
        let mut m = MediaSection::new(
            MediaKind::Application,
            if legacy {
                PROTO_DATA_LEGACY
            } else {
                PROTO_DATA
            },
        );
        m.mid = Some(mid.into());
        m.direction = Some(Direction::SendRecv);
        if legacy {
            m.formats.push(SCTP_PORT.to_string());
            m.sctpmap = Some(SctpMap {
                port: SCTP_PORT,
                app: "webrtc-datachannel".to_owned(),
                streams: Some(SCTPMAP_STREAMS),
            });
        } else {
            m.formats.push("webrtc-datachannel".to_owned());
            m.sctp_port = Some(SCTP_PORT);
        }
        self.sdp.media.push(m);
        self
    }

    /// A placeholder for a section that must keep its index but is no longer used.
    pub fn rejected(mut self, kind: MediaKind, mid: impl Into<String>) -> Self {
        let proto = if kind == MediaKind::Application {
            PROTO_DATA
        } else {
            PROTO_RTP
        };
        let mut m = MediaSection::new(kind.clone(), proto);
        m.port = 0;
        m.mid = Some(mid.into());
        m.formats.push(
            if kind == MediaKind::Application {
                "webrtc-datachannel"
            } else {
                "0"
            }
            .to_owned(),
        );
        m.direction = kind.is_rtp().then_some(Direction::Inactive);
        self.sdp.media.push(m);
        self
    }

    pub fn build(self) -> SessionDescription {
        self.sdp
    }
}

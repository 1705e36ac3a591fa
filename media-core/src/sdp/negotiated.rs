//! What a completed offer/answer means for RTP routing: per section, the payload types both
//! sides kept, RTX pairs, extension IDs, the remote's SSRCs/rids and our own SSRCs.

use super::model::*;

/// One payload type both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCodec {
    pub pt: u8,
    pub codec: Codec,
    /// Encoding name as written in the SDP.
    pub name: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
    pub fmtp: Option<String>,
    pub rtcp_fb: Vec<String>,
}

/// SCTP parameters of the remote data section (RFC 8841 §5, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChannelParams {
    pub sctp_port: u16,
    /// Absent means 65536 (RFC 8841 §6.1).
    pub max_message_size: Option<u64>,
}

/// One section after negotiation, seen from Ianus's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    pub mindex: usize,
    pub mid: String,
    pub kind: MediaKind,
    /// Neither side rejected it.
    pub active: bool,
    /// Our direction (`sendonly` = we send, the remote receives).
    pub direction: Direction,
    /// Media codecs (RTX excluded), local m-line order.
    pub codecs: Vec<NegotiatedCodec>,
    /// RTX payload type → associated payload type (RFC 4588 §8.6).
    pub rtx: Vec<(u8, u8)>,
    /// Extension IDs usable in packets (1-255), for the extensions both sides listed.
    pub extensions: Vec<(RtpExtension, u8)>,
    /// Remote media SSRCs (RTX ones excluded), in SDP order.
    pub remote_ssrcs: Vec<u32>,
    /// Remote `ssrc-group:FID` pairs (media, rtx).
    pub remote_rtx_ssrcs: Vec<(u32, u32)>,
    /// Remote `ssrc-group:SIM` SSRCs, lowest layer first as the group lists them.
    pub remote_sim_ssrcs: Vec<u32>,
    /// Rids the remote sends, in its `a=simulcast` order (Janus default: high → low).
    pub remote_rids: Vec<String>,
    pub remote_msid: Option<Msid>,
    pub local_ssrc: Option<u32>,
    pub local_rtx_ssrc: Option<u32>,
    pub data: Option<DataChannelParams>,
}

impl NegotiatedMedia {
    pub fn sends(&self) -> bool {
        self.active && self.direction.sends()
    }

    pub fn receives(&self) -> bool {
        self.active && self.direction.receives()
    }

    pub fn ext_id(&self, ext: RtpExtension) -> Option<u8> {
        self.extensions
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, id)| *id)
    }

    pub fn codec(&self, pt: u8) -> Option<&NegotiatedCodec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }

    /// The first (preferred) media codec.
    pub fn main_codec(&self) -> Option<&NegotiatedCodec> {
        self.codecs
            .iter()
            .find(|c| !matches!(c.codec, Codec::Red | Codec::TelephoneEvent))
    }

    /// `apt` of an RTX payload type.
    pub fn apt(&self, rtx_pt: u8) -> Option<u8> {
        self.rtx.iter().find(|(r, _)| *r == rtx_pt).map(|(_, a)| *a)
    }

    /// RTX payload type protecting `pt`.
    pub fn rtx_pt(&self, pt: u8) -> Option<u8> {
        self.rtx.iter().find(|(_, a)| *a == pt).map(|(r, _)| *r)
    }

    pub fn is_rtx_pt(&self, pt: u8) -> bool {
        self.rtx.iter().any(|(r, _)| *r == pt)
    }
}

/// Every section of a negotiated session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Negotiated {
    pub media: Vec<NegotiatedMedia>,
}

impl Negotiated {
    pub fn by_mid(&self, mid: &str) -> Option<&NegotiatedMedia> {
        self.media.iter().find(|m| m.mid == mid)
    }

    /// The ID of `ext` in the first active section that has it (BUNDLE shares one ID space
    /// per URI in practice, RFC 8843 §9.2).
    pub fn ext_id(&self, ext: RtpExtension) -> Option<u8> {
        self.media
            .iter()
            .filter(|m| m.active)
            .find_map(|m| m.ext_id(ext))
    }

    /// Whether there is an active data-channel section.
    pub fn data(&self) -> Option<DataChannelParams> {
        self.media.iter().filter(|m| m.active).find_map(|m| m.data)
    }
}

/// Pairs `local` and `remote` sections by index (offer/answer keeps the order, RFC 3264 §6).
pub fn negotiated(local: &SessionDescription, remote: &SessionDescription) -> Negotiated {
    let media = local
        .media
        .iter()
        .zip(remote.media.iter())
        .enumerate()
        .map(|(mindex, (l, r))| negotiate_section(mindex, l, r))
        .collect();
    Negotiated { media }
}

fn negotiate_section(mindex: usize, l: &MediaSection, r: &MediaSection) -> NegotiatedMedia {
    let active = !l.is_rejected() && !r.is_rejected() && l.kind == r.kind;
    let mid = l
        .mid
        .clone()
        .or_else(|| r.mid.clone())
        .unwrap_or_else(|| mindex.to_string());
    let remote_pts: Vec<u8> = r.pts().collect();

    let mut codecs = Vec::new();
    let mut rtx = Vec::new();
    if l.kind.is_rtp() {
        for pt in l.pts().filter(|pt| remote_pts.contains(pt)) {
            let lp = l.payload(pt);
            let rp = r.payload(pt);
            let Some((name, clock_rate, channels)) = lp
                .and_then(|p| p.encoding())
                .or_else(|| rp.and_then(|p| p.encoding()))
            else {
                continue;
            };
            let codec = Codec::from_encoding(name);
            let fmtp = lp
                .and_then(|p| p.fmtp.clone())
                .or_else(|| rp.and_then(|p| p.fmtp.clone()));
            if codec == Codec::Rtx {
                let apt = fmtp
                    .as_deref()
                    .and_then(|f| fmtp_param(f, "apt"))
                    .and_then(|a| a.parse().ok());
                if let Some(apt) = apt {
                    rtx.push((pt, apt));
                }
                continue;
            }
            codecs.push(NegotiatedCodec {
                pt,
                codec,
                name: name.to_owned(),
                clock_rate,
                channels,
                fmtp,
                rtcp_fb: lp.map(|p| p.rtcp_fb.clone()).unwrap_or_default(),
            });
        }
    }

    let extensions = r
        .extmaps
        .iter()
        .filter(|e| e.id <= 255 && l.extmaps.iter().any(|x| x.uri == e.uri))
        .filter_map(|e| Some((e.extension()?, e.id as u8)))
        .collect();

    let remote_rtx_ssrcs: Vec<(u32, u32)> = r
        .ssrc_groups
        .iter()
        .filter(|g| g.semantics.eq_ignore_ascii_case("FID"))
        .filter_map(|g| Some((*g.ssrcs.first()?, *g.ssrcs.get(1)?)))
        .collect();
    let remote_ssrcs = r
        .ssrc_ids()
        .into_iter()
        .filter(|s| !remote_rtx_ssrcs.iter().any(|(_, x)| x == s))
        .collect();
    let remote_sim_ssrcs = r
        .ssrc_group("SIM")
        .map(|g| g.ssrcs.clone())
        .unwrap_or_default();

    let send_rids: Vec<&Rid> = r
        .rids
        .iter()
        .filter(|x| x.direction == RidDirection::Send)
        .collect();
    let mut remote_rids: Vec<String> = Vec::new();
    if let Some(sc) = &r.simulcast {
        for stream in &sc.send {
            if let Some(first) = stream.first() {
                if send_rids.iter().any(|x| x.id == first.rid) || send_rids.is_empty() {
                    remote_rids.push(first.rid.clone());
                }
            }
        }
    }
    if remote_rids.is_empty() {
        remote_rids = send_rids.iter().map(|x| x.id.clone()).collect();
    }

    let (local_ssrc, local_rtx_ssrc) = match l.ssrc_group("FID") {
        Some(g) => (g.ssrcs.first().copied(), g.ssrcs.get(1).copied()),
        None => (l.ssrc_ids().first().copied(), None),
    };

    let data = (active && r.is_data()).then(|| DataChannelParams {
        sctp_port: r
            .sctp_port
            .or(r.sctpmap.as_ref().map(|s| s.port))
            .unwrap_or(5000),
        max_message_size: r.max_message_size,
    });

    NegotiatedMedia {
        mindex,
        mid,
        kind: l.kind.clone(),
        active,
        direction: if active {
            l.direction()
        } else {
            Direction::Inactive
        },
        codecs,
        rtx,
        extensions,
        remote_ssrcs,
        remote_rtx_ssrcs,
        remote_sim_ssrcs,
        remote_rids,
        remote_msid: r.msids.first().cloned(),
        local_ssrc,
        local_rtx_ssrc,
        data,
    }
}

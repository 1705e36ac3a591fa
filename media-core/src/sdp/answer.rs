//! Answer generation (RFC 3264 §6, RFC 8829 §5.3), following what Janus's
//! `janus_sdp_generate_answer_mline` and the EchoTest plugin produce
//! (`janus-plugins-api.md` §1.3, §2.5).
//!
//! The result is *bare*: no ICE, DTLS or candidates; [`super::merge_transport`] adds them.

use super::model::*;

/// rtcp-fb values Ianus implements and therefore keeps (RFC 4585 §4.2, RFC 5104 §7.1,
/// draft-alvestrand-rmcat-remb, draft-holmer-rmcat-transport-wide-cc-extensions-01).
pub const SUPPORTED_RTCP_FB: &[&str] =
    &["ccm fir", "nack", "nack pli", "goog-remb", "transport-cc"];

/// Janus's audio preference when the plugin forces nothing.
pub const DEFAULT_AUDIO_CODECS: &[Codec] = &[
    Codec::Opus,
    Codec::Multiopus,
    Codec::Pcmu,
    Codec::Pcma,
    Codec::G722,
];
/// Janus's video preference when the plugin forces nothing.
pub const DEFAULT_VIDEO_CODECS: &[Codec] = &[Codec::Vp8, Codec::Vp9, Codec::H264];
/// Extensions EchoTest accepts (`janus-plugins-api.md` §1.3) plus abs-send-time.
pub const DEFAULT_EXTENSIONS: &[RtpExtension] = &[
    RtpExtension::Mid,
    RtpExtension::Rid,
    RtpExtension::RepairedRid,
    RtpExtension::AudioLevel,
    RtpExtension::VideoOrientation,
    RtpExtension::PlayoutDelay,
    RtpExtension::TransportCc,
    RtpExtension::AbsSendTime,
    RtpExtension::DependencyDescriptor,
];

/// SCTP port Janus answers with (RFC 8841 §5).
pub const SCTP_PORT: u16 = 5000;
/// `a=sctpmap` streams count Janus answers the old syntax with.
pub const SCTPMAP_STREAMS: u32 = 16;

/// Per-section choices of the answerer, by mid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalMedia {
    pub mid: String,
    /// Our SSRC when we send on this section (`a=ssrc:<ssrc> cname:janus`).
    pub ssrc: Option<u32>,
    /// Our RTX SSRC (`a=ssrc-group:FID <ssrc> <rtx>`), used when RTX is negotiated.
    pub rtx_ssrc: Option<u32>,
    /// `a=msid`; default `janus janus<mid>`.
    pub msid: Option<Msid>,
    /// Overrides [`AnswerOptions::direction`] for this section.
    pub direction: Option<Direction>,
    /// Forced codec: if it is not offered the section is rejected (port 0), as Janus does
    /// when a plugin asks for a codec the peer lacks.
    pub codec: Option<Codec>,
    /// Reject this section (port 0).
    pub reject: bool,
}

/// How to answer an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOptions {
    /// Audio codecs in preference order; the first one offered wins.
    pub audio_codecs: Vec<Codec>,
    /// Video codecs in preference order.
    pub video_codecs: Vec<Codec>,
    /// Required VP9 `profile-id` (e.g. `"2"`); absent `profile-id` means 0 (RFC draft VP9 §6).
    pub vp9_profile: Option<String>,
    /// Required H.264 `profile-level-id` (e.g. `"42e01f"`), compared case-insensitively.
    pub h264_profile: Option<String>,
    /// Header extensions to accept; the offerer's IDs are kept (RFC 8285 §6).
    pub extensions: Vec<RtpExtension>,
    /// Answer `rtx` for the chosen codec when it is offered (RFC 4588 §8.6).
    pub rtx: bool,
    /// Opus in-band FEC in the answer fmtp (RFC 7587 §7).
    pub opus_fec: bool,
    /// What we are willing to do on each section.
    pub direction: Direction,
    /// EchoTest rule: an answer that would be `sendonly` becomes `inactive`.
    pub sendonly_becomes_inactive: bool,
    /// Accept rid simulcast (answer `a=rid:x recv` + `a=simulcast:recv`).
    pub simulcast: bool,
    /// Accept one data-channel section.
    pub data_channels: bool,
    /// `a=max-message-size` for the data section (RFC 8841 §6), none by default like Janus.
    pub max_message_size: Option<u64>,
    /// `s=` of the answer; default: copy the offer's (EchoTest does).
    pub session_name: Option<String>,
    /// Default `a=msid` stream id.
    pub msid_stream: String,
    pub local: Vec<LocalMedia>,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            audio_codecs: DEFAULT_AUDIO_CODECS.to_vec(),
            video_codecs: DEFAULT_VIDEO_CODECS.to_vec(),
            vp9_profile: None,
            h264_profile: None,
            extensions: DEFAULT_EXTENSIONS.to_vec(),
            rtx: true,
            opus_fec: true,
            direction: Direction::SendRecv,
            sendonly_becomes_inactive: false,
            simulcast: true,
            data_channels: true,
            max_message_size: None,
            session_name: None,
            msid_stream: "janus".to_owned(),
            local: Vec::new(),
        }
    }
}

impl AnswerOptions {
    fn local_for(&self, mid: &str) -> Option<&LocalMedia> {
        self.local.iter().find(|l| l.mid == mid)
    }
}

/// Builds a bare answer to `offer`, one section per offered section, same order and mids.
pub fn answer(offer: &SessionDescription, opts: &AnswerOptions) -> SessionDescription {
    let mut sdp = SessionDescription {
        origin: Origin {
            username: "-".to_owned(),
            session_id: offer.origin.session_id,
            session_version: offer.origin.session_version,
            ..offer.origin.clone()
        },
        session_name: opts
            .session_name
            .clone()
            .unwrap_or_else(|| offer.session_name.clone()),
        ..Default::default()
    };
    if sdp.session_name.is_empty() {
        sdp.session_name = "-".to_owned();
    }
    let mut data_accepted = false;
    for (mindex, om) in offer.media.iter().enumerate() {
        let key = om.mid.clone().unwrap_or_else(|| mindex.to_string());
        let local = opts.local_for(&key);
        let rejected = om.is_rejected() || local.is_some_and(|l| l.reject);
        let section = match &om.kind {
            _ if rejected => None,
            MediaKind::Audio | MediaKind::Video => answer_rtp(om, &key, local, opts),
            MediaKind::Application if opts.data_channels && !data_accepted && om.is_data() => {
                data_accepted = true;
                Some(answer_data(om, opts))
            }
            _ => None,
        };
        sdp.media
            .push(section.unwrap_or_else(|| rejected_section(om)));
    }
    sdp
}

/// RFC 3264 §6: a rejected stream keeps its kind, proto and one format, with port 0.
fn rejected_section(om: &MediaSection) -> MediaSection {
    let mut m = MediaSection::new(om.kind.clone(), &om.proto);
    m.port = 0;
    m.mid = om.mid.clone();
    m.formats = om.formats.iter().take(1).cloned().collect();
    if m.formats.is_empty() {
        m.formats.push("0".to_owned());
    }
    if om.kind.is_rtp() {
        m.direction = Some(Direction::Inactive);
    }
    m
}

fn answer_data(om: &MediaSection, opts: &AnswerOptions) -> MediaSection {
    let mut m = MediaSection::new(MediaKind::Application, &om.proto);
    m.mid = om.mid.clone();
    m.direction = Some(Direction::SendRecv);
    if om.sctpmap.is_some() || om.proto == super::PROTO_DATA_LEGACY {
        // Old syntax: `m=application 9 DTLS/SCTP 5000` + `a=sctpmap:5000 webrtc-datachannel 16`.
        m.formats = vec![SCTP_PORT.to_string()];
        m.sctpmap = Some(SctpMap {
            port: SCTP_PORT,
            app: "webrtc-datachannel".to_owned(),
            streams: Some(SCTPMAP_STREAMS),
        });
    } else {
        m.formats = vec!["webrtc-datachannel".to_owned()];
        m.sctp_port = Some(SCTP_PORT);
        m.max_message_size = opts.max_message_size;
    }
    m
}

/// Does offered payload `p` satisfy the profile constraints for `codec`?
fn profile_matches(p: &PayloadFormat, codec: Codec, opts: &AnswerOptions) -> bool {
    match codec {
        Codec::H264 => {
            // RFC 6184 §8.1: mode 0 (absent) cannot carry FU-A; Ianus relays browsers'
            // mode-1 streams only.
            if p.fmtp_param("packetization-mode") != Some("1") {
                return false;
            }
            match &opts.h264_profile {
                Some(want) => p
                    .fmtp_param("profile-level-id")
                    .is_some_and(|have| have.eq_ignore_ascii_case(want)),
                None => true,
            }
        }
        Codec::Vp9 => match &opts.vp9_profile {
            Some(want) => p.fmtp_param("profile-id").unwrap_or("0") == want.as_str(),
            None => true,
        },
        _ => true,
    }
}

/// The offered payload to answer with: the forced codec, else the first of the preference
/// list that is offered (m-line order decides between payloads of one codec).
fn choose_payload<'a>(
    om: &'a MediaSection,
    local: Option<&LocalMedia>,
    opts: &AnswerOptions,
) -> Option<&'a PayloadFormat> {
    let find = |codec: Codec| {
        om.formats_in_order()
            .find(|p| p.codec() == codec && profile_matches(p, codec, opts))
    };
    if let Some(forced) = local.and_then(|l| l.codec) {
        return find(forced);
    }
    let prefs = if om.kind == MediaKind::Audio {
        &opts.audio_codecs
    } else {
        &opts.video_codecs
    };
    prefs.iter().find_map(|c| find(*c))
}

/// RFC 7587 §7: FEC is ours to ask for; stereo and DTX are echoed when the offer has them.
fn opus_fmtp(offered: &PayloadFormat, opts: &AnswerOptions) -> Option<String> {
    let mut params = Vec::new();
    if opts.opus_fec {
        params.push("useinbandfec=1");
    }
    if offered.fmtp_param("usedtx") == Some("1") {
        params.push("usedtx=1");
    }
    if offered.fmtp_param("stereo") == Some("1") {
        params.push("stereo=1");
    }
    (!params.is_empty()).then(|| params.join(";"))
}

fn answer_rtp(
    om: &MediaSection,
    key: &str,
    local: Option<&LocalMedia>,
    opts: &AnswerOptions,
) -> Option<MediaSection> {
    let chosen = choose_payload(om, local, opts)?;
    let codec = chosen.codec();
    let mut m = MediaSection::new(om.kind.clone(), &om.proto);
    m.mid = om.mid.clone();

    let wanted = local.and_then(|l| l.direction).unwrap_or(opts.direction);
    let mut dir = Direction::answer_to(om.direction(), wanted);
    if dir == Direction::SendOnly && opts.sendonly_becomes_inactive {
        dir = Direction::Inactive;
    }
    m.direction = Some(dir);

    // transport-cc feedback only where the transport-wide sequence number extension is
    // accepted too (as Janus answers): a browser told `transport-cc` on a section whose
    // packets carry no such number still counts that stream in its bandwidth allocation, so
    // e.g. a publisher's audio would eat into the room's video bitrate cap.
    let twcc = opts.extensions.contains(&RtpExtension::TransportCc)
        && om
            .extmaps
            .iter()
            .any(|e| e.extension() == Some(RtpExtension::TransportCc));
    let mut p = PayloadFormat {
        pt: chosen.pt,
        rtpmap: chosen.rtpmap.clone(),
        fmtp: None,
        rtcp_fb: chosen
            .rtcp_fb
            .iter()
            .filter(|fb| SUPPORTED_RTCP_FB.contains(&fb.as_str()))
            .filter(|fb| twcc || fb.as_str() != "transport-cc")
            .cloned()
            .collect(),
    };
    p.fmtp = match codec {
        Codec::Opus => opus_fmtp(chosen, opts),
        // Multiopus needs the offer's channel mapping; video fmtp (profiles) is echoed.
        _ => chosen.fmtp.clone(),
    };
    m.add_payload(p);

    let mut rtx_pt = None;
    if opts.rtx && om.kind == MediaKind::Video {
        if let Some((pt, _)) = om.rtx_map().find(|(_, apt)| *apt == chosen.pt) {
            let clock = om
                .payload(pt)
                .and_then(|p| p.rtpmap.as_ref())
                .map_or(90000, |r| r.clock_rate);
            let mut rtx = PayloadFormat::new(pt, "rtx", clock, None);
            rtx.fmtp = Some(format!("apt={}", chosen.pt));
            m.add_payload(rtx);
            rtx_pt = Some(pt);
        }
    }

    for e in &om.extmaps {
        let Some(ext) = e.extension() else { continue };
        if !opts.extensions.contains(&ext) || m.extmaps.iter().any(|x| x.id == e.id) {
            continue;
        }
        m.extmaps.push(ExtMap {
            id: e.id,
            direction: e
                .direction
                .map(Direction::reverse)
                .filter(|d| *d != Direction::SendRecv),
            uri: e.uri.clone(),
            attributes: None,
        });
    }

    if opts.simulcast {
        accept_simulcast(&mut m, om);
    }

    if dir.sends() {
        let msid = local.and_then(|l| l.msid.clone()).unwrap_or_else(|| Msid {
            stream: opts.msid_stream.clone(),
            track: Some(format!("{}{}", opts.msid_stream, key)),
        });
        m.msids.push(msid);
        if let Some(ssrc) = local.and_then(|l| l.ssrc) {
            add_local_ssrcs(
                &mut m,
                ssrc,
                local.and_then(|l| l.rtx_ssrc).filter(|_| rtx_pt.is_some()),
            );
        }
    }
    Some(m)
}

/// `a=ssrc:<ssrc> cname:janus` (+ RTX SSRC and `a=ssrc-group:FID`, RFC 4588 §8.7).
pub(crate) fn add_local_ssrcs(m: &mut MediaSection, ssrc: u32, rtx_ssrc: Option<u32>) {
    let cname = |ssrc| SsrcAttr {
        ssrc,
        attribute: "cname".to_owned(),
        value: Some("janus".to_owned()),
    };
    if let Some(rtx) = rtx_ssrc {
        m.ssrc_groups.push(SsrcGroup {
            semantics: "FID".to_owned(),
            ssrcs: vec![ssrc, rtx],
        });
        m.ssrcs.push(cname(ssrc));
        m.ssrcs.push(cname(rtx));
    } else {
        m.ssrcs.push(cname(ssrc));
    }
}

/// Answers rid simulcast (RFC 8853 §5.3): each offered `a=rid:x send` becomes `a=rid:x recv`
/// and `a=simulcast:send ...` becomes `a=simulcast:recv ...` (legacy `rid=` syntax kept), on a
/// receiving video section that has none yet.
fn accept_simulcast(m: &mut MediaSection, om: &MediaSection) {
    if om.kind != MediaKind::Video
        || m.is_rejected()
        || !m.direction().receives()
        || m.simulcast.is_some()
    {
        return;
    }
    let Some(sc) = om.simulcast.as_ref().filter(|s| !s.send.is_empty()) else {
        return;
    };
    for r in om.rids.iter().filter(|r| r.direction == RidDirection::Send) {
        m.rids.push(Rid {
            id: r.id.clone(),
            direction: RidDirection::Recv,
            params: None,
        });
    }
    m.simulcast = Some(Simulcast {
        send: Vec::new(),
        recv: sc.send.clone(),
        legacy_rid_prefix: sc.legacy_rid_prefix,
    });
}

/// Re-adds the simulcast answer lines to an answer built from a *stripped* offer, as Janus's
/// core does in `janus_sdp_merge`: sections are matched by mid (else by index) with the
/// original remote `offer`. Call before [`super::merge_transport`].
pub fn answer_simulcast(answer: &mut SessionDescription, offer: &SessionDescription) {
    for (i, m) in answer.media.iter_mut().enumerate() {
        let om = match &m.mid {
            Some(mid) => offer.media_by_mid(mid),
            None => offer.media.get(i),
        };
        if let Some(om) = om {
            accept_simulcast(m, om);
        }
    }
}

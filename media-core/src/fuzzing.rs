//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`, shared with the regression replay
//! in `tests/fuzz_regressions.rs` so the two cannot drift (style.md §5 item 3, §6 habit 2).
//!
//! Each `exercise_*` function takes arbitrary bytes, runs one network-facing parser the way
//! the engine does, then reads every accessor and checks the invariants that must hold for
//! any accepted input (lengths within the buffer, rewrites that keep the packet parseable,
//! our own output re-parsing). A panic here, assertion or not, is a parser bug.
//!
//! Not part of the API: hidden from the docs and free to change with the fuzz targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use hmac::Mac;

use crate::dtls::clienthello::{parse_client_hello, ClientHelloSniffer};
use crate::ice::agent::{IceEvent, IceLiteAgent, DEFAULT_CONSENT_TIMEOUT};
use crate::ice::stun::{
    attr, integrity_key, local_ufrag, StunClass, StunMessage, FINGERPRINT_XOR, HEADER_LEN,
};
use crate::net::demux::{classify, PacketClass};
use crate::rtcp::{self, CompoundIter, Rtcp, RtcpKind, SsrcRole};
use crate::rtp::{self, ext, h264, rtx, vp8, RtpView, RtpViewMut};
use crate::sdp::{self, AnswerOptions, SessionDescription, Setup, TransportAttrs};

/// One target's body.
pub type Exercise = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/` call it.
pub const TARGETS: &[(&str, Exercise)] = &[
    ("rtp", exercise_rtp),
    ("rtcp", exercise_rtcp),
    ("stun", exercise_stun),
    ("sdp", exercise_sdp),
    ("clienthello", exercise_clienthello),
    ("demux", exercise_demux),
];

/// The exercise function of target `name`.
pub fn target(name: &str) -> Option<Exercise> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

// ---------------------------------------------------------------------------------------------
// RTP

/// RTP (RFC 3550 §5.1, RFC 8285): parse, every accessor, extension iteration and the typed
/// extension readers, codec descriptors, then every in-place rewrite on a copy, RTX wrap and
/// unwrap (RFC 4588 §4), and the sequence/timestamp rewriters.
pub fn exercise_rtp(data: &[u8]) {
    let Ok(v) = RtpView::try_parse(data) else {
        return;
    };
    let len = data.len();
    let range = v.payload_range();
    assert!(v.header_len() == range.start && range.start <= range.end && range.end <= len);
    assert_eq!(v.padding_len(), len - range.end);
    assert_eq!(v.padding(), v.padding_len() > 0);
    assert_eq!(v.payload().len(), range.len());
    assert_eq!(v.csrcs().count(), usize::from(v.csrc_count()));
    let _ = (
        v.data(),
        v.marker(),
        v.payload_type(),
        v.sequence_number(),
        v.timestamp(),
        v.ssrc(),
    );
    assert_eq!(v.has_extension(), v.extension_profile().is_some());
    if let Some(block) = v.extension_data() {
        assert!(block.len() % 4 == 0 && block.len() <= v.header_len());
    }

    // Extension elements point into the block; each id is found again by `extension`.
    let block = v.extension_data().map(|b| {
        let start = b.as_ptr() as usize - data.as_ptr() as usize;
        start..start + b.len()
    });
    let mut ids = Vec::new();
    for e in v.extensions() {
        let block = block
            .clone()
            .expect("elements only come from an extension block");
        assert!(e.offset >= block.start && e.offset + e.value.len() <= block.end);
        assert_eq!(&data[e.offset..e.offset + e.value.len()], e.value);
        assert!(v.extension(e.id).is_some());
        read_extension(e.value);
        if !ids.contains(&e.id) {
            ids.push(e.id);
        }
    }
    for id in 0..16 {
        if let Some(value) = v.extension(id) {
            read_extension(value);
        }
    }

    // Codec payloads: VP8 descriptor (RFC 7741 §4.2), H.264 NAL types (RFC 6184 §5).
    let payload = v.payload();
    if let Ok(d) = vp8::Vp8Descriptor::parse(payload) {
        assert!(d.len <= payload.len());
        let _ = d.is_keyframe(payload);
    }
    let _ = vp8::is_keyframe(payload);
    // VP9 descriptor (RFC 9628 §4.2): offsets stay inside the payload.
    if let Ok(d) = rtp::vp9::Vp9Descriptor::parse(payload) {
        assert!(d.len <= payload.len());
        for at in [d.picture_id_offset, d.tl0picidx_offset]
            .into_iter()
            .flatten()
        {
            assert!(at < d.len);
        }
        assert!(d.sid.is_none_or(|s| s <= rtp::vp9::MAX_LAYER_ID));
    }
    let _ = h264::is_keyframe(payload);
    let _ = h264::nal_type(payload);
    let _ = rtp::is_keyframe(sdp::Codec::Vp8, payload);
    let _ = rtp::is_keyframe(sdp::Codec::H264, payload);
    let _ = rtp::is_keyframe(sdp::Codec::Opus, payload);

    // Rewrites on a copy: header fields, every extension value, codec descriptor fields.
    let mut copy = data.to_vec();
    {
        let mut m = RtpViewMut::try_parse(&mut copy).expect("same bytes parse again");
        m.set_marker(!v.marker());
        m.set_payload_type(v.payload_type() ^ 0x55);
        m.set_sequence_number(v.sequence_number().wrapping_add(1000));
        m.set_timestamp(v.timestamp().wrapping_add(90_000));
        m.set_ssrc(!v.ssrc());
        for &id in &ids {
            let value = m.view().extension(id).map(<[u8]>::to_vec);
            if let Some(mut value) = value {
                value.iter_mut().for_each(|b| *b = !*b);
                m.set_extension(id, &value)
                    .expect("same length is accepted");
                let _ = m.set_extension(id, &[0u8; 17]);
            }
            if let Some(value) = m.extension_mut(id) {
                let _ = ext::write_transport_cc_seq(value, 0xBEEF);
                let _ = ext::write_abs_send_time(value, 123_456_789);
                let _ = ext::write_playout_delay(
                    value,
                    ext::PlayoutDelay {
                        min: 4096,
                        max: 100,
                    },
                );
            }
        }
        let _ = m.set_extension(0, &[1]);
        let p = m.payload_mut();
        let _ = vp8::set_picture_id(p, 0x7fff);
        let _ = vp8::set_tl0picidx(p, 7);
    }
    let w = RtpView::try_parse(&copy).expect("rewrites never change the layout");
    assert_eq!(w.payload_range(), v.payload_range());
    assert_eq!(w.marker(), !v.marker());
    assert_eq!(w.payload_type(), (v.payload_type() ^ 0x55) & 0x7f);
    assert_eq!(w.sequence_number(), v.sequence_number().wrapping_add(1000));
    assert_eq!(w.timestamp(), v.timestamp().wrapping_add(90_000));
    assert_eq!(w.ssrc(), !v.ssrc());

    // RTX (RFC 4588 §4): wrap, then unwrap gives the original header fields and payload back.
    let _ = rtx::osn(&v);
    if let Some(orig) = rtx::unwrap(data, 100) {
        let o = RtpView::try_parse(&orig).expect("unwrap yields RTP");
        assert_eq!(o.payload_type(), 100);
        assert_eq!(Some(o.sequence_number()), rtx::osn(&v));
    }
    let mut in_place = data.to_vec();
    if let Ok(n) = rtx::unwrap_in_place(&mut in_place, 101, Some(1)) {
        assert!(n <= len);
        let o = RtpView::try_parse(&in_place[..n]).expect("unwrap_in_place yields RTP");
        assert_eq!((o.payload_type(), o.ssrc()), (101, 1));
    }
    let mut wrapped = Vec::new();
    rtx::wrap(data, 97, 0x5151_5151, 7, &mut wrapped).expect("a valid packet wraps");
    let rv = RtpView::try_parse(&wrapped).expect("wrap yields RTP");
    assert_eq!(
        (rv.payload_type(), rv.ssrc(), rv.sequence_number()),
        (97, 0x5151_5151, 7)
    );
    assert_eq!(rtx::osn(&rv), Some(v.sequence_number()));
    let back = rtx::unwrap(&wrapped, v.payload_type()).expect("our RTX unwraps");
    let b = RtpView::try_parse(&back).expect("unwrapped RTP");
    assert_eq!(b.sequence_number(), v.sequence_number());
    assert_eq!(b.payload_type(), v.payload_type());
    assert_eq!(b.payload(), v.payload());

    // Continuity rewriters fed from the packet's fields.
    let mut un = rtp::SeqUnwrapper::new();
    let mut seq = rtp::SeqRewriter::new();
    let mut ts = rtp::TsRewriter::new(90_000);
    let now = Instant::now();
    for (i, s) in [
        v.sequence_number(),
        v.sequence_number().wrapping_sub(1),
        0,
        0x8000,
    ]
    .into_iter()
    .enumerate()
    {
        let _ = un.extend(s);
        let _ = seq.rewrite(s);
        let _ = ts.rewrite(
            v.timestamp() ^ s as u32,
            now + Duration::from_millis(20 * i as u64),
        );
        if i == 1 {
            seq.switch_source();
            ts.switch_source();
        }
    }
    seq.drop_packet(v.sequence_number());
    let _ = (un.highest(), un.cycles(), seq.last_out(), ts.last_out());
    let _ = rtp::seq_is_newer(v.sequence_number(), 0);
    let _ = rtp::ts_is_newer(v.timestamp(), 0);
}

/// Every typed reader of [`crate::rtp::ext`] on one element value.
fn read_extension(value: &[u8]) {
    let _ = ext::mid(value);
    let _ = ext::rid(value);
    let _ = ext::repaired_rid(value);
    let _ = ext::audio_level(value);
    let _ = ext::transport_cc_seq(value);
    if let Some(t) = ext::abs_send_time(value) {
        let _ = ext::abs_send_time_micros(t);
    }
    let _ = ext::playout_delay(value);
    let _ = ext::video_orientation(value);
    let _ = ext::dependency_descriptor(value);
    // Twice through one reader: a structure the first parse keeps is used by the second.
    let mut dd = rtp::dd::DdReader::new();
    for _ in 0..2 {
        if let Ok(d) = dd.parse(value) {
            assert!(d.fdiffs().len() <= rtp::dd::MAX_FDIFFS);
            assert!(d.chain_fdiffs().len() <= rtp::dd::MAX_CHAINS);
            assert!(dd.structure().is_some());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RTCP

/// Compound RTCP (RFC 3550 §6.1): iterate, parse every packet into its typed view and read
/// everything; then SSRC rewriting on copies: XOR-ing every SSRC twice must give the input
/// back, and the relaying helper must keep the compound valid.
pub fn exercise_rtcp(data: &[u8]) {
    let valid = rtcp::validate_compound(data);
    let mut n = 0;
    for p in CompoundIter::new(data) {
        let Ok(p) = p else { break };
        n += 1;
        assert!(p.data().len() >= 4 && p.body().len() + 4 <= p.data().len());
        let _ = (p.packet_type(), p.count(), p.sender_ssrc(), p.media_ssrc());
        let kind = p.kind();
        match p.parse() {
            Ok(Rtcp::SenderReport(sr)) => {
                let _ = (
                    sr.ssrc,
                    sr.ntp,
                    sr.rtp_timestamp,
                    sr.packet_count,
                    sr.octet_count,
                );
                let _ = sr.ntp_middle();
                assert_eq!(sr.reports().count(), usize::from(p.count()));
            }
            Ok(Rtcp::ReceiverReport(rr)) => {
                let _ = rr.ssrc;
                assert_eq!(rr.reports().count(), usize::from(p.count()));
            }
            Ok(Rtcp::Sdes(s)) => {
                assert_eq!(s.chunks().count(), usize::from(p.count()));
            }
            Ok(Rtcp::Bye(b)) => {
                assert_eq!(b.ssrcs().count(), usize::from(p.count()));
                let _ = b.reason;
            }
            Ok(Rtcp::Nack(nack)) => {
                let _ = (nack.sender_ssrc, nack.media_ssrc);
                let pairs = nack.pairs().count();
                let lost = nack.lost().count();
                assert!(lost >= pairs && lost <= 17 * pairs);
            }
            Ok(Rtcp::TransportCc(t)) => {
                let _ = (t.sender_ssrc, t.media_ssrc, t.fb_pkt_count);
                let _ = t.reference_time_micros();
                assert_eq!(t.packets().count(), usize::from(t.status_count));
            }
            Ok(Rtcp::Pli(pli)) => {
                let _ = (pli.sender_ssrc, pli.media_ssrc);
            }
            Ok(Rtcp::Fir(fir)) => {
                let _ = fir.sender_ssrc;
                assert!(fir.entries().count() >= 1);
            }
            Ok(Rtcp::Remb(remb)) => {
                let _ = (remb.sender_ssrc, remb.bitrate, remb.ssrcs().count());
            }
            Ok(Rtcp::Other(o)) => {
                assert_eq!(o, p);
            }
            Err(_) => {}
        }
        let _ = kind;
    }
    if let Ok(count) = valid {
        assert_eq!(count, n);
    }

    // Rewrites never change lengths or kinds; XOR twice is the identity.
    let mut copy = data.to_vec();
    let mut fields = 0usize;
    let first = rtcp::rewrite_ssrcs(&mut copy, |_: RtcpKind, _: SsrcRole, old: u32| {
        fields += 1;
        Some(old ^ 0xA5A5_5A5A)
    });
    assert_eq!(first.is_ok(), valid.is_ok());
    if let Ok(count) = first {
        assert_eq!(rtcp::validate_compound(&copy), Ok(count));
        let kinds: Vec<_> = CompoundIter::new(data)
            .flatten()
            .map(|p| p.kind())
            .collect();
        let again: Vec<_> = CompoundIter::new(&copy)
            .flatten()
            .map(|p| p.kind())
            .collect();
        assert_eq!(kinds, again);
        let mut second = 0usize;
        rtcp::rewrite_ssrcs(&mut copy, |_, _, old| {
            second += 1;
            Some(old ^ 0xA5A5_5A5A)
        })
        .expect("a rewritten compound is still valid");
        assert_eq!(second, fields);
        assert_eq!(copy, data, "rewriting every SSRC twice restores the packet");
    } else {
        assert_eq!(copy, data, "an invalid compound is left untouched");
    }
    let mut copy = data.to_vec();
    if rtcp::rewrite_feedback_ssrcs(&mut copy, Some(1), Some(2)).is_ok() {
        assert_eq!(rtcp::validate_compound(&copy), valid);
    }
}

// ---------------------------------------------------------------------------------------------
// STUN / ICE

/// Local credentials of the fuzzed agent: RFC 5769 §2.1's, so the RFC's sample request (and
/// anything the fuzzer re-signs with them) authenticates.
pub const STUN_LOCAL_UFRAG: &str = "evtj";
pub const STUN_LOCAL_PWD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
pub const STUN_REMOTE_UFRAG: &str = "h6vY";
/// Credentials after the simulated ICE restart.
const STUN_RESTART_UFRAG: &str = "rstr";
const STUN_RESTART_PWD: &str = "restartrestartrestart1";

/// STUN (RFC 5389) and the ICE-lite agent (RFC 8445 §2.5): parse, every accessor, integrity
/// and fingerprint checks, then the agent with fixed credentials, fed the datagram as is and
/// re-signed (MESSAGE-INTEGRITY and FINGERPRINT recomputed) so the authenticated paths are
/// reached; every answer we write must parse and verify.
pub fn exercise_stun(data: &[u8]) {
    let key = integrity_key(STUN_LOCAL_PWD);
    let _ = local_ufrag(data);
    if let Ok(m) = StunMessage::try_parse(data) {
        let _ = (
            m.class(),
            m.method(),
            m.is_binding_request(),
            m.transaction_id(),
        );
        let _ = (m.username(), m.priority(), m.use_candidate());
        let _ = (
            m.ice_controlling(),
            m.ice_controlled(),
            m.xor_mapped_address(),
        );
        let _ = (m.error_code(), m.has_integrity(), m.has_fingerprint());
        assert_eq!(m.as_bytes(), data);
        let _ = m.check_integrity(&key);
        let _ = m.check_fingerprint();
        if let (Some(u), Some(l)) = (m.username(), local_ufrag(data)) {
            assert!(u.starts_with(l));
        }
    }

    let now = Instant::now();
    let mut agent = IceLiteAgent::new(
        STUN_LOCAL_UFRAG.to_owned(),
        STUN_LOCAL_PWD.to_owned(),
        DEFAULT_CONSENT_TIMEOUT,
    );
    agent.set_remote_credentials(STUN_REMOTE_UFRAG, "remote-password-of-22+");
    let signed = resign(data, STUN_LOCAL_PWD);
    let restarted = resign(data, STUN_RESTART_PWD);
    let froms = [
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 32853),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9),
        SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped()),
            5000,
        ),
    ];
    let mut out = Vec::with_capacity(256);
    let mut t = now;
    for (i, from) in froms.into_iter().enumerate() {
        for datagram in [Some(data), signed.as_deref()].into_iter().flatten() {
            check_agent_answer(&mut agent, t, from, datagram, &mut out, STUN_LOCAL_PWD);
        }
        t += Duration::from_secs(4);
        agent.handle_timeout(t);
        drain_events(&mut agent);
        if i == 1 {
            agent.restart(STUN_RESTART_UFRAG.to_owned(), STUN_RESTART_PWD.to_owned());
            agent.set_remote_credentials("newr", "remote-password-of-22+");
        }
    }
    if let Some(r) = restarted.as_deref() {
        check_agent_answer(&mut agent, t, froms[0], r, &mut out, STUN_RESTART_PWD);
    }
    let _ = (agent.state(), agent.selected(), agent.poll_timeout());
    let _ = agent.candidates().count();
    agent.handle_timeout(t + Duration::from_secs(60));
    drain_events(&mut agent);
    agent.close();
    assert!(agent.handle_stun(t, froms[0], data, &mut out).is_err());
}

fn drain_events(agent: &mut IceLiteAgent) {
    let mut n = 0;
    while let Some(ev) = agent.poll_event() {
        if let IceEvent::Selected(a) = ev {
            assert!(
                agent.is_validated(a),
                "only an authenticated path is selected"
            );
        }
        n += 1;
        assert!(n <= 64, "the event queue is bounded");
    }
}

/// Feeds one datagram; when the agent answers, the answer must be a well-formed response to
/// it, signed with `pwd` and fingerprinted.
fn check_agent_answer(
    agent: &mut IceLiteAgent,
    now: Instant,
    from: SocketAddr,
    datagram: &[u8],
    out: &mut Vec<u8>,
    pwd: &str,
) {
    out.clear();
    match agent.handle_stun(now, from, datagram, out) {
        Ok(reply) => {
            assert_eq!(reply.len, out.len());
            if reply.len == 0 {
                return;
            }
            let req = StunMessage::try_parse(datagram).expect("answered requests parse");
            let resp = StunMessage::try_parse(out).expect("our answer parses");
            assert_eq!(resp.transaction_id(), req.transaction_id());
            assert!(resp.check_fingerprint() && resp.has_fingerprint());
            // The key is the one of the generation the request used.
            let key = integrity_key(pwd);
            let old = integrity_key(STUN_LOCAL_PWD);
            assert!(resp.check_integrity(&key) || resp.check_integrity(&old));
            if reply.role_conflict {
                assert_eq!(resp.class(), StunClass::ErrorResponse);
                assert_eq!(resp.error_code().map(|e| e.0), Some(487));
            } else {
                assert_eq!(resp.class(), StunClass::SuccessResponse);
                assert_eq!(resp.xor_mapped_address(), Some(canonical(from)));
                assert!(agent.is_validated(from));
            }
        }
        Err(_) => assert!(out.is_empty(), "nothing is written on error"),
    }
}

/// What XOR-MAPPED-ADDRESS reports for `from` (IPv4-mapped IPv6 as IPv4).
fn canonical(from: SocketAddr) -> SocketAddr {
    match from.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), from.port()),
            None => from,
        },
        IpAddr::V4(_) => from,
    }
}

/// A copy of `data` with MESSAGE-INTEGRITY recomputed with `pwd` (RFC 5389 §15.4) and
/// FINGERPRINT recomputed (§15.5), so mutated checks still authenticate. `None` when the
/// datagram does not parse or carries neither attribute.
pub fn resign(data: &[u8], pwd: &str) -> Option<Vec<u8>> {
    StunMessage::try_parse(data).ok()?;
    let mut integrity = None;
    let mut fingerprint = None;
    let mut pos = HEADER_LEN;
    while pos + 4 <= data.len() {
        let typ = u16::from_be_bytes([data[pos], data[pos + 1]]);
        let len = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
        if typ == attr::MESSAGE_INTEGRITY && integrity.is_none() && fingerprint.is_none() {
            integrity = Some(pos);
        }
        if typ == attr::FINGERPRINT && fingerprint.is_none() {
            fingerprint = Some(pos);
        }
        pos += 4 + ((len + 3) & !3);
    }
    if integrity.is_none() && fingerprint.is_none() {
        return None;
    }
    let mut buf = data.to_vec();
    if let Some(at) = integrity {
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&buf[..HEADER_LEN]);
        header[2..4].copy_from_slice(&((at + 24 - HEADER_LEN) as u16).to_be_bytes());
        let mut mac = integrity_key(pwd);
        mac.update(&header);
        mac.update(&buf[HEADER_LEN..at]);
        let tag = mac.finalize().into_bytes();
        buf.get_mut(at + 4..at + 24)?.copy_from_slice(&tag);
    }
    if let Some(at) = fingerprint {
        let crc = crc32fast::hash(&buf[..at]) ^ FINGERPRINT_XOR;
        buf.get_mut(at + 4..at + 8)?
            .copy_from_slice(&crc.to_be_bytes());
    }
    Some(buf)
}

// ---------------------------------------------------------------------------------------------
// SDP

/// SDP (RFC 8866): parse; our own serialisation must re-parse and be a fixed point; the
/// checks and rewrites the core applies to a remote SDP (validate, strip); the answer we
/// build with default options must serialise to an SDP we parse, negotiate and merge our
/// transport into.
pub fn exercise_sdp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(offer) = SessionDescription::parse(&text) else {
        return;
    };
    let written = offer.to_sdp_string();
    assert_eq!(written, offer.to_string());
    let reparsed = SessionDescription::parse(&written).expect("our own output parses");
    assert_eq!(
        reparsed.to_sdp_string(),
        written,
        "write(parse(write(x))) == write(x)"
    );

    let _ = offer.validate_remote();
    let _ = (
        offer.bundle_mids(),
        offer.transport_mindex(),
        offer.group("LS"),
    );
    for (i, m) in offer.media.iter().enumerate() {
        let _ = offer.effective_transport(i);
        if let Some(mid) = &m.mid {
            assert!(offer.media_by_mid(mid).is_some());
        }
        let _ = (m.is_rejected(), m.direction(), m.is_data(), m.ssrc_ids());
        let _ = m.pts().count();
        for p in m.formats_in_order() {
            let _ = (p.encoding(), p.codec(), p.fmtp_param("apt"));
        }
        let _ = m.rtx_map().count();
        for e in &m.extmaps {
            let _ = e.extension();
        }
        for ssrc in m.ssrc_ids() {
            let _ = m.ssrc_attr(ssrc, "cname");
        }
        let _ = (m.ssrc_group("FID"), m.ssrc_group("SIM"), m.attribute("x"));
    }

    let mut stripped = offer.clone();
    stripped.strip_transport();
    let s = stripped.to_sdp_string();
    let again = SessionDescription::parse(&s).expect("a stripped SDP parses");
    assert_eq!(again.to_sdp_string(), s);

    let opts = AnswerOptions::default();
    let mut answer = sdp::answer(&offer, &opts);
    sdp::answer_simulcast(&mut answer, &offer);
    let negotiated = sdp::negotiated(&answer, &offer);
    let _ = (negotiated.data(), negotiated.ext_id(sdp::RtpExtension::Mid));
    for m in &negotiated.media {
        let _ = (m.sends(), m.receives(), m.main_codec());
        let _ = negotiated.by_mid(&m.mid);
    }
    let t = TransportAttrs::new(
        "ufrag123",
        "passwordpasswordpassword",
        "AB:CD:EF",
        Setup::Passive,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
    );
    sdp::merge_transport(&mut answer, &t);
    let a = answer.to_sdp_string();
    if !answer.media.is_empty() {
        let parsed = SessionDescription::parse(&a).expect("our answer parses");
        assert_eq!(parsed.to_sdp_string(), a);
        parsed
            .validate_remote()
            .expect("our answer has our transport");
    }
}

// ---------------------------------------------------------------------------------------------
// DTLS ClientHello

/// Splits fuzz input into 1–3 datagrams: the first byte picks the count (1 + b % 3), each
/// datagram but the last is prefixed with a 16-bit big-endian length, the last takes the rest.
pub fn split_datagrams(data: &[u8]) -> Vec<&[u8]> {
    let Some((&first, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let n = 1 + usize::from(first % 3);
    let mut out = Vec::with_capacity(n);
    for _ in 1..n {
        let Some(len) = rest.get(..2) else { break };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]])).min(rest.len() - 2);
        out.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    out.push(rest);
    out
}

/// The inverse of [`split_datagrams`] (for building seeds).
pub fn join_datagrams(datagrams: &[&[u8]]) -> Vec<u8> {
    assert!((1..=3).contains(&datagrams.len()));
    let mut out = vec![(datagrams.len() - 1) as u8];
    for (i, d) in datagrams.iter().enumerate() {
        if i + 1 < datagrams.len() {
            out.extend_from_slice(&(d.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(d);
    }
    out
}

/// ClientHello reassembly (RFC 6347 §4.2.3) and parsing (RFC 5246 §7.4.1.2, RFC 5764
/// §4.1.1): the datagrams in order, in reverse order, each twice; and the raw input as a
/// ClientHello body.
pub fn exercise_clienthello(data: &[u8]) {
    let datagrams = split_datagrams(data);
    for order in [false, true] {
        let mut s = ClientHelloSniffer::new();
        let mut seen = None;
        let mut feed: Vec<&[u8]> = datagrams.clone();
        if order {
            feed.reverse();
        }
        for d in feed.iter().chain(feed.iter()) {
            let was_complete = s.is_complete();
            if let Ok(Some(hello)) = s.push(d) {
                assert!(!was_complete && s.is_complete());
                let _ = (hello.offers_aes_128_gcm(), hello.offers_dtls13());
                seen = Some(hello);
            }
        }
        assert_eq!(seen.is_some(), s.is_complete());
    }
    if let Some(body) = data.get(1..) {
        if let Ok(h) = parse_client_hello(body) {
            assert!(!h.cipher_suites.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Demultiplexing

/// RFC 7983 demultiplexing, then the parser the receive loop hands each class to.
pub fn exercise_demux(data: &[u8]) {
    let class = classify(data);
    let first = data.first().copied();
    match class {
        PacketClass::Stun => {
            assert!(matches!(first, Some(0..=3)) && data.len() >= HEADER_LEN);
            let _ = local_ufrag(data);
            let _ = StunMessage::try_parse(data);
        }
        PacketClass::Dtls => {
            assert!(matches!(first, Some(20..=63)) && data.len() >= 13);
            let _ = ClientHelloSniffer::new().push(data);
        }
        PacketClass::TurnChannel => {
            assert!(matches!(first, Some(64..=79)) && data.len() >= 4);
        }
        PacketClass::Rtp => {
            assert!(matches!(first, Some(128..=191)) && data.len() >= 12);
            assert!(!matches!(data[1], 192..=223));
            exercise_rtp(data);
        }
        PacketClass::Rtcp => {
            assert!(matches!(first, Some(128..=191)) && data.len() >= 8);
            assert!(matches!(data[1], 192..=223));
            exercise_rtcp(data);
        }
        _ => {}
    }
}

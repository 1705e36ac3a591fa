//! Fuzz inputs replayed by plain `cargo test` (style.md §5 item 3, §6 habit 2): every file of
//! `fuzz/corpus/<target>/` (seeds) and `fuzz/regressions/<target>/` (minimised crashes, kept
//! forever) goes through `media_core::fuzzing::exercise_<target>`, the very function the fuzz
//! target `fuzz/fuzz_targets/<target>.rs` runs, so the two cannot drift.
//!
//! The seeds are built here from realistic packets (RFC 5769 STUN vectors, browser-shaped
//! RTP/RTCP, the SDP fixtures of `tests/data/sdp/`, a Chromium-like DTLS ClientHello).
//! `IANUS_WRITE_CORPUS=1 cargo test -p ianus-media-core --test fuzz_regressions` (re)writes
//! them into `fuzz/corpus/`; without it the test only checks they are accepted and replayed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use media_core::dtls::clienthello::parse_client_hello;
use media_core::fuzzing::{self, join_datagrams, TARGETS};
use media_core::ice::stun::{
    integrity_key, StunClass, StunMessage, StunWriter, TransactionId, METHOD_BINDING,
};
use media_core::rtcp::{self, ReportBlock, SenderInfo};
use media_core::rtp::RtpView;
use media_core::sdp::{
    merge_transport, Codec, Direction, MediaKind, OfferBuilder, OfferCodec, OfferMedia,
    SessionDescription, Setup, TransportAttrs,
};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Files of `dir`, sorted, none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs every corpus and regression file of `target`; returns how many ran. Collects all
/// panicking files before failing, naming them.
fn replay(target: &str) -> usize {
    let exercise = fuzzing::target(target).expect("a known target");
    let mut ran = 0;
    let mut panicked = Vec::new();
    for kind in ["corpus", "regressions"] {
        for path in files(&fuzz_dir().join(kind).join(target)) {
            let data = std::fs::read(&path).expect("readable fuzz input");
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| exercise(&data))).is_err() {
                panicked.push(path.display().to_string());
            }
        }
    }
    assert!(panicked.is_empty(), "{target}: panics on {panicked:#?}");
    ran
}

#[test]
fn rtp_corpus_and_regressions_replay_without_panics() {
    assert!(replay("rtp") > 0);
}

#[test]
fn rtcp_corpus_and_regressions_replay_without_panics() {
    assert!(replay("rtcp") > 0);
}

#[test]
fn stun_corpus_and_regressions_replay_without_panics() {
    assert!(replay("stun") > 0);
}

#[test]
fn sdp_corpus_and_regressions_replay_without_panics() {
    assert!(replay("sdp") > 0);
}

#[test]
fn clienthello_corpus_and_regressions_replay_without_panics() {
    assert!(replay("clienthello") > 0);
}

#[test]
fn demux_corpus_and_regressions_replay_without_panics() {
    assert!(replay("demux") > 0);
}

/// Every target of `media_core::fuzzing` has a fuzz target file and committed seeds.
#[test]
fn every_target_has_a_fuzz_target_and_seeds() {
    for (name, _) in TARGETS {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "missing {}", target.display());
        let seeds = files(&fuzz_dir().join("corpus").join(name));
        assert!(!seeds.is_empty(), "no seeds for {name}");
    }
}

/// The generated seeds are accepted by their parser (so they are worth mutating) and do not
/// panic; with `IANUS_WRITE_CORPUS` set they are written to `fuzz/corpus/`.
#[test]
fn seeds_are_valid_inputs() {
    let write = std::env::var_os("IANUS_WRITE_CORPUS").is_some();
    for (target, name, data) in seeds() {
        let exercise = fuzzing::target(target).expect("a known target");
        exercise(&data);
        if write {
            let dir = fuzz_dir().join("corpus").join(target);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(name), &data).expect("write seed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds

type Seed = (&'static str, &'static str, Vec<u8>);

fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    out.extend(rtp_seeds());
    out.extend(rtcp_seeds());
    out.extend(stun_seeds());
    out.extend(sdp_seeds());
    out.extend(clienthello_seeds());
    // The demultiplexer sees every kind of datagram on the shared socket.
    let pick = |t: &str, n: &str| {
        out.iter()
            .find(|(tt, nn, _)| *tt == t && *nn == n)
            .map(|s| s.2.clone())
            .expect("seed exists")
    };
    let demux = vec![
        (
            "demux",
            "stun_rfc5769_request.bin",
            pick("stun", "rfc5769_request.bin"),
        ),
        (
            "demux",
            "rtp_vp8_keyframe.bin",
            pick("rtp", "vp8_keyframe_rid_picture_id.bin"),
        ),
        (
            "demux",
            "rtcp_sr_sdes.bin",
            pick("rtcp", "sr_sdes_compound.bin"),
        ),
        (
            "demux",
            "dtls_client_hello.bin",
            single_record_client_hello(),
        ),
        (
            "demux",
            "turn_channel_data.bin",
            vec![0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4],
        ),
        ("demux", "zrtp_like.bin", {
            let mut v = vec![0x10, 0x00, 0x00, 0x01];
            v.extend_from_slice(b"ZRTPHello   ");
            v
        }),
    ];
    out.extend(demux);
    out
}

// --- RTP ----------------------------------------------------------------------------------

/// RFC 8285 §4.2 one-byte header elements, padded to 32 bits.
fn one_byte_ext(elements: &[(u8, &[u8])]) -> (u16, Vec<u8>) {
    let mut b = Vec::new();
    for (id, v) in elements {
        b.push((id << 4) | (v.len() as u8 - 1));
        b.extend_from_slice(v);
    }
    while b.len() % 4 != 0 {
        b.push(0);
    }
    (0xBEDE, b)
}

/// RFC 8285 §4.3 two-byte header elements, padded to 32 bits.
fn two_byte_ext(elements: &[(u8, &[u8])]) -> (u16, Vec<u8>) {
    let mut b = Vec::new();
    for (id, v) in elements {
        b.push(*id);
        b.push(v.len() as u8);
        b.extend_from_slice(v);
    }
    while b.len() % 4 != 0 {
        b.push(0);
    }
    (0x1000, b)
}

struct Rtp<'a> {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    csrcs: &'a [u32],
    ext: Option<(u16, Vec<u8>)>,
    payload: &'a [u8],
    padding: u8,
}

impl Rtp<'_> {
    fn build(&self) -> Vec<u8> {
        let mut b = vec![0x80 | self.csrcs.len() as u8];
        if self.ext.is_some() {
            b[0] |= 0x10;
        }
        if self.padding > 0 {
            b[0] |= 0x20;
        }
        b.push((u8::from(self.marker) << 7) | self.pt);
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ts.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in self.csrcs {
            b.extend_from_slice(&c.to_be_bytes());
        }
        if let Some((profile, data)) = &self.ext {
            b.extend_from_slice(&profile.to_be_bytes());
            b.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            b.extend_from_slice(data);
        }
        b.extend_from_slice(self.payload);
        if self.padding > 0 {
            b.extend(std::iter::repeat_n(0, usize::from(self.padding) - 1));
            b.push(self.padding);
        }
        b
    }
}

fn rtp_seeds() -> Vec<Seed> {
    // Chromium's audio: ssrc-audio-level (1), abs-send-time (2), transport-cc (3), mid (4).
    let opus = Rtp {
        pt: 111,
        marker: true,
        seq: 23456,
        ts: 960_000,
        ssrc: 0x1234_5678,
        csrcs: &[],
        ext: Some(one_byte_ext(&[
            (1, &[0x80 | 30]),
            (2, &[0x12, 0x34, 0x56]),
            (3, &[0x00, 0x2a]),
            (4, b"0"),
        ])),
        payload: &[
            0xFC, 0xFF, 0xFE, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
        ],
        padding: 0,
    }
    .build();
    // VP8 keyframe (RFC 7741 §4.2): X I L T, 15-bit picture id, TL0PICIDX, TID; rid "h" (10),
    // mid "1" (4), transport-cc (3), playout-delay (6), video-orientation (7).
    let mut vp8 = vec![0x90, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x20];
    vp8.extend_from_slice(&[0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    vp8.extend_from_slice(&[0x33; 24]);
    let vp8_key = Rtp {
        pt: 96,
        marker: false,
        seq: 65535,
        ts: 0xFFFF_FF00,
        ssrc: 0xCAFE_BABE,
        csrcs: &[],
        ext: Some(one_byte_ext(&[
            (3, &[0x01, 0x00]),
            (4, b"1"),
            (10, b"h"),
            (6, &[0x00, 0x10, 0x20]),
            (7, &[0x01]),
        ])),
        payload: &vp8,
        padding: 0,
    }
    .build();
    // H.264 STAP-A with SPS, PPS and an IDR slice (RFC 6184 §5.7.1), two-byte extensions
    // carrying a mid and a dependency-descriptor-sized element.
    let mut stap = vec![0x18];
    for nal in [
        &[0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16][..],
        &[0x68, 0xce, 0x3c, 0x80][..],
        &[0x65, 0x88, 0x84, 0x00, 0x33, 0xff][..],
    ] {
        stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        stap.extend_from_slice(nal);
    }
    let h264_stap = Rtp {
        pt: 102,
        marker: false,
        seq: 100,
        ts: 3000,
        ssrc: 0x0101_0101,
        csrcs: &[],
        ext: Some(two_byte_ext(&[
            (4, b"2"),
            (
                12,
                &[
                    0x80, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x02, 0x03,
                ],
            ),
            (14, &[]),
        ])),
        payload: &stap,
        padding: 0,
    }
    .build();
    // H.264 FU-A, first fragment of an IDR (RFC 6184 §5.8).
    let mut fu = vec![0x7c, 0x85];
    fu.extend_from_slice(&[0x88; 40]);
    let h264_fu = Rtp {
        pt: 102,
        marker: false,
        seq: 101,
        ts: 3000,
        ssrc: 0x0101_0101,
        csrcs: &[],
        ext: None,
        payload: &fu,
        padding: 0,
    }
    .build();
    // RTX (RFC 4588 §4): OSN then the original VP8 payload, apt 96 on pt 97.
    let mut rtx_payload = 65535u16.to_be_bytes().to_vec();
    rtx_payload.extend_from_slice(&vp8);
    let rtx = Rtp {
        pt: 97,
        marker: false,
        seq: 7,
        ts: 0xFFFF_FF00,
        ssrc: 0xDEAD_BEEF,
        csrcs: &[],
        ext: Some(one_byte_ext(&[(4, b"1"), (11, b"h")])),
        payload: &rtx_payload,
        padding: 0,
    }
    .build();
    // A mixer's packet: two CSRCs, padding (RFC 3550 §5.1), no extension.
    let mixed = Rtp {
        pt: 0,
        marker: false,
        seq: 1,
        ts: 160,
        ssrc: 42,
        csrcs: &[0x1111_1111, 0x2222_2222],
        ext: None,
        payload: &[0xff; 20],
        padding: 4,
    }
    .build();
    // Padding-only probe (Chromium's bandwidth probing on the RTX stream).
    let probe = Rtp {
        pt: 97,
        marker: false,
        seq: 8,
        ts: 1,
        ssrc: 0xDEAD_BEEF,
        csrcs: &[],
        ext: Some(one_byte_ext(&[(3, &[0x00, 0x2b])])),
        payload: &[],
        padding: 224,
    }
    .build();
    // An extension block with an unknown profile (RFC 3550 §5.3.1): not RFC 8285.
    let other_profile = Rtp {
        pt: 100,
        marker: true,
        seq: 9,
        ts: 9,
        ssrc: 9,
        csrcs: &[],
        ext: Some((0xABAC, vec![1, 2, 3, 4, 5, 6, 7, 8])),
        payload: &[0x10, 0x00],
        padding: 0,
    }
    .build();
    let header_only = Rtp {
        pt: 96,
        marker: false,
        seq: 0,
        ts: 0,
        ssrc: 0,
        csrcs: &[],
        ext: None,
        payload: &[],
        padding: 0,
    }
    .build();
    let seeds = vec![
        ("rtp", "opus_audio_level_mid_twcc.bin", opus),
        ("rtp", "vp8_keyframe_rid_picture_id.bin", vp8_key),
        ("rtp", "h264_stap_a_two_byte_ext.bin", h264_stap),
        ("rtp", "h264_fu_a_idr_start.bin", h264_fu),
        ("rtp", "rtx_vp8.bin", rtx),
        ("rtp", "csrcs_and_padding.bin", mixed),
        ("rtp", "padding_only_probe.bin", probe),
        ("rtp", "unknown_extension_profile.bin", other_profile),
        ("rtp", "header_only.bin", header_only),
    ];
    for (_, name, s) in &seeds {
        RtpView::try_parse(s).unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
    seeds
}

// --- RTCP ---------------------------------------------------------------------------------

fn rtcp_seeds() -> Vec<Seed> {
    let block = |ssrc| ReportBlock {
        ssrc,
        fraction_lost: 12,
        cumulative_lost: -3,
        highest_seq: 0x0001_2345,
        jitter: 77,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 65536,
    };
    let mut sr_sdes = Vec::new();
    rtcp::build_sr(
        &mut sr_sdes,
        &SenderInfo {
            ssrc: 0x1234_5678,
            ntp: 0xE8A0_0000_8000_0000,
            rtp_timestamp: 960_000,
            packet_count: 500,
            octet_count: 40_000,
        },
        &[block(0xCAFE_BABE)],
    );
    rtcp::build_sdes_cname(&mut sr_sdes, 0x1234_5678, "jAnUsCnAmE+0123");

    // A receiver's compound: RR with two blocks, REMB, SDES.
    let mut rr_remb = Vec::new();
    rtcp::build_rr(&mut rr_remb, 1, &[block(0x1234_5678), block(0xCAFE_BABE)]);
    rtcp::build_remb(&mut rr_remb, 1, 2_500_000, &[0x1234_5678, 0xCAFE_BABE]);
    rtcp::build_sdes_cname(&mut rr_remb, 1, "receiver");

    let mut nack = Vec::new();
    rtcp::build_rr(&mut nack, 1, &[]);
    rtcp::build_nack(
        &mut nack,
        1,
        0xCAFE_BABE,
        &[100, 101, 105, 116, 117, 300, 65535, 0],
    );

    let mut pli_fir = Vec::new();
    rtcp::build_rr(&mut pli_fir, 1, &[]);
    rtcp::build_pli(&mut pli_fir, 1, 0xCAFE_BABE);
    rtcp::build_fir(&mut pli_fir, 1, &[(0xCAFE_BABE, 3), (0x1234_5678, 250)]);

    let mut bye = Vec::new();
    rtcp::build_rr(&mut bye, 1, &[]);
    rtcp::build_bye(&mut bye, &[1, 2, 3]);

    // transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1): a run of 5
    // small deltas, then a 2-bit vector (small, none, large, small, none, none, small),
    // padded with the P bit like libwebrtc.
    let mut body = Vec::new();
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&0xCAFE_BABEu32.to_be_bytes());
    body.extend_from_slice(&1000u16.to_be_bytes());
    body.extend_from_slice(&12u16.to_be_bytes());
    body.extend_from_slice(&[0x00, 0x12, 0x34, 0x07]);
    body.extend_from_slice(&0x2005u16.to_be_bytes());
    body.extend_from_slice(&0b1101_0010_0100_0001u16.to_be_bytes());
    body.extend_from_slice(&[4, 4, 8, 0, 4]);
    body.extend_from_slice(&[4, 0xff, 0xf0, 12, 4]);
    body.extend_from_slice(&[0, 2]);
    let mut twcc = vec![0xA0 | 15, 205];
    twcc.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
    twcc.extend_from_slice(&body);

    // APP (RFC 3550 §6.7) and XR (RFC 3611, unknown to us) in one compound.
    let mut app_xr = Vec::new();
    rtcp::build_rr(&mut app_xr, 1, &[]);
    app_xr.extend_from_slice(&[0x80, 204, 0, 3, 0, 0, 0, 1]);
    app_xr.extend_from_slice(b"TEST");
    app_xr.extend_from_slice(&[1, 2, 3, 4]);
    app_xr.extend_from_slice(&[
        0x80, 207, 0, 4, 0, 0, 0, 1, 4, 0, 0, 2, 0x12, 0x34, 0x56, 0x78,
    ]);
    app_xr.extend_from_slice(&[0x9a, 0xbc, 0xde, 0xf0]);

    let seeds = vec![
        ("rtcp", "sr_sdes_compound.bin", sr_sdes),
        ("rtcp", "rr_remb_sdes_compound.bin", rr_remb),
        ("rtcp", "rr_nack.bin", nack),
        ("rtcp", "rr_pli_fir.bin", pli_fir),
        ("rtcp", "rr_bye.bin", bye),
        ("rtcp", "transport_cc_padded.bin", twcc),
        ("rtcp", "rr_app_xr.bin", app_xr),
    ];
    for (_, name, s) in &seeds {
        rtcp::validate_compound(s).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        for p in rtcp::CompoundIter::new(s) {
            let p = p.expect("valid packet");
            p.parse().unwrap_or_else(|e| panic!("seed {name}: {e}"));
        }
    }
    seeds
}

// --- STUN ---------------------------------------------------------------------------------

/// RFC 5769 §2.1 sample request (short-term credentials "evtj:h6vY").
const RFC5769_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
];

/// RFC 5769 §2.2 sample IPv4 response.
const RFC5769_RESPONSE_V4: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
];

/// RFC 5769 §2.3 sample IPv6 response.
const RFC5769_RESPONSE_V6: [u8; 92] = [
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
];

const TID: TransactionId = TransactionId([
    0x6e, 0x6f, 0x6d, 0x69, 0x6e, 0x61, 0x74, 0x65, 0x00, 0x01, 0x02, 0x03,
]);

fn stun_seeds() -> Vec<Seed> {
    let key = integrity_key(fuzzing::STUN_LOCAL_PWD);
    let username = format!(
        "{}:{}",
        fuzzing::STUN_LOCAL_UFRAG,
        fuzzing::STUN_REMOTE_UFRAG
    );
    // Chromium's nominating check: USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
    // MESSAGE-INTEGRITY, FINGERPRINT (RFC 8445 §7.1).
    let mut nominate = Vec::new();
    let mut w = StunWriter::new(&mut nominate, METHOD_BINDING, StunClass::Request, TID);
    w.username(&username)
        .priority(0x6e00_1eff)
        .ice_controlling(0x1122_3344_5566_7788)
        .use_candidate()
        .message_integrity(&key);
    w.finish_with_fingerprint();
    // A first, non-nominating check with a SOFTWARE attribute and no FINGERPRINT.
    let mut check = Vec::new();
    let mut w = StunWriter::new(&mut check, METHOD_BINDING, StunClass::Request, TID);
    w.software("ianus-fuzz")
        .username(&username)
        .priority(0x7e7f_00ff)
        .ice_controlling(1)
        .message_integrity(&key);
    w.finish();
    // Keepalive indication (RFC 8445 §11).
    let mut indication = Vec::new();
    StunWriter::new(&mut indication, METHOD_BINDING, StunClass::Indication, TID)
        .finish_with_fingerprint();
    // What we answer: a success with XOR-MAPPED-ADDRESS, a 487.
    let mut success = Vec::new();
    let mut w = StunWriter::new(
        &mut success,
        METHOD_BINDING,
        StunClass::SuccessResponse,
        TID,
    );
    w.xor_mapped_address("[2001:db8::1]:40000".parse().expect("addr"))
        .message_integrity(&key);
    w.finish_with_fingerprint();
    let mut conflict = Vec::new();
    let mut w = StunWriter::new(&mut conflict, METHOD_BINDING, StunClass::ErrorResponse, TID);
    w.error_code(487, "Role Conflict").message_integrity(&key);
    w.finish_with_fingerprint();

    let seeds = vec![
        ("stun", "rfc5769_request.bin", RFC5769_REQUEST.to_vec()),
        (
            "stun",
            "rfc5769_response_v4.bin",
            RFC5769_RESPONSE_V4.to_vec(),
        ),
        (
            "stun",
            "rfc5769_response_v6.bin",
            RFC5769_RESPONSE_V6.to_vec(),
        ),
        ("stun", "nominating_check.bin", nominate),
        ("stun", "check_software_no_fingerprint.bin", check),
        ("stun", "keepalive_indication.bin", indication),
        ("stun", "success_response_v6.bin", success),
        ("stun", "role_conflict_487.bin", conflict),
    ];
    for (_, name, s) in &seeds {
        StunMessage::try_parse(s).unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
    seeds
}

// --- SDP ----------------------------------------------------------------------------------

fn sdp_seeds() -> Vec<Seed> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sdp");
    let mut seeds: Vec<Seed> = Vec::new();
    for name in [
        "chromium156_offer_av_data_simulcast.sdp",
        "firefox128_offer_av_data.sdp",
        "chromium156_answer_to_ianus_offer.sdp",
    ] {
        let text = std::fs::read(data.join(name)).expect("SDP fixture");
        seeds.push(("sdp", name, text));
    }
    // Ianus's own subscriber-style offer, transport merged in.
    let mut offer = OfferBuilder::new(4_242_424_242)
        .media(
            OfferMedia::audio("0")
                .codecs(vec![OfferCodec::new(Codec::Opus, 111)])
                .direction(Direction::SendOnly)
                .ssrc(1111, None)
                .msid("janus", "janusaudio"),
        )
        .media(
            OfferMedia::video("1")
                .codecs(vec![OfferCodec::new(Codec::Vp8, 96).with_rtx(97)])
                .direction(Direction::SendOnly)
                .ssrc(2222, Some(3333))
                .msid("janus", "janusvideo"),
        )
        .rejected(MediaKind::Video, "2")
        .data("3", false)
        .build();
    merge_transport(
        &mut offer,
        &TransportAttrs::new(
            "IaNu",
            "0123456789abcdefghijklmn",
            "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
            Setup::ActPass,
            "192.0.2.10".parse().expect("ip"),
        ),
    );
    seeds.push((
        "sdp",
        "ianus_offer_sendonly_rtx_data.sdp",
        offer.to_sdp_string().into_bytes(),
    ));
    // A legacy data-channel offer (draft-ietf-mmusic-sctp-sdp-05 `DTLS/SCTP` + sctpmap), LF
    // line ends, session-level ICE credentials.
    let legacy = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE data\n\
                  a=ice-ufrag:Lgcy\na=ice-pwd:legacylegacylegacylegacy\n\
                  a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\n\
                  m=application 9 DTLS/SCTP 5000\nc=IN IP4 0.0.0.0\na=mid:data\na=setup:actpass\n\
                  a=sctpmap:5000 webrtc-datachannel 1024\na=candidate:1 1 UDP 2122252543 192.0.2.3 50000 typ host\n\
                  a=end-of-candidates\n";
    seeds.push(("sdp", "legacy_sctpmap_lf.sdp", legacy.as_bytes().to_vec()));
    // Plain RTP/AVP audio, static payload types, no rtpmap (RFC 3551), session-level c=.
    let plain = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.5\r\ns=Session\r\n\
                 c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";
    seeds.push((
        "sdp",
        "plain_rtp_avp_static_pts.sdp",
        plain.as_bytes().to_vec(),
    ));
    for (_, name, s) in &seeds {
        let text = std::str::from_utf8(s).expect("UTF-8");
        SessionDescription::parse(text).unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
    seeds
}

// --- DTLS ClientHello ---------------------------------------------------------------------

/// A ClientHello body like Chromium's (as in `dtls::clienthello`'s tests): DTLS 1.2 legacy
/// version, use_srtp with SHA1_80 first, supported_versions with 1.3, a PQ-sized key share.
fn chromium_like_body(cookie: &[u8], key_share: usize) -> Vec<u8> {
    let mut b = vec![0xFE, 0xFD];
    b.extend_from_slice(&[0x42; 32]);
    b.push(0);
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    let suites: [u16; 5] = [0x1301, 0xC02B, 0xC02F, 0xCCA9, 0xC009];
    b.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        b.extend_from_slice(&s.to_be_bytes());
    }
    b.extend_from_slice(&[1, 0]);
    let mut exts = Vec::new();
    let mut ext = |typ: u16, data: &[u8]| {
        exts.extend_from_slice(&typ.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(data);
    };
    ext(0x0017, &[]);
    ext(43, &[4, 0xFE, 0xFC, 0xFE, 0xFD]);
    ext(14, &[0, 8, 0, 1, 0, 2, 0, 7, 0, 8, 0]);
    if key_share > 0 {
        let mut ks = Vec::new();
        ks.extend_from_slice(&((key_share + 4) as u16).to_be_bytes());
        ks.extend_from_slice(&0x11ECu16.to_be_bytes());
        ks.extend_from_slice(&(key_share as u16).to_be_bytes());
        ks.extend(std::iter::repeat_n(0x5A, key_share));
        ext(0x0033, &ks);
    }
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend_from_slice(&exts);
    b
}

/// One handshake fragment (RFC 6347 §4.2.2) in one DTLS record (§4.1).
fn record(msg_seq: u16, total: usize, offset: usize, frag: &[u8]) -> Vec<u8> {
    let mut hs = vec![1];
    hs.extend_from_slice(&(total as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&msg_seq.to_be_bytes());
    hs.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&(frag.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(frag);
    let mut r = vec![22, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0];
    r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    r.extend_from_slice(&hs);
    r
}

fn single_record_client_hello() -> Vec<u8> {
    let body = chromium_like_body(&[], 32);
    record(0, body.len(), 0, &body)
}

fn clienthello_seeds() -> Vec<Seed> {
    let body = chromium_like_body(&[], 1216);
    let n = body.len();
    let one = single_record_client_hello();
    let first = record(0, n, 0, &body[..1100]);
    let second = record(0, n, 1100, &body[1100..]);
    // A ChangeCipherSpec-like record before a fragment, an overlapping retransmission, two
    // records in the last datagram.
    let mut d1 = vec![20, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    d1.extend(record(0, n, 0, &body[..500]));
    let d2 = record(0, n, 400, &body[400..900]);
    let mut d3 = record(0, n, 900, &body[900..1200]);
    d3.extend(record(0, n, 1200, &body[1200..]));
    // The second ClientHello after HelloVerifyRequest: cookie, message_seq 1, no key share;
    // and a DTLS 1.3 unified-header record after it (ignored).
    let cookie_body = chromium_like_body(&[0xC0; 20], 0);
    let mut cookie = record(1, cookie_body.len(), 0, &cookie_body);
    cookie.extend_from_slice(&[0x2C, 0x00, 0x01, 0xAA, 0xBB]);
    // A DTLS 1.2-only ClientHello without extensions.
    let mut bare = chromium_like_body(&[], 0);
    bare.truncate(2 + 32 + 1 + 1 + 2 + 10 + 2);
    let bare = record(0, bare.len(), 0, &bare);

    let seeds = vec![
        ("clienthello", "one_datagram.bin", join_datagrams(&[&one])),
        (
            "clienthello",
            "two_datagrams_pq.bin",
            join_datagrams(&[&first, &second]),
        ),
        (
            "clienthello",
            "two_datagrams_reversed.bin",
            join_datagrams(&[&second, &first]),
        ),
        (
            "clienthello",
            "three_datagrams_overlap.bin",
            join_datagrams(&[&d1, &d2, &d3]),
        ),
        (
            "clienthello",
            "cookie_then_unified_header.bin",
            join_datagrams(&[&cookie]),
        ),
        ("clienthello", "no_extensions.bin", join_datagrams(&[&bare])),
    ];
    parse_client_hello(&body).expect("the body parses");
    for (_, name, s) in &seeds {
        let mut sniffer = media_core::dtls::clienthello::ClientHelloSniffer::new();
        let mut done = false;
        for d in fuzzing::split_datagrams(s) {
            done |= matches!(sniffer.push(d), Ok(Some(_)));
        }
        assert!(done, "seed {name} completes a ClientHello");
    }
    seeds
}

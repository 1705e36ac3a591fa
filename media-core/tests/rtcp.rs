//! RTCP parsing, building and SSRC rewriting on byte vectors written by hand from RFC 3550
//! §6.4-6.6, RFC 4585 §6.2-6.3, RFC 5104 §4.3.1, draft-alvestrand-rmcat-remb-03 §2.2 and
//! draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.

use media_core::rtcp::*;

fn one(buf: &[u8]) -> RtcpPacket<'_> {
    let mut it = CompoundIter::new(buf);
    let p = it.next().expect("one packet").expect("valid");
    assert!(it.next().is_none());
    p
}

/// SR, RC=1: sender info + one report block with cumulative lost -1.
fn sr_bytes() -> Vec<u8> {
    let mut b = vec![0x81, 200, 0x00, 0x0C];
    b.extend_from_slice(&0x1111_1111u32.to_be_bytes());
    b.extend_from_slice(&0xE1A2_B3C4_D5E6_F708u64.to_be_bytes());
    b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    b.extend_from_slice(&100u32.to_be_bytes());
    b.extend_from_slice(&12000u32.to_be_bytes());
    b.extend_from_slice(&0x2222_2222u32.to_be_bytes());
    b.extend_from_slice(&[0x40, 0xFF, 0xFF, 0xFF]);
    b.extend_from_slice(&0x0001_0005u32.to_be_bytes());
    b.extend_from_slice(&30u32.to_be_bytes());
    b.extend_from_slice(&0xB3C4_D5E6u32.to_be_bytes());
    b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    b
}

/// RR (no blocks) + SDES CNAME "abcde" + BYE with reason "bye".
fn compound_bytes() -> Vec<u8> {
    let mut b = vec![0x80, 201, 0x00, 0x01, 0x33, 0x33, 0x33, 0x33];
    b.extend_from_slice(&[0x81, 202, 0x00, 0x03, 0x33, 0x33, 0x33, 0x33]);
    b.extend_from_slice(&[1, 5, b'a', b'b', b'c', b'd', b'e', 0]);
    b.extend_from_slice(&[
        0x81, 203, 0x00, 0x02, 0x33, 0x33, 0x33, 0x33, 3, b'b', b'y', b'e',
    ]);
    b
}

fn nack_bytes() -> Vec<u8> {
    let mut b = vec![0x81, 205, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2];
    b.extend_from_slice(&[0x00, 0x64, 0x00, 0x05]);
    b
}

fn pli_bytes() -> Vec<u8> {
    vec![0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2]
}

fn fir_bytes() -> Vec<u8> {
    vec![
        0x84, 206, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 7, 0, 0, 0,
    ]
}

/// REMB 1,000,000 bps = 250000 × 2^2 for SSRC 9.
fn remb_bytes() -> Vec<u8> {
    let mut b = vec![0x8F, 206, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0];
    b.extend_from_slice(b"REMB");
    b.extend_from_slice(&[0x01, 0x0B, 0xD0, 0x90, 0, 0, 0, 9]);
    b
}

/// transport-cc: base 100, 6 packets, run-length chunk (2 × small) + 2-bit vector chunk
/// (large, not received, small, not received), deltas 4, 8, -4, 1, padded with P bit.
fn twcc_bytes() -> Vec<u8> {
    let mut b = vec![0xAF, 205, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 2];
    b.extend_from_slice(&[0x00, 100, 0x00, 6, 0x00, 0x01, 0x23, 5]);
    b.extend_from_slice(&[0x20, 0x02, 0xE1, 0x00]);
    b.extend_from_slice(&[0x04, 0x08, 0xFF, 0xFC, 0x01]);
    b.extend_from_slice(&[0, 0, 3]);
    b
}

#[test]
fn sender_report() {
    let b = sr_bytes();
    let p = one(&b);
    assert_eq!(p.kind(), RtcpKind::SenderReport);
    let Ok(Rtcp::SenderReport(sr)) = p.parse() else {
        panic!("not an SR")
    };
    assert_eq!(sr.ssrc, 0x1111_1111);
    assert_eq!(sr.ntp, 0xE1A2_B3C4_D5E6_F708);
    assert_eq!(sr.ntp_middle(), 0xB3C4_D5E6);
    assert_eq!(
        (sr.rtp_timestamp, sr.packet_count, sr.octet_count),
        (0x10000, 100, 12000)
    );
    let blocks: Vec<ReportBlock> = sr.reports().collect();
    assert_eq!(
        blocks,
        vec![ReportBlock {
            ssrc: 0x2222_2222,
            fraction_lost: 0x40,
            cumulative_lost: -1,
            highest_seq: 0x0001_0005,
            jitter: 30,
            last_sr: 0xB3C4_D5E6,
            delay_since_last_sr: 0x10000,
        }]
    );
    // RC says 2 blocks but there is room for one: refused.
    let mut bad = b.clone();
    bad[0] = 0x82;
    assert!(one(&bad).parse().is_err());
}

#[test]
fn rr_sdes_bye_compound() {
    let b = compound_bytes();
    assert_eq!(validate_compound(&b), Ok(3));
    let kinds: Vec<RtcpKind> = CompoundIter::new(&b)
        .map(|p| p.map(|p| p.kind()))
        .collect::<Result<_, _>>()
        .expect("valid");
    assert_eq!(
        kinds,
        [RtcpKind::ReceiverReport, RtcpKind::Sdes, RtcpKind::Bye]
    );
    let pkts: Vec<Rtcp<'_>> = CompoundIter::new(&b)
        .map(|p| p.and_then(|p| p.parse()))
        .collect::<Result<_, _>>()
        .expect("valid");
    let Rtcp::ReceiverReport(rr) = &pkts[0] else {
        panic!()
    };
    assert_eq!((rr.ssrc, rr.reports().count()), (0x3333_3333, 0));
    let Rtcp::Sdes(sdes) = &pkts[1] else { panic!() };
    assert_eq!(
        sdes.chunks().collect::<Vec<_>>(),
        vec![SdesChunk {
            ssrc: 0x3333_3333,
            cname: Some("abcde")
        }]
    );
    let Rtcp::Bye(bye) = &pkts[2] else { panic!() };
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![0x3333_3333]);
    assert_eq!(bye.reason, Some("bye"));
}

#[test]
fn generic_nack() {
    let b = nack_bytes();
    let p = one(&b);
    assert_eq!(p.kind(), FeedbackKind::Nack);
    assert_eq!((p.sender_ssrc(), p.media_ssrc()), (Some(1), Some(2)));
    let Ok(Rtcp::Nack(n)) = p.parse() else {
        panic!()
    };
    assert_eq!(n.pairs().collect::<Vec<_>>(), vec![(100, 5)]);
    assert_eq!(n.lost().collect::<Vec<_>>(), vec![100, 101, 103]);
    // BLP across the wrap.
    let mut w = b.clone();
    w[12..16].copy_from_slice(&[0xFF, 0xFF, 0x80, 0x01]);
    let Ok(Rtcp::Nack(n)) = one(&w).parse() else {
        panic!()
    };
    assert_eq!(n.lost().collect::<Vec<_>>(), vec![65535, 0, 15]);
}

#[test]
fn pli_fir_remb() {
    let b = pli_bytes();
    assert_eq!(
        one(&b).parse(),
        Ok(Rtcp::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 2
        }))
    );
    let b = fir_bytes();
    let p = one(&b);
    assert_eq!(p.kind(), RtcpKind::Fir);
    let Ok(Rtcp::Fir(f)) = p.parse() else {
        panic!()
    };
    assert_eq!(f.entries().collect::<Vec<_>>(), vec![(9, 7)]);
    let b = remb_bytes();
    let p = one(&b);
    assert_eq!(p.kind(), RtcpKind::Remb);
    let Ok(Rtcp::Remb(r)) = p.parse() else {
        panic!()
    };
    assert_eq!((r.sender_ssrc, r.bitrate), (1, 1_000_000));
    assert_eq!(r.ssrcs().collect::<Vec<_>>(), vec![9]);
    // AFB that is not REMB.
    let mut other = b.clone();
    other[12] = b'X';
    assert_eq!(one(&other).kind(), RtcpKind::OtherPsfb(15));
}

#[test]
fn transport_cc_feedback() {
    let b = twcc_bytes();
    let p = one(&b);
    assert_eq!(p.kind(), RtcpKind::TransportCc);
    let Ok(Rtcp::TransportCc(t)) = p.parse() else {
        panic!()
    };
    assert_eq!(
        (t.base_seq, t.status_count, t.reference_time, t.fb_pkt_count),
        (100, 6, 0x123, 5)
    );
    assert_eq!(t.reference_time_micros(), 0x123 * 64_000);
    let got: Vec<(u16, TwccStatus, Option<i32>)> =
        t.packets().map(|x| (x.seq, x.status, x.delta)).collect();
    use TwccStatus::*;
    assert_eq!(
        got,
        vec![
            (100, SmallDelta, Some(4)),
            (101, SmallDelta, Some(8)),
            (102, LargeDelta, Some(-4)),
            (103, NotReceived, None),
            (104, SmallDelta, Some(1)),
            (105, NotReceived, None),
        ]
    );
    // One-bit status vector: 14 symbols, received at positions 0, 1 and 13.
    let mut b1 = vec![0x8F, 205, 0x00, 0x06, 0, 0, 0, 1, 0, 0, 0, 2];
    b1.extend_from_slice(&[0xFF, 0xFE, 0x00, 14, 0xFF, 0xFF, 0xFF, 0]);
    b1.extend_from_slice(&[0xB0, 0x01, 1, 2, 3, 0, 0, 0]);
    let Ok(Rtcp::TransportCc(t)) = one(&b1).parse() else {
        panic!()
    };
    assert_eq!(t.reference_time_micros(), -64_000);
    let rx: Vec<(u16, Option<i32>)> = t
        .packets()
        .filter(|x| x.status != NotReceived)
        .map(|x| (x.seq, x.delta))
        .collect();
    assert_eq!(
        rx,
        vec![(0xFFFE, Some(1)), (0xFFFF, Some(2)), (11, Some(3))]
    );
    assert_eq!(t.packets().count(), 14);
    // Missing deltas are refused.
    let mut short = b.clone();
    short[0] = 0x8F;
    short[3] = 0x05;
    short.truncate(24);
    assert!(one(&short).parse().is_err());
    // Reserved symbol 11 is refused.
    let mut reserved = b;
    reserved[20] = 0x60;
    assert!(one(&reserved).parse().is_err());
}

#[test]
fn builders_round_trip() {
    let mut out = Vec::new();
    let block = ReportBlock {
        ssrc: 7,
        fraction_lost: 12,
        cumulative_lost: -3,
        highest_seq: 70000,
        jitter: 9,
        last_sr: 5,
        delay_since_last_sr: 6,
    };
    let info = SenderInfo {
        ssrc: 1,
        ntp: 0x0102_0304_0506_0708,
        rtp_timestamp: 9,
        packet_count: 10,
        octet_count: 11,
    };
    let n = build_sr(&mut out, &info, &[block]);
    assert_eq!(n, 52);
    build_rr(&mut out, 2, &[block, block]);
    build_sdes_cname(&mut out, 2, "janus");
    build_nack(&mut out, 2, 3, &[100, 101, 103, 116, 117, 300]);
    build_pli(&mut out, 2, 3);
    build_fir(&mut out, 2, &[(3, 4)]);
    build_remb(&mut out, 2, 1_000_000, &[3, 4]);
    build_bye(&mut out, &[2]);
    assert_eq!(build_nack(&mut out, 2, 3, &[]), 0);
    assert_eq!(out.len() % 4, 0);
    let pkts: Vec<Rtcp<'_>> = CompoundIter::new(&out)
        .map(|p| p.and_then(|p| p.parse()))
        .collect::<Result<_, _>>()
        .expect("valid");
    assert_eq!(pkts.len(), 8);
    let Rtcp::SenderReport(sr) = &pkts[0] else {
        panic!()
    };
    assert_eq!(
        (
            sr.ssrc,
            sr.ntp,
            sr.rtp_timestamp,
            sr.packet_count,
            sr.octet_count
        ),
        (1, info.ntp, 9, 10, 11)
    );
    assert_eq!(sr.reports().collect::<Vec<_>>(), vec![block]);
    let Rtcp::ReceiverReport(rr) = &pkts[1] else {
        panic!()
    };
    assert_eq!(rr.reports().count(), 2);
    let Rtcp::Sdes(s) = &pkts[2] else { panic!() };
    assert_eq!(s.chunks().next().and_then(|c| c.cname), Some("janus"));
    let Rtcp::Nack(nk) = &pkts[3] else { panic!() };
    // 101, 103 and 116 fit in the BLP of 100 (bits 0, 2, 15); 117 starts a new pair.
    assert_eq!(
        nk.pairs().collect::<Vec<_>>(),
        vec![(100, 0x8005), (117, 0), (300, 0)]
    );
    assert_eq!(
        nk.lost().collect::<Vec<_>>(),
        vec![100, 101, 103, 116, 117, 300]
    );
    assert_eq!(
        pkts[4],
        Rtcp::Pli(Pli {
            sender_ssrc: 2,
            media_ssrc: 3
        })
    );
    let Rtcp::Fir(f) = &pkts[5] else { panic!() };
    assert_eq!(f.entries().collect::<Vec<_>>(), vec![(3, 4)]);
    let Rtcp::Remb(r) = &pkts[6] else { panic!() };
    assert_eq!(
        (r.bitrate, r.ssrcs().collect::<Vec<_>>()),
        (1_000_000, vec![3, 4])
    );
    let Rtcp::Bye(b) = &pkts[7] else { panic!() };
    assert_eq!(b.ssrcs().collect::<Vec<_>>(), vec![2]);

    // The REMB built for 1 Mbps matches the hand-written bytes.
    let mut remb = Vec::new();
    build_remb(&mut remb, 1, 1_000_000, &[9]);
    assert_eq!(remb, remb_bytes());
    let mut pli = Vec::new();
    build_pli(&mut pli, 1, 2);
    assert_eq!(pli, pli_bytes());
    // Large bitrates round down within 18 bits of precision.
    let mut big = Vec::new();
    build_remb(&mut big, 1, 5_000_000_123, &[]);
    let Ok(Rtcp::Remb(r)) = one(&big).parse() else {
        panic!()
    };
    assert!(r.bitrate <= 5_000_000_123 && r.bitrate > 5_000_000_123 - (5_000_000_123 >> 17));
}

#[test]
fn malformed_compounds_are_typed_errors() {
    assert_eq!(validate_compound(&[]), Err(RtcpError::TooShort));
    assert_eq!(
        validate_compound(&[0x80, 201, 0x00]),
        Err(RtcpError::TooShort)
    );
    assert_eq!(
        validate_compound(&[0x40, 201, 0x00, 0x00]),
        Err(RtcpError::BadVersion(1))
    );
    let mut b = compound_bytes();
    b[3] = 0x09; // RR claims 40 bytes
    assert_eq!(validate_compound(&b), Err(RtcpError::TooShort));
    let mut p = pli_bytes();
    p[0] |= 0x20;
    *p.last_mut().unwrap_or(&mut 0) = 0;
    assert_eq!(validate_compound(&p), Err(RtcpError::BadPadding));
    *p.last_mut().unwrap_or(&mut 0) = 12;
    assert_eq!(validate_compound(&p), Err(RtcpError::BadPadding));
    let many: Vec<u8> = [0x80u8, 201, 0, 1, 0, 0, 0, 1].repeat(MAX_PACKETS_PER_COMPOUND + 1);
    assert_eq!(validate_compound(&many), Err(RtcpError::TooManyPackets));
    // The iterator yields the error once and stops.
    let mut it = CompoundIter::new(&[0x80, 201, 0, 1, 0, 0, 0, 1, 0x00]);
    assert!(matches!(it.next(), Some(Ok(_))));
    assert!(matches!(it.next(), Some(Err(_))));
    assert!(it.next().is_none());
    // Feedback too short for its SSRCs.
    assert!(one(&[0x81, 206, 0x00, 0x01, 0, 0, 0, 1]).parse().is_err());
    assert!(
        one(&[0x81, 205, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2])
            .parse()
            .is_err(),
        "NACK without FCI"
    );
}

#[test]
fn feedback_ssrc_rewrite_for_relaying() {
    let mut b = compound_bytes();
    b.extend_from_slice(&nack_bytes());
    b.extend_from_slice(&pli_bytes());
    b.extend_from_slice(&fir_bytes());
    b.extend_from_slice(&remb_bytes());
    b.extend_from_slice(&twcc_bytes());
    let before = b.clone();
    assert_eq!(
        rewrite_feedback_ssrcs(&mut b, Some(0xAAAA), Some(0xBBBB)),
        Ok(8)
    );
    assert_eq!(b.len(), before.len());
    let pkts: Vec<Rtcp<'_>> = CompoundIter::new(&b)
        .map(|p| p.and_then(|p| p.parse()))
        .collect::<Result<_, _>>()
        .expect("still valid");
    let Rtcp::ReceiverReport(rr) = &pkts[0] else {
        panic!()
    };
    assert_eq!(rr.ssrc, 0x3333_3333, "reports untouched");
    let Rtcp::Nack(n) = &pkts[3] else { panic!() };
    assert_eq!((n.sender_ssrc, n.media_ssrc), (0xAAAA, 0xBBBB));
    assert_eq!(n.lost().collect::<Vec<_>>(), vec![100, 101, 103]);
    assert_eq!(
        pkts[4],
        Rtcp::Pli(Pli {
            sender_ssrc: 0xAAAA,
            media_ssrc: 0xBBBB
        })
    );
    let Rtcp::Fir(f) = &pkts[5] else { panic!() };
    assert_eq!(f.entries().collect::<Vec<_>>(), vec![(0xBBBB, 7)]);
    assert_eq!(
        CompoundIter::new(&b)
            .nth(5)
            .and_then(Result::ok)
            .and_then(|p| p.media_ssrc()),
        Some(0),
        "FIR media SSRC stays 0"
    );
    let Rtcp::Remb(r) = &pkts[6] else { panic!() };
    assert_eq!(
        (r.sender_ssrc, r.ssrcs().collect::<Vec<_>>()),
        (0xAAAA, vec![0xBBBB])
    );
    let Rtcp::TransportCc(t) = &pkts[7] else {
        panic!()
    };
    assert_eq!((t.sender_ssrc, t.media_ssrc), (0xAAAA, 0xBBBB));
    assert_eq!(t.packets().count(), 6);
    assert_eq!(&b[b.len() - 3..], &[0, 0, 3], "padding untouched");

    // Generic form: map report-block sources.
    let mut s = sr_bytes();
    let mut seen = Vec::new();
    rewrite_ssrcs(&mut s, |kind, role, ssrc| {
        seen.push((kind, role, ssrc));
        (role == SsrcRole::ReportBlock).then_some(0x5555)
    })
    .expect("valid");
    assert_eq!(
        seen,
        vec![
            (RtcpKind::SenderReport, SsrcRole::Sender, 0x1111_1111),
            (RtcpKind::SenderReport, SsrcRole::ReportBlock, 0x2222_2222)
        ]
    );
    let Ok(Rtcp::SenderReport(sr)) = one(&s).parse() else {
        panic!()
    };
    assert_eq!(sr.reports().next().map(|r| r.ssrc), Some(0x5555));

    // Invalid compounds are left alone.
    let mut bad = vec![0x81, 206, 0x00, 0x09, 0, 0, 0, 1];
    let copy = bad.clone();
    assert!(rewrite_feedback_ssrcs(&mut bad, Some(1), Some(2)).is_err());
    assert_eq!(bad, copy);
}

/// Deterministic xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn exercise(buf: &mut [u8]) {
    for p in CompoundIter::new(buf).flatten() {
        let _ = (p.kind(), p.sender_ssrc(), p.media_ssrc());
        match p.parse() {
            Ok(Rtcp::SenderReport(s)) => drop(s.reports().count()),
            Ok(Rtcp::ReceiverReport(r)) => drop(r.reports().count()),
            Ok(Rtcp::Sdes(s)) => drop(s.chunks().count()),
            Ok(Rtcp::Bye(b)) => drop(b.ssrcs().count()),
            Ok(Rtcp::Nack(n)) => drop(n.lost().count()),
            Ok(Rtcp::TransportCc(t)) => drop(t.packets().count()),
            Ok(Rtcp::Fir(f)) => drop(f.entries().count()),
            Ok(Rtcp::Remb(r)) => drop(r.ssrcs().count()),
            _ => {}
        }
    }
    let _ = rewrite_ssrcs(buf, |_, _, s| Some(s ^ 1));
    let _ = rewrite_feedback_ssrcs(buf, Some(1), Some(2));
}

#[test]
fn garbage_and_truncation_never_panic() {
    let mut all = sr_bytes();
    for b in [
        compound_bytes(),
        nack_bytes(),
        pli_bytes(),
        fir_bytes(),
        remb_bytes(),
        twcc_bytes(),
    ] {
        all.extend_from_slice(&b);
    }
    for n in 0..=all.len() {
        exercise(&mut all[..n].to_vec());
        exercise(&mut all[n..].to_vec());
    }
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for round in 0..20_000 {
        let mut b = if round % 2 == 0 {
            let n = (rng.next() % 96) as usize;
            let mut v: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            if let Some(x) = v.first_mut() {
                *x = (*x & 0x3f) | 0x80;
            }
            v
        } else {
            let mut v = all.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() as usize) % v.len();
                v[i] = rng.next() as u8;
            }
            v
        };
        exercise(&mut b);
    }
}

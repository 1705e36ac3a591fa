//! RTP view, rewrite, extensions, sequence math, VP8/H.264 and RTX, on packets built by hand
//! from RFC 3550 §5.1, RFC 8285 §4, RFC 7741 §4.2, RFC 6184 §5 and RFC 4588 §4.

use std::time::{Duration, Instant};

use media_core::rtp::*;

/// V=2 P=1 X=1 CC=1 | M=1 PT=96 | seq 0x1234 | ts 0xDEADBEEF | ssrc 0x11223344 | csrc |
/// one-byte extension block (id1=[0x85], id3=[1,2], id4="1", pad) | payload AA BB CC | pad 3.
fn packet() -> Vec<u8> {
    let mut p = vec![
        0xB1, 0xE0, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x11, 0x22, 0x33, 0x44,
    ];
    p.extend_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD]);
    p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x02]);
    p.extend_from_slice(&[0x10, 0x85, 0x31, 0x01, 0x02, 0x40, b'1', 0x00]);
    p.extend_from_slice(&[0xAA, 0xBB, 0xCC]);
    p.extend_from_slice(&[0x00, 0x00, 0x03]);
    p
}

/// No CSRC, no padding, two-byte extensions (RFC 8285 §4.3): id5="abc", pad, id20=empty.
fn two_byte_packet() -> Vec<u8> {
    let mut p = vec![0x90, 0x6F, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0, 0, 2];
    p.extend_from_slice(&[0x10, 0x00, 0x00, 0x02]);
    p.extend_from_slice(&[5, 3, b'a', b'b', b'c', 0, 20, 0]);
    p.extend_from_slice(&[1, 2, 3, 4]);
    p
}

#[test]
fn header_fields_and_payload_without_padding() {
    let p = packet();
    let v = RtpView::try_parse(&p).expect("valid");
    assert!(v.padding() && v.has_extension() && v.marker());
    assert_eq!(v.csrc_count(), 1);
    assert_eq!(v.csrcs().collect::<Vec<_>>(), vec![0xAABBCCDD]);
    assert_eq!(v.payload_type(), 96);
    assert_eq!(v.sequence_number(), 0x1234);
    assert_eq!(v.timestamp(), 0xDEADBEEF);
    assert_eq!(v.ssrc(), 0x11223344);
    assert_eq!(v.header_len(), 12 + 4 + 4 + 8);
    assert_eq!(v.payload(), &[0xAA, 0xBB, 0xCC]);
    assert_eq!(v.padding_len(), 3);
    assert_eq!(v.extension_profile(), Some(ONE_BYTE_PROFILE));
}

#[test]
fn one_byte_extensions() {
    let p = packet();
    let v = RtpView::try_parse(&p).expect("valid");
    let all: Vec<(u8, &[u8])> = v.extensions().map(|e| (e.id, e.value)).collect();
    assert_eq!(
        all,
        vec![(1, &[0x85][..]), (3, &[1, 2][..]), (4, &b"1"[..])]
    );
    assert_eq!(v.extension(3), Some(&[1u8, 2][..]));
    assert_eq!(v.extension(2), None);
    assert_eq!(
        ext::audio_level(v.extension(1).unwrap_or_default()),
        Some(ext::AudioLevel {
            voice: true,
            level: 5
        })
    );
    assert_eq!(
        ext::transport_cc_seq(v.extension(3).unwrap_or_default()),
        Some(0x0102)
    );
    assert_eq!(ext::mid(v.extension(4).unwrap_or_default()), Some("1"));
}

#[test]
fn id_15_stops_one_byte_parsing() {
    let mut p = packet();
    // Replace id4 element header with the reserved id 15 (RFC 8285 §4.2).
    p[20 + 5] = 0xF0;
    let v = RtpView::try_parse(&p).expect("valid");
    assert_eq!(v.extensions().map(|e| e.id).collect::<Vec<_>>(), vec![1, 3]);
}

#[test]
fn two_byte_extensions() {
    let p = two_byte_packet();
    let v = RtpView::try_parse(&p).expect("valid");
    assert_eq!(v.payload_type(), 0x6F);
    assert!(!v.marker());
    let all: Vec<(u8, &[u8])> = v.extensions().map(|e| (e.id, e.value)).collect();
    assert_eq!(all, vec![(5, &b"abc"[..]), (20, &[][..])]);
    assert_eq!(ext::rid(v.extension(5).unwrap_or_default()), Some("abc"));
    assert_eq!(v.payload(), &[1, 2, 3, 4]);
}

#[test]
fn unknown_extension_profiles_yield_nothing() {
    let mut p = two_byte_packet();
    p[12] = 0x12;
    p[13] = 0x34;
    let v = RtpView::try_parse(&p).expect("valid");
    assert_eq!(v.extensions().count(), 0);
    assert_eq!(v.extension_data().map(<[u8]>::len), Some(8));
}

#[test]
fn invalid_packets_are_typed_errors() {
    assert_eq!(RtpView::try_parse(&[0x80; 11]), Err(RtpError::TooShort));
    let mut p = packet();
    p[0] = (p[0] & 0x3f) | 0x40;
    assert_eq!(RtpView::try_parse(&p), Err(RtpError::BadVersion(1)));
    let mut p = packet();
    *p.last_mut().unwrap_or(&mut 0) = 0;
    assert_eq!(RtpView::try_parse(&p), Err(RtpError::BadPadding));
    let mut p = packet();
    *p.last_mut().unwrap_or(&mut 0) = 7;
    assert_eq!(
        RtpView::try_parse(&p),
        Err(RtpError::BadPadding),
        "padding into the header"
    );
    let mut p = packet();
    p[19] = 0x40; // extension length 64 words
    assert_eq!(RtpView::try_parse(&p), Err(RtpError::TooShort));
    // Every truncation of a valid packet is rejected or parsed, never a panic.
    let p = packet();
    for n in 0..p.len() {
        let _ = RtpView::try_parse(&p[..n]).map(|v| (v.payload().len(), v.extensions().count()));
    }
}

#[test]
fn in_place_rewrite() {
    let mut p = packet();
    let mut m = RtpViewMut::try_parse(&mut p).expect("valid");
    m.set_ssrc(0x01020304);
    m.set_sequence_number(7);
    m.set_timestamp(90000);
    m.set_payload_type(100);
    m.set_marker(false);
    m.set_extension(3, &[9, 9]).expect("same length");
    assert_eq!(
        m.set_extension(3, &[1]),
        Err(RtpError::ExtensionLength {
            id: 3,
            have: 2,
            want: 1
        })
    );
    assert_eq!(m.set_extension(9, &[1]), Err(RtpError::NoSuchExtension(9)));
    if let Some(v) = m.extension_mut(1) {
        v[0] = 0x7f;
    }
    m.payload_mut()[0] = 0x11;
    let v = m.view();
    assert_eq!(
        (
            v.ssrc(),
            v.sequence_number(),
            v.timestamp(),
            v.payload_type(),
            v.marker()
        ),
        (0x01020304, 7, 90000, 100, false)
    );
    assert_eq!(v.extension(3), Some(&[9u8, 9][..]));
    assert_eq!(v.extension(1), Some(&[0x7fu8][..]));
    assert_eq!(v.payload(), &[0x11, 0xBB, 0xCC]);
    assert_eq!(v.padding_len(), 3, "length and padding untouched");
}

#[test]
fn extension_value_codecs() {
    let mut buf = [0u8; 3];
    assert!(ext::write_abs_send_time(&mut buf, 1_500_000));
    let t = ext::abs_send_time(&buf).unwrap_or_default();
    assert_eq!(t, 0x06_0000, "1.5 s in 6.18 fixed point");
    assert_eq!(ext::abs_send_time_micros(t), 1_500_000);
    let d = ext::PlayoutDelay { min: 10, max: 400 };
    assert!(ext::write_playout_delay(&mut buf, d));
    assert_eq!(buf, [0x00, 0xA1, 0x90]);
    assert_eq!(ext::playout_delay(&buf), Some(d));
    assert_eq!(
        ext::video_orientation(&[0x0B]),
        Some(ext::VideoOrientation {
            back_camera: true,
            flip: false,
            rotation: 270
        })
    );
    let mut two = [0u8; 2];
    assert!(ext::write_transport_cc_seq(&mut two, 0xBEEF));
    assert_eq!(ext::transport_cc_seq(&two), Some(0xBEEF));
    assert_eq!(ext::mid(b"ab\0\0"), Some("ab"));
    assert_eq!(ext::mid(&[0xff]), None);
    assert_eq!(ext::audio_level(&[]), None);
    assert_eq!(ext::abs_send_time(&[1, 2]), None);
}

#[test]
fn sequence_arithmetic() {
    assert!(seq_is_newer(1, 0));
    assert!(seq_is_newer(0, 65535));
    assert!(!seq_is_newer(65535, 0));
    assert_eq!(seq_delta(2, 65534), 4);
    assert!(ts_is_newer(5, u32::MAX - 5));
    let mut u = SeqUnwrapper::new();
    let got: Vec<u64> = [65534u16, 65535, 0, 65533, 1, 2]
        .iter()
        .map(|s| u.extend(*s))
        .collect();
    assert_eq!(got, vec![65534, 65535, 65536, 65533, 65537, 65538]);
    assert_eq!(u.cycles(), 1);
    let mut u = SeqUnwrapper::new();
    assert_eq!(
        (u.extend(0), u.extend(65535)),
        (0, 0),
        "before the first cycle saturates"
    );
}

#[test]
fn seq_rewriter_keeps_one_continuous_space() {
    let mut r = SeqRewriter::starting_at(1000);
    let a: Vec<u16> = [50u16, 51, 52].iter().map(|s| r.rewrite(*s)).collect();
    assert_eq!(a, vec![1000, 1001, 1002]);
    assert_eq!(r.rewrite(51), 1001, "retransmission keeps its number");
    r.switch_source();
    let b: Vec<u16> = [65534u16, 65535, 0, 1]
        .iter()
        .map(|s| r.rewrite(*s))
        .collect();
    assert_eq!(b, vec![1003, 1004, 1005, 1006], "new source, wrap included");
    r.drop_packet(2);
    assert_eq!(r.rewrite(3), 1007, "a dropped packet leaves no gap");
    assert_eq!(r.rewrite(5), 1009, "a lost packet keeps its gap");
    assert_eq!(r.last_out(), Some(1009));
    let mut plain = SeqRewriter::new();
    assert_eq!(plain.rewrite(777), 777);
}

#[test]
fn ts_rewriter_advances_plausibly_on_switch() {
    let t0 = Instant::now();
    let mut r = TsRewriter::starting_at(90000, 0);
    assert_eq!(r.rewrite(123_456, t0), 0);
    assert_eq!(
        r.rewrite(123_456 + 3000, t0 + Duration::from_millis(33)),
        3000
    );
    r.switch_source();
    // 20 ms later at 90 kHz: +1800 ticks, whatever the new source's clock says.
    assert_eq!(r.rewrite(7, t0 + Duration::from_millis(53)), 4800);
    assert_eq!(r.rewrite(7 + 3000, t0 + Duration::from_millis(86)), 7800);
    r.switch_source();
    assert_eq!(
        r.rewrite(99, t0 + Duration::from_millis(86)),
        7801,
        "at least one tick"
    );
}

/// X=1 S=1 PID=0 | I L T | M=1 picture id 0x1234 | TL0PICIDX 5 | TID=2 Y=1 | VP8 header P=0.
const VP8_KEY: [u8; 7] = [0x90, 0xE0, 0x92, 0x34, 0x05, 0xA0, 0x10];

#[test]
fn vp8_descriptor() {
    let d = vp8::Vp8Descriptor::parse(&VP8_KEY).expect("valid");
    assert!(d.start_of_partition && !d.non_reference);
    assert_eq!(d.partition_id, 0);
    assert_eq!((d.picture_id, d.picture_id_15bit), (Some(0x1234), true));
    assert_eq!(d.tl0picidx, Some(5));
    assert_eq!((d.tid, d.layer_sync, d.keyidx), (Some(2), true, None));
    assert_eq!(d.len, 6);
    assert!(vp8::is_keyframe(&VP8_KEY));
    let mut delta = VP8_KEY;
    delta[6] = 0x11;
    assert!(!vp8::is_keyframe(&delta));
    let mut cont = VP8_KEY;
    cont[0] = 0x80; // S=0: continuation
    assert!(!vp8::is_keyframe(&cont));
    // Minimal descriptor: no X.
    let d = vp8::Vp8Descriptor::parse(&[0x10, 0x00]).expect("valid");
    assert_eq!((d.len, d.picture_id), (1, None));
    assert!(vp8::is_keyframe(&[0x10, 0x00]));
}

#[test]
fn vp8_rewrite_in_place() {
    let mut p = VP8_KEY;
    vp8::set_picture_id(&mut p, 0x7ffe).expect("has pid");
    vp8::set_tl0picidx(&mut p, 200).expect("has tl0");
    let d = vp8::Vp8Descriptor::parse(&p).expect("valid");
    assert_eq!(
        (d.picture_id, d.tl0picidx, d.tid),
        (Some(0x7ffe), Some(200), Some(2))
    );
    // 7-bit picture id keeps its width.
    let mut short = [0x90, 0x80, 0x05, 0x10];
    vp8::set_picture_id(&mut short, 130).expect("has pid");
    let d = vp8::Vp8Descriptor::parse(&short).expect("valid");
    assert_eq!(
        (d.picture_id, d.picture_id_15bit, d.len),
        (Some(2), false, 3)
    );
    assert!(vp8::set_tl0picidx(&mut short, 1).is_err());
    assert!(vp8::set_picture_id(&mut [0x10, 0x00], 1).is_err());
    for n in 0..VP8_KEY.len() {
        let _ = vp8::Vp8Descriptor::parse(&VP8_KEY[..n]);
        let _ = vp8::is_keyframe(&VP8_KEY[..n]);
    }
}

#[test]
fn h264_keyframes() {
    assert!(h264::is_keyframe(&[0x65, 0x88]), "IDR");
    assert!(h264::is_keyframe(&[0x67, 0x42]), "SPS");
    assert!(!h264::is_keyframe(&[0x41, 0x9a]), "non-IDR slice");
    assert!(
        h264::is_keyframe(&[0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x02, 0x67, 0x42]),
        "STAP-A with SPS"
    );
    assert!(!h264::is_keyframe(&[
        0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x02, 0x41, 0x42
    ]));
    assert!(
        !h264::is_keyframe(&[0x78, 0x00, 0x09, 0x09]),
        "truncated STAP-A"
    );
    assert!(h264::is_keyframe(&[0x7c, 0x85, 0x00]), "FU-A start of IDR");
    assert!(!h264::is_keyframe(&[0x7c, 0x05, 0x00]), "FU-A middle");
    assert!(!h264::is_keyframe(&[0x7c]));
    assert!(!h264::is_keyframe(&[]));
    assert_eq!(h264::nal_type(&[0x65]), Some(5));
    use media_core::sdp::Codec;
    assert!(media_core::rtp::is_keyframe(Codec::H264, &[0x65, 0x88]));
    assert!(!media_core::rtp::is_keyframe(Codec::Vp9, &[0x65, 0x88]));
    assert!(media_core::rtp::is_keyframe(Codec::Vp8, &VP8_KEY));
}

#[test]
fn rtx_wrap_and_unwrap() {
    let original = packet();
    let mut rtx = Vec::new();
    rtx::wrap(&original, 97, 0x55667788, 9, &mut rtx).expect("wrap");
    let v = RtpView::try_parse(&rtx).expect("rtx parses");
    assert_eq!(
        (v.payload_type(), v.ssrc(), v.sequence_number()),
        (97, 0x55667788, 9)
    );
    assert!(!v.padding());
    assert_eq!(v.payload(), &[0x12, 0x34, 0xAA, 0xBB, 0xCC]);
    assert_eq!(rtx::osn(&v), Some(0x1234));
    assert_eq!(v.extension(4), Some(&b"1"[..]), "extensions kept");

    let back = rtx::unwrap(&rtx, 96).expect("unwrap");
    let b = RtpView::try_parse(&back).expect("parses");
    assert_eq!(
        (b.payload_type(), b.sequence_number(), b.ssrc()),
        (96, 0x1234, 0x55667788)
    );
    assert_eq!(b.payload(), &[0xAA, 0xBB, 0xCC]);
    assert!(b.marker());

    let mut buf = rtx.clone();
    let n = rtx::unwrap_in_place(&mut buf, 96, Some(0x11223344)).expect("in place");
    let orig_no_pad = {
        let o = RtpView::try_parse(&original).expect("valid");
        let mut x = original[..o.payload_range().end].to_vec();
        x[0] &= !0x20;
        x
    };
    assert_eq!(&buf[..n], &orig_no_pad[..]);
    assert!(
        rtx::unwrap(&rtx[..v.header_len() + 1], 96).is_none(),
        "no OSN"
    );
    assert!(rtx::unwrap(&[0u8; 3], 96).is_none());
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

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = [packet(), two_byte_packet()];
    for round in 0..20_000 {
        let mut p = if round % 2 == 0 {
            let n = (rng.next() % 64) as usize;
            (0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>()
        } else {
            let mut s = seeds[(round / 2) % 2].clone();
            for _ in 0..1 + rng.next() % 3 {
                let i = (rng.next() as usize) % s.len();
                s[i] = rng.next() as u8;
            }
            s.truncate((rng.next() as usize) % (s.len() + 1));
            s
        };
        if round % 3 == 0 && !p.is_empty() {
            p[0] = (p[0] & 0x3f) | 0x80;
        }
        if let Ok(v) = RtpView::try_parse(&p) {
            let _ = (
                v.payload(),
                v.csrcs().count(),
                v.extensions().count(),
                v.extension(1),
            );
            let _ = vp8::is_keyframe(v.payload());
            let _ = h264::is_keyframe(v.payload());
            let _ = rtx::unwrap(&p, 96);
            let mut out = Vec::new();
            let _ = rtx::wrap(&p, 97, 1, 1, &mut out);
        }
        let mut q = p.clone();
        if let Ok(mut m) = RtpViewMut::try_parse(&mut q) {
            m.set_ssrc(1);
            let _ = m.set_extension(1, &[0]);
            let _ = vp8::set_picture_id(m.payload_mut(), 3);
        }
        let _ = rtx::unwrap_in_place(&mut p, 96, Some(1));
    }
}

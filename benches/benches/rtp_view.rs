//! RTP header parse and per-subscriber rewrite (`media_core::rtp`), the work done per packet
//! and per subscriber besides SRTP: parse a 1,200-byte video packet with RFC 8285 one-byte
//! extensions (mid, abs-send-time, transport-wide cc), then rewrite SSRC, sequence number,
//! timestamp and the TWCC sequence in place in a per-subscriber copy.
//!
//! Run: `cargo bench -p ianus-benches --bench rtp_view -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media_core::rtp::{RtpView, RtpViewMut};

const MID_EXT: u8 = 4;
const ABS_SEND_TIME_EXT: u8 = 2;
const TWCC_EXT: u8 = 3;

fn video_packet() -> Vec<u8> {
    let mut p = vec![
        0x90u8, 96, 0x12, 0x34, 0, 1, 0x5F, 0x90, 0xDE, 0xAD, 0xBE, 0xEF,
    ];
    // One-byte-header extensions: 3 words = mid "0" (1 B), abs-send-time (3 B), TWCC (2 B).
    p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x03]);
    p.extend_from_slice(&[(MID_EXT << 4), b'0']);
    p.extend_from_slice(&[(ABS_SEND_TIME_EXT << 4) | 2, 0x12, 0x34, 0x56]);
    p.extend_from_slice(&[(TWCC_EXT << 4) | 1, 0x00, 0x2A]);
    p.extend_from_slice(&[0, 0, 0]); // padding to the word boundary
    p.resize(1200, 0xA5);
    p
}

fn benches(c: &mut Criterion) {
    let packet = video_packet();
    let view = RtpView::try_parse(&packet).expect("valid bench packet");
    assert_eq!(view.extension(MID_EXT), Some(&b"0"[..]));
    assert_eq!(view.extension(TWCC_EXT).map(<[u8]>::len), Some(2));

    let mut g = c.benchmark_group("rtp_view");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse+fields+mid", |b| {
        b.iter(|| {
            let v = RtpView::try_parse(black_box(&packet)).expect("valid");
            (
                v.ssrc(),
                v.sequence_number(),
                v.payload_type(),
                v.payload().len(),
                v.extension(MID_EXT).map(<[u8]>::len),
            )
        })
    });
    g.bench_function("copy+rewrite", |b| {
        let mut out = vec![0u8; packet.len()];
        let mut seq: u16 = 0;
        b.iter(|| {
            seq = seq.wrapping_add(1);
            out.copy_from_slice(black_box(&packet));
            let mut m = RtpViewMut::try_parse(&mut out).expect("valid");
            m.set_ssrc(0x0102_0304);
            m.set_sequence_number(seq);
            m.set_timestamp(u32::from(seq) * 3000);
            if let Some(t) = m.extension_mut(TWCC_EXT) {
                t.copy_from_slice(&seq.to_be_bytes());
            }
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(rtp_view, benches);
criterion_main!(rtp_view);

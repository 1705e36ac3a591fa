//! Receive-path dispatch: RFC 7983 first-byte classification and, for STUN from an unknown
//! 5-tuple, reading the local ufrag out of USERNAME (`media_core::ice::local_ufrag`).
//!
//! Run: `cargo bench -p ianus-benches --bench demux -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media_core::ice::stun::{integrity_key, StunClass, StunWriter, TransactionId, METHOD_BINDING};
use media_core::net::demux::classify;

/// A Chromium-like connectivity check: USERNAME, GOOG-NETWORK-INFO before it, PRIORITY,
/// ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT.
fn chromium_check() -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = StunWriter::new(
        &mut out,
        METHOD_BINDING,
        StunClass::Request,
        TransactionId([3; 12]),
    );
    w.username("Xk3vLq9a:h6vYab1c")
        .priority(0x6e00_01ff)
        .ice_controlling(0x0123_4567_89ab_cdef)
        .use_candidate()
        .message_integrity(&integrity_key("VOkJxbRl1RmTxUk/WvJxBt12"));
    w.finish_with_fingerprint();
    out
}

fn benches(c: &mut Criterion) {
    let stun = chromium_check();
    let mut rtp = vec![0x90u8, 96, 0, 1, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78];
    rtp.resize(1200, 0xA5);
    let mut rtcp = vec![0x81u8, 201, 0, 7];
    rtcp.resize(32, 0);
    let mut dtls = vec![22u8, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100];
    dtls.resize(113, 0);
    let mixed: Vec<&[u8]> = vec![&rtp, &rtp, &rtp, &rtcp, &rtp, &stun, &rtp, &dtls];

    let mut g = c.benchmark_group("demux");
    g.throughput(Throughput::Elements(1));
    g.bench_function("classify/rtp", |b| b.iter(|| classify(black_box(&rtp))));
    g.bench_function("classify/mixed", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % mixed.len();
            classify(black_box(mixed[i]))
        })
    });
    g.bench_function("stun/local_ufrag", |b| {
        b.iter(|| media_core::ice::local_ufrag(black_box(&stun)).map(str::len))
    });
    g.bench_function("stun/parse", |b| {
        b.iter(|| {
            media_core::ice::StunMessage::try_parse(black_box(&stun)).map(|m| m.use_candidate())
        })
    });
    g.finish();

    // The full ICE-lite answer: parse, USERNAME, FINGERPRINT, HMAC-SHA1 check, response with
    // XOR-MAPPED-ADDRESS + MESSAGE-INTEGRITY + FINGERPRINT into a reused buffer.
    let mut agent = media_core::ice::IceLiteAgent::new(
        "Xk3vLq9a".into(),
        "VOkJxbRl1RmTxUk/WvJxBt12".into(),
        media_core::ice::DEFAULT_CONSENT_TIMEOUT,
    );
    let from: std::net::SocketAddr = "192.0.2.1:50000".parse().expect("address");
    let now = std::time::Instant::now();
    let mut out = Vec::with_capacity(256);
    let mut g = c.benchmark_group("ice");
    g.throughput(Throughput::Elements(1));
    g.bench_function("handle_stun/check", |b| {
        b.iter(|| {
            out.clear();
            agent
                .handle_stun(now, from, black_box(&stun), &mut out)
                .map(|r| r.len)
        })
    });
    g.finish();
}

criterion_group!(demux, benches);
criterion_main!(demux);

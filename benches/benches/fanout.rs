//! The forwarding hot path: one publisher VP8 packet (1,200 bytes, RFC 7741 descriptor with
//! picture id / TL0PICIDX / TID, RFC 8285 extensions) through `forward::RoomCore` to N
//! subscribers — layer decision, header + descriptor rewrite into the scratch buffer, NACK
//! mapping, RTX cache — and, per subscriber, the SRTP encryption `Peer::send_rtp` does
//! (`media_core::srtp::SrtpContext`, AEAD_AES_128_GCM, one context per subscriber). The
//! socket send is left out (design.md measures it: ~0.8 µs `sendto`, ~0.3 µs with GSO).
//!
//! Criterion reports time per input packet; with `Throughput::Elements(N)` its `thrpt` is
//! forwarded packets per second, so ns per forwarded packet = 1e9 / thrpt (also printed, with
//! the thread's CPU time beside it: robust when other processes share the cores).
//! Building each input `Bytes` (the engine's decrypt does it once per received packet) is
//! outside the timed region.
//!
//! Run: `cargo bench -p ianus-benches --bench fanout -- --warm-up-time 1 --measurement-time 3`

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use media_core::engine::MediaKind;
use media_core::forward::{
    IncomingPacket, PublishedStream, RoomConfig, RoomCore, RouterOutput, Subscription,
};
use media_core::sdp::Codec;
use media_core::srtp::{ProtectionProfile, SrtpContext, SrtpKeys};

const PACKET_LEN: usize = 1200;
const PT: u8 = 96;
const SSRC: u32 = 0x1234_5678;
/// Packets per second of the modelled stream (the clock advances accordingly).
const PPS: u64 = 1000;

/// A VP8 packet: mid + abs-send-time + TWCC extensions, X/I/L/T descriptor, TID 0.
fn vp8_packet(seq: u16, keyframe: bool) -> Bytes {
    let mut p = vec![0x90, 0x80 | PT];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 90).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x03]);
    p.extend_from_slice(&[
        0x10, b'0', 0x22, 0x12, 0x34, 0x56, 0x31, 0x00, 0x2A, 0, 0, 0,
    ]);
    let pid = 0x8000 | (seq & 0x7fff);
    p.extend_from_slice(&[0x90, 0xE0]);
    p.extend_from_slice(&pid.to_be_bytes());
    p.extend_from_slice(&[seq as u8, 0x00]);
    p.push(if keyframe { 0x00 } else { 0x01 });
    p.resize(PACKET_LEN, 0xA5);
    Bytes::from(p)
}

/// CPU time of this thread: unlike wall time it leaves out time the bench thread was not
/// running (this 2-core machine is shared with builds).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn srtp_context(i: usize) -> SrtpContext {
    let profile = ProtectionProfile::AeadAes128Gcm;
    let material: Vec<u8> = (0..SrtpKeys::material_len(profile))
        .map(|k| (k * 7 + i) as u8)
        .collect();
    let keys = SrtpKeys::from_keying_material(profile, &material, false).expect("keys");
    SrtpContext::outbound(&keys).expect("srtp context")
}

struct Setup {
    core: RoomCore<usize>,
    srtp: Vec<SrtpContext>,
    now: Instant,
    seq: Cell<u16>,
}

fn setup(n: usize) -> Setup {
    let mut core = RoomCore::new(RoomConfig {
        bitrate: 0,
        fir_freq: 0,
        nack_queue_ms: 1000,
        audio_active_packets: 0,
        audio_level_average: 25,
    });
    let now = Instant::now();
    core.add_publisher(
        now,
        1,
        0,
        vec![PublishedStream {
            index: 0,
            mid: "0".into(),
            kind: MediaKind::Video,
            codec: Codec::Vp8,
            pt: PT,
            clock_rate: 90_000,
            layers: 1,
            audio_level_ext: None,
        }],
    );
    for i in 0..n {
        core.set_subscriber(
            now,
            100 + i as u64,
            i,
            vec![Subscription {
                sub_index: 0,
                source: Some((1, 0)),
                ssrc: 0x5000_0000 + i as u32,
                rtx_ssrc: Some(0x6000_0000 + i as u32),
                pt: 100,
                rtx_pt: Some(101),
                send: true,
                substream_target: 2,
                temporal_target: 2,
                fallback_us: 0,
                playout_delay: None,
            }],
        );
    }
    while core.poll_output().is_some() {}
    let mut s = Setup {
        core,
        srtp: (0..n).map(srtp_context).collect(),
        now,
        seq: Cell::new(0),
    };
    // The keyframe that starts every subscriber, then a second of traffic (full cache).
    s.forward(vp8_packet(0, true), true);
    for _ in 0..PPS {
        let p = s.next_packet();
        s.forward(p, true);
    }
    assert_eq!(s.core.stats().packets_out, n as u64 * (PPS + 1));
    s
}

impl Setup {
    fn next_packet(&self) -> Bytes {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        vp8_packet(seq, false)
    }

    /// One packet in, N out; returns bytes produced (so nothing is optimised away).
    fn forward(&mut self, packet: Bytes, encrypt: bool) -> usize {
        self.now += Duration::from_micros(1_000_000 / PPS);
        self.core.handle_packet(
            self.now,
            IncomingPacket {
                publisher: 1,
                index: 0,
                layer: 0,
                packet,
            },
        );
        let mut total = 0;
        while let Some(out) = self.core.poll_output() {
            if let RouterOutput::Rtp { peer, packet, .. } = out {
                total += if encrypt {
                    match self.srtp.get_mut(*peer).map(|c| c.protect_rtp(packet)) {
                        Some(Ok(p)) => black_box(p).len(),
                        _ => 0,
                    }
                } else {
                    black_box(packet).len()
                };
            }
        }
        total
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    for n in [1usize, 10, 100, 1000] {
        g.throughput(Throughput::Elements(n as u64));
        for (name, encrypt) in [("rewrite+srtp_gcm", true), ("rewrite_only", false)] {
            let mut s = setup(n);
            let mut spent = Duration::ZERO;
            let mut cpu = Duration::ZERO;
            let mut forwarded = 0u64;
            g.bench_function(format!("{name}/{n}"), |b| {
                let seq = Cell::new(s.seq.get());
                b.iter_batched(
                    || {
                        let q = seq.get().wrapping_add(1);
                        seq.set(q);
                        vp8_packet(q, false)
                    },
                    |p| {
                        let t = Instant::now();
                        let c = thread_cpu();
                        let r = s.forward(p, encrypt);
                        spent += t.elapsed();
                        cpu += thread_cpu().saturating_sub(c);
                        forwarded += n as u64;
                        r
                    },
                    BatchSize::SmallInput,
                );
                s.seq.set(seq.get());
            });
            if forwarded > 0 {
                println!(
                    "fanout/{name}/{n}: {:.0} ns per forwarded packet ({:.0} ns of thread CPU)",
                    spent.as_nanos() as f64 / forwarded as f64,
                    cpu.as_nanos() as f64 / forwarded as f64
                );
            }
        }
    }
    g.finish();
}

criterion_group!(fanout, benches);
criterion_main!(fanout);

//! The fan-out with real loopback sends: one publisher VP8 packet (1,200 bytes) through
//! `forward::RoomCore` to N subscribers, each packet encrypted (AEAD_AES_128_GCM, one
//! context per subscriber) and sent from one non-blocking socket to N loopback sockets —
//! either one `sendto` per packet (what `Peer::send_rtp` does) or encrypted into a
//! `net::udp::SendBatch` arena and sent with one `sendmmsg` per 64 (what the room task does
//! through `engine::RtpBatch`). `no_send` is the same run without the socket, for reference.
//!
//! What it leaves out: the peers' mutexes and counters (the same in both paths; the batch
//! adds one `Arc` clone per packet). What it adds: on loopback the sender's syscall also
//! does the receivers' delivery (softirq in the same call), which a NIC would not; the
//! receivers are drained outside the timed region.
//!
//! Run: `cargo bench -p ianus-benches --bench batch_send -- --warm-up-time 1 --measurement-time 3`

use std::cell::Cell;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use media_core::engine::MediaKind;
use media_core::forward::{
    IncomingPacket, PublishedStream, RoomConfig, RoomCore, RouterOutput, Subscription,
};
use media_core::net::udp::{SendBatch, SendOutcome};
use media_core::sdp::Codec;
use media_core::srtp::{ProtectionProfile, SrtpContext, SrtpKeys};

const PACKET_LEN: usize = 1200;
const PT: u8 = 96;
const SSRC: u32 = 0x1234_5678;
const PPS: u64 = 1000;

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

#[derive(Clone, Copy, PartialEq)]
enum Path {
    NoSend,
    SendTo,
    SendMmsg,
}

struct Setup {
    core: RoomCore<usize>,
    srtp: Vec<SrtpContext>,
    socket: tokio::net::UdpSocket,
    dests: Vec<SocketAddr>,
    batch: SendBatch,
    now: Instant,
    totals: SendOutcome,
}

fn setup(rt: &tokio::runtime::Runtime, n: usize) -> (Setup, Vec<std::net::UdpSocket>) {
    let socket = rt.block_on(async {
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        // Sets the writable readiness `try_*` sends need.
        s.writable().await.expect("writable");
        s
    });
    let receivers: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| {
            let r = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            r.set_nonblocking(true).expect("nonblocking");
            r
        })
        .collect();
    let dests = receivers
        .iter()
        .map(|r| r.local_addr().expect("addr"))
        .collect();
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
        socket,
        dests,
        batch: SendBatch::new(),
        now,
        totals: SendOutcome::default(),
    };
    s.forward(vp8_packet(0, true), Path::NoSend);
    (s, receivers)
}

fn drain_receivers(receivers: &[std::net::UdpSocket]) {
    let mut buf = [0u8; 2048];
    for r in receivers {
        while r.recv(&mut buf).is_ok() {}
    }
}

impl Setup {
    fn add(&mut self, o: SendOutcome) {
        self.totals.sent += o.sent;
        self.totals.dropped += o.dropped;
        self.totals.calls += o.calls;
    }

    fn flush(&mut self) {
        let o = self.batch.send_on(&self.socket, |_| true, |_| {});
        self.batch.clear();
        self.add(o);
    }

    /// One packet in, N encrypted and sent; returns bytes produced.
    fn forward(&mut self, packet: Bytes, path: Path) -> usize {
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
            let RouterOutput::Rtp { peer, packet, .. } = out else {
                continue;
            };
            let (Some(ctx), Some(to)) = (self.srtp.get_mut(*peer), self.dests.get(*peer)) else {
                continue;
            };
            match path {
                Path::NoSend => {
                    if let Ok(p) = ctx.protect_rtp(packet) {
                        total += black_box(p).len();
                    }
                }
                Path::SendTo => {
                    if let Ok(p) = ctx.protect_rtp(packet) {
                        total += p.len();
                        match self.socket.try_send_to(p, *to) {
                            Ok(_) => self.totals.sent += 1,
                            Err(_) => self.totals.dropped += 1,
                        }
                        self.totals.calls += 1;
                    }
                }
                Path::SendMmsg => {
                    let to = *to;
                    if self.batch.is_full() {
                        let o = self.batch.send_on(&self.socket, |_| true, |_| {});
                        self.batch.clear();
                        self.totals.sent += o.sent;
                        self.totals.dropped += o.dropped;
                        self.totals.calls += o.calls;
                    }
                    if let Some(buf) = self.batch.next_buf() {
                        if let Ok(p) = ctx.protect_rtp_into(packet, buf) {
                            total += p.len();
                            self.batch.commit(to);
                        }
                    }
                }
            }
        }
        if path == Path::SendMmsg {
            self.flush();
        }
        total
    }
}

fn benches(c: &mut Criterion) {
    // The sockets' IO driver; sends are `try_*`, so it never has to run again after setup.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut g = c.benchmark_group("batch_send");
    for n in [10usize, 100] {
        g.throughput(Throughput::Elements(n as u64));
        for (name, path) in [
            ("no_send", Path::NoSend),
            ("sendto", Path::SendTo),
            ("sendmmsg", Path::SendMmsg),
        ] {
            let (mut s, receivers) = setup(&rt, n);
            let seq = Cell::new(1u16);
            let mut spent = Duration::ZERO;
            let mut cpu = Duration::ZERO;
            let mut forwarded = 0u64;
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter_batched(
                    || {
                        drain_receivers(&receivers);
                        let q = seq.get().wrapping_add(1);
                        seq.set(q);
                        vp8_packet(q, false)
                    },
                    |p| {
                        let t = Instant::now();
                        let c = thread_cpu();
                        let r = s.forward(p, path);
                        spent += t.elapsed();
                        cpu += thread_cpu().saturating_sub(c);
                        forwarded += n as u64;
                        r
                    },
                    BatchSize::SmallInput,
                );
            });
            if forwarded > 0 {
                let t = s.totals;
                println!(
                    "batch_send/{name}/{n}: {:.0} ns per forwarded packet ({:.0} ns of thread \
                     CPU); sent {} dropped {} syscalls {} ({:.1} packets per syscall)",
                    spent.as_nanos() as f64 / forwarded as f64,
                    cpu.as_nanos() as f64 / forwarded as f64,
                    t.sent,
                    t.dropped,
                    t.calls,
                    t.sent as f64 / t.calls.max(1) as f64
                );
            }
        }
    }
    g.finish();
}

criterion_group!(batch_send, benches);
criterion_main!(batch_send);

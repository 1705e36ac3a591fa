//! The AudioBridge mixing cycle: one 20 ms frame of `mix::MixCore` for a room of N
//! participants — N received packets into the jitter buffers, N Opus decodes, the mix, one
//! encode per distinct mix (a mix-minus per talker + the shared stream for everyone else),
//! and N outgoing packets written (header over payload). SRTP and the socket are left out
//! (see the fanout and srtp_protect benches).
//!
//! Talkers send a 48 kHz Opus tone; the others send a quiet microphone (white noise at
//! −60 dBov, below the activity gate), as Chrome does for an open but silent mic. Packets
//! carry the RFC 6464 audio level (Chrome sends it whenever it is negotiated: level 17 for
//! the tone, 60 for the quiet mic), so the mixer does not decode the quiet ones; the `noext`
//! cases leave it out and decode everyone. The `janus_like` variant turns the gate off
//! (`activity_dbov = 127`) without the extension: every participant is decoded, mixed and
//! gets its own encoder, which is what Janus does (complexity 4, as Janus) — the comparison
//! on the same machine and codec library.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the
//! machine is shared, and what a room costs is CPU. Criterion reports it per cycle; the
//! bench also prints µs of CPU per participant per
//! second of audio (= cycle time × 50 / N) and the cores a room needs (= cycle time × 50).
//!
//! Run: `cargo bench -p ianus-benches --bench opus_mix -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use media_core::engine::SendError;
use media_core::mix::{
    MixCore, MixOut, MixOutput, MixerConfig, MixerInput, ParticipantConfig, ParticipantId, FRAME,
};
use opus::{Application, Channels, Encoder};

const PT: u8 = 111;
const LEVEL_EXT: u8 = 1;
/// Distinct packets pre-encoded per participant (played in a loop).
const CYCLE: usize = 50;

struct NullOut;
impl MixOut for NullOut {
    fn send_rtp(&self, _packet: &[u8]) -> Result<(), SendError> {
        Ok(())
    }
}

/// `CYCLE` Opus payloads of a tone (talker) or −60 dBov noise (silent mic).
fn payloads(talker: bool, seed: u32) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(48_000, Channels::Mono, Application::Voip).expect("encoder");
    let mut rng = seed.wrapping_mul(2_654_435_761) | 1;
    let freq = 200.0 + f64::from(seed % 40) * 37.0;
    let mut n = 0u64;
    (0..CYCLE)
        .map(|_| {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    if talker {
                        let t = (n + i) as f64 / 48_000.0;
                        (6000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
                    } else {
                        rng ^= rng << 13;
                        rng ^= rng >> 17;
                        rng ^= rng << 5;
                        ((rng % 65) as i16) - 32
                    }
                })
                .collect();
            n += 960;
            enc.encode_vec(&pcm, 1275).expect("encode")
        })
        .collect()
}

struct Room {
    core: MixCore,
    /// Audio level per participant when the extension is sent.
    levels: Option<Vec<u8>>,
    now: Instant,
    payloads: Vec<Vec<Vec<u8>>>,
    seq: u16,
}

impl Room {
    fn new(n: usize, talking: usize, rate: u32, janus_like: bool, ext: bool) -> Self {
        let now = Instant::now();
        let mut core = MixCore::new(
            MixerConfig {
                sampling_rate: rate,
                activity_dbov: if janus_like { 127 } else { 55 },
                ..MixerConfig::default()
            },
            now,
        )
        .expect("core");
        for i in 0..n {
            core.handle_input(
                now,
                MixerInput::AddParticipant {
                    id: ParticipantId(i as u64),
                    config: ParticipantConfig {
                        ssrc: i as u32,
                        pt: PT,
                        audio_level_ext: ext.then_some(LEVEL_EXT),
                        ..ParticipantConfig::default()
                    },
                    out: Arc::new(NullOut),
                },
            )
            .expect("add");
        }
        let payloads = (0..n).map(|i| payloads(i < talking, i as u32)).collect();
        let levels = ext.then(|| (0..n).map(|i| if i < talking { 17 } else { 60 }).collect());
        let mut room = Room {
            core,
            levels,
            now,
            payloads,
            seq: 0,
        };
        // Past the prebuffer and the encoders' warm-up.
        for _ in 0..60 {
            let packets = room.packets();
            room.cycle(packets);
        }
        room
    }

    /// This period's packets (the engine's decrypt builds one `Bytes` per packet: untimed).
    fn packets(&mut self) -> Vec<Bytes> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.payloads
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut b = Vec::with_capacity(20 + 200);
                b.extend_from_slice(&[0x80, PT]);
                b.extend_from_slice(&seq.to_be_bytes());
                b.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
                b.extend_from_slice(&(i as u32 | 0x4000_0000).to_be_bytes());
                if let Some(levels) = &self.levels {
                    b[0] |= 0x10;
                    b.extend_from_slice(&[0xBE, 0xDE, 0, 1, LEVEL_EXT << 4, levels[i], 0, 0]);
                }
                b.extend_from_slice(&p[usize::from(seq) % CYCLE]);
                Bytes::from(b)
            })
            .collect()
    }

    /// One period: packets in, the frame, every output drained.
    fn cycle(&mut self, packets: Vec<Bytes>) -> usize {
        for (i, p) in packets.into_iter().enumerate() {
            self.core
                .handle_packet(self.now, ParticipantId(i as u64), p);
        }
        self.now += FRAME;
        let mut bytes = 0;
        while self.core.handle_timeout(self.now) {
            while let Some(out) = self.core.poll_output() {
                if let MixOutput::Rtp { packet, .. } = out {
                    bytes += black_box(packet).len();
                }
            }
        }
        bytes
    }
}

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Case {
    n: usize,
    talking: usize,
    rate: u32,
    janus_like: bool,
    ext: bool,
}

fn bench_case(c: &mut Criterion, name: &str, case: Case) {
    let n = case.n;
    let mut room = Room::new(n, case.talking, case.rate, case.janus_like, case.ext);
    let mut total = Duration::ZERO;
    let mut cycles = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let packets = room.packets();
                let t = thread_cpu();
                black_box(room.cycle(packets));
                spent += thread_cpu().saturating_sub(t);
            }
            total += spent;
            cycles += iters;
            spent
        })
    });
    let s = room.core.stats();
    if cycles > 0 {
        let per_cycle = total.as_secs_f64() / cycles as f64;
        println!(
            "{name}: {:.1} µs/cycle, {:.1} µs CPU per participant per second, {:.3} cores per room; \
             encoders {} (contributors {}), encodes/frame {:.1}, decodes/frame {:.1}",
            per_cycle * 1e6,
            per_cycle * 50.0 / n as f64 * 1e6,
            per_cycle * 50.0,
            s.encoders_live,
            s.contributors,
            s.encodes as f64 / s.frames as f64,
            n as f64 - s.decodes_skipped as f64 / s.frames as f64,
        );
    }
}

fn opus_mix(c: &mut Criterion) {
    let case = |n, talking, rate, janus_like, ext| Case {
        n,
        talking,
        rate,
        janus_like,
        ext,
    };
    for n in [2, 10, 50, 100, 500] {
        let t = n.min(10);
        bench_case(
            c,
            &format!("mix_16k/{n}p_{t}talk"),
            case(n, t, 16_000, false, true),
        );
    }
    for n in [100, 500] {
        bench_case(
            c,
            &format!("mix_16k_noext/{n}p_10talk"),
            case(n, 10, 16_000, false, false),
        );
    }
    for n in [2, 10, 50] {
        bench_case(
            c,
            &format!("mix_16k/{n}p_alltalk"),
            case(n, n, 16_000, false, true),
        );
    }
    bench_case(c, "mix_48k/500p_10talk", case(500, 10, 48_000, false, true));
    bench_case(
        c,
        "mix_48k_noext/500p_10talk",
        case(500, 10, 48_000, false, false),
    );
    // Janus's scheme on the same code: everyone decoded and mixed, one encoder each.
    for n in [10, 50, 100] {
        bench_case(
            c,
            &format!("janus_like_16k/{n}p_10talk"),
            case(n, 10, 16_000, true, false),
        );
    }
}

criterion_group!(benches, opus_mix);
criterion_main!(benches);

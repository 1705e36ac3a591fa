//! SRTP protect/unprotect of 1,200-byte RTP packets: the biggest per-packet cost of the
//! forwarding path (design.md), measured for both profiles WebRTC negotiates, side by side in
//! one run:
//!
//! - `ianus` — `media_core::srtp::SrtpContext`, the engine's own (ring AES-GCM; RustCrypto
//!   AES-CM + HMAC-SHA1), as the engine calls it: `protect_rtp` encrypts into the context's
//!   scratch buffer, `unprotect_rtp` copies into the receive arena, decrypts there and returns
//!   a `Bytes`; `unprotect_in_place` is the in-place call on a caller buffer (copy included);
//! - `webrtc-srtp` =0.17.2 (lib `webrtc_srtp`, the async stack's line);
//! - `rtc-srtp` =0.21.1 (lib `rtc_srtp`, the sans-IO line, crypto from its default provider).
//!
//! Both webrtc-rs crates allocate the returned `BytesMut` per call. Replay protection is on
//! everywhere with the engine's windows (1,024 SRTP / 128 SRTCP), as in production. Protect
//! encrypts one buffer whose sequence number advances every iteration; unprotect decrypts a
//! ring of distinct packets, and a fresh context (created outside the timed region) starts
//! each lap so the replay window never rejects one.
//!
//! Run: `cargo bench -p ianus-benches --bench srtp_protect -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Bytes of an unprotected RTP packet (header + extension + payload).
const PACKET_LEN: usize = 1200;
/// Distinct protected packets decrypted in a ring (~1.2 MB: fresh data, as received).
const RING: usize = 1024;
const SSRC: u32 = 0x1234_5678;
const MASTER_KEY: [u8; 16] = [
    0xE1, 0xF9, 0x7A, 0x0D, 0x3E, 0x01, 0x8B, 0xE0, 0xD6, 0x4F, 0xA3, 0x2C, 0x06, 0xDE, 0x41, 0x39,
];
const MASTER_SALT: [u8; 14] = [
    0x0E, 0xC6, 0x75, 0xAD, 0x49, 0x8A, 0xFE, 0xEB, 0xB6, 0x96, 0x0B, 0x3A, 0xAB, 0xE6,
];

/// A video-like RTP packet: V=2, X=1 with one 1-byte-header extension word (RFC 8285), PT 96.
fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(PACKET_LEN);
    p.extend_from_slice(&[0x90, 96]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x32, 0xAB, 0xCD, 0xEF]);
    p.resize(PACKET_LEN, 0xA5);
    p
}

fn set_seq(p: &mut [u8], seq: u16) {
    p[2..4].copy_from_slice(&seq.to_be_bytes());
}

/// The two profiles under their names in each crate.
#[derive(Clone, Copy)]
enum Profile {
    Sha1_80,
    Gcm128,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Sha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Profile::Gcm128 => "AEAD_AES_128_GCM",
        }
    }
    fn salt(self) -> &'static [u8] {
        match self {
            Profile::Sha1_80 => &MASTER_SALT,
            Profile::Gcm128 => &MASTER_SALT[..12],
        }
    }
}

/// Replay windows, as the engine configures them.
const SRTP_WINDOW: usize = 1024;
const SRTCP_WINDOW: usize = 128;

/// One SRTP implementation under test.
trait Srtp: Sized {
    const NAME: &'static str;
    fn new(profile: Profile) -> Self;
    fn protect(&mut self, plain: &[u8]) -> usize;
    fn protect_to_vec(&mut self, plain: &[u8]) -> Vec<u8>;
    fn unprotect(&mut self, cipher: &[u8]) -> usize;
    /// Decrypts a copy of `cipher` in `scratch`, if the implementation can work in place.
    fn unprotect_in_place(&mut self, _cipher: &[u8], _scratch: &mut Vec<u8>) -> Option<usize> {
        None
    }
}

struct Ianus(media_core::srtp::SrtpContext);

impl Srtp for Ianus {
    const NAME: &'static str = "ianus";
    fn new(profile: Profile) -> Self {
        use media_core::srtp::ProtectionProfile as P;
        let p = match profile {
            Profile::Sha1_80 => P::Aes128CmHmacSha1_80,
            Profile::Gcm128 => P::AeadAes128Gcm,
        };
        let ctx = media_core::srtp::SrtpContext::new(p, &MASTER_KEY, profile.salt())
            .expect("ianus context");
        Ianus(ctx)
    }
    fn protect(&mut self, plain: &[u8]) -> usize {
        self.0.protect_rtp(plain).expect("encrypt").len()
    }
    fn protect_to_vec(&mut self, plain: &[u8]) -> Vec<u8> {
        self.0.protect_rtp(plain).expect("encrypt").to_vec()
    }
    fn unprotect(&mut self, cipher: &[u8]) -> usize {
        self.0.unprotect_rtp(cipher).expect("decrypt").len()
    }
    fn unprotect_in_place(&mut self, cipher: &[u8], scratch: &mut Vec<u8>) -> Option<usize> {
        scratch.clear();
        scratch.extend_from_slice(cipher);
        Some(self.0.unprotect_rtp_in_place(scratch).expect("decrypt"))
    }
}

struct WebrtcSrtp(webrtc_srtp::context::Context);

impl Srtp for WebrtcSrtp {
    const NAME: &'static str = "webrtc-srtp-0.17.2";
    fn new(profile: Profile) -> Self {
        use webrtc_srtp::protection_profile::ProtectionProfile as P;
        let p = match profile {
            Profile::Sha1_80 => P::Aes128CmHmacSha1_80,
            Profile::Gcm128 => P::AeadAes128Gcm,
        };
        let ctx = webrtc_srtp::context::Context::new(
            &MASTER_KEY,
            profile.salt(),
            p,
            Some(webrtc_srtp::option::srtp_replay_protection(SRTP_WINDOW)),
            Some(webrtc_srtp::option::srtcp_replay_protection(SRTCP_WINDOW)),
        )
        .expect("webrtc-srtp context");
        WebrtcSrtp(ctx)
    }
    fn protect(&mut self, plain: &[u8]) -> usize {
        self.0.encrypt_rtp(plain).expect("encrypt").len()
    }
    fn protect_to_vec(&mut self, plain: &[u8]) -> Vec<u8> {
        self.0.encrypt_rtp(plain).expect("encrypt").to_vec()
    }
    fn unprotect(&mut self, cipher: &[u8]) -> usize {
        self.0.decrypt_rtp(cipher).expect("decrypt").len()
    }
}

struct RtcSrtp(rtc_srtp::context::Context);

impl Srtp for RtcSrtp {
    const NAME: &'static str = "rtc-srtp-0.21.1";
    fn new(profile: Profile) -> Self {
        use rtc_srtp::protection_profile::ProtectionProfile as P;
        let p = match profile {
            Profile::Sha1_80 => P::Aes128CmHmacSha1_80,
            Profile::Gcm128 => P::AeadAes128Gcm,
        };
        let provider = rtc_srtp::crypto::default_provider().expect("rtc-crypto default provider");
        let ctx = rtc_srtp::context::Context::new(
            &MASTER_KEY,
            profile.salt(),
            p,
            Some(rtc_srtp::option::srtp_replay_protection(SRTP_WINDOW)),
            Some(rtc_srtp::option::srtcp_replay_protection(SRTCP_WINDOW)),
            provider.crypto(),
        )
        .expect("rtc-srtp context");
        RtcSrtp(ctx)
    }
    fn protect(&mut self, plain: &[u8]) -> usize {
        self.0.encrypt_rtp(plain).expect("encrypt").len()
    }
    fn protect_to_vec(&mut self, plain: &[u8]) -> Vec<u8> {
        self.0.encrypt_rtp(plain).expect("encrypt").to_vec()
    }
    fn unprotect(&mut self, cipher: &[u8]) -> usize {
        self.0.decrypt_rtp(cipher).expect("decrypt").len()
    }
}

fn bench_impl<S: Srtp>(c: &mut Criterion) {
    for profile in [Profile::Sha1_80, Profile::Gcm128] {
        let mut g = c.benchmark_group(format!("srtp/{}/{}", S::NAME, profile.name()));
        g.throughput(Throughput::Bytes(PACKET_LEN as u64));

        g.bench_function("protect", |b| {
            let mut ctx = S::new(profile);
            let mut packet = rtp_packet(0);
            let mut seq: u16 = 0;
            b.iter(|| {
                seq = seq.wrapping_add(1);
                set_seq(&mut packet, seq);
                black_box(ctx.protect(black_box(&packet)))
            });
        });

        // Protected packets to decrypt: consecutive sequence numbers from one sender.
        let mut sender = S::new(profile);
        let ring: Vec<Vec<u8>> = (0..RING)
            .map(|i| sender.protect_to_vec(&rtp_packet(i as u16 + 1)))
            .collect();
        // Sanity: a fresh receiver decrypts them all back to 1,200 bytes.
        let mut check = S::new(profile);
        assert!(ring.iter().all(|p| check.unprotect(p) == PACKET_LEN));

        g.bench_function("unprotect", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut ctx = S::new(profile);
                let mut i = 0;
                let mut start = Instant::now();
                for _ in 0..iters {
                    if i == RING {
                        total += start.elapsed();
                        ctx = S::new(profile);
                        i = 0;
                        start = Instant::now();
                    }
                    black_box(ctx.unprotect(black_box(&ring[i])));
                    i += 1;
                }
                total + start.elapsed()
            });
        });

        let mut probe = S::new(profile);
        let mut scratch = Vec::with_capacity(2048);
        if probe.unprotect_in_place(&ring[0], &mut scratch).is_some() {
            g.bench_function("unprotect_in_place", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut ctx = S::new(profile);
                    let mut i = 0;
                    let mut start = Instant::now();
                    for _ in 0..iters {
                        if i == RING {
                            total += start.elapsed();
                            ctx = S::new(profile);
                            i = 0;
                            start = Instant::now();
                        }
                        black_box(ctx.unprotect_in_place(black_box(&ring[i]), &mut scratch));
                        i += 1;
                    }
                    total + start.elapsed()
                });
            });
        }
        g.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_impl::<Ianus>(c);
    bench_impl::<WebrtcSrtp>(c);
    bench_impl::<RtcSrtp>(c);
}

criterion_group!(srtp, benches);
criterion_main!(srtp);

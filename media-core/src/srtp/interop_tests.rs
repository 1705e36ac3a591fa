//! Interoperability with `rtc-srtp` 0.21.1 (webrtc-rs, itself tested against libsrtp, which
//! Chrome uses): every profile, both directions, RTP and RTCP, across a sequence-number
//! roll-over (ROC 0 → 1), with reordering inside the replay window, replays and tampering
//! refused.

use super::*;
use rtc_srtp::context::Context as RtcContext;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile as RtcProfile;

const PROFILES: [(ProtectionProfile, RtcProfile); 6] = [
    (
        ProtectionProfile::Aes128CmHmacSha1_80,
        RtcProfile::Aes128CmHmacSha1_80,
    ),
    (
        ProtectionProfile::Aes128CmHmacSha1_32,
        RtcProfile::Aes128CmHmacSha1_32,
    ),
    (
        ProtectionProfile::Aes256CmHmacSha1_80,
        RtcProfile::Aes256CmHmacSha1_80,
    ),
    (
        ProtectionProfile::Aes256CmHmacSha1_32,
        RtcProfile::Aes256CmHmacSha1_32,
    ),
    (ProtectionProfile::AeadAes128Gcm, RtcProfile::AeadAes128Gcm),
    (ProtectionProfile::AeadAes256Gcm, RtcProfile::AeadAes256Gcm),
];

fn master(profile: ProtectionProfile) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.key_len()).map(|i| (i * 29 + 3) as u8).collect();
    let salt = (0..profile.salt_len())
        .map(|i| (i * 7 + 0xa1) as u8)
        .collect();
    (key, salt)
}

fn ours(profile: ProtectionProfile) -> SrtpContext {
    let (key, salt) = master(profile);
    SrtpContext::new(profile, &key, &salt).expect("our context")
}

fn theirs(profile: ProtectionProfile, rtc: RtcProfile) -> RtcContext {
    let (key, salt) = master(profile);
    let provider = rtc_srtp::crypto::default_provider().expect("crypto provider");
    RtcContext::new(
        &key,
        &salt,
        rtc,
        Some(srtp_replay_protection(1024)),
        Some(srtcp_replay_protection(128)),
        provider.crypto(),
    )
    .expect("rtc-srtp context")
}

const SSRC: u32 = 0xcafe_f00d;

/// RTP packets of three shapes: bare header; CSRCs + a one-byte-header extension (RFC 8285);
/// RTP padding (RFC 3550 §5.1). Payload sizes vary with `seq`.
fn rtp(seq: u16) -> Vec<u8> {
    let shape = seq % 3;
    let mut p = vec![0x80, 96];
    match shape {
        1 => p[0] = 0x92, // X = 1, CC = 2
        2 => p[0] = 0xa0, // P = 1
        _ => {}
    }
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    if shape == 1 {
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        p.extend_from_slice(&[
            0xbe, 0xde, 0x00, 0x02, 0x10, 0xaa, 0x21, 0xbb, 0xcc, 0, 0, 0,
        ]);
    }
    let payload = 20 + usize::from(seq % 200) * 7;
    p.extend((0..payload).map(|i| (i as u16 ^ seq) as u8));
    if shape == 2 {
        p.extend_from_slice(&[0, 0, 3]);
    }
    p
}

/// An RTCP compound packet: SR + PLI, sender SSRC `SSRC`.
fn rtcp(n: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend_from_slice(&u64::from(n).wrapping_mul(0x1_0000_0001).to_be_bytes());
    p.extend_from_slice(&(n * 3000).to_be_bytes());
    p.extend_from_slice(&n.to_be_bytes());
    p.extend_from_slice(&(n * 1000).to_be_bytes());
    p.extend_from_slice(&[0x81, 206, 0, 2]);
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p
}

/// Sequence numbers from 65,520 across the roll-over to 20 (ROC 0 → 1).
fn seqs() -> Vec<u16> {
    (0..37u32).map(|i| (65_520 + i) as u16).collect()
}

/// Delivery order: neighbours swapped, and every fifth packet held back by four places.
fn reorder<T: Clone>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = v.to_vec();
    for pair in out.chunks_mut(2) {
        pair.reverse();
    }
    for i in (0..out.len().saturating_sub(5)).step_by(5) {
        let held = out.remove(i);
        out.insert(i + 4, held);
    }
    out
}

fn flip(p: &[u8], at: usize) -> Vec<u8> {
    let mut bad = p.to_vec();
    bad[at] ^= 0x04;
    bad
}

#[test]
fn ours_encrypt_rtc_srtp_decrypts_rtp_across_rollover() {
    for (profile, rtc) in PROFILES {
        let mut tx = ours(profile);
        let mut rx = theirs(profile, rtc);
        let sent: Vec<(Vec<u8>, Vec<u8>)> = seqs()
            .into_iter()
            .map(|s| {
                let plain = rtp(s);
                let enc = tx.protect_rtp(&plain).expect("protect").to_vec();
                assert_eq!(enc.len(), plain.len() + profile.rtp_tag_len());
                (plain, enc)
            })
            .collect();
        for (plain, enc) in reorder(&sent) {
            let dec = rx
                .decrypt_rtp(&enc)
                .unwrap_or_else(|e| panic!("{profile:?}: rtc-srtp refuses seq {}: {e}", plain[3]));
            assert_eq!(&dec[..], &plain[..], "{profile:?}");
        }
        // Replays and tampering are refused by the other side too.
        assert!(rx.decrypt_rtp(&sent[3].1).is_err(), "{profile:?} replay");
        let fresh = tx.protect_rtp(&rtp(21)).expect("protect").to_vec();
        assert!(
            rx.decrypt_rtp(&flip(&fresh, 30)).is_err(),
            "{profile:?} tamper"
        );
        assert!(rx.decrypt_rtp(&fresh).is_ok(), "{profile:?} untampered");
    }
}

#[test]
fn rtc_srtp_encrypts_ours_decrypts_rtp_across_rollover() {
    for (profile, rtc) in PROFILES {
        let mut tx = theirs(profile, rtc);
        let mut rx = ours(profile);
        let sent: Vec<(Vec<u8>, Vec<u8>)> = seqs()
            .into_iter()
            .map(|s| {
                let plain = rtp(s);
                let enc = tx.encrypt_rtp(&plain).expect("encrypt").to_vec();
                (plain, enc)
            })
            .collect();
        for (plain, enc) in reorder(&sent) {
            let mut buf = enc.clone();
            let n = rx
                .unprotect_rtp_in_place(&mut buf)
                .unwrap_or_else(|e| panic!("{profile:?}: seq {}: {e}", plain[3]));
            assert_eq!(&buf[..n], &plain[..], "{profile:?}");
        }
        for (_, enc) in &sent {
            assert_eq!(
                rx.unprotect_rtp(enc),
                Err(SrtpError::Replayed),
                "{profile:?}"
            );
        }
        let plain = rtp(21);
        let fresh = tx.encrypt_rtp(&plain).expect("encrypt").to_vec();
        for at in [2, 9, 20, fresh.len() - 1] {
            assert_eq!(
                rx.unprotect_rtp(&flip(&fresh, at)),
                Err(SrtpError::Authentication),
                "{profile:?} tampered at {at}"
            );
        }
        assert_eq!(
            &rx.unprotect_rtp(&fresh).expect("untampered")[..],
            &plain[..]
        );
    }
}

#[test]
fn ours_and_rtc_srtp_agree_on_rtcp_both_ways() {
    for (profile, rtc) in PROFILES {
        // Ours → rtc-srtp.
        let mut tx = ours(profile);
        let mut rx = theirs(profile, rtc);
        let sent: Vec<(Vec<u8>, Vec<u8>)> = (1..=20)
            .map(|n| {
                let plain = rtcp(n);
                (
                    plain.clone(),
                    tx.protect_rtcp(&plain).expect("protect").to_vec(),
                )
            })
            .collect();
        for (plain, enc) in reorder(&sent) {
            let dec = rx
                .decrypt_rtcp(&enc)
                .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
            assert_eq!(&dec[..], &plain[..], "{profile:?}");
        }
        assert!(rx.decrypt_rtcp(&sent[0].1).is_err(), "{profile:?} replay");

        // rtc-srtp → ours.
        let mut tx = theirs(profile, rtc);
        let mut rx = ours(profile);
        let sent: Vec<(Vec<u8>, Vec<u8>)> = (1..=20)
            .map(|n| {
                let plain = rtcp(n);
                (
                    plain.clone(),
                    tx.encrypt_rtcp(&plain).expect("encrypt").to_vec(),
                )
            })
            .collect();
        for (plain, enc) in reorder(&sent) {
            let dec = rx
                .unprotect_rtcp(&enc)
                .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
            assert_eq!(&dec[..], &plain[..], "{profile:?}");
        }
        for (_, enc) in &sent {
            assert_eq!(
                rx.unprotect_rtcp(enc),
                Err(SrtpError::Replayed),
                "{profile:?}"
            );
        }
        let plain = rtcp(21);
        let fresh = tx.encrypt_rtcp(&plain).expect("encrypt").to_vec();
        // Header, encrypted payload, index word (authenticated) and tag.
        for at in [1, 12, fresh.len() - 12, fresh.len() - 1] {
            let r = rx.unprotect_rtcp(&flip(&fresh, at));
            assert!(
                matches!(r, Err(SrtpError::Authentication | SrtpError::Replayed)),
                "{profile:?} tampered at {at}: {r:?}"
            );
        }
        assert_eq!(
            &rx.unprotect_rtcp(&fresh).expect("untampered")[..],
            &plain[..]
        );
    }
}

/// 70,000 consecutive packets from sequence number 0: the ROC advances by itself on both
/// sides, in both directions.
#[test]
fn long_streams_roll_over_in_both_directions() {
    for (profile, rtc) in [PROFILES[0], PROFILES[4]] {
        let (mut our_tx, mut their_rx) = (ours(profile), theirs(profile, rtc));
        let (mut their_tx, mut our_rx) = (theirs(profile, rtc), ours(profile));
        let mut plain = rtp(0);
        for i in 0..70_000u32 {
            let seq = i as u16;
            plain[2..4].copy_from_slice(&seq.to_be_bytes());
            let enc = our_tx.protect_rtp(&plain).expect("protect");
            let dec = their_rx
                .decrypt_rtp(enc)
                .unwrap_or_else(|e| panic!("{profile:?} packet {i}: {e}"));
            assert_eq!(&dec[..], &plain[..]);
            let enc = their_tx.encrypt_rtp(&plain).expect("encrypt");
            let dec = our_rx
                .unprotect_rtp(&enc)
                .unwrap_or_else(|e| panic!("{profile:?} packet {i}: {e}"));
            assert_eq!(&dec[..], &plain[..]);
        }
    }
}

/// Counts this thread's heap allocations, to prove the per-packet paths allocate nothing.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    fn count() {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: forwards to `System`, only counting.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: same contract as ours.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: same contract as ours.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            // SAFETY: same contract as ours.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Allocations made by `f` on this thread.
    pub fn allocations(f: impl FnOnce()) -> u64 {
        let before = ALLOCATIONS.with(Cell::get);
        f();
        ALLOCATIONS.with(Cell::get) - before
    }
}

#[test]
fn per_packet_paths_do_not_allocate() {
    // The counter counts.
    assert!(counting::allocations(|| drop(std::hint::black_box(vec![0u8; 64]))) >= 1);
    for (profile, _) in PROFILES {
        let (mut tx, mut rx) = (ours(profile), ours(profile));
        // Warm-up: SSRC slots, scratch and arena.
        let mut plain = rtp(1);
        let mut wire = Vec::new();
        for seq in 0..4u16 {
            plain[2..4].copy_from_slice(&seq.to_be_bytes());
            wire = tx.protect_rtp(&plain).expect("protect").to_vec();
            rx.unprotect_rtp(&wire).expect("unprotect");
            let enc = tx
                .protect_rtcp(&rtcp(u32::from(seq)))
                .expect("protect")
                .to_vec();
            rx.unprotect_rtcp(&enc).expect("unprotect");
        }
        let report = rtcp(7);
        let mut out = Vec::with_capacity(2048);
        let mut inplace = Vec::with_capacity(2048);
        let sends = counting::allocations(|| {
            for seq in 4..1004u16 {
                plain[2..4].copy_from_slice(&seq.to_be_bytes());
                std::hint::black_box(tx.protect_rtp(&plain).expect("protect"));
                std::hint::black_box(tx.protect_rtcp(&report).expect("protect"));
                tx.protect_rtp_into(&plain, &mut out).expect("protect");
                inplace.clear();
                inplace.extend_from_slice(&plain);
                tx.protect_rtp_in_place(&mut inplace).expect("protect");
            }
        });
        assert_eq!(sends, 0, "{profile:?}: allocations on the send path");
        // Received packets consumed at once: the arena chunk is reclaimed, never replaced.
        let mut tx2 = ours(profile);
        let packets: Vec<Vec<u8>> = (2000..3000u16)
            .map(|seq| {
                plain[2..4].copy_from_slice(&seq.to_be_bytes());
                tx2.protect_rtp(&plain).expect("protect").to_vec()
            })
            .collect();
        let mut rx2 = ours(profile);
        rx2.unprotect_rtp(tx2.protect_rtp(&rtp(1999)).expect("p"))
            .expect("warm-up");
        let receives = counting::allocations(|| {
            for p in &packets {
                let plain = rx2.unprotect_rtp(p).expect("unprotect");
                std::hint::black_box(&plain);
            }
        });
        assert_eq!(receives, 0, "{profile:?}: allocations on the receive path");
        // In place: nothing either.
        let mut rx3 = ours(profile);
        let mut bufs = packets.clone();
        rx3.unprotect_rtp_in_place(&mut wire.clone()).ok();
        let receives = counting::allocations(|| {
            for b in &mut bufs {
                rx3.unprotect_rtp_in_place(b).expect("unprotect");
            }
        });
        // The first packet of the SSRC creates its slot (two table pushes).
        assert!(
            receives <= 2,
            "{profile:?}: {receives} allocations in place"
        );
    }
}

/// The receive arena hands out packets that stay valid while later ones are decrypted; when
/// they are all held, a chunk is allocated every ~16 KiB, not per packet.
#[test]
fn arena_packets_outlive_later_packets() {
    let profile = ProtectionProfile::AeadAes128Gcm;
    let (mut tx, mut rx) = (ours(profile), ours(profile));
    let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..1000u16)
        .map(|seq| {
            let plain = rtp(seq);
            let enc = tx.protect_rtp(&plain).expect("protect").to_vec();
            (plain, enc)
        })
        .collect();
    let mut kept = Vec::with_capacity(sent.len());
    let allocations = counting::allocations(|| {
        for (_, enc) in &sent {
            kept.push(rx.unprotect_rtp(enc).expect("unprotect"));
        }
    });
    for ((plain, _), dec) in sent.iter().zip(&kept) {
        assert_eq!(&dec[..], &plain[..]);
    }
    let bytes: usize = sent.iter().map(|(_, e)| e.len()).sum();
    // Per chunk: its buffer and the shared header `bytes` adds, plus the SSRC slot.
    let bound = 2 * (bytes / (RECV_ARENA_CHUNK - 1500) + 1) + 2;
    assert!(
        allocations as usize <= bound,
        "{allocations} allocations for {} packets (bound {bound})",
        sent.len()
    );
}

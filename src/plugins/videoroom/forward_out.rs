//! The sending half of RTP forwarders: each publisher packet copied to the forwarders of
//! its stream and layer, PT/SSRC rewritten, SRTP-protected when the forwarder has a key,
//! sent from a shared non-blocking socket. Runs on the publisher's packet path: nothing
//! here allocates per packet (a stack copy, the SRTP context's own scratch buffer).
//!
//! Each SRTP forwarder target has its own outbound context (`media_core::srtp::SdesSender`).
//! A publisher's target list is rebuilt whenever any of its forwarders or streams change;
//! [`ForwardOut::build`] keeps the context of a target that is still there (same
//! `stream_id`, same key). A fresh context would restart the rollover counter at 0 (RFC 3711
//! §3.3.1) while the receiver has counted past a sequence-number wrap, and every packet would
//! then fail its authentication there.
//!
//! Viewer forwarders (`simulcast: true`, see `forwarder`) are not sent from here per
//! publisher packet: the room task relays them like subscribers and hands each rewritten
//! packet to their [`ForwardEgress`] (same sockets, same SRTP context rules).

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};

use media_core::engine::RtpIn;
use media_core::forward::{EgressError, RtpEgress};
use media_core::srtp::{SdesKey, SdesSender};

use super::forwarder::ForwardTarget;

/// Largest RTP packet forwarded (a 1500-byte MTU cannot bring bigger ones).
const MAX_FORWARDED: usize = 1500;

/// A forwarder target as the packet path sees it.
pub struct ForwardOut {
    pub target: ForwardTarget,
    srtp: Option<Arc<SdesSender>>,
}

impl ForwardOut {
    /// The new list for `targets`, reusing `previous`' SRTP contexts where the forwarder is
    /// the same. A target whose context cannot be made is left out (and logged).
    pub fn build(previous: &[ForwardOut], targets: Vec<ForwardTarget>) -> Vec<ForwardOut> {
        targets
            .into_iter()
            .filter_map(|target| {
                let Some(key) = target.srtp else {
                    return Some(ForwardOut { target, srtp: None });
                };
                let kept = previous
                    .iter()
                    .find(|p| p.target.stream_id == target.stream_id && p.target.srtp == Some(key))
                    .and_then(|p| p.srtp.clone());
                let srtp = match kept {
                    Some(s) => s,
                    None => match SdesSender::new(&key) {
                        Ok(s) => Arc::new(s),
                        Err(e) => {
                            tracing::warn!(
                                "videoroom: no SRTP context for forwarder {}: {e}",
                                target.stream_id
                            );
                            return None;
                        }
                    },
                };
                Some(ForwardOut {
                    target,
                    srtp: Some(srtp),
                })
            })
            .collect()
    }
}

/// The sending end of a viewer forwarder: called by the room task with each packet it
/// relays to the forwarder (rewritten, plain), protected here when keyed.
pub struct ForwardEgress {
    addr: SocketAddr,
    key: Option<SdesKey>,
    srtp: Option<SdesSender>,
    sockets: Arc<ForwardSockets>,
}

impl ForwardEgress {
    /// `Err` when the SRTP context cannot be made from the key.
    pub fn new(
        addr: SocketAddr,
        key: Option<SdesKey>,
        sockets: Arc<ForwardSockets>,
    ) -> Result<ForwardEgress, media_core::srtp::SrtpError> {
        let srtp = key.as_ref().map(SdesSender::new).transpose()?;
        Ok(ForwardEgress {
            addr,
            key,
            srtp,
            sockets,
        })
    }

    /// Whether this egress sends where and how `target` asks (then it is kept, SRTP
    /// context and all, across rebuilt forwarder lists).
    pub fn serves(&self, target: &ForwardTarget) -> bool {
        self.addr == target.addr && self.key == target.srtp
    }
}

impl RtpEgress for ForwardEgress {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), EgressError> {
        if packet.len() > MAX_FORWARDED {
            return Err(EgressError::TooLarge);
        }
        match &self.srtp {
            None => self.sockets.try_send(packet, self.addr),
            Some(srtp) => srtp
                .protect_with(packet, |p| self.sockets.try_send(p, self.addr))
                .map_err(|_| EgressError::Srtp)?,
        }
    }
}

/// The plugin's sending sockets for RTP forwarders (one per address family, lazily bound,
/// non-blocking: a full socket buffer drops the packet rather than stall the engine).
#[derive(Default)]
pub struct ForwardSockets {
    v4: OnceLock<Option<UdpSocket>>,
    v6: OnceLock<Option<UdpSocket>>,
}

impl ForwardSockets {
    pub fn send(&self, packet: &[u8], to: SocketAddr) {
        // Forwarding is fire-and-forget, as in Janus (a failed `sendto` is only logged).
        let _ = self.try_send(packet, to);
    }

    /// Sends one datagram; `Err` when no socket could be bound or the send failed (a full
    /// socket buffer included: the packet is dropped, never waited for).
    pub fn try_send(&self, packet: &[u8], to: SocketAddr) -> Result<(), EgressError> {
        let (cell, bind) = if to.is_ipv4() {
            (&self.v4, "0.0.0.0:0")
        } else {
            (&self.v6, "[::]:0")
        };
        let socket = cell.get_or_init(|| {
            let s = UdpSocket::bind(bind).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        });
        match socket {
            Some(s) => s
                .send_to(packet, to)
                .map(drop)
                .map_err(|_| EgressError::Send),
            None => Err(EgressError::Send),
        }
    }

    /// Copies an RTP packet to the forwarders of its stream and layer, with their PT/SSRC,
    /// encrypted for SRTP forwarders.
    pub fn forward_rtp(&self, forwards: &[ForwardOut], rtp: &RtpIn) {
        let len = rtp.packet.len();
        if forwards.is_empty() || !(12..=MAX_FORWARDED).contains(&len) {
            return;
        }
        for f in forwards
            .iter()
            .filter(|f| f.target.rtp_index == Some(rtp.stream) && f.target.layer == rtp.layer)
        {
            let t = &f.target;
            let mut buf = [0u8; MAX_FORWARDED];
            buf[..len].copy_from_slice(&rtp.packet);
            if t.pt != 0 {
                buf[1] = (buf[1] & 0x80) | (t.pt & 0x7f);
            }
            if t.ssrc != 0 {
                buf[8..12].copy_from_slice(&t.ssrc.to_be_bytes());
            }
            match &f.srtp {
                None => self.send(&buf[..len], t.addr),
                Some(srtp) => {
                    // An exhausted or failing context drops the packet (as Janus logs and
                    // drops on `srtp_protect` errors).
                    let _ = srtp.protect_with(&buf[..len], |p| self.send(p, t.addr));
                }
            }
        }
    }

    /// Sends a data-channel message to the data forwarders as one datagram.
    pub fn forward_data(&self, forwards: &[ForwardOut], data: &[u8]) {
        for f in forwards.iter().filter(|f| f.target.rtp_index.is_none()) {
            self.send(data, f.target.addr);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use bytes::Bytes;
    use media_core::engine::MediaKind;
    use media_core::srtp::SdesKey;
    use rtc_srtp::context::Context as RtcContext;
    use rtc_srtp::option::srtp_replay_protection;
    use rtc_srtp::protection_profile::ProtectionProfile as RtcProfile;

    use super::*;

    const MASTER: [u8; 30] = [
        0x3d, 0x11, 0x9c, 0x42, 0x07, 0xa8, 0x5e, 0xf3, 0x20, 0x6b, 0xc4, 0x19, 0x88, 0x0e, 0x71,
        0xd5, 0x2a, 0x93, 0x4f, 0xe6, 0x0c, 0xb7, 0x58, 0x31, 0x9a, 0x65, 0xd2, 0x1e, 0x84, 0x4b,
    ];

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        // Bounded: a missing packet fails the test instead of hanging it.
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn target(stream_id: u32, to: SocketAddr, srtp: Option<SdesKey>) -> ForwardTarget {
        ForwardTarget {
            stream_id,
            rtp_index: Some(1),
            layer: 0,
            addr: to,
            pt: 100,
            ssrc: 4242,
            srtp,
            viewer: false,
        }
    }

    /// What a publisher sends: PT 96, SSRC 0x1234, the given sequence number, a payload
    /// that says which packet it is.
    fn packet(seq: u16) -> RtpIn {
        let mut p = vec![0x80, 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
        p.extend_from_slice(&0x1234u32.to_be_bytes());
        p.extend((0..200).map(|i| (i as u8) ^ (seq as u8)));
        RtpIn {
            stream: 1,
            kind: MediaKind::Video,
            layer: 0,
            packet: Bytes::from(p),
        }
    }

    fn independent_decryptor(profile: RtcProfile) -> RtcContext {
        let provider = rtc_srtp::crypto::default_provider().expect("crypto provider");
        RtcContext::new(
            &MASTER[..16],
            &MASTER[16..],
            profile,
            Some(srtp_replay_protection(1024)),
            None,
            provider.crypto(),
        )
        .expect("rtc-srtp context")
    }

    fn recv(s: &UdpSocket) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        let n = s.recv(&mut buf).expect("a forwarded packet");
        buf[..n].to_vec()
    }

    #[test]
    fn srtp_forwarders_are_decrypted_by_an_independent_implementation() {
        for (bits, profile, tag) in [
            (80, RtcProfile::Aes128CmHmacSha1_80, 10),
            (32, RtcProfile::Aes128CmHmacSha1_32, 4),
        ] {
            let rx = receiver();
            let key = SdesKey::new(bits, &MASTER).expect("key");
            let outs = ForwardOut::build(
                &[],
                vec![target(7, rx.local_addr().expect("addr"), Some(key))],
            );
            let sockets = ForwardSockets::default();
            let mut theirs = independent_decryptor(profile);
            for seq in [100u16, 101, 102] {
                let sent = packet(seq);
                sockets.forward_rtp(&outs, &sent);
                let got = recv(&rx);
                assert_eq!(
                    got.len(),
                    sent.packet.len() + tag,
                    "suite {bits}: tag added"
                );
                assert_ne!(&got[12..sent.packet.len()], &sent.packet[12..], "encrypted");
                let plain = theirs.decrypt_rtp(&got).expect("decrypts");
                assert_eq!(plain[1], 100, "PT rewritten");
                assert_eq!(&plain[8..12], &4242u32.to_be_bytes(), "SSRC rewritten");
                assert_eq!(&plain[2..8], &sent.packet[2..8], "seq and timestamp kept");
                assert_eq!(&plain[12..], &sent.packet[12..], "payload as sent");
            }
        }
    }

    #[test]
    fn a_rebuilt_target_list_keeps_the_srtp_context_across_a_sequence_wrap() {
        let rx = receiver();
        let to = rx.local_addr().expect("addr");
        let key = SdesKey::new(80, &MASTER).expect("key");
        let sockets = ForwardSockets::default();
        let mut theirs = independent_decryptor(RtcProfile::Aes128CmHmacSha1_80);
        let outs = ForwardOut::build(&[], vec![target(7, to, Some(key))]);
        sockets.forward_rtp(&outs, &packet(65535));
        theirs.decrypt_rtp(&recv(&rx)).expect("before the wrap");
        // Another forwarder is added: the publisher's list is rebuilt.
        let other = receiver();
        let outs = ForwardOut::build(
            &outs,
            vec![
                target(7, to, Some(key)),
                target(8, other.local_addr().expect("addr"), None),
            ],
        );
        // Sequence 0 after 65535: roll-over counter 1 on both sides only if the context
        // was kept (a fresh one would encrypt with ROC 0 and fail authentication).
        sockets.forward_rtp(&outs, &packet(0));
        let plain = theirs
            .decrypt_rtp(&recv(&rx))
            .expect("after the wrap, same context");
        assert_eq!(&plain[12..], &packet(0).packet[12..]);
        assert_eq!(recv(&other), {
            let mut p = packet(0).packet.to_vec();
            p[1] = 100;
            p[8..12].copy_from_slice(&4242u32.to_be_bytes());
            p
        });
    }

    #[test]
    fn a_viewer_egress_sends_what_the_room_gives_it_encrypted_once_with_its_key() {
        let rx = receiver();
        let to = rx.local_addr().expect("addr");
        let key = SdesKey::new(80, &MASTER).expect("key");
        let sockets = Arc::new(ForwardSockets::default());
        let egress = ForwardEgress::new(to, Some(key), sockets.clone()).expect("egress");
        let target = |srtp| ForwardTarget {
            viewer: true,
            ..target(7, to, srtp)
        };
        assert!(egress.serves(&target(Some(key))));
        assert!(!egress.serves(&target(None)), "a new key is a new context");
        let mut theirs = independent_decryptor(RtcProfile::Aes128CmHmacSha1_80);
        for seq in [65535u16, 0] {
            let sent = packet(seq).packet;
            egress.send_rtp(&sent).expect("sent");
            let plain = theirs.decrypt_rtp(&recv(&rx)).expect("decrypts");
            assert_eq!(&plain[..], &sent[..], "sent as given (the room rewrote it)");
        }
        let plain = ForwardEgress::new(to, None, sockets).expect("egress");
        let sent = packet(1).packet;
        plain.send_rtp(&sent).expect("sent");
        assert_eq!(recv(&rx), sent.to_vec());
        assert_eq!(
            plain.send_rtp(&[0u8; MAX_FORWARDED + 1]),
            Err(EgressError::TooLarge)
        );
    }
}

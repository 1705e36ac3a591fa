//! Which protocol a datagram on the shared socket carries (RFC 7983 §7, as updated by
//! RFC 9443 §3), decided from its first two bytes so the receive loop can branch before any
//! parsing.
//!
//! | first byte | protocol |
//! |---|---|
//! | 0–3 | STUN |
//! | 16–19 | ZRTP (unused: [`PacketClass::Unknown`]) |
//! | 20–63 | DTLS |
//! | 64–79 | TURN channel data |
//! | 128–191 | RTP or RTCP, told apart by the second byte (RFC 5761 §4) |
//!
//! RTP and RTCP share the port (`a=rtcp-mux`): RTCP packet types 192–223 occupy the byte where
//! RTP has the marker bit and payload type, and RFC 5761 §4 forbids RTP payload types 64–95
//! for exactly that reason, so a second byte in 192..=223 is RTCP.

/// What a datagram is (RFC 7983).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketClass {
    Stun,
    Dtls,
    TurnChannel,
    Rtp,
    Rtcp,
    /// Empty, ZRTP, QUIC or anything else: drop and count.
    Unknown,
}

/// Smallest datagrams worth handing on: a STUN header, a DTLS record header, a TURN
/// ChannelData header, an RTP fixed header, an RTCP header.
const MIN_STUN: usize = 20;
const MIN_DTLS: usize = 13;
const MIN_TURN_CHANNEL: usize = 4;
const MIN_RTP: usize = 12;
const MIN_RTCP: usize = 8;

/// Classifies one datagram by its first byte(s). Too short for its class → `Unknown`.
#[inline]
pub fn classify(datagram: &[u8]) -> PacketClass {
    let Some(&first) = datagram.first() else {
        return PacketClass::Unknown;
    };
    let (class, min) = match first {
        0..=3 => (PacketClass::Stun, MIN_STUN),
        20..=63 => (PacketClass::Dtls, MIN_DTLS),
        64..=79 => (PacketClass::TurnChannel, MIN_TURN_CHANNEL),
        128..=191 => match datagram.get(1) {
            Some(192..=223) => (PacketClass::Rtcp, MIN_RTCP),
            Some(_) => (PacketClass::Rtp, MIN_RTP),
            None => return PacketClass::Unknown,
        },
        _ => return PacketClass::Unknown,
    };
    if datagram.len() < min {
        PacketClass::Unknown
    } else {
        class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_len(first: u8, second: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        v[0] = first;
        if len > 1 {
            v[1] = second;
        }
        v
    }

    #[test]
    fn first_byte_ranges_follow_rfc7983() {
        for b in 0..=255u8 {
            let expected = match b {
                0..=3 => PacketClass::Stun,
                20..=63 => PacketClass::Dtls,
                64..=79 => PacketClass::TurnChannel,
                128..=191 => PacketClass::Rtp,
                _ => PacketClass::Unknown,
            };
            assert_eq!(classify(&with_len(b, 96, 100)), expected, "first byte {b}");
        }
    }

    #[test]
    fn rtcp_is_told_from_rtp_by_packet_type() {
        // RTCP SR (200), RR (201), SDES (202), BYE (203), RTPFB (205), PSFB (206), XR (207).
        for pt in [200u8, 201, 202, 203, 204, 205, 206, 207] {
            assert_eq!(classify(&with_len(0x80, pt, 32)), PacketClass::Rtcp);
        }
        assert_eq!(classify(&with_len(0x81, 192, 32)), PacketClass::Rtcp);
        assert_eq!(classify(&with_len(0x80, 223, 32)), PacketClass::Rtcp);
        // RTP payload types, with and without the marker bit.
        for second in [0u8, 96, 111, 127, 0x80 | 96, 0x80 | 111, 191, 224, 255] {
            assert_eq!(
                classify(&with_len(0x90, second, 32)),
                PacketClass::Rtp,
                "second byte {second}"
            );
        }
    }

    #[test]
    fn short_or_empty_datagrams_are_unknown() {
        assert_eq!(classify(&[]), PacketClass::Unknown);
        assert_eq!(classify(&[0x80]), PacketClass::Unknown);
        assert_eq!(classify(&with_len(0x80, 96, 11)), PacketClass::Unknown);
        assert_eq!(classify(&with_len(0x80, 200, 7)), PacketClass::Unknown);
        assert_eq!(classify(&with_len(0x00, 1, 19)), PacketClass::Unknown);
        assert_eq!(classify(&with_len(22, 0xfe, 12)), PacketClass::Unknown);
        assert_eq!(classify(&with_len(0x40, 0, 3)), PacketClass::Unknown);
        assert_eq!(classify(&with_len(0x80, 96, 12)), PacketClass::Rtp);
        assert_eq!(classify(&with_len(22, 0xfe, 13)), PacketClass::Dtls);
    }
}

//! The IO edge of the media core: one UDP socket multiplexing every peer.
//!
//! - [`demux`]: RFC 7983 first-byte classification of a received datagram.
//! - [`udp`]: batched sends (`sendmmsg`) from a reused arena.

pub mod demux;
pub mod udp;

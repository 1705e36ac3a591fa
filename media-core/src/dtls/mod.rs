//! DTLS-SRTP (RFC 5764) helpers that need no DTLS stack.
//!
//! - [`clienthello`]: reassembles the peer's ClientHello from its handshake fragments and
//!   reads the offered SRTP profiles (to pick AES-GCM when the browser offers it);
//! - [`fingerprint`]: certificate fingerprints and SDP `a=fingerprint` (RFC 8122 §5).

pub mod clienthello;
pub mod fingerprint;

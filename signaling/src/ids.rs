//! Session and handle identifiers.
//!
//! Janus masks random IDs to 53 bits so that JavaScript numbers hold them exactly. For the
//! cluster, the low three decimal digits carry the node slot (`random × 1000 + slot`), so any
//! node can tell where a session lives without a lookup.

use serde::{Deserialize, Serialize};

/// Largest ID that a JavaScript number represents exactly (2^53 − 1).
pub const MAX_ID: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HandleId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for HandleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A fresh random ID in `1..=MAX_ID` whose value modulo 1000 is `node_slot`.
pub fn random_id(node_slot: u16) -> u64 {
    use rand::Rng;
    let slot = u64::from(node_slot % 1000);
    let mut rng = rand::thread_rng();
    loop {
        let id = rng.gen_range(1..=(MAX_ID - 999) / 1000) * 1000 + slot;
        if (1..=MAX_ID).contains(&id) {
            return id;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_fit_javascript_numbers_and_carry_the_slot() {
        for _ in 0..1000 {
            let id = random_id(7);
            assert!((1..=MAX_ID).contains(&id));
            assert_eq!(id % 1000, 7);
        }
    }
}

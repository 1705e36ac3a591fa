//! `cargo fuzz run rtp`: see `media_core::fuzzing::exercise_rtp` (shared with the replay in
//! `media-core/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| media_core::fuzzing::exercise_rtp(data));

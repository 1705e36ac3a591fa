//! `cargo fuzz run janus_request`: see `signaling::fuzzing::exercise_janus_request` (shared
//! with the replay in `signaling/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signaling::fuzzing::exercise_janus_request(data));

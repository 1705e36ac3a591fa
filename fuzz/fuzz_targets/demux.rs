//! `cargo fuzz run demux`: see `media_core::fuzzing::exercise_demux` (shared with the replay in
//! `media-core/tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| media_core::fuzzing::exercise_demux(data));

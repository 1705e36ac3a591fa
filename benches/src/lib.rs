//! Benchmark support crate (see benches/) and the `ianus-load` load generator ([`load`]).

pub mod load;

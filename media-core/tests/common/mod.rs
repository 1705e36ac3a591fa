//! Helpers shared by integration tests (each test file includes what it uses).

#![allow(dead_code)]

pub mod svc;

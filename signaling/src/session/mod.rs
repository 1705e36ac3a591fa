//! Sessions and handles: the registry, timeouts and transport ownership.

pub mod owner;
pub mod registry;

pub use owner::{ConnId, EventSink, Owner, SessionOver};
pub use registry::{Expired, Handle, Registry, Session};

//! Bounds on everything a client controls. When a bound is hit the input is refused or the
//! event dropped (and counted); nothing blocks the core.

/// Events queued for one HTTP session between long polls. janus.js polls back-to-back with
/// `maxev=10`, so a healthy client never gets near this; a dead one must not grow memory.
pub const MAX_QUEUED_EVENTS_PER_SESSION: usize = 1024;

/// Outbound messages queued for one WebSocket connection (replies wait, events are dropped
/// when the queue is full).
pub const WS_OUTBOUND_QUEUE: usize = 1024;

/// Concatenated JSON objects processed from one WebSocket message.
pub const MAX_OBJECTS_PER_MESSAGE: usize = 64;

/// Long polls pending at once on one session (janus.js uses one).
pub const MAX_POLLS_PER_SESSION: usize = 16;

/// Largest `maxev` honoured on a long poll.
pub const MAX_EVENTS_PER_POLL: usize = 256;

//! Batched UDP sends: many datagrams to many destinations in one `sendmmsg(2)` call.
//!
//! Why: a room fans one published packet out to N subscribers, each on its own 5-tuple, all
//! from the engine's one socket. One `sendto` per packet pays the syscall entry/exit N times;
//! `sendmmsg` pays it once per [`MAX_BATCH`] datagrams while the kernel still does the
//! per-datagram work (route lookup, skb, queueing). [`SendBatch`] is the arena the datagrams
//! are written into: [`MAX_BATCH`] buffers allocated once and reused, so filling and sending a
//! batch allocates nothing.
//!
//! Measured (`cargo bench -p ianus-benches --bench batch_send -- --warm-up-time 1
//! --measurement-time 3`): one 1,200-byte VP8 packet through `RoomCore` to N subscribers on
//! loopback sockets, GCM encryption included, ns per forwarded packet on this 2-core VM
//! shared with other builds; wall time at load ~2.5 / the bench thread's CPU time in a second
//! run at load ~6:
//!
//! | N | rewrite + SRTP, no send | + one `sendto` each | + `sendmmsg` per ≤ 64 |
//! |---|---|---|---|
//! | 10 | 304 / 356 | 1,397 / 1,317 | 1,287 / 1,229 (10 packets per call) |
//! | 100 | 352 / 334 | 1,398 / 1,418 | 1,384 / 1,386 (50 packets per call) |
//!
//! The gain is small (2–8 %, within the noise at N = 100) because the syscall entry is not
//! where a send's time goes: the kernel's per-datagram work (route, skb, IP id, checksum, and
//! on loopback the receiver's delivery, done inside the sender's call) is ~1 µs and
//! `sendmmsg` still does it per datagram. (Setting DF with `IP_PMTUDISC_PROBE` skips the IP
//! id hash, `__ip_select_ident`, ~3 % of the profile; measured −2…−9 % per send, noisy, and
//! not done: it changes what happens on paths with a small MTU.) It is kept because it is free (no allocation, one call per 64 packets, one
//! update of the engine's shared counters per batch instead of two per packet) and because
//! syscall entry is dearer on hosts with full speculative-execution mitigations.
//!
//! **No UDP GSO** (`UDP_SEGMENT`): GSO sends one buffer that the kernel cuts into equal-size
//! datagrams *to one destination*. A fan-out's datagrams go to N different destinations, so
//! GSO cannot merge them; it would only help runs of consecutive same-size packets to one
//! peer (a 1:1 room's frame burst, a NACK burst). Those runs are short in practice: libwebrtc
//! splits a frame into payloads that differ by a byte ("balanced" packetization), and GSO
//! needs every segment but the last to have exactly the same size. It also needs a fallback
//! for NICs without checksum offload (`EIO` per send). Worth revisiting for Streaming/Record
//! & Play playout to a single viewer, not for the room fan-out.
//!
//! Errors (sends never wait): a full socket buffer (`EAGAIN`) drops the rest of the batch;
//! any other error (unreachable destination, wrong family) drops that one datagram and the
//! send goes on with the next. The caller learns which datagrams were dropped so it can
//! count them per peer.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// Datagrams per `sendmmsg` call and per batch: well below `UIO_MAXIOV` (1,024), and the
/// stack arrays a call builds stay ~7 KiB. A room task flushes at least this often, which
/// bounds the extra latency a batch adds to ~64 encryptions (~20 µs).
pub const MAX_BATCH: usize = 64;

/// Initial capacity of each arena buffer: an MTU-sized datagram plus an SRTP tag.
const SLOT_CAPACITY: usize = 1500 + 32;

/// What a [`SendBatch::send_on`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendOutcome {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    pub bytes: usize,
    /// Datagrams dropped (socket buffer full or refused).
    pub dropped: usize,
    /// `sendmmsg`/`sendto` calls made.
    pub calls: usize,
}

/// Up to [`MAX_BATCH`] datagrams waiting to be sent, each in its own reused buffer.
#[derive(Debug)]
pub struct SendBatch {
    bufs: Vec<Vec<u8>>,
    dests: Vec<SocketAddr>,
    len: usize,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    /// An empty batch; buffers are allocated as slots are first used, then kept.
    pub fn new() -> Self {
        SendBatch {
            bufs: Vec::with_capacity(MAX_BATCH),
            dests: Vec::with_capacity(MAX_BATCH),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len >= MAX_BATCH
    }

    /// The next free buffer, cleared, to write a datagram into; `None` when the batch is full.
    /// Nothing is queued until [`commit`](Self::commit).
    pub fn next_buf(&mut self) -> Option<&mut Vec<u8>> {
        if self.is_full() {
            return None;
        }
        if self.bufs.len() == self.len {
            self.bufs.push(Vec::with_capacity(SLOT_CAPACITY));
        }
        let b = self.bufs.get_mut(self.len)?;
        b.clear();
        Some(b)
    }

    /// Queues the buffer last returned by [`next_buf`](Self::next_buf) for `to`.
    pub fn commit(&mut self, to: SocketAddr) {
        if self.is_full() || self.bufs.len() <= self.len {
            return;
        }
        if self.dests.len() == self.len {
            self.dests.push(to);
        } else if let Some(d) = self.dests.get_mut(self.len) {
            *d = to;
        }
        self.len += 1;
    }

    /// Copies `data` into the next buffer and queues it; false when the batch is full.
    pub fn push(&mut self, data: &[u8], to: SocketAddr) -> bool {
        match self.next_buf() {
            Some(b) => {
                b.extend_from_slice(data);
                self.commit(to);
                true
            }
            None => false,
        }
    }

    /// The queued datagrams, in order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.dests
            .iter()
            .zip(self.bufs.iter())
            .take(self.len)
            .map(|(d, b)| (*d, b.as_slice()))
    }

    /// Forgets the queued datagrams (buffers are kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Sends the queued datagrams whose destination `select` accepts on `socket`, in order,
    /// without waiting; `on_drop(i)` is called for each dropped datagram (index in the batch).
    /// The batch is left as it was (call [`clear`](Self::clear) when every socket is done).
    pub fn send_on(
        &self,
        socket: &UdpSocket,
        select: impl Fn(&SocketAddr) -> bool,
        mut on_drop: impl FnMut(usize),
    ) -> SendOutcome {
        let mut out = SendOutcome::default();
        let mut picked = [0u8; MAX_BATCH];
        let mut n = 0;
        for (i, d) in self.dests.iter().take(self.len).enumerate() {
            if select(d) {
                if let Some(p) = picked.get_mut(n) {
                    *p = i as u8;
                    n += 1;
                }
            }
        }
        if n > 0 {
            send_picked(self, socket, &picked[..n], &mut out, &mut on_drop);
        }
        out
    }
}

/// `sockaddr_in` / `sockaddr_in6` as the kernel takes them.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

#[cfg(target_os = "linux")]
fn raw_addr(addr: &SocketAddr) -> (RawAddr, libc::socklen_t) {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
            let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = a.port().to_be();
            s.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            (
                RawAddr { v4: s },
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
            let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = a.port().to_be();
            s.sin6_flowinfo = a.flowinfo().to_be();
            s.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            s.sin6_scope_id = a.scope_id();
            (
                RawAddr { v6: s },
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// One `sendmmsg` per run of accepted datagrams; see the module doc for the error policy.
#[cfg(target_os = "linux")]
fn send_picked(
    batch: &SendBatch,
    socket: &UdpSocket,
    picked: &[u8],
    out: &mut SendOutcome,
    on_drop: &mut impl FnMut(usize),
) {
    use std::os::fd::AsRawFd;

    let n = picked.len().min(MAX_BATCH);
    // SAFETY: plain C structs; all-zero is valid (null pointers, zero lengths) and every
    // entry used below is filled first.
    let mut addrs: [RawAddr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut lens = [0usize; MAX_BATCH];
    for (k, &i) in picked.iter().take(n).enumerate() {
        let i = usize::from(i);
        let (Some(buf), Some(to)) = (batch.bufs.get(i), batch.dests.get(i)) else {
            continue;
        };
        let (a, alen) = raw_addr(to);
        addrs[k] = a;
        iovs[k] = libc::iovec {
            iov_base: buf.as_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        lens[k] = buf.len();
        let h = &mut hdrs[k].msg_hdr;
        h.msg_name = std::ptr::addr_of_mut!(addrs[k]) as *mut libc::c_void;
        h.msg_namelen = alen;
        h.msg_iov = std::ptr::addr_of_mut!(iovs[k]);
        h.msg_iovlen = 1;
    }
    let fd = socket.as_raw_fd();
    let mut at = 0;
    while at < n {
        out.calls += 1;
        let hdr_ptr = hdrs[at..].as_mut_ptr();
        let count = (n - at) as libc::c_uint;
        let r = socket.try_io(tokio::io::Interest::WRITABLE, || {
            // SAFETY: `hdr_ptr` points at `count` initialised mmsghdr whose name and iovec
            // pointers refer to `addrs`, `iovs` and the batch's buffers, all alive and
            // unmoved for the duration of the call; the kernel only reads them (and writes
            // `msg_len`).
            let ret = unsafe { libc::sendmmsg(fd, hdr_ptr, count, 0) };
            if ret < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(ret as usize)
            }
        });
        match r {
            Ok(0) => {
                // Nothing taken without an error: treat the head as refused, move on.
                on_drop(usize::from(picked[at]));
                out.dropped += 1;
                at += 1;
            }
            Ok(k) => {
                let k = k.min(n - at);
                out.sent += k;
                out.bytes += lens[at..at + k].iter().sum::<usize>();
                at += k;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Socket buffer full: the rest is dropped, never waited for.
                for &i in &picked[at..n] {
                    on_drop(usize::from(i));
                }
                out.dropped += n - at;
                at = n;
            }
            Err(_) => {
                // This datagram is refused (unreachable, wrong family…); the next may go.
                on_drop(usize::from(picked[at]));
                out.dropped += 1;
                at += 1;
            }
        }
    }
}

/// Elsewhere: one non-blocking `sendto` per datagram.
#[cfg(not(target_os = "linux"))]
fn send_picked(
    batch: &SendBatch,
    socket: &UdpSocket,
    picked: &[u8],
    out: &mut SendOutcome,
    on_drop: &mut impl FnMut(usize),
) {
    for &i in picked {
        let i = usize::from(i);
        let (Some(buf), Some(to)) = (batch.bufs.get(i), batch.dests.get(i)) else {
            continue;
        };
        out.calls += 1;
        match socket.try_send_to(buf, *to) {
            Ok(_) => {
                out.sent += 1;
                out.bytes += buf.len();
            }
            Err(_) => {
                on_drop(i);
                out.dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn receiver() -> (UdpSocket, SocketAddr) {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let a = s.local_addr().expect("addr");
        (s, a)
    }

    async fn writable(socket: &UdpSocket) {
        tokio::time::timeout(std::time::Duration::from_secs(5), socket.writable())
            .await
            .expect("writable in time")
            .expect("writable");
    }

    #[tokio::test]
    async fn a_batch_reaches_every_destination_in_order_with_one_call() {
        let tx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        writable(&tx).await;
        let mut rx = Vec::new();
        for _ in 0..3 {
            rx.push(receiver().await);
        }
        let mut batch = SendBatch::new();
        for round in 0..4u8 {
            for (k, (_, a)) in rx.iter().enumerate() {
                assert!(batch.push(&[round, k as u8, 0xAA], *a));
            }
        }
        assert_eq!(batch.len(), 12);
        let mut drops = Vec::new();
        let o = batch.send_on(&tx, |_| true, |i| drops.push(i));
        assert_eq!(drops, Vec::<usize>::new());
        assert_eq!((o.sent, o.bytes, o.dropped, o.calls), (12, 36, 0, 1));
        for (k, (s, _)) in rx.iter().enumerate() {
            let mut buf = [0u8; 16];
            for round in 0..4u8 {
                let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.recv(&mut buf))
                    .await
                    .expect("datagram in time")
                    .expect("recv");
                assert_eq!(&buf[..n], &[round, k as u8, 0xAA]);
            }
        }
        batch.clear();
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn a_refused_datagram_is_dropped_and_the_rest_still_go() {
        let tx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        writable(&tx).await;
        let (rx, a) = receiver().await;
        let mut batch = SendBatch::new();
        assert!(batch.push(b"one", a));
        // An IPv6 destination on an IPv4 socket: the kernel refuses this one datagram.
        assert!(batch.push(b"bad", "[::1]:9".parse().expect("addr")));
        assert!(batch.push(b"two", a));
        let mut drops = Vec::new();
        let o = batch.send_on(&tx, |_| true, |i| drops.push(i));
        assert_eq!(drops, vec![1]);
        assert_eq!((o.sent, o.dropped), (2, 1));
        let mut buf = [0u8; 16];
        for want in [&b"one"[..], b"two"] {
            let n = rx.recv(&mut buf).await.expect("recv");
            assert_eq!(&buf[..n], want);
        }
        // `select` leaves the others out entirely (neither sent nor dropped).
        let o = batch.send_on(&tx, |d| d.is_ipv6(), |_| {});
        assert_eq!((o.sent, o.dropped), (0, 1));
    }

    #[test]
    fn the_arena_is_bounded_and_reused() {
        let mut batch = SendBatch::new();
        let to: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        for i in 0..MAX_BATCH {
            assert!(batch.push(&[i as u8; 100], to));
        }
        assert!(batch.is_full());
        assert!(!batch.push(b"x", to));
        assert!(batch.next_buf().is_none());
        let ptrs: Vec<*const u8> = batch.bufs.iter().map(|b| b.as_ptr()).collect();
        batch.clear();
        for i in 0..MAX_BATCH {
            assert!(batch.push(&[i as u8; 200], to));
        }
        let again: Vec<*const u8> = batch.bufs.iter().map(|b| b.as_ptr()).collect();
        assert_eq!(ptrs, again, "buffers are reused, not reallocated");
        assert_eq!(batch.iter().count(), MAX_BATCH);
    }
}

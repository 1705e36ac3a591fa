//! The media side of VideoRoom: one forwarding-engine router per room, the sinks installed on
//! publishers' and subscribers' peers, and the data-channel relay.
//!
//! Audio/video never touch plugin code: the publisher's peer sink hands packets to the room's
//! router (`media_core::forward`). Data-channel messages are relayed here, to the subscribers
//! whose data m-line includes the publisher, labelled with the publisher's ID (as Janus).
//!
//! The router sits behind [`RoomRouter`] so the plugin builds and its tests run without a
//! running engine; [`RouterFactory`] makes one per room.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use media_core::engine::{MediaSink, OutgoingMessage, Peer, RtpIn};
use media_core::forward::{
    PublisherId, RoomConfig, RouterHandle, RouterInput, RouterObserver, SubscriberId,
};
use signaling::ids::HandleId;

use super::api::Id;
use super::core::MediaOp;
use super::forwarder::ForwardTarget;
use crate::app::MediaHost;

/// What the plugin needs of a room's forwarding engine (`media_core::forward` `RouterHandle`).
pub trait RoomRouter: Send + Sync {
    fn control(&self, input: RouterInput);
    fn publisher_sink(&self, publisher: PublisherId) -> Arc<dyn MediaSink>;
    fn subscriber_sink(&self, subscriber: SubscriberId) -> Arc<dyn MediaSink>;
    fn close(&self);
}

/// Starts a room's router; `None` when no forwarding engine is available (signalling and
/// data channels still work, audio/video are not relayed).
pub type RouterFactory =
    Arc<dyn Fn(RoomConfig, Arc<dyn RouterObserver>) -> Option<Arc<dyn RoomRouter>> + Send + Sync>;

impl RoomRouter for RouterHandle {
    fn control(&self, input: RouterInput) {
        RouterHandle::control(self, input);
    }
    fn publisher_sink(&self, publisher: PublisherId) -> Arc<dyn MediaSink> {
        RouterHandle::publisher_sink(self, publisher)
    }
    fn subscriber_sink(&self, subscriber: SubscriberId) -> Arc<dyn MediaSink> {
        RouterHandle::subscriber_sink(self, subscriber)
    }
    fn close(&self) {
        RouterHandle::close(self);
    }
}

/// The real engine: one `RouterHandle` task per room (needs a tokio runtime; without one,
/// e.g. in unit tests, rooms run without media relay).
pub fn engine_routers() -> RouterFactory {
    Arc::new(|config, observer| {
        tokio::runtime::Handle::try_current().ok()?;
        Some(Arc::new(RouterHandle::spawn(config, observer)) as Arc<dyn RoomRouter>)
    })
}

/// Where a publisher's data-channel messages and forwarded RTP go; each list is swapped
/// whole on change, so the packet path only clones an `Arc`.
struct PublisherRelay {
    label: Mutex<String>,
    data_targets: Mutex<Arc<Vec<Peer>>>,
    forwards: Mutex<Arc<Vec<ForwardTarget>>>,
    sockets: Arc<ForwardSockets>,
}

/// Largest RTP packet forwarded (a 1500-byte MTU cannot bring bigger ones).
const MAX_FORWARDED: usize = 1500;

impl PublisherRelay {
    fn relay_data(&self, data: Bytes, text: bool) {
        let targets = match self.data_targets.lock() {
            Ok(t) => t.clone(),
            Err(_) => return,
        };
        if !targets.is_empty() {
            let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
            for peer in targets.iter() {
                // A full or not yet open channel drops the message, as Janus does.
                let _ = peer.send_data(OutgoingMessage {
                    label: Some(label.clone()),
                    protocol: None,
                    data: data.clone(),
                    text,
                });
            }
        }
        for f in self.forwards().iter().filter(|f| f.rtp_index.is_none()) {
            self.sockets.send(&data, f.addr);
        }
    }

    fn forwards(&self) -> Arc<Vec<ForwardTarget>> {
        self.forwards.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Copies an RTP packet to the forwarders of its stream and layer, with their PT/SSRC.
    fn forward_rtp(&self, rtp: &RtpIn) {
        let forwards = self.forwards();
        let len = rtp.packet.len();
        if forwards.is_empty() || !(12..=MAX_FORWARDED).contains(&len) {
            return;
        }
        for f in forwards
            .iter()
            .filter(|f| f.rtp_index == Some(rtp.stream) && f.layer == rtp.layer)
        {
            let mut buf = [0u8; MAX_FORWARDED];
            buf[..len].copy_from_slice(&rtp.packet);
            if f.pt != 0 {
                buf[1] = (buf[1] & 0x80) | (f.pt & 0x7f);
            }
            if f.ssrc != 0 {
                buf[8..12].copy_from_slice(&f.ssrc.to_be_bytes());
            }
            self.sockets.send(&buf[..len], f.addr);
        }
    }
}

/// The plugin's sending sockets for RTP forwarders (one per address family, lazily bound,
/// non-blocking: a full socket buffer drops the packet rather than stall the engine).
#[derive(Default)]
struct ForwardSockets {
    v4: OnceLock<Option<UdpSocket>>,
    v6: OnceLock<Option<UdpSocket>>,
}

impl ForwardSockets {
    fn send(&self, packet: &[u8], to: SocketAddr) {
        let (cell, bind) = if to.is_ipv4() {
            (&self.v4, "0.0.0.0:0")
        } else {
            (&self.v6, "[::]:0")
        };
        let socket = cell.get_or_init(|| {
            let s = UdpSocket::bind(bind).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        });
        if let Some(s) = socket {
            let _ = s.send_to(packet, to);
        }
    }
}

/// Installed on a publisher's peer: RTP/RTCP to the room's router, data to the fan-out.
struct PublisherSink {
    router: Option<Arc<dyn MediaSink>>,
    relay: Arc<PublisherRelay>,
}

impl MediaSink for PublisherSink {
    fn on_rtp(&self, peer: &Peer, rtp: RtpIn) {
        self.relay.forward_rtp(&rtp);
        if let Some(r) = &self.router {
            r.on_rtp(peer, rtp);
        }
    }

    fn on_rtcp(&self, peer: &Peer, packet: Bytes) {
        if let Some(r) = &self.router {
            r.on_rtcp(peer, packet);
        }
    }

    fn on_data(&self, _peer: &Peer, _label: &str, _protocol: &str, data: Bytes, text: bool) {
        self.relay.relay_data(data, text);
    }
}

/// Carries the router's events back into the plugin (never blocks the room task).
pub struct RoomEvents {
    pub room: Id,
    pub send: Arc<dyn Fn(Id, media_core::forward::RouterEvent) + Send + Sync>,
}

impl RouterObserver for RoomEvents {
    fn on_event(&self, event: media_core::forward::RouterEvent) {
        (self.send)(self.room.clone(), event);
    }
}

/// Executes [`MediaOp`]s against the peers of [`MediaHost`] and the rooms' routers.
pub struct Media {
    host: Arc<MediaHost>,
    factory: RouterFactory,
    events: Arc<dyn Fn(Id, media_core::forward::RouterEvent) + Send + Sync>,
    routers: Mutex<HashMap<Id, Arc<dyn RoomRouter>>>,
    relays: Mutex<HashMap<HandleId, Arc<PublisherRelay>>>,
    sockets: Arc<ForwardSockets>,
    /// Subscriber handles whose peer already has the room's sink.
    subscriber_sinks: Mutex<HashSet<HandleId>>,
}

impl Media {
    pub fn new(
        host: Arc<MediaHost>,
        factory: RouterFactory,
        events: Arc<dyn Fn(Id, media_core::forward::RouterEvent) + Send + Sync>,
    ) -> Media {
        Media {
            host,
            factory,
            events,
            routers: Mutex::new(HashMap::new()),
            relays: Mutex::new(HashMap::new()),
            sockets: Arc::new(ForwardSockets::default()),
            subscriber_sinks: Mutex::new(HashSet::new()),
        }
    }

    fn router(&self, room: &Id) -> Option<Arc<dyn RoomRouter>> {
        self.routers.lock().ok()?.get(room).cloned()
    }

    fn relay(&self, h: HandleId) -> Option<Arc<PublisherRelay>> {
        let mut r = self.relays.lock().ok()?;
        Some(
            r.entry(h)
                .or_insert_with(|| {
                    Arc::new(PublisherRelay {
                        label: Mutex::new(String::new()),
                        data_targets: Mutex::new(Arc::new(Vec::new())),
                        forwards: Mutex::new(Arc::new(Vec::new())),
                        sockets: self.sockets.clone(),
                    })
                })
                .clone(),
        )
    }

    pub fn apply(&self, op: MediaOp) {
        match op {
            MediaOp::OpenRoom { room, config } => {
                let observer = Arc::new(RoomEvents {
                    room: room.clone(),
                    send: self.events.clone(),
                });
                if let Some(r) = (self.factory)(config, observer) {
                    if let Ok(mut routers) = self.routers.lock() {
                        routers.insert(room, r);
                    }
                }
            }
            MediaOp::SetConfig { room, config } => {
                if let Some(r) = self.router(&room) {
                    r.control(RouterInput::SetConfig(config));
                }
            }
            MediaOp::CloseRoom { room } => {
                let r = self.routers.lock().ok().and_then(|mut m| m.remove(&room));
                if let Some(r) = r {
                    r.close();
                }
            }
            MediaOp::AddPublisher {
                room,
                handle,
                label,
                streams,
                extensions,
            } => {
                let Some(peer) = self.host.peer(handle) else {
                    return;
                };
                let Some(relay) = self.relay(handle) else {
                    return;
                };
                if let Ok(mut l) = relay.label.lock() {
                    *l = label;
                }
                let router = self.router(&room);
                let sink = PublisherSink {
                    router: router.as_ref().map(|r| r.publisher_sink(handle.0)),
                    relay,
                };
                peer.set_sink(Some(Arc::new(sink)));
                if let Some(r) = router {
                    r.control(RouterInput::PublisherExtensions {
                        publisher: handle.0,
                        extensions,
                    });
                    r.control(RouterInput::AddPublisher {
                        publisher: handle.0,
                        peer,
                        streams,
                    });
                }
            }
            MediaOp::RemovePublisher { room, handle } => {
                if let Some(r) = self.router(&room) {
                    r.control(RouterInput::RemovePublisher {
                        publisher: handle.0,
                    });
                }
                if let Ok(mut r) = self.relays.lock() {
                    r.remove(&handle);
                }
            }
            MediaOp::SetSubscriber {
                room,
                handle,
                subscriptions,
            } => {
                let Some(peer) = self.host.peer(handle) else {
                    return;
                };
                let Some(r) = self.router(&room) else { return };
                let first = self
                    .subscriber_sinks
                    .lock()
                    .map(|mut s| s.insert(handle))
                    .unwrap_or(false);
                if first {
                    peer.set_sink(Some(r.subscriber_sink(handle.0)));
                }
                r.control(RouterInput::SetSubscriber {
                    subscriber: handle.0,
                    peer,
                    subscriptions,
                });
            }
            MediaOp::RemoveSubscriber { room, handle } => {
                if let Ok(mut s) = self.subscriber_sinks.lock() {
                    s.remove(&handle);
                }
                if let Some(r) = self.router(&room) {
                    r.control(RouterInput::RemoveSubscriber {
                        subscriber: handle.0,
                    });
                }
            }
            MediaOp::RequestKeyframe { room, publisher } => {
                if let Some(r) = self.router(&room) {
                    r.control(RouterInput::RequestKeyframe {
                        publisher: publisher.0,
                    });
                }
            }
            MediaOp::SetPublisherBitrate {
                room,
                publisher,
                bitrate,
            } => {
                if let Some(r) = self.router(&room) {
                    r.control(RouterInput::SetPublisherBitrate {
                        publisher: publisher.0,
                        bitrate,
                    });
                }
            }
            MediaOp::DataTargets { publisher, targets } => {
                let peers: Vec<Peer> = targets.iter().filter_map(|h| self.host.peer(*h)).collect();
                let relay = self
                    .relays
                    .lock()
                    .ok()
                    .and_then(|r| r.get(&publisher).cloned());
                if let Some(r) = relay {
                    if let Ok(mut t) = r.data_targets.lock() {
                        *t = Arc::new(peers);
                    }
                }
            }
            MediaOp::Forwarders { publisher, targets } => {
                // Forwarders may be set before the publisher's PC is up: keep them ready.
                if let Some(r) = self.relay(publisher) {
                    if let Ok(mut f) = r.forwards.lock() {
                        *f = Arc::new(targets);
                    }
                }
            }
        }
    }
}

//! The media side of VideoRoom: one forwarding-engine router per room, the sinks installed on
//! publishers' and subscribers' peers, and the data-channel relay.
//!
//! Audio/video never touch plugin code: the publisher's peer sink hands packets to the room's
//! router (`media_core::forward`). Data-channel messages are relayed here, to the subscribers
//! whose data m-line includes the publisher, labelled with the publisher's ID (as Janus).
//!
//! RTP forwarders are sent from the publisher's sink (`forward_out`), except viewer
//! forwarders (`simulcast: true`), which the room's router relays as subscribers with ids
//! from [`FORWARDER_IDS`] and a [`ForwardEgress`] as their peer.
//!
//! The router sits behind [`RoomRouter`] so the plugin builds and its tests run without a
//! running engine; [`RouterFactory`] makes one per room.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use media_core::engine::{MediaSink, OutgoingMessage, Peer, RtpIn};
use media_core::forward::{
    PublisherId, RoomConfig, RouterHandle, RouterInput, RouterObserver, SubscriberId,
};
use signaling::ids::HandleId;

use super::api::Id;
use super::core::MediaOp;
use super::forward_out::{ForwardEgress, ForwardOut, ForwardSockets};
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

/// Router subscriber ids of viewer forwarders: from 2^63 up, where no handle id can be (those
/// stay below 2^53, JavaScript's safe integers).
pub const FORWARDER_IDS: u64 = 1 << 63;
static NEXT_FORWARDER: AtomicU64 = AtomicU64::new(FORWARDER_IDS);

/// A viewer forwarder as registered with the room's router.
struct ViewerForward {
    target: ForwardTarget,
    id: SubscriberId,
    egress: Arc<ForwardEgress>,
}

/// Where a publisher's data-channel messages and forwarded RTP go; each list is swapped
/// whole on change, so the packet path only clones an `Arc`.
struct PublisherRelay {
    label: Mutex<String>,
    data_targets: Mutex<Arc<Vec<Peer>>>,
    forwards: Mutex<Arc<Vec<ForwardOut>>>,
    /// Viewer forwarders (not on the packet path: the router has them).
    viewers: Mutex<Vec<ViewerForward>>,
    sockets: Arc<ForwardSockets>,
}

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
        self.sockets.forward_data(&self.forwards(), &data);
    }

    fn forwards(&self) -> Arc<Vec<ForwardOut>> {
        self.forwards.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn forward_rtp(&self, rtp: &RtpIn) {
        self.sockets.forward_rtp(&self.forwards(), rtp);
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
                        viewers: Mutex::new(Vec::new()),
                        sockets: self.sockets.clone(),
                    })
                })
                .clone(),
        )
    }

    /// Registers `targets` as the publisher's viewer forwarders with the room's router:
    /// unchanged ones are left alone (their relay state continues), changed ones updated
    /// (keeping the egress, and so the SRTP context, when address and key are the same),
    /// gone ones removed.
    fn set_viewers(
        &self,
        room: &Id,
        publisher: HandleId,
        relay: &PublisherRelay,
        targets: Vec<ForwardTarget>,
    ) {
        let Ok(mut current) = relay.viewers.lock() else {
            return;
        };
        let router = self.router(room);
        let mut previous = std::mem::take(&mut *current);
        for target in targets {
            let old = previous
                .iter()
                .position(|v| v.target.stream_id == target.stream_id)
                .map(|i| previous.swap_remove(i));
            let (id, egress) = match old {
                Some(v) if v.target == target => {
                    current.push(v);
                    continue;
                }
                Some(v) if v.egress.serves(&target) => (v.id, v.egress),
                other => {
                    if let (Some(v), Some(r)) = (other, &router) {
                        r.control(RouterInput::RemoveSubscriber { subscriber: v.id });
                    }
                    match ForwardEgress::new(target.addr, target.srtp, self.sockets.clone()) {
                        Ok(e) => (NEXT_FORWARDER.fetch_add(1, Ordering::Relaxed), Arc::new(e)),
                        Err(e) => {
                            tracing::warn!(
                                "videoroom: no SRTP context for forwarder {}: {e}",
                                target.stream_id
                            );
                            continue;
                        }
                    }
                }
            };
            if let (Some(r), Some(index)) = (&router, target.rtp_index) {
                r.control(RouterInput::SetForwarder {
                    forwarder: id,
                    egress: egress.clone(),
                    source: (publisher.0, index),
                    ssrc: target.ssrc,
                    pt: target.pt,
                });
            }
            current.push(ViewerForward { target, id, egress });
        }
        if let Some(r) = &router {
            for v in previous {
                r.control(RouterInput::RemoveSubscriber { subscriber: v.id });
            }
        }
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
                let relay = self.relays.lock().ok().and_then(|mut r| r.remove(&handle));
                let viewers = relay
                    .and_then(|r| r.viewers.lock().ok().map(|mut v| std::mem::take(&mut *v)))
                    .unwrap_or_default();
                if let Some(r) = self.router(&room) {
                    for v in viewers {
                        r.control(RouterInput::RemoveSubscriber { subscriber: v.id });
                    }
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
            MediaOp::Forwarders {
                room,
                publisher,
                targets,
            } => {
                // Forwarders may be set before the publisher's PC is up: keep them ready.
                if let Some(r) = self.relay(publisher) {
                    let (viewers, plain): (Vec<_>, Vec<_>) =
                        targets.into_iter().partition(|t| t.viewer);
                    if let Ok(mut f) = r.forwards.lock() {
                        *f = Arc::new(ForwardOut::build(&f, plain));
                    }
                    self.set_viewers(&room, publisher, &r, viewers);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use media_core::engine::{Engine, EngineConfig};

    use super::*;

    /// A router that records what it is told (as text: `RouterInput` has no `Debug`).
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    struct NoSink;
    impl MediaSink for NoSink {
        fn on_rtp(&self, _peer: &Peer, _rtp: RtpIn) {}
    }

    impl RoomRouter for Recorder {
        fn control(&self, input: RouterInput) {
            let line = match input {
                RouterInput::SetForwarder {
                    forwarder,
                    source,
                    ssrc,
                    pt,
                    ..
                } => format!("set {} {source:?} {ssrc} {pt}", forwarder - FORWARDER_IDS),
                RouterInput::RemoveSubscriber { subscriber } => {
                    format!("remove {}", subscriber.wrapping_sub(FORWARDER_IDS))
                }
                _ => "other".into(),
            };
            self.0.lock().unwrap().push(line);
        }
        fn publisher_sink(&self, _publisher: PublisherId) -> Arc<dyn MediaSink> {
            Arc::new(NoSink)
        }
        fn subscriber_sink(&self, _subscriber: SubscriberId) -> Arc<dyn MediaSink> {
            Arc::new(NoSink)
        }
        fn close(&self) {}
    }

    impl Recorder {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    fn viewer(stream_id: u32, port: u16, ssrc: u32) -> ForwardTarget {
        ForwardTarget {
            stream_id,
            rtp_index: Some(1),
            layer: 0,
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            pt: 96,
            ssrc,
            srtp: None,
            viewer: true,
        }
    }

    /// Viewer forwarders become router subscribers with ids no handle has; an unchanged
    /// list sends nothing (the relay state, e.g. the sequence space, continues), a changed
    /// SSRC updates the same subscriber, a new address replaces it, and stopping or
    /// unpublishing removes it. Plain forwarders never reach the router.
    #[tokio::test]
    async fn viewer_forwarders_are_room_subscribers_updated_only_on_change() {
        let engine = Engine::start(EngineConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ..EngineConfig::default()
        })
        .await
        .expect("engine");
        let recorder = Arc::new(Recorder::default());
        let r = recorder.clone();
        let factory: RouterFactory = Arc::new(move |_, _| Some(r.clone() as Arc<dyn RoomRouter>));
        let media = Media::new(MediaHost::new(engine, false), factory, Arc::new(|_, _| {}));
        let room = Id::Num(1234);
        media.apply(MediaOp::OpenRoom {
            room: room.clone(),
            config: RoomConfig {
                bitrate: 0,
                fir_freq: 0,
                nack_queue_ms: 1000,
                audio_active_packets: 0,
                audio_level_average: 25,
            },
        });
        let publisher = HandleId(42);
        let forwarders = |targets| MediaOp::Forwarders {
            room: room.clone(),
            publisher,
            targets,
        };
        let plain = ForwardTarget {
            viewer: false,
            ..viewer(9, 6000, 0)
        };
        media.apply(forwarders(vec![viewer(1, 5004, 1), plain.clone()]));
        let set = recorder.take();
        assert_eq!(set.len(), 1, "{set:?}");
        let n: u64 = set[0]
            .split(' ')
            .nth(1)
            .and_then(|x| x.parse().ok())
            .expect("id");
        assert_eq!(set[0], format!("set {n} (42, 1) 1 96"));
        media.apply(forwarders(vec![viewer(1, 5004, 1), plain.clone()]));
        assert_eq!(recorder.take(), Vec::<String>::new(), "unchanged");
        media.apply(forwarders(vec![viewer(1, 5004, 2), plain.clone()]));
        assert_eq!(recorder.take(), vec![format!("set {n} (42, 1) 2 96")]);
        media.apply(forwarders(vec![viewer(1, 5006, 2)]));
        let moved = recorder.take();
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert_eq!(moved[0], format!("remove {n}"));
        assert!(moved[1].starts_with("set ") && !moved[1].starts_with(&format!("set {n} ")));
        let n2: u64 = moved[1].split(' ').nth(1).unwrap().parse().unwrap();
        media.apply(forwarders(vec![]));
        assert_eq!(recorder.take(), vec![format!("remove {n2}")]);
        media.apply(forwarders(vec![viewer(3, 5008, 3)]));
        let n3: u64 = recorder.take()[0]
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        media.apply(MediaOp::RemovePublisher {
            room: room.clone(),
            handle: publisher,
        });
        assert_eq!(
            recorder.take(),
            vec!["other".to_string(), format!("remove {n3}")]
        );
    }
}

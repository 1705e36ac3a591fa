//! Data channels: SCTP over DTLS (RFC 8261) with the DCEP open handshake (RFC 8832), on
//! `webrtc-sctp`/`webrtc-data` 0.17 running over the peer's DTLS connection.
//!
//! One task per peer owns the association: it accepts channels the browser opens, opens the
//! ones a plugin writes to first (odd stream ids when we are the DTLS server, RFC 8832 §6),
//! and forwards every message to the peer's sink. Writes arrive through a bounded queue; a full
//! queue drops the message and counts it rather than stalling the caller.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use webrtc_data::data_channel::{Config as ChannelConfig, DataChannel};
use webrtc_sctp::association::{Association, Config as AssociationConfig};
use webrtc_util::Conn;

/// Messages a peer may have queued for sending before we drop (per peer).
pub const DATA_SEND_QUEUE: usize = 256;
/// Largest data-channel message we accept or send (bytes): SDP `max-message-size` default.
pub const MAX_MESSAGE_SIZE: u32 = 262_144;
/// Read buffer per channel.
const READ_BUFFER: usize = MAX_MESSAGE_SIZE as usize;
/// Channels one peer may open.
const MAX_CHANNELS: usize = 64;

/// A message to send on a channel (`label` `None` = the first channel the browser opened).
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub label: Option<String>,
    pub protocol: Option<String>,
    pub data: Bytes,
    pub text: bool,
}

/// What the association reports to its owner.
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// A channel is open (opened by either side).
    Open { label: String, protocol: String },
    /// A message arrived.
    Message {
        label: String,
        protocol: String,
        data: Bytes,
        text: bool,
    },
    /// The association ended.
    Closed,
}

/// Runs the SCTP association over `conn` (the DTLS connection) until it closes.
///
/// `is_dtls_client` picks the stream-id parity for channels we open ourselves.
pub async fn run_association(
    conn: Arc<dyn Conn + Send + Sync>,
    is_dtls_client: bool,
    mut outgoing: mpsc::Receiver<OutgoingMessage>,
    on_event: Arc<dyn Fn(DataEvent) + Send + Sync>,
) {
    // The crates never tell the association's owner that the DTLS connection closed (the
    // accept queue just stays open), so watch the connection's reads ourselves.
    let watched = Arc::new(ClosingConn {
        inner: conn,
        closed: tokio::sync::Notify::new(),
    });
    let config = AssociationConfig {
        net_conn: watched.clone(),
        max_receive_buffer_size: 0,
        max_message_size: MAX_MESSAGE_SIZE,
        mtu: 0,
        name: "ianus".to_owned(),
        remote_port: 5000,
        local_port: 5000,
    };
    let association = match Association::server(config).await {
        Ok(a) => Arc::new(a),
        Err(e) => {
            tracing::debug!("SCTP association failed: {e}");
            on_event(DataEvent::Closed);
            return;
        }
    };
    let mut channels: HashMap<String, Arc<DataChannel>> = HashMap::new();
    let mut first_label: Option<String> = None;
    let mut next_stream_id: u16 = if is_dtls_client { 0 } else { 1 };
    let (accepted_tx, mut accepted_rx) = mpsc::channel::<Arc<DataChannel>>(8);

    // Accept loop: channels the browser opens.
    let accept_assoc = association.clone();
    let accept_task = tokio::spawn(async move {
        let mut existing: Vec<DataChannel> = Vec::new();
        loop {
            let config = ChannelConfig {
                max_message_size: MAX_MESSAGE_SIZE,
                ..Default::default()
            };
            match DataChannel::accept(&accept_assoc, config, &existing).await {
                Ok(dc) => {
                    existing.push(dc.clone());
                    if accepted_tx.send(Arc::new(dc)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!("data channel accept ended: {e}");
                    break;
                }
            }
        }
    });

    loop {
        tokio::select! {
            _ = watched.closed.notified() => break,
            accepted = accepted_rx.recv() => {
                                // The accept loop ends when the association does (peer gone or closed).
                let Some(dc) = accepted else { break };
                if channels.len() >= MAX_CHANNELS {
                    continue;
                }
                let label = dc.config.label.clone();
                first_label.get_or_insert_with(|| label.clone());
                spawn_reader(dc.clone(), on_event.clone());
                on_event(DataEvent::Open { label: label.clone(), protocol: dc.config.protocol.clone() });
                channels.insert(label, dc);
            }
            msg = outgoing.recv() => {
                let Some(msg) = msg else { break };
                let label = msg.label.clone().or_else(|| first_label.clone()).unwrap_or_else(|| "JanusDataChannel".to_owned());
                let dc = match channels.get(&label) {
                    Some(dc) => dc.clone(),
                    None => {
                        if channels.len() >= MAX_CHANNELS {
                            continue;
                        }
                        let config = ChannelConfig {
                            label: label.clone(),
                            protocol: msg.protocol.clone().unwrap_or_default(),
                            max_message_size: MAX_MESSAGE_SIZE,
                            ..Default::default()
                        };
                        let id = next_stream_id;
                        next_stream_id = next_stream_id.wrapping_add(2);
                        match DataChannel::dial(&association, id, config).await {
                            Ok(dc) => {
                                let dc = Arc::new(dc);
                                first_label.get_or_insert_with(|| label.clone());
                                spawn_reader(dc.clone(), on_event.clone());
                                on_event(DataEvent::Open { label: label.clone(), protocol: dc.config.protocol.clone() });
                                channels.insert(label.clone(), dc.clone());
                                dc
                            }
                            Err(e) => {
                                tracing::debug!("opening data channel {label} failed: {e}");
                                continue;
                            }
                        }
                    }
                };
                if let Err(e) = dc.write_data_channel(&msg.data, msg.text).await {
                    tracing::debug!("data channel write failed: {e}");
                }
            }
        }
    }
    accept_task.abort();
    let _ = association.close().await;
    on_event(DataEvent::Closed);
}

fn spawn_reader(dc: Arc<DataChannel>, on_event: Arc<dyn Fn(DataEvent) + Send + Sync>) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; READ_BUFFER];
        let label = dc.config.label.clone();
        let protocol = dc.config.protocol.clone();
        loop {
            match dc.read_data_channel(&mut buf).await {
                // The crate reports a reset stream (the channel was closed) as an empty read.
                Ok((0, _)) => break,
                Ok((n, text)) => on_event(DataEvent::Message {
                    label: label.clone(),
                    protocol: protocol.clone(),
                    data: Bytes::copy_from_slice(&buf[..n]),
                    text,
                }),
                Err(e) => {
                    tracing::debug!("data channel accept ended: {e}");
                    break;
                }
            }
        }
    });
}

/// Passes everything to the DTLS connection and notifies when reading from it fails (the peer
/// sent close_notify, or the connection died).
struct ClosingConn {
    inner: Arc<dyn Conn + Send + Sync>,
    closed: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl Conn for ClosingConn {
    async fn connect(&self, addr: std::net::SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let r = self.inner.recv(buf).await;
        if r.is_err() {
            self.closed.notify_one();
        }
        r
    }

    async fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> webrtc_util::Result<(usize, std::net::SocketAddr)> {
        let r = self.inner.recv_from(buf).await;
        if r.is_err() {
            self.closed.notify_one();
        }
        r
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(
        &self,
        buf: &[u8],
        target: std::net::SocketAddr,
    ) -> webrtc_util::Result<usize> {
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

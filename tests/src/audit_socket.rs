//! A client of the bridge's audit socket (`GET /ws/audit`), as the page is
//! one: a raw socket for poking at its wire, guard and limits connection by
//! connection, and a whole relay audit over one socket, as the page drives
//! it (relay-core's `wire::audit_socket` describes the wire).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use relay_core::wire::audit_socket::{
    self, tag, unbatch, untag, PageCommand, TaggedEvent, AUDIT_WS_PATH, BATCH, BATCHES,
};
use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, Config, ConnectionId, Report};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ws::{drive, Carrier, Frame};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What arrives from the bridge on the audit socket.
#[derive(Debug)]
pub enum SocketFrame {
    /// An event of connection N, or of the whole socket (`None`).
    Event(Option<u32>, BridgeEvent),
    /// SMTP bytes of connection N.
    Bytes(u32, Vec<u8>),
    /// The bridge closed the websocket.
    Closed,
}

pub struct AuditSocket {
    socket: Socket,
    /// Frames read while looking for another connection's, handed out first.
    stash: VecDeque<SocketFrame>,
    /// Whether the bridge chose batches (the page offers them with
    /// [`AuditSocket::open_batched`]).
    pub batches: bool,
    /// Websocket messages received, and the frames they carried: more
    /// frames than messages means batches came.
    pub messages: usize,
    pub frames: usize,
}

impl AuditSocket {
    /// Opens `/ws/audit` on the bridge, sending `origin`.
    pub async fn open(bridge: SocketAddr, origin: Option<&str>) -> AuditSocket {
        Self::connect(bridge, origin, false).await
    }

    /// Opens `/ws/audit` offering batches, as the page does.
    pub async fn open_batched(bridge: SocketAddr, origin: Option<&str>) -> AuditSocket {
        Self::connect(bridge, origin, true).await
    }

    async fn connect(bridge: SocketAddr, origin: Option<&str>, batches: bool) -> AuditSocket {
        let mut request = format!("ws://{bridge}{AUDIT_WS_PATH}").into_client_request().expect("request");
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().expect("origin header"));
        }
        if batches {
            request.headers_mut().insert("sec-websocket-protocol", BATCHES.parse().expect("protocol header"));
        }
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("websocket handshake");
        let chosen = response.headers().get("sec-websocket-protocol").is_some_and(|p| p == BATCHES);
        AuditSocket { socket, stash: VecDeque::new(), batches: chosen, messages: 0, frames: 0 }
    }

    /// Several frames as one batch, as the page sends them.
    pub async fn send_batch(&mut self, frames: &[audit_socket::Frame<'_>]) {
        self.send_binary(&audit_socket::batch(frames)).await;
    }

    /// Asks for connection `n` toward `target`.
    pub async fn open_connection(&mut self, n: u32, target: &WsQuery) {
        self.send_text(&PageCommand::Open { connection: n, target: target.clone() }.to_json()).await;
    }

    /// Ends connection `n`.
    pub async fn close_connection(&mut self, n: u32) {
        self.send_text(&PageCommand::Close { connection: n }.to_json()).await;
    }

    /// SMTP bytes for connection `n`.
    pub async fn send(&mut self, n: u32, bytes: &[u8]) {
        self.send_binary(&tag(n, bytes)).await;
    }

    /// A text frame as it is. A frame the bridge can no longer take (it
    /// closed the socket) is dropped: the next read says why.
    pub async fn send_text(&mut self, text: &str) {
        let _ = self.socket.send(Message::Text(text.to_string().into())).await;
    }

    /// A binary frame as it is (no number added); dropped as
    /// [`AuditSocket::send_text`]'s.
    pub async fn send_binary(&mut self, frame: &[u8]) {
        let _ = self.socket.send(Message::Binary(frame.to_vec().into())).await;
    }

    /// The next frame, or `None` if nothing came within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<SocketFrame> {
        if self.stash.is_empty() && !self.receive(within).await {
            return None;
        }
        self.stash.pop_front()
    }

    /// Reads one message off the websocket into the stash, all the frames
    /// of a batch in order; `false` if none came within `within`.
    /// Cancel-safe.
    async fn receive(&mut self, within: Duration) -> bool {
        loop {
            let Ok(message) = tokio::time::timeout(within, self.socket.next()).await else { return false };
            let frames = match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => vec![SocketFrame::Closed],
                Some(Ok(Message::Text(text))) => vec![event(&text)],
                Some(Ok(Message::Binary(data))) => match untag(&data) {
                    Some((BATCH, records)) => {
                        assert!(self.batches, "a batch to a page that did not ask for batches");
                        let inner = unbatch(records).unwrap_or_else(|| panic!("a bad batch: {data:?}"));
                        assert!(inner.len() > 1, "a batch of {} frames", inner.len());
                        inner
                            .into_iter()
                            .map(|frame| match frame {
                                audit_socket::Frame::Text(text) => event(text),
                                audit_socket::Frame::Binary(bytes) => numbered(bytes),
                            })
                            .collect()
                    }
                    _ => vec![numbered(&data)],
                },
                Some(Ok(_)) => continue,
            };
            self.messages += 1;
            self.frames += frames.len();
            // Behind whatever was stashed before: the bridge's order holds.
            self.stash.extend(frames);
            return true;
        }
    }

    /// The next frame of connection `n` (or of the whole socket, or its
    /// close); other connections' frames wait for [`AuditSocket::next`].
    pub async fn next_of(&mut self, n: u32, within: Duration) -> Option<SocketFrame> {
        let mine = |f: &SocketFrame| match f {
            SocketFrame::Event(c, _) => c.is_none_or(|c| c == n),
            SocketFrame::Bytes(c, _) => *c == n,
            SocketFrame::Closed => true,
        };
        let until = Instant::now() + within;
        loop {
            if let Some(at) = self.stash.iter().position(mine) {
                return self.stash.remove(at);
            }
            if !self.receive(until.saturating_duration_since(Instant::now())).await {
                return None;
            }
        }
    }

    /// The next event of connection `n`, skipping its SMTP bytes; panics
    /// after `within`, or on the socket's own event or close.
    pub async fn next_event(&mut self, n: u32, within: Duration) -> BridgeEvent {
        let until = Instant::now() + within;
        loop {
            match self.next_of(n, until.saturating_duration_since(Instant::now())).await {
                Some(SocketFrame::Event(Some(_), e)) => return e,
                Some(SocketFrame::Bytes(..)) => continue,
                Some(other) => panic!("expected an event of connection {n}, got {other:?}"),
                None => panic!("no event of connection {n} within {within:?}"),
            }
        }
    }

    /// Connection `n`'s SMTP bytes until `want` appears in them (its events
    /// are collected too; other connections' frames wait).
    pub async fn read_until(&mut self, n: u32, want: &str, within: Duration) -> (String, Vec<BridgeEvent>) {
        let until = Instant::now() + within;
        let mut text = String::new();
        let mut events = Vec::new();
        while !text.contains(want) {
            match self.next_of(n, until.saturating_duration_since(Instant::now())).await {
                Some(SocketFrame::Bytes(_, b)) => text.push_str(&String::from_utf8_lossy(&b)),
                Some(SocketFrame::Event(Some(_), e)) => events.push(e),
                other => panic!("{want:?} never came on connection {n} ({other:?}); got {text:?} and {events:?}"),
            }
        }
        (text, events)
    }

    /// Closes from the page's side.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

fn event(text: &str) -> SocketFrame {
    let tagged = TaggedEvent::from_json(text).unwrap_or_else(|e| panic!("bad event {text}: {e}"));
    SocketFrame::Event(tagged.connection, tagged.event)
}

fn numbered(frame: &[u8]) -> SocketFrame {
    let (n, bytes) = untag(frame).unwrap_or_else(|| panic!("bytes without a number: {frame:?}"));
    SocketFrame::Bytes(n, bytes.to_vec())
}

/// Runs a whole relay audit of `host:port` through the bridge, every
/// connection the session asks for on one audit socket, as the page does.
pub async fn audit(bridge: SocketAddr, origin: &str, host: &str, port: u16, config: Config) -> Report {
    let (report, socket) = audit_on(AuditSocket::open(bridge, Some(origin)).await, host, port, config).await;
    socket.close().await;
    report
}

/// [`audit`] on a socket that offered batches; with the socket, still
/// open, which counted the bridge's messages and frames.
pub async fn audit_batched(
    bridge: SocketAddr,
    origin: &str,
    host: &str,
    port: u16,
    config: Config,
) -> (Report, AuditSocket) {
    audit_on(AuditSocket::open_batched(bridge, Some(origin)).await, host, port, config).await
}

async fn audit_on(socket: AuditSocket, host: &str, port: u16, config: Config) -> (Report, AuditSocket) {
    let mut carrier = OneSocket { socket, open: HashSet::new() };
    let report = drive(&mut carrier, host, port, config).await;
    (report, carrier.socket)
}

/// Every connection on one audit socket, numbered by the engine's ids.
struct OneSocket {
    socket: AuditSocket,
    /// The connections the page has open: what still comes for one it
    /// closed is dropped, as the page drops it.
    open: HashSet<u32>,
}

impl Carrier for OneSocket {
    async fn open(&mut self, id: ConnectionId, target: WsQuery) {
        self.open.insert(id.0);
        self.socket.open_connection(id.0, &target).await;
    }

    async fn close(&mut self, id: ConnectionId) {
        if self.open.remove(&id.0) {
            self.socket.close_connection(id.0).await;
        }
    }

    async fn send(&mut self, id: ConnectionId, bytes: Vec<u8>) {
        if self.open.contains(&id.0) {
            self.socket.send(id.0, &bytes).await;
        }
    }

    async fn next(&mut self) -> (ConnectionId, Frame) {
        loop {
            let (n, frame) = match self.socket.next(Duration::from_secs(3600)).await {
                Some(SocketFrame::Event(Some(n), event)) => (n, Frame::Event(event)),
                Some(SocketFrame::Bytes(n, bytes)) => (n, Frame::Bytes(bytes)),
                // No connection of the audit can go on: the test fails.
                Some(SocketFrame::Event(None, event)) => panic!("the bridge ended the audit socket: {event:?}"),
                Some(SocketFrame::Closed) | None => panic!("the audit socket closed in the middle of the audit"),
            };
            if !self.open.contains(&n) {
                continue;
            }
            if let Frame::Event(BridgeEvent::Error { .. } | BridgeEvent::Closed { .. }) = frame {
                self.open.remove(&n);
            }
            return (ConnectionId(n), frame);
        }
    }
}

//! A websocket client of the bridge, as the page is one: a raw session for
//! poking at the policy, the guard and the limits, and a whole relay audit
//! driven through the bridge with relay-core, as the page drives it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, Config, ConnectionId, Event, Report, Session, TlsFailure};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What arrives from the bridge.
#[derive(Debug)]
pub enum Frame {
    Event(BridgeEvent),
    Bytes(Vec<u8>),
    /// The bridge closed the websocket.
    Closed,
}

pub struct WsSession {
    socket: Socket,
}

impl WsSession {
    /// Opens `/ws?host=HOST&port=PORT` on the bridge, sending `origin`.
    pub async fn open(bridge: SocketAddr, host: &str, port: u16, origin: Option<&str>) -> WsSession {
        let query = WsQuery { host: host.into(), port, implicit_tls: false, tls_name: None };
        WsSession::open_query(bridge, &query, origin).await
    }

    /// Opens `/ws` with every field of the page's query.
    pub async fn open_query(bridge: SocketAddr, query: &WsQuery, origin: Option<&str>) -> WsSession {
        let url = format!("ws://{bridge}{}", query.to_path());
        let mut request = url.into_client_request().expect("request");
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().expect("origin header"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket handshake");
        WsSession { socket }
    }

    /// The next frame, or `None` if nothing came within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        loop {
            let message = tokio::time::timeout(within, self.socket.next()).await.ok()?;
            return Some(match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Frame::Closed,
                Some(Ok(Message::Text(text))) => {
                    Frame::Event(BridgeEvent::from_json(&text).unwrap_or_else(|e| panic!("bad event {text}: {e}")))
                }
                Some(Ok(Message::Binary(data))) => Frame::Bytes(data.to_vec()),
                Some(Ok(_)) => continue,
            });
        }
    }

    /// The next event, skipping SMTP bytes; panics after `within`.
    pub async fn next_event(&mut self, within: Duration) -> BridgeEvent {
        let until = Instant::now() + within;
        loop {
            match self.next(until.saturating_duration_since(Instant::now())).await {
                Some(Frame::Event(e)) => return e,
                Some(Frame::Bytes(_)) => continue,
                Some(Frame::Closed) => panic!("closed without an event"),
                None => panic!("no event within {within:?}"),
            }
        }
    }

    /// SMTP bytes until `want` appears in them (events are collected too).
    pub async fn read_until(&mut self, want: &str, within: Duration) -> (String, Vec<BridgeEvent>) {
        let until = Instant::now() + within;
        let mut text = String::new();
        let mut events = Vec::new();
        while !text.contains(want) {
            match self.next(until.saturating_duration_since(Instant::now())).await {
                Some(Frame::Bytes(b)) => text.push_str(&String::from_utf8_lossy(&b)),
                Some(Frame::Event(e)) => events.push(e),
                Some(Frame::Closed) | None => panic!("{want:?} never came; got {text:?} and {events:?}"),
            }
        }
        (text, events)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.socket.send(Message::Binary(bytes.to_vec().into())).await.expect("send to bridge");
    }

    /// A text frame: the bridge reads nothing from those.
    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::Text(text.to_string().into())).await.expect("send to bridge");
    }

    /// A websocket ping.
    pub async fn ping(&mut self) {
        self.socket.send(Message::Ping(b"are you there".to_vec().into())).await.expect("send to bridge");
    }

    /// Closes from the page's side.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Runs a whole relay audit of `host:port` through the bridge, one websocket
/// per connection the session asks for, as the page did before the audit
/// socket ([`crate::audit_socket::audit`]).
pub async fn audit(bridge: SocketAddr, origin: &str, host: &str, port: u16, config: Config) -> Report {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut carrier =
        OneEach { bridge, origin: origin.to_string(), tx, rx, writers: HashMap::new(), tasks: Vec::new() };
    drive(&mut carrier, host, port, config).await
}

/// How an audit's connections travel to the bridge: a websocket each
/// (`/ws`), or all on one (`/ws/audit`).
pub(crate) trait Carrier {
    /// Asks the bridge for connection `id` toward `target`.
    async fn open(&mut self, id: ConnectionId, target: WsQuery);
    /// Ends connection `id`.
    async fn close(&mut self, id: ConnectionId);
    /// The engine's bytes for connection `id` (dropped if it is not open).
    async fn send(&mut self, id: ConnectionId, bytes: Vec<u8>);
    /// What the bridge said next, and about which connection. Cancel-safe.
    async fn next(&mut self) -> (ConnectionId, Frame);
}

/// Drives relay-core's [`Session`] over `carrier` as the page does: each
/// connection asks the bridge for [`Session::bridge_target`], and what the
/// bridge says of each connection goes to the engine.
pub(crate) async fn drive(carrier: &mut impl Carrier, host: &str, port: u16, config: Config) -> Report {
    let start = Instant::now();
    let mut session = Session::new(config, host, port, Duration::ZERO);
    loop {
        while let Some(t) = session.poll_transmit() {
            carrier.send(t.connection, t.data).await;
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Connect(id) => carrier.open(id, session.bridge_target()).await,
                Event::Close(id) => carrier.close(id).await,
                _ => {}
            }
        }
        if session.is_finished() {
            break;
        }
        let deadline = session.poll_timeout().map(|t| start + t);
        tokio::select! {
            (id, frame) = carrier.next() => {
                let now = start.elapsed();
                match frame {
                    Frame::Event(BridgeEvent::Connected { address, .. }) => {
                        session.handle_connected(id, address.parse().expect("connected address"), now);
                    }
                    Frame::Event(BridgeEvent::Error { message, .. }) => session.handle_connect_failed(id, &message, now),
                    Frame::Event(BridgeEvent::Closed { .. }) | Frame::Closed => session.handle_closed(id, now),
                    // The bridge speaks TLS with the server on its own.
                    Frame::Event(BridgeEvent::TlsEstablished { facts }) => session.handle_tls(id, Ok(facts), now),
                    Frame::Event(BridgeEvent::TlsFailed { reason }) => session.handle_tls(id, Err(TlsFailure { reason }), now),
                    Frame::Event(_) => {}
                    Frame::Bytes(b) => session.handle_input(id, &b, now),
                }
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                session.handle_timeout(start.elapsed());
            }
        }
    }
    session.report()
}

/// A websocket of its own for each connection (`/ws`), each in a task.
struct OneEach {
    bridge: SocketAddr,
    origin: String,
    tx: UnboundedSender<(ConnectionId, Frame)>,
    rx: UnboundedReceiver<(ConnectionId, Frame)>,
    writers: HashMap<ConnectionId, UnboundedSender<Vec<u8>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Carrier for OneEach {
    async fn open(&mut self, id: ConnectionId, query: WsQuery) {
        let (wtx, mut wrx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        self.writers.insert(id, wtx);
        let (tx, bridge, origin) = (self.tx.clone(), self.bridge, self.origin.clone());
        self.tasks.push(tokio::spawn(async move {
            let mut ws = WsSession::open_query(bridge, &query, Some(&origin)).await;
            loop {
                tokio::select! {
                    frame = ws.next(Duration::from_secs(3600)) => {
                        let frame = frame.unwrap_or(Frame::Closed);
                        let closed = matches!(frame, Frame::Closed);
                        if tx.send((id, frame)).is_err() || closed { return; }
                    }
                    bytes = wrx.recv() => match bytes {
                        Some(b) => ws.send(&b).await,
                        None => { ws.close().await; return; }
                    },
                }
            }
        }));
    }

    async fn close(&mut self, id: ConnectionId) {
        self.writers.remove(&id);
    }

    async fn send(&mut self, id: ConnectionId, bytes: Vec<u8>) {
        if let Some(w) = self.writers.get(&id) {
            let _ = w.send(bytes);
        }
    }

    async fn next(&mut self) -> (ConnectionId, Frame) {
        // `self.tx` is never dropped while `self` lives.
        self.rx.recv().await.expect("the carrier keeps a sender")
    }
}

impl Drop for OneEach {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

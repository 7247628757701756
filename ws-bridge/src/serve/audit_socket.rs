//! `GET /ws/audit`: one websocket carrying every connection of an audit
//! (the wire is relay-core's [`relay_core::wire::audit_socket`]).
//!
//! This loop only sorts frames: each numbered connection is a
//! [`session::run`] task of its own, with its own guard, place under the
//! limits and log line, exactly as a `/ws` session. The page's bytes reach
//! a connection through a small queue; what the connections say reaches
//! the page through one queue this loop drains into the websocket, as one
//! batch of everything waiting when the page reads batches.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use relay_core::wire::audit_socket::{batch, tag, unpack, untag, Frame, PageCommand, TaggedEvent, BATCH, BATCHES};
use relay_core::{BridgeEvent, ErrorCode};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::serve::app::App;
use crate::serve::session::{self, PageGone, PageLink};
use crate::serve::ws::sized;

/// Frames of the page waiting for one connection. The engine sends a
/// connection a few lines at a time and waits for the answers; a page that
/// queues more than this is not auditing, and loses the connection.
const QUEUED_FRAMES: usize = 32;

/// How long the connections of a socket that ended get to write their log
/// lines before they are stopped.
const WIND_DOWN: Duration = Duration::from_secs(1);

/// What one batch to the page may hold, at most: a bound on the memory a
/// batch takes while it is written.
const BATCH_FRAMES: usize = 64;
const BATCH_BYTES: usize = 64 * 1024;
/// How many times a batch lets the other tasks run before it goes, when
/// nothing more has come: each costs microseconds; a message fewer saves
/// the page's browser about a millisecond.
const BATCH_WAITS: u32 = 3;

pub async fn upgrade(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(app): State<Arc<App>>,
) -> Response {
    let client = app.client_ip(peer.ip(), &headers);
    let origin_ok = app.origin_allowed(&headers);
    sized(ws, &app).protocols([BATCHES]).on_upgrade(move |socket| async move {
        let (to_page, from_connections) = mpsc::unbounded_channel();
        let socket = AuditSocket {
            app,
            batches: socket.protocol().is_some(),
            socket,
            client,
            connections: HashMap::new(),
            tasks: JoinSet::new(),
            to_page,
            from_connections,
            opened: 0,
        };
        socket.run(origin_ok).await;
    })
}

/// What a connection's task hands the socket.
enum Up {
    Frame(Message),
    /// The connection ended; its number may be used again. The second
    /// number tells it from a later connection under the same number.
    Ended(u32, u32),
}

struct AuditSocket {
    app: Arc<App>,
    socket: WebSocket,
    /// Whether the page chose the subprotocol [`BATCHES`].
    batches: bool,
    client: IpAddr,
    /// The open connections, by the page's number: which one it is (its
    /// rank among those opened) and where its bytes go.
    connections: HashMap<u32, (u32, mpsc::Sender<Bytes>)>,
    tasks: JoinSet<()>,
    to_page: mpsc::UnboundedSender<Up>,
    from_connections: mpsc::UnboundedReceiver<Up>,
    /// Connections opened over the socket's life, for its log line.
    opened: u32,
}

impl AuditSocket {
    async fn run(mut self, origin_ok: bool) {
        let started = Instant::now();
        let admitted =
            if origin_ok { self.app.limits.admit_socket(self.client) } else { Err(ErrorCode::OriginNotAllowed) };
        // The place is held until the socket has closed: a bridge shutting
        // down waits for it, so the page hears every connection's last word.
        let (outcome, _place) = match admitted {
            Ok(place) => (self.sort_frames().await, Some(place)),
            Err(code) => {
                self.app.metrics.refused(code.as_str());
                self.send_whole(BridgeEvent::error(code)).await;
                (code.as_str(), None)
            }
        };
        // Each connection ends when its queue closes, and writes its log line.
        self.connections.clear();
        let _ = tokio::time::timeout(WIND_DOWN, async { while self.tasks.join_next().await.is_some() {} }).await;
        let _ = self.socket.send(Message::Close(None)).await;
        tracing::info!(
            client = %self.client,
            connections = self.opened,
            outcome,
            duration_ms = started.elapsed().as_millis() as u64,
            "audit socket"
        );
    }

    /// Carries frames until the page leaves, says something unreadable, or
    /// leaves the socket empty for the idle time; returns why it ended.
    async fn sort_frames(&mut self) -> &'static str {
        let idle = self.app.limits.config.idle_timeout;
        let mut idle_ends = tokio::time::Instant::now() + idle;
        let mut shutdown = self.app.shutdown.clone();
        let mut shutting_down = *shutdown.borrow();
        loop {
            tokio::select! {
                // What the connections said goes out before anything new comes in.
                biased;
                Some(up) = self.from_connections.recv() => {
                    let (frames, ended) = self.gather(up).await;
                    if self.send_up(frames).await.is_err() {
                        return "page_closed";
                    }
                    if ended && self.connections.is_empty() {
                        if shutting_down {
                            return ErrorCode::ShuttingDown.as_str();
                        }
                        idle_ends = tokio::time::Instant::now() + idle;
                    }
                }
                // Each connection hears it and ends with `shutting_down`;
                // the socket closes once they have.
                _ = shutdown.changed(), if !shutting_down => {
                    shutting_down = true;
                    if self.connections.is_empty() {
                        self.send_whole(BridgeEvent::closed(ErrorCode::ShuttingDown)).await;
                        return ErrorCode::ShuttingDown.as_str();
                    }
                }
                message = self.socket.recv() => match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return "page_closed",
                    Some(Ok(Message::Text(text))) => {
                        if let Err(outcome) = self.on_frame(Frame::Text(text.as_str()), None, shutting_down).await {
                            return outcome;
                        }
                    }
                    Some(Ok(Message::Binary(frame))) => {
                        let Some(frames) = unpack(Frame::Binary(&frame), self.batches) else {
                            return self.unreadable("The page sent a batch the bridge cannot read.").await;
                        };
                        for inner in frames {
                            if let Err(outcome) = self.on_frame(inner, Some(&frame), shutting_down).await {
                                return outcome;
                            }
                        }
                    }
                    // Ping and pong.
                    Some(Ok(_)) => {}
                },
                _ = tokio::time::sleep_until(idle_ends), if self.connections.is_empty() => {
                    self.send_whole(BridgeEvent::closed(ErrorCode::IdleTimeout)).await;
                    return ErrorCode::IdleTimeout.as_str();
                }
            }
        }
    }

    /// One frame of the page, alone or out of a batch; `whole` is the
    /// websocket message it came in, whose bytes a connection's share.
    async fn on_frame(
        &mut self,
        frame: Frame<'_>,
        whole: Option<&Bytes>,
        shutting_down: bool,
    ) -> Result<(), &'static str> {
        match frame {
            Frame::Text(text) => match serde_json::from_str::<PageCommand>(text) {
                Ok(PageCommand::Open { connection, target }) => self.open(connection, target, shutting_down).await,
                // Its task hears the queue close, ends and says so.
                Ok(PageCommand::Close { connection }) => {
                    self.connections.remove(&connection);
                    Ok(())
                }
                Err(_) => Err(self.unreadable("The page sent a command the bridge cannot read.").await),
            },
            Frame::Binary(frame) => {
                let Some((number, bytes)) = untag(frame) else {
                    return Err(self.unreadable("The page sent bytes without a connection number.").await);
                };
                // The bytes as a slice of the message they came in, not a copy.
                let bytes = match whole {
                    Some(whole) => whole.slice_ref(bytes),
                    None => Bytes::copy_from_slice(bytes),
                };
                self.deliver(number, bytes).await;
                Ok(())
            }
        }
    }

    /// `first` and, when the page reads batches, whatever else the
    /// connections have said by now, up to a batch's bounds; whether a
    /// connection ended among them.
    async fn gather(&mut self, first: Up) -> (Vec<Message>, bool) {
        let (mut frames, mut ended, mut size) = (Vec::new(), false, 0);
        let mut next = Some(first);
        let mut waits = 0;
        while let Some(up) = next.take() {
            match up {
                Up::Frame(message) => {
                    size += match &message {
                        Message::Text(text) => text.len(),
                        Message::Binary(bytes) => bytes.len(),
                        _ => 0,
                    };
                    frames.push(message);
                }
                Up::Ended(number, rank) => {
                    if self.connections.get(&number).is_some_and(|(r, _)| *r == rank) {
                        self.connections.remove(&number);
                    }
                    while self.tasks.try_join_next().is_some() {}
                    ended = true;
                }
            }
            if self.batches && frames.len() < BATCH_FRAMES && size < BATCH_BYTES {
                next = self.from_connections.try_recv().ok();
                // The connections woken with this one say their piece a
                // moment later: let them, a few times, while they do.
                while next.is_none() && waits < BATCH_WAITS {
                    waits += 1;
                    tokio::task::yield_now().await;
                    next = self.from_connections.try_recv().ok();
                }
            }
        }
        (frames, ended)
    }

    /// The connections' frames to the page: one alone, several as a batch.
    async fn send_up(&mut self, mut frames: Vec<Message>) -> Result<(), axum::Error> {
        if frames.len() <= 1 {
            return match frames.pop() {
                Some(message) => self.socket.send(message).await,
                None => Ok(()),
            };
        }
        let inner: Vec<Frame<'_>> = frames
            .iter()
            .filter_map(|m| match m {
                Message::Text(text) => Some(Frame::Text(text.as_str())),
                Message::Binary(bytes) => Some(Frame::Binary(bytes)),
                _ => None,
            })
            .collect();
        let whole = batch(&inner);
        self.socket.send(Message::Binary(whole.into())).await
    }

    /// Starts connection `number` toward `target`, as `GET /ws` would.
    async fn open(
        &mut self,
        number: u32,
        target: relay_core::WsQuery,
        shutting_down: bool,
    ) -> Result<(), &'static str> {
        if self.connections.contains_key(&number) {
            return Err(self.unreadable(&format!("The page opened connection {number} twice.")).await);
        }
        if number == BATCH {
            return Err(self
                .unreadable(&format!("The page opened connection {BATCH}, the number that marks a batch."))
                .await);
        }
        let refusal = if shutting_down {
            Some(ErrorCode::ShuttingDown)
        } else if self.connections.len() >= self.app.limits.config.max_sessions_per_ip {
            // The client's own limit would refuse it anyway; this keeps the
            // socket from holding more tasks than that.
            Some(ErrorCode::TooManySessionsFromYou)
        } else {
            None
        };
        if let Some(code) = refusal {
            self.app.metrics.refused(code.as_str());
            let event = TaggedEvent { connection: Some(number), event: BridgeEvent::error(code) };
            let _ = self.socket.send(Message::Text(event.to_json().into())).await;
            return Ok(());
        }
        let (bytes_in, queue) = mpsc::channel(QUEUED_FRAMES);
        self.opened += 1;
        self.connections.insert(number, (self.opened, bytes_in));
        let link = Numbered { number, rank: self.opened, queue, to_page: self.to_page.clone() };
        let (app, client) = (Arc::clone(&self.app), self.client);
        self.tasks.spawn(session::run(app, link, client, true, target.into()));
        Ok(())
    }

    /// The page's bytes for connection `number`; bytes for a connection
    /// that has just ended are dropped, as a socket's would be.
    async fn deliver(&mut self, number: u32, bytes: Bytes) {
        let Some((_, queue)) = self.connections.get(&number) else { return };
        if queue.try_send(bytes).is_err() {
            // Its task ends (page_closed) and frees its places; the page hears why.
            self.connections.remove(&number);
            let event = TaggedEvent {
                connection: Some(number),
                event: BridgeEvent::Closed {
                    code: ErrorCode::ByteLimit,
                    message:
                        "The page sent faster than the mail server could take it, so the bridge ended this connection."
                            .into(),
                },
            };
            let _ = self.socket.send(Message::Text(event.to_json().into())).await;
        }
    }

    /// The page broke the wire: it hears why, and the socket ends.
    async fn unreadable(&mut self, message: &str) -> &'static str {
        self.app.metrics.refused(ErrorCode::BadRequest.as_str());
        self.send_whole(BridgeEvent::Error { code: ErrorCode::BadRequest, message: message.into() }).await;
        ErrorCode::BadRequest.as_str()
    }

    /// An event about the whole socket (no connection number).
    async fn send_whole(&mut self, event: BridgeEvent) {
        let text = TaggedEvent { connection: None, event }.to_json();
        let _ = self.socket.send(Message::Text(text.into())).await;
    }
}

/// One numbered connection of the socket, as its session sees it.
struct Numbered {
    number: u32,
    rank: u32,
    queue: mpsc::Receiver<Bytes>,
    to_page: mpsc::UnboundedSender<Up>,
}

impl Numbered {
    fn up(&self, message: Message) -> Result<(), PageGone> {
        self.to_page.send(Up::Frame(message)).map_err(|_| PageGone)
    }
}

impl PageLink for Numbered {
    async fn recv_bytes(&mut self) -> Option<Bytes> {
        self.queue.recv().await
    }

    async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), PageGone> {
        self.up(Message::Binary(tag(self.number, bytes).into()))
    }

    async fn send_event(&mut self, event: &BridgeEvent) -> Result<(), PageGone> {
        let text = TaggedEvent { connection: Some(self.number), event: event.clone() }.to_json();
        self.up(Message::Text(text.into()))
    }

    async fn close(&mut self) {
        let _ = self.to_page.send(Up::Ended(self.number, self.rank));
    }
}

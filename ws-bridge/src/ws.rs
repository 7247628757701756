//! `GET /ws?host=H&port=P`: one page's road to one mail server.
//!
//! In order: upgrade, then check the Origin, the limits, the port, resolve
//! the name, check every address, connect to a checked address (never
//! resolving again), say `connected`, and pump. Every refusal is a JSON
//! event with a stable code and a sentence, then a close, because a page
//! cannot read an HTTP error body from a failed websocket.
//!
//! While pumping, binary frames from the page pass through relay-core's
//! [`Guard`] before a byte reaches the server; what the server sends goes
//! back as binary frames.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use relay_core::wire::sentence;
use relay_core::{BridgeEvent, Decision, ErrorCode, Guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::App;

/// The query string, kept loose so that a missing or bad field is answered
/// with a sentence instead of axum's plain-text 400.
#[derive(serde::Deserialize)]
pub struct WsParams {
    host: Option<String>,
    port: Option<String>,
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(params): Query<WsParams>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(app): State<Arc<App>>,
) -> Response {
    let client = app.client_ip(peer.ip(), &headers);
    let origin_ok = app.origin_allowed(&headers);
    // axum enforces a hard cap well above our limit, so that an oversized
    // frame still reaches us and gets its sentence. SMTP lines are short:
    // small buffers keep an idle session cheap (tungstenite's defaults are
    // 128 KiB each way), and writing each message at once keeps latency low.
    let hard_cap = app.limits.config.max_frame * 4;
    ws.max_frame_size(hard_cap).max_message_size(hard_cap).read_buffer_size(4 * 1024).write_buffer_size(0).on_upgrade(
        move |socket| async move {
            let mut session = Session { app, socket, client, bytes_up: 0, bytes_down: 0, destination: None };
            let started = Instant::now();
            let outcome = session.run(origin_ok, params).await;
            session.finish(outcome, started).await;
        },
    )
}

struct Session {
    app: Arc<App>,
    socket: WebSocket,
    client: IpAddr,
    bytes_up: u64,
    bytes_down: u64,
    destination: Option<SocketAddr>,
}

/// How a session ended: a code for logs and metrics, and whether the page
/// has already been told.
struct Outcome {
    code: &'static str,
    event: Option<BridgeEvent>,
}

impl Outcome {
    fn refuse(code: ErrorCode, message: impl Into<String>) -> Outcome {
        Outcome { code: code.as_str(), event: Some(BridgeEvent::Error { code, message: message.into() }) }
    }

    fn close(code: ErrorCode) -> Outcome {
        Outcome { code: code.as_str(), event: Some(BridgeEvent::closed(code)) }
    }
}

impl Session {
    async fn run(&mut self, origin_ok: bool, params: WsParams) -> Outcome {
        let app = Arc::clone(&self.app);
        if !origin_ok {
            return Outcome::refuse(ErrorCode::OriginNotAllowed, ErrorCode::OriginNotAllowed.default_message());
        }
        let _permit = match app.limits.admit(self.client) {
            Ok(p) => p,
            Err(code) => return Outcome::refuse(code, code.default_message()),
        };
        app.metrics.session_started();
        let outcome = self.connect_and_pump(params).await;
        app.metrics.session_ended(self.bytes_up, self.bytes_down);
        outcome
    }

    async fn connect_and_pump(&mut self, params: WsParams) -> Outcome {
        let app = Arc::clone(&self.app);
        let host = params.host.unwrap_or_default().trim().trim_start_matches('[').trim_end_matches(']').to_string();
        let port: Option<u16> = params.port.as_deref().map_or(Some(25), |p| p.trim().parse().ok());
        let Some(port) = port.filter(|_| !host.is_empty()) else {
            return Outcome::refuse(ErrorCode::BadRequest, "Give the mail server as ?host=NAME&port=25.");
        };
        if let Err(e) = app.policy.check_port(port) {
            if !app.policy.is_allow_target(&host, port) {
                return Outcome::refuse(ErrorCode::PortNotAllowed, sentence(&e.to_string()));
            }
        }
        let resolved = match app.resolver.lookup_ip(&host).await {
            Ok(addrs) => addrs,
            Err(e) => return Outcome::refuse(e.error_code(), sentence(&e.to_string())),
        };
        let checked = match app.policy.check(&host, port, &resolved) {
            Ok(addrs) => addrs,
            Err(e) => {
                let code = match e.code() {
                    "port_not_allowed" => ErrorCode::PortNotAllowed,
                    "no_address" => ErrorCode::NoAddress,
                    _ => ErrorCode::AddressDenied,
                };
                return Outcome::refuse(code, sentence(&e.to_string()));
            }
        };
        let connect_started = Instant::now();
        let mut last_error = String::from("no address to try");
        let mut stream = None;
        for &ip in &checked {
            if !app.limits.allow_destination(ip) {
                return Outcome::refuse(
                    ErrorCode::DestinationRateLimited,
                    ErrorCode::DestinationRateLimited.default_message(),
                );
            }
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(app.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some((s, addr));
                    break;
                }
                Ok(Err(e)) => last_error = format!("{ip}: {}", crate::audit::connect_error(&e)),
                Err(_) => last_error = format!("{ip}: no answer within {} s", app.connect_timeout.as_secs()),
            }
        }
        let Some((stream, addr)) = stream else {
            return Outcome::refuse(
                ErrorCode::ConnectFailed,
                format!("Could not connect to {host} port {port}: {last_error}."),
            );
        };
        self.destination = Some(addr);
        let _ = stream.set_nodelay(true);
        let connected = BridgeEvent::Connected {
            host: host.clone(),
            address: addr.ip().to_string(),
            port,
            resolved: resolved.iter().map(IpAddr::to_string).collect(),
            connect_ms: connect_started.elapsed().as_secs_f64() * 1000.0,
        };
        if self.send_event(&connected).await.is_err() {
            return Outcome { code: "page_closed", event: None };
        }
        self.pump(stream).await
    }

    /// Carries bytes both ways until one side ends or a limit is reached.
    async fn pump(&mut self, stream: TcpStream) -> Outcome {
        let app = Arc::clone(&self.app);
        let cfg = &app.limits.config;
        let (mut server_rx, mut server_tx) = stream.into_split();
        let mut guard = Guard::new(app.guard_limits);
        let mut shutdown = app.shutdown.clone();
        let lifetime_ends = tokio::time::Instant::now() + cfg.session_lifetime;
        let mut idle_ends = tokio::time::Instant::now() + cfg.idle_timeout;
        let mut buf = vec![0u8; 4 * 1024];
        if *shutdown.borrow() {
            return Outcome::close(ErrorCode::ShuttingDown);
        }
        loop {
            tokio::select! {
                // Shutdown first: on SIGTERM the lab's servers close too, and
                // the page should hear why, not just that the server left.
                biased;
                _ = shutdown.changed() => return Outcome::close(ErrorCode::ShuttingDown),
                message = self.socket.recv() => {
                    idle_ends = tokio::time::Instant::now() + cfg.idle_timeout;
                    let data = match message {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Outcome { code: "page_closed", event: None },
                        Some(Ok(Message::Binary(data))) => data,
                        // Text, ping and pong carry nothing for the server.
                        Some(Ok(_)) => continue,
                    };
                    if data.len() > cfg.max_frame {
                        return Outcome::close(ErrorCode::FrameTooLarge);
                    }
                    self.bytes_up += data.len() as u64;
                    if self.bytes_up > cfg.max_bytes_up {
                        return Outcome::close(ErrorCode::ByteLimit);
                    }
                    for decision in guard.push(&data) {
                        match decision {
                            Decision::Forward(bytes) => {
                                if server_tx.write_all(&bytes).await.is_err() {
                                    return Outcome::close(ErrorCode::ServerClosed);
                                }
                            }
                            Decision::Refuse(refusal) => {
                                app.metrics.refused(refusal.code());
                                if self.send_event(&BridgeEvent::refused(&refusal)).await.is_err() {
                                    return Outcome { code: "page_closed", event: None };
                                }
                            }
                            Decision::Close(refusal) => {
                                return Outcome { code: refusal.code(), event: Some(BridgeEvent::closed_by_guard(&refusal)) };
                            }
                        }
                    }
                }
                read = server_rx.read(&mut buf) => {
                    idle_ends = tokio::time::Instant::now() + cfg.idle_timeout;
                    let n = match read {
                        Ok(0) | Err(_) if *shutdown.borrow() => return Outcome::close(ErrorCode::ShuttingDown),
                        Ok(0) | Err(_) => return Outcome::close(ErrorCode::ServerClosed),
                        Ok(n) => n,
                    };
                    self.bytes_down += n as u64;
                    if self.bytes_down > cfg.max_bytes_down {
                        return Outcome::close(ErrorCode::ByteLimit);
                    }
                    if self.socket.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        return Outcome { code: "page_closed", event: None };
                    }
                }
                _ = tokio::time::sleep_until(idle_ends) => return Outcome::close(ErrorCode::IdleTimeout),
                _ = tokio::time::sleep_until(lifetime_ends) => return Outcome::close(ErrorCode::SessionTooLong),
            }
        }
    }

    async fn send_event(&mut self, event: &BridgeEvent) -> Result<(), axum::Error> {
        self.socket.send(Message::Text(event.to_json().into())).await
    }

    /// Tells the page why (if it has not heard), closes, and writes the
    /// session's one log line.
    async fn finish(mut self, outcome: Outcome, started: Instant) {
        if let Some(event) = &outcome.event {
            let _ = self.send_event(event).await;
            if !matches!(outcome.code, "page_closed" | "server_closed") {
                self.app.metrics.refused(outcome.code);
            }
        }
        let _ = self.socket.send(Message::Close(None)).await;
        tracing::info!(
            client = %self.client,
            destination = %self.destination.map_or_else(|| "-".to_string(), |d| d.to_string()),
            outcome = outcome.code,
            bytes_up = self.bytes_up,
            bytes_down = self.bytes_down,
            duration_ms = started.elapsed().as_millis() as u64,
            "session"
        );
    }
}

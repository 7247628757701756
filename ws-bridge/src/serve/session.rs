//! One SMTP connection of a page, from the bridge's side: whichever road
//! the page's bytes take ([`PageLink`]: a `/ws` websocket of its own, or a
//! numbered connection of the audit socket), this is where they are checked.
//!
//! In order: the limits, the port, resolve the name, check every address,
//! connect to a checked address (never resolving again), say `connected`,
//! and pump. Every refusal is an event with a stable code and a sentence,
//! because a page cannot read an HTTP error body from a websocket.
//!
//! While pumping, the page's bytes pass through relay-core's [`Guard`]
//! before a byte reaches the server; what the server sends goes back as it
//! came.
//!
//! TLS is the bridge's own: when the server answers the page's STARTTLS with
//! 220, the bridge does the handshake itself and tells the page what it saw
//! ([`BridgeEvent::TlsEstablished`]); the page goes on in plain text, so the
//! guard still reads every line. With `implicit_tls=true` (port 465) the
//! bridge connects with TLS from the first byte.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, Decision, ErrorCode, Guard, TlsFacts, TlsFailure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::serve::app::App;
use crate::serve::destination::{self, Connection, DestinationError};
use crate::serve::replies::ReplyCounter;
use crate::tls::Stream;

/// The page went away (or ended this connection).
pub struct PageGone;

/// The page's end of one connection.
pub trait PageLink: Send {
    /// The page's next SMTP bytes; `None` once it went away or ended this
    /// connection. Cancel-safe: the pump waits on it in a `select!`.
    fn recv_bytes(&mut self) -> impl Future<Output = Option<Bytes>> + Send;
    /// The server's bytes, toward the page.
    fn send_bytes(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), PageGone>> + Send;
    fn send_event(&mut self, event: &BridgeEvent) -> impl Future<Output = Result<(), PageGone>> + Send;
    /// The connection ends (the page has been told why, if it was to be).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The query string of `GET /ws` (and the target of the audit socket's
/// `open`), kept loose so that a missing or bad field is answered with a
/// sentence instead of axum's plain-text 400.
#[derive(serde::Deserialize)]
pub struct WsParams {
    host: Option<String>,
    port: Option<String>,
    /// `true`: TLS from the first byte (port 465).
    implicit_tls: Option<String>,
    /// The name to check the certificate against, when `host` is an address.
    tls_name: Option<String>,
}

impl From<WsQuery> for WsParams {
    fn from(query: WsQuery) -> Self {
        WsParams {
            host: Some(query.host),
            port: Some(query.port.to_string()),
            implicit_tls: Some(query.implicit_tls.to_string()),
            tls_name: query.tls_name,
        }
    }
}

/// Runs one connection from admission to its log line.
pub async fn run<L: PageLink>(app: Arc<App>, page: L, client: IpAddr, origin_ok: bool, params: WsParams) {
    let mut session = Session { app, page, client, bytes_up: 0, bytes_down: 0, destination: None };
    let started = Instant::now();
    let outcome = session.run(origin_ok, params).await;
    session.finish(outcome, started).await;
}

struct Session<L> {
    app: Arc<App>,
    page: L,
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

impl<L: PageLink> Session<L> {
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
        let implicit_tls = params.implicit_tls.as_deref() == Some("true");
        // A name only: it goes in SNI and is what the certificate must name;
        // the connection itself goes to the checked address whatever it says.
        let tls_name = params.tls_name.clone().filter(|n| relay_core::config::is_domain(n));
        let connection = match connect(&app, params).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(client = %self.client, detail = %e.log_detail(), "destination refused");
                return Outcome::refuse(e.code(), e.sentence());
            }
        };
        let (connection, host, resolved) = connection;
        self.destination = Some(connection.peer);
        let connected = BridgeEvent::Connected {
            host: host.clone(),
            address: connection.peer.ip().to_string(),
            port: connection.peer.port(),
            resolved: resolved.iter().map(IpAddr::to_string).collect(),
            connect_ms: connection.connect_ms,
        };
        if self.send_event(&connected).await.is_err() {
            return Outcome { code: "page_closed", event: None };
        }
        // The place under the destination's limits is held until the pump ends.
        let _permit = connection.permit;
        let mut stream = Stream::Plain(connection.stream);
        let lifetime_ends = tokio::time::Instant::now() + app.limits.config.session_lifetime;
        let name = tls_name.unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']').to_string());
        if implicit_tls {
            if let Err(outcome) = self.start_tls(&mut stream, &name, lifetime_ends, Stream::start_implicit).await {
                return outcome;
            }
        }
        self.pump(stream, &name, lifetime_ends).await
    }

    /// Moves `stream` into TLS (`start` says how) and tells the page what
    /// came of it; a failure ends the session, the page told why.
    async fn start_tls<'a, F, Fut>(
        &mut self,
        stream: &'a mut Stream,
        host: &'a str,
        lifetime_ends: tokio::time::Instant,
        start: F,
    ) -> Result<(), Outcome>
    where
        F: FnOnce(&'a mut Stream, &'a str, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<TlsFacts, TlsFailure>> + 'a,
    {
        // The handshake counts against the session's time, and a server that
        // stalls it gets no longer than any reply.
        let left = lifetime_ends.saturating_duration_since(tokio::time::Instant::now());
        let timeout = self.app.reply_timeout.min(left).max(Duration::from_millis(1));
        let event = match start(stream, host, timeout).await {
            Ok(facts) => BridgeEvent::TlsEstablished { facts },
            Err(failure) => {
                tracing::debug!(client = %self.client, reason = %failure.reason, "TLS failed");
                let _ = self.send_event(&BridgeEvent::TlsFailed { reason: failure.reason }).await;
                return Err(Outcome { code: "tls_failed", event: None });
            }
        };
        match self.send_event(&event).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Outcome { code: "page_closed", event: None }),
        }
    }

    /// Carries bytes both ways until one side ends or a limit is reached;
    /// moves into TLS when the server says 220 to the page's STARTTLS.
    async fn pump(&mut self, mut stream: Stream, host: &str, lifetime_ends: tokio::time::Instant) -> Outcome {
        let app = Arc::clone(&self.app);
        let cfg = &app.limits.config;
        let mut guard = Guard::new(app.guard_limits);
        let mut replies = ReplyCounter::default();
        // The number of the server's reply that answers STARTTLS, while it
        // has not come yet.
        let mut starttls_reply: Option<u32> = None;
        let mut shutdown = app.shutdown.clone();
        let mut idle_ends = tokio::time::Instant::now() + cfg.idle_timeout;
        let mut buf = vec![0u8; 4 * 1024];
        if *shutdown.borrow() {
            return Outcome::close(ErrorCode::ShuttingDown);
        }
        loop {
            let (mut server_rx, mut server_tx) = tokio::io::split(stream);
            // Pumps until TLS is to start (the reply to STARTTLS was 2xx), or
            // the session ends.
            let ended: Option<Outcome> = loop {
                tokio::select! {
                    // Shutdown first: on SIGTERM the lab's servers close too, and
                    // the page should hear why, not just that the server left.
                    biased;
                    _ = shutdown.changed() => break Some(Outcome::close(ErrorCode::ShuttingDown)),
                    data = self.page.recv_bytes() => {
                        let Some(data) = data else { break Some(Outcome { code: "page_closed", event: None }) };
                        if !data.is_empty() {
                            idle_ends = tokio::time::Instant::now() + cfg.idle_timeout;
                        }
                        if data.len() > cfg.max_frame {
                            break Some(Outcome::close(ErrorCode::FrameTooLarge));
                        }
                        self.bytes_up += data.len() as u64;
                        if self.bytes_up > cfg.max_bytes_up {
                            break Some(Outcome::close(ErrorCode::ByteLimit));
                        }
                        let mut stop = None;
                        for decision in guard.push(&data) {
                            match decision {
                                Decision::Forward(bytes) => {
                                    if server_tx.write_all(&bytes).await.is_err() {
                                        stop = Some(Outcome::close(ErrorCode::ServerClosed));
                                        break;
                                    }
                                }
                                Decision::StartTls(bytes) => {
                                    if server_tx.write_all(&bytes).await.is_err() {
                                        stop = Some(Outcome::close(ErrorCode::ServerClosed));
                                        break;
                                    }
                                    // The banner is reply 1, then one per line forwarded.
                                    starttls_reply = Some(1 + guard.forwarded());
                                }
                                Decision::Refuse(refusal) => {
                                    app.metrics.refused(refusal.code());
                                    if self.send_event(&BridgeEvent::refused(&refusal)).await.is_err() {
                                        stop = Some(Outcome { code: "page_closed", event: None });
                                        break;
                                    }
                                }
                                Decision::Close(refusal) => {
                                    stop = Some(Outcome { code: refusal.code(), event: Some(BridgeEvent::closed_by_guard(&refusal)) });
                                    break;
                                }
                            }
                        }
                        if stop.is_some() {
                            break stop;
                        }
                    }
                    read = server_rx.read(&mut buf) => {
                        idle_ends = tokio::time::Instant::now() + cfg.idle_timeout;
                        let n = match read {
                            Ok(0) | Err(_) if *shutdown.borrow() => break Some(Outcome::close(ErrorCode::ShuttingDown)),
                            Ok(0) | Err(_) => break Some(Outcome::close(ErrorCode::ServerClosed)),
                            Ok(n) => n,
                        };
                        self.bytes_down += n as u64;
                        if self.bytes_down > cfg.max_bytes_down {
                            break Some(Outcome::close(ErrorCode::ByteLimit));
                        }
                        let answer = replies.push(&buf[..n]).into_iter().find(|end| Some(end.number) == starttls_reply);
                        // Up to the end of STARTTLS's answer, and not a byte
                        // more: what follows it in plain text is dropped.
                        let upto = answer.map_or(n, |a| a.offset);
                        if self.page.send_bytes(&buf[..upto]).await.is_err() {
                            break Some(Outcome { code: "page_closed", event: None });
                        }
                        if let Some(answer) = answer {
                            starttls_reply = None;
                            if (200..300).contains(&answer.code) {
                                break None;
                            }
                            guard.tls_refused();
                        }
                    }
                    _ = tokio::time::sleep_until(idle_ends) => break Some(Outcome::close(ErrorCode::IdleTimeout)),
                    _ = tokio::time::sleep_until(lifetime_ends) => break Some(Outcome::close(ErrorCode::SessionTooLong)),
                }
            };
            stream = server_rx.unsplit(server_tx);
            if let Some(outcome) = ended {
                return outcome;
            }
            if let Err(outcome) = self.start_tls(&mut stream, host, lifetime_ends, Stream::start_tls).await {
                return outcome;
            }
            guard.tls_started();
        }
    }

    async fn send_event(&mut self, event: &BridgeEvent) -> Result<(), PageGone> {
        self.page.send_event(event).await
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
        self.page.close().await;
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

/// The destination function: parse, resolve, check, then one TCP
/// connection charged to the destination's limits.
async fn connect(app: &App, params: WsParams) -> Result<(Connection, String, Vec<IpAddr>), DestinationError> {
    let (host, port) = destination::parse(params.host.as_deref(), params.port.as_deref())?;
    let target = app.destination(&host, port).await?;
    let connection = app.connect(&host, port, &target.resolved).await?;
    Ok((connection, host, target.resolved))
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;
    use axum::http::Uri;
    use relay_core::wire::WsQuery;

    use super::WsParams;

    /// The page writes its query with relay-core's `WsQuery::to_path`; the
    /// bridge reads it loosely (to answer a bad field with a sentence), and
    /// must read back every field the page wrote.
    #[test]
    fn the_bridge_reads_every_query_the_page_writes() {
        let queries = [
            WsQuery { host: "mx.example.org".into(), port: 25, implicit_tls: false, tls_name: None },
            WsQuery { host: "[2001:db8::1]".into(), port: 587, implicit_tls: false, tls_name: None },
            WsQuery {
                host: "192.0.2.1".into(),
                port: 465,
                implicit_tls: true,
                tls_name: Some("mx.example.org".into()),
            },
            WsQuery { host: "a b&port=1é".into(), port: 25, implicit_tls: false, tls_name: Some("x&y".into()) },
        ];
        for query in queries {
            let uri: Uri = format!("http://bridge.test{}", query.to_path()).parse().expect("a URI");
            let Query(params): Query<WsParams> = Query::try_from_uri(&uri).expect("readable");
            assert_eq!(params.host.as_deref(), Some(query.host.as_str()), "{query:?}");
            assert_eq!(params.port, Some(query.port.to_string()), "{query:?}");
            assert_eq!(params.implicit_tls.as_deref() == Some("true"), query.implicit_tls, "{query:?}");
            assert_eq!(params.tls_name, query.tls_name, "{query:?}");
        }
    }
}

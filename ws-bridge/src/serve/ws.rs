//! `GET /ws?host=H&port=P`: one websocket for one SMTP connection.
//!
//! The first wire, still served for pages and scripts written against it
//! (the page itself now uses the audit socket, `/ws/audit`). Binary frames
//! are the connection's SMTP bytes, text frames the bridge's events; the
//! connection itself is [`session::run`]'s, as every other.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use relay_core::BridgeEvent;

use crate::serve::app::App;
use crate::serve::session::{self, PageGone, PageLink, WsParams};

pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(params): Query<WsParams>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(app): State<Arc<App>>,
) -> Response {
    let client = app.client_ip(peer.ip(), &headers);
    let origin_ok = app.origin_allowed(&headers);
    sized(ws, &app).on_upgrade(move |socket| session::run(app, OwnSocket(socket), client, origin_ok, params))
}

/// The websocket's limits, shared with the audit socket. axum enforces a
/// hard cap well above our limit, so that an oversized frame still reaches
/// us and gets its sentence. SMTP lines are short: small buffers keep an
/// idle session cheap (tungstenite's defaults are 128 KiB each way), and
/// writing each message at once keeps latency low.
pub fn sized(ws: WebSocketUpgrade, app: &App) -> WebSocketUpgrade {
    let hard_cap = app.limits.config.max_frame * 4;
    ws.max_frame_size(hard_cap).max_message_size(hard_cap).read_buffer_size(4 * 1024).write_buffer_size(0)
}

/// A websocket that is one connection.
struct OwnSocket(WebSocket);

impl PageLink for OwnSocket {
    async fn recv_bytes(&mut self) -> Option<Bytes> {
        loop {
            match self.0.recv().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Binary(data))) => return Some(data),
                // Text, ping and pong carry nothing for the server, and do
                // not keep the session alive either: only SMTP bytes do.
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), PageGone> {
        self.0.send(Message::Binary(Bytes::copy_from_slice(bytes))).await.map_err(|_| PageGone)
    }

    async fn send_event(&mut self, event: &BridgeEvent) -> Result<(), PageGone> {
        self.0.send(Message::Text(event.to_json().into())).await.map_err(|_| PageGone)
    }

    async fn close(&mut self) {
        let _ = self.0.send(Message::Close(None)).await;
    }
}

//! What the page and the bridge say to each other, besides SMTP.
//!
//! The page opens a websocket at `GET /ws?host=H&port=P` ([`WsQuery`]). The
//! first frame the bridge sends is a text frame holding a [`BridgeEvent`] as
//! JSON: [`BridgeEvent::Connected`] once it reached the server, or
//! [`BridgeEvent::Error`] and then the close. After `Connected`, binary
//! frames carry SMTP bytes both ways, and text frames carry further events
//! from the bridge. Both sides use these types, so they agree by
//! construction; the JSON field names and codes are a public API.
//!
//! The page itself carries all of an audit's connections on one websocket,
//! the audit socket ([`audit_socket`]): the same events and bytes, each
//! with its connection's number.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::guard::Refusal;
use crate::tls::TlsFacts;

pub mod audit_socket;

/// The path of the websocket endpoint.
pub const WS_PATH: &str = "/ws";

/// The query string of `GET /ws`: the mail server to audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsQuery {
    /// A host name or an IP address, as the user typed it.
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (port 465's implicit TLS, RFC 8314): the
    /// bridge connects with TLS and sends [`BridgeEvent::TlsEstablished`]
    /// right after [`BridgeEvent::Connected`].
    #[serde(default)]
    pub implicit_tls: bool,
    /// The name TLS checks the server's certificate against (and sends in
    /// SNI): the host the user asked for, when `host` is the address a
    /// later connection is pinned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_name: Option<String>,
}

impl WsQuery {
    /// `/ws?host=…&port=…`, the host percent-encoded.
    pub fn to_path(&self) -> String {
        let mut path = format!("{WS_PATH}?host={}&port={}", percent_encode(&self.host), self.port);
        if self.implicit_tls {
            path.push_str("&implicit_tls=true");
        }
        if let Some(name) = &self.tls_name {
            path.push_str(&format!("&tls_name={}", percent_encode(name)));
        }
        path
    }
}

/// Every byte but letters, digits and `-._~` as `%XX` (RFC 3986's unreserved
/// characters stay as they are).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A text frame from the bridge.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BridgeEvent {
    /// The bridge reached the server; SMTP bytes follow in binary frames.
    Connected {
        /// The host as the page asked for it.
        host: String,
        /// The address connected to, the one every `[ip]` probe names.
        address: String,
        port: u16,
        /// Every address the name resolved to, in the order tried.
        resolved: Vec<String>,
        /// How long the TCP connection took, in milliseconds.
        connect_ms: f64,
    },
    /// The bridge could not start or go on with the session; it closes the
    /// websocket next.
    Error { code: ErrorCode, message: String },
    /// The guard did not forward a line the page sent; the session goes on.
    Refused {
        /// The [`Refusal::code`].
        code: String,
        /// The verb of the refused line, when the guard could read one.
        command: Option<String>,
        message: String,
    },
    /// The bridge ended the session, for this reason.
    Closed { code: ErrorCode, message: String },
    /// The bridge finished a TLS handshake with the server (after the
    /// server's `220` to the page's `STARTTLS`, or at connect for implicit
    /// TLS): what it read off it. SMTP goes on in binary frames, in plain
    /// text between page and bridge, so the guard still reads every line.
    TlsEstablished { facts: TlsFacts },
    /// The handshake failed, in words; the bridge closes the connection to
    /// the server and then the websocket.
    TlsFailed { reason: String },
}

impl BridgeEvent {
    /// An [`BridgeEvent::Error`] with the code's default sentence.
    pub fn error(code: ErrorCode) -> Self {
        BridgeEvent::Error { code, message: code.default_message().to_string() }
    }

    /// A [`BridgeEvent::Closed`] with the code's default sentence.
    pub fn closed(code: ErrorCode) -> Self {
        BridgeEvent::Closed { code, message: code.default_message().to_string() }
    }

    /// The guard refused a line and the session goes on.
    pub fn refused(refusal: &Refusal) -> Self {
        BridgeEvent::Refused {
            code: refusal.code().to_string(),
            command: refusal.command().map(str::to_string),
            message: sentence(&refusal.to_string()),
        }
    }

    /// The guard stopped reading the page ([`crate::guard::Decision::Close`]),
    /// so the bridge ends the session; the sentence says why.
    pub fn closed_by_guard(refusal: &Refusal) -> Self {
        BridgeEvent::Closed { code: ErrorCode::GuardClosed, message: sentence(&refusal.to_string()) }
    }

    /// The event as the text of a websocket frame.
    pub fn to_json(&self) -> String {
        // These types always serialise; should that ever change, the page
        // still gets an event it can read rather than nothing.
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(r#"{{"type":"error","code":"internal","message":"{}"}}"#, ErrorCode::Internal.default_message())
        })
    }

    /// Reads the text of a websocket frame.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Why the bridge did not connect, or ended the session. The snake_case
/// names are stable: pages and scripts match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    OriginNotAllowed,
    PortNotAllowed,
    AddressDenied,
    UnknownHost,
    NoAddress,
    ConnectFailed,
    ConnectTimeout,
    TooManySessions,
    TooManySessionsFromYou,
    RateLimited,
    DestinationRateLimited,
    /// As many connections to this mail server (or its /64) are open as the
    /// bridge allows, from everyone together.
    DestinationBusy,
    /// The request named a Host the bridge does not answer to (a
    /// DNS-rebinding page, or a misconfigured proxy).
    HostNotAllowed,
    /// The owner of the mail server (its domain or address block) asked
    /// the bridge's operator not to be tested.
    OptedOut,
    IdleTimeout,
    SessionTooLong,
    ByteLimit,
    FrameTooLarge,
    GuardClosed,
    ServerClosed,
    ShuttingDown,
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::BadRequest,
        ErrorCode::OriginNotAllowed,
        ErrorCode::PortNotAllowed,
        ErrorCode::AddressDenied,
        ErrorCode::UnknownHost,
        ErrorCode::NoAddress,
        ErrorCode::ConnectFailed,
        ErrorCode::ConnectTimeout,
        ErrorCode::TooManySessions,
        ErrorCode::TooManySessionsFromYou,
        ErrorCode::RateLimited,
        ErrorCode::DestinationRateLimited,
        ErrorCode::DestinationBusy,
        ErrorCode::HostNotAllowed,
        ErrorCode::OptedOut,
        ErrorCode::IdleTimeout,
        ErrorCode::SessionTooLong,
        ErrorCode::ByteLimit,
        ErrorCode::FrameTooLarge,
        ErrorCode::GuardClosed,
        ErrorCode::ServerClosed,
        ErrorCode::ShuttingDown,
        ErrorCode::Internal,
    ];

    /// The code of this stable name, if it is one.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// The stable name, as in the JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::PortNotAllowed => "port_not_allowed",
            ErrorCode::AddressDenied => "address_denied",
            ErrorCode::UnknownHost => "unknown_host",
            ErrorCode::NoAddress => "no_address",
            ErrorCode::ConnectFailed => "connect_failed",
            ErrorCode::ConnectTimeout => "connect_timeout",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::TooManySessionsFromYou => "too_many_sessions_from_you",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::DestinationRateLimited => "destination_rate_limited",
            ErrorCode::DestinationBusy => "destination_busy",
            ErrorCode::HostNotAllowed => "host_not_allowed",
            ErrorCode::OptedOut => "opted_out",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::SessionTooLong => "session_too_long",
            ErrorCode::ByteLimit => "byte_limit",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::GuardClosed => "guard_closed",
            ErrorCode::ServerClosed => "server_closed",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
        }
    }

    /// A sentence for people, when the bridge has nothing more precise to say.
    pub fn default_message(&self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "The page did not name a host and a port the bridge can read.",
            ErrorCode::OriginNotAllowed => "This bridge only serves the pages of the sites it was set up for.",
            ErrorCode::PortNotAllowed => {
                "The bridge only connects to the mail ports it allows (25, 465 and 587 unless its operator chose others)."
            }
            ErrorCode::AddressDenied => {
                "The host has a private, local or reserved address, and the bridge never connects to those."
            }
            ErrorCode::UnknownHost => "The host name does not exist in the DNS.",
            ErrorCode::NoAddress => "The host name exists but has no address to connect to.",
            ErrorCode::ConnectFailed => "The mail server refused the connection or could not be reached.",
            ErrorCode::ConnectTimeout => "The mail server did not take the connection in time.",
            ErrorCode::TooManySessions => "The bridge is busy with other audits; try again in a minute.",
            ErrorCode::TooManySessionsFromYou => {
                "You already run as many audits at once as the bridge allows; wait for one to finish."
            }
            ErrorCode::RateLimited => "You started too many audits in a short time; try again in a minute.",
            ErrorCode::DestinationRateLimited => {
                "This mail server has been audited too often in a short time; try again later."
            }
            ErrorCode::DestinationBusy => {
                "The bridge already holds as many connections to this mail server as it allows; try again in a minute."
            }
            ErrorCode::HostNotAllowed => "This bridge does not answer to the name the request was sent to.",
            ErrorCode::OptedOut => "The owner of this server has asked not to be tested from this service.",
            ErrorCode::IdleTimeout => "Nothing was said for too long, so the bridge ended the session.",
            ErrorCode::SessionTooLong => "The session lasted as long as the bridge allows, so it ended it.",
            ErrorCode::ByteLimit => "The session carried as many bytes as the bridge allows, so it ended it.",
            ErrorCode::FrameTooLarge => "The page sent a websocket frame larger than the bridge accepts.",
            ErrorCode::GuardClosed => "The page sent something the bridge could not read safely, so it ended the session.",
            ErrorCode::ServerClosed => "The mail server closed the connection.",
            ErrorCode::ShuttingDown => "The bridge is shutting down; try again in a minute.",
            ErrorCode::Internal => "The bridge failed unexpectedly; try again, and tell its operator if it goes on.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to `GET /api/mx?domain=`: the domain's mail servers, in
/// preference order, and which of them the bridge may audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MxAnswer {
    pub domain: String,
    pub hosts: Vec<MxHostAnswer>,
}

/// One mail server of an [`MxAnswer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MxHostAnswer {
    pub preference: u16,
    pub exchange: String,
    /// No MX record: the domain's own address stands in (RFC 5321 §5.1).
    pub implicit: bool,
    pub addresses: Vec<MxAddressAnswer>,
    /// Whether the bridge would audit it (every address allowed, not opted out).
    pub allowed: bool,
    /// Why its addresses could not be resolved, in words.
    pub error: Option<String>,
}

/// One address of an [`MxHostAnswer`]; a denied address is never shown
/// (`"hidden"`), only why it is denied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MxAddressAnswer {
    pub address: String,
    pub allowed: bool,
    pub reason: Option<String>,
}

/// The answer to `GET /api/lab`: the built-in lab's servers, none without `--lab`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabAnswer {
    pub lab: bool,
    pub targets: Vec<LabTarget>,
}

/// One server of the built-in lab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabTarget {
    /// The lab server's name (`open-relay…`, `closed…`).
    pub name: String,
    /// What it is, in words.
    pub label: String,
    pub host: String,
    pub port: u16,
}

/// The body of every refused API request: `{"error":{"code","message"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

/// What an [`ApiError`] holds: a stable code and a sentence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { error: ApiErrorBody { code, message: message.into() } }
    }
}

/// Library errors read as clauses ("the command … is not allowed"); events
/// are shown to people as sentences.
pub fn sentence(clause: &str) -> String {
    let mut chars = clause.chars();
    let Some(first) = chars.next() else { return String::new() };
    let mut out: String = first.to_uppercase().collect();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Every field any event may carry, read flat: serde reads an internally
/// tagged enum by buffering the whole object first, which costs the page
/// about 20 KB of WASM for the one message it reads most; the JSON is the
/// same. The audit socket's events carry `connection` too
/// ([`audit_socket::TaggedEvent`]).
#[derive(Deserialize)]
struct FlatEvent {
    #[serde(rename = "type")]
    kind: String,
    connection: Option<u32>,
    host: Option<String>,
    address: Option<String>,
    port: Option<u16>,
    #[serde(default)]
    resolved: Vec<String>,
    connect_ms: Option<f64>,
    code: Option<String>,
    command: Option<String>,
    message: Option<String>,
    facts: Option<TlsFacts>,
    reason: Option<String>,
}

impl FlatEvent {
    fn into_event<E: de::Error>(self) -> Result<BridgeEvent, E> {
        fn field<T, E: de::Error>(value: Option<T>, name: &'static str) -> Result<T, E> {
            value.ok_or_else(|| E::missing_field(name))
        }
        let code = |code: Option<String>| -> Result<ErrorCode, E> {
            let code = field(code, "code")?;
            ErrorCode::from_name(&code).ok_or_else(|| de::Error::unknown_variant(&code, &[]))
        };
        let f = self;
        Ok(match f.kind.as_str() {
            "connected" => BridgeEvent::Connected {
                host: field(f.host, "host")?,
                address: field(f.address, "address")?,
                port: field(f.port, "port")?,
                resolved: f.resolved,
                connect_ms: f.connect_ms.unwrap_or_default(),
            },
            "error" => BridgeEvent::Error { code: code(f.code)?, message: field(f.message, "message")? },
            "refused" => BridgeEvent::Refused {
                code: field(f.code, "code")?,
                command: f.command,
                message: field(f.message, "message")?,
            },
            "closed" => BridgeEvent::Closed { code: code(f.code)?, message: field(f.message, "message")? },
            "tls_established" => BridgeEvent::TlsEstablished { facts: field(f.facts, "facts")? },
            "tls_failed" => BridgeEvent::TlsFailed { reason: field(f.reason, "reason")? },
            other => {
                const KINDS: &[&str] = &["connected", "error", "refused", "closed", "tls_established", "tls_failed"];
                return Err(de::Error::unknown_variant(other, KINDS));
            }
        })
    }
}

impl<'de> Deserialize<'de> for BridgeEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        FlatEvent::deserialize(deserializer)?.into_event()
    }
}

/// Read as its name: a string matched against [`ErrorCode::ALL`], much
/// smaller in the page than serde's visitor for 23 variants.
impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ErrorCode::from_name(&name).ok_or_else(|| de::Error::unknown_variant(&name, &[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_answers_read_back_as_written() {
        let mx = r#"{"domain":"example.org","hosts":[{"addresses":[{"address":"192.0.2.1","allowed":true,"reason":null},{"address":"hidden","allowed":false,"reason":"Private."}],"allowed":false,"error":null,"exchange":"mx.example.org","implicit":false,"preference":10}]}"#;
        let answer: MxAnswer = serde_json::from_str(mx).unwrap();
        assert_eq!(answer.hosts[0].addresses[1].reason.as_deref(), Some("Private."));
        let again: serde_json::Value = serde_json::to_value(&answer).unwrap();
        assert_eq!(again, serde_json::from_str::<serde_json::Value>(mx).unwrap());
        let error = ApiError::new(ErrorCode::BadRequest, "Give the domain.");
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(text, r#"{"error":{"code":"bad_request","message":"Give the domain."}}"#);
        assert_eq!(serde_json::from_str::<ApiError>(&text).unwrap(), error);
        let lab: LabAnswer = serde_json::from_str(
            r#"{"lab":true,"targets":[{"name":"closed","label":"a closed server","host":"127.0.0.1","port":2525}]}"#,
        )
        .unwrap();
        assert_eq!((lab.lab, lab.targets[0].port), (true, 2525));
    }

    fn connected() -> BridgeEvent {
        BridgeEvent::Connected {
            host: "mx.example.org".into(),
            address: "192.0.2.7".into(),
            port: 25,
            resolved: vec!["192.0.2.7".into(), "2001:db8::7".into()],
            connect_ms: 12.5,
        }
    }

    #[test]
    fn connected_json_is_the_public_api() {
        assert_eq!(
            connected().to_json(),
            r#"{"type":"connected","host":"mx.example.org","address":"192.0.2.7","port":25,"resolved":["192.0.2.7","2001:db8::7"],"connect_ms":12.5}"#
        );
    }

    #[test]
    fn error_json_is_the_public_api() {
        let event = BridgeEvent::Error { code: ErrorCode::PortNotAllowed, message: "only 25, 465 and 587".into() };
        assert_eq!(event.to_json(), r#"{"type":"error","code":"port_not_allowed","message":"only 25, 465 and 587"}"#);
        assert_eq!(
            BridgeEvent::closed(ErrorCode::IdleTimeout).to_json(),
            r#"{"type":"closed","code":"idle_timeout","message":"Nothing was said for too long, so the bridge ended the session."}"#
        );
        assert_eq!(
            BridgeEvent::refused(&Refusal::CommandNotAllowed { verb: "DATA".into() }).to_json(),
            format!(
                r#"{{"type":"refused","code":"command_not_allowed","command":"DATA","message":"{}"}}"#,
                sentence(&Refusal::CommandNotAllowed { verb: "DATA".into() }.to_string())
            )
        );
    }

    #[test]
    fn events_round_trip() {
        let events = [
            connected(),
            BridgeEvent::error(ErrorCode::AddressDenied),
            BridgeEvent::refused(&Refusal::TooManyRecipients { limit: 64 }),
            BridgeEvent::refused(&Refusal::BareLineFeed),
            BridgeEvent::closed_by_guard(&Refusal::Unreadable { byte: 0x16 }),
            BridgeEvent::closed(ErrorCode::ServerClosed),
            BridgeEvent::TlsEstablished {
                facts: TlsFacts {
                    version: "TLSv1.3".into(),
                    cipher: "TLS_AES_128_GCM_SHA256".into(),
                    chain: vec![crate::tls::CertificateFacts {
                        subject: "CN=mx.example.org".into(),
                        issuer: "CN=R11, O=Let's Encrypt".into(),
                        names: vec!["mx.example.org".into()],
                        not_before: "2026-10-01".into(),
                        not_after: "2026-12-30".into(),
                        days_left: 31,
                        self_signed: false,
                    }],
                    checked_name: "mx.example.org".into(),
                    name_matches: true,
                    trusted: true,
                    trust_problem: None,
                },
            },
            BridgeEvent::TlsFailed { reason: "the server closed the connection during the TLS handshake".into() },
        ];
        for event in events {
            let json = event.to_json();
            assert_eq!(BridgeEvent::from_json(&json).unwrap(), event, "{json}");
        }
        // A refusal without a verb may leave `command` out.
        assert_eq!(
            BridgeEvent::from_json(r#"{"type":"refused","code":"bare_line_feed","message":"m"}"#).unwrap(),
            BridgeEvent::Refused { code: "bare_line_feed".into(), command: None, message: "m".into() }
        );
        assert!(BridgeEvent::from_json(r#"{"type":"hello"}"#).is_err());
        assert!(BridgeEvent::from_json(r#"{"type":"connected","host":"h"}"#).is_err(), "a field missing");
        assert!(BridgeEvent::from_json(r#"{"type":"tls_established"}"#).is_err(), "no facts");
        assert!(BridgeEvent::from_json(r#"{"type":"error","code":"no_such_code","message":"m"}"#).is_err());
        assert!(BridgeEvent::from_json("not json").is_err());
    }

    #[test]
    fn error_codes_are_stable() {
        let mut names = Vec::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(code.to_string(), code.as_str());
            let sentence = code.default_message();
            assert!(!sentence.is_empty() && !sentence.contains('"') && !sentence.contains('\n'), "{sentence}");
            names.push(code.as_str());
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.contains(&"too_many_sessions_from_you"));
    }

    #[test]
    fn query_reads_and_writes() {
        let query: WsQuery = serde_json::from_str(r#"{"host":"mx.example.org","port":587}"#).unwrap();
        assert_eq!(query, WsQuery { host: "mx.example.org".into(), port: 587, implicit_tls: false, tls_name: None });
        assert_eq!(query.to_path(), "/ws?host=mx.example.org&port=587");
        let v6 = WsQuery { host: "[2001:db8::1]".into(), port: 25, implicit_tls: false, tls_name: None };
        assert_eq!(v6.to_path(), "/ws?host=%5B2001%3Adb8%3A%3A1%5D&port=25");
        let odd = WsQuery { host: "a b&port=1é".into(), port: 25, implicit_tls: false, tls_name: None };
        assert_eq!(odd.to_path(), "/ws?host=a%20b%26port%3D1%C3%A9&port=25");
        let tls = WsQuery {
            host: "192.0.2.1".into(),
            port: 465,
            implicit_tls: true,
            tls_name: Some("mx.example.org".into()),
        };
        assert_eq!(tls.to_path(), "/ws?host=192.0.2.1&port=465&implicit_tls=true&tls_name=mx.example.org");
    }
}

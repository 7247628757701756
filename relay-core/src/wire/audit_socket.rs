//! The audit socket: one websocket, `GET /ws/audit`, carrying every SMTP
//! connection of one audit.
//!
//! Why it exists: a browser opens websockets one after another (RFC 6455
//! §4.1 lets a client have only one connecting to a host at a time, and
//! Chromium adds a delay for each one pending), so the nine connections of
//! an audit on nine websockets took the page about a quarter of a second
//! just to open. On one websocket they open at once.
//!
//! Each connection is exactly a `GET /ws` session, numbered by the page:
//! - the page opens one with the text frame [`PageCommand::Open`] (the
//!   [`WsQuery`] it would have put in the URL) and may end it with
//!   [`PageCommand::Close`];
//! - binary frames, both ways, are one connection's SMTP bytes behind four
//!   bytes of its number, big-endian ([`tag`], [`untag`]);
//! - the bridge's text frames are [`BridgeEvent`]s with the connection's
//!   number ([`TaggedEvent`]). An event without a number is about the whole
//!   socket (the Origin refused, a command the bridge cannot read), and the
//!   socket closes after it.
//!
//! The bridge keeps a guard, limits, a place under the client's and the
//! destination's limits, and a log line for each connection, as for `/ws`:
//! the socket changes how the bytes travel, not what may travel.
//!
//! **Batches.** A page that offers the websocket subprotocol [`BATCHES`]
//! and hears the bridge choose it may send, and will receive, several
//! frames as one binary frame ([`batch`], [`unbatch`]): the frames are
//! read one after another, exactly as if each had come alone. The reason
//! is the browser: each websocket message costs its main thread a task and
//! its network process a hop, and an audit's nine connections answering at
//! once were about eighty messages for what is one step of the audit. A
//! page or bridge that does not know batches simply never agrees to them.

use serde::{Deserialize, Deserializer, Serialize};

use super::{BridgeEvent, FlatEvent, WsQuery};

/// The path of the audit socket.
pub const AUDIT_WS_PATH: &str = "/ws/audit";

/// The websocket subprotocol under which both sides may send [`batch`]es.
pub const BATCHES: &str = "relaycheck.batches";

/// The number before a batch, never a connection's: the bridge refuses to
/// open a connection under it.
pub const BATCH: u32 = u32::MAX;

/// One websocket frame of the audit socket, alone or inside a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// The record kinds inside a batch.
const TEXT: u8 = 0;
const BINARY: u8 = 1;

/// Several frames as one binary frame: [`BATCH`], then for each frame one
/// byte of kind (0 text, 1 binary), four bytes of length (big-endian), and
/// the frame itself.
pub fn batch(frames: &[Frame<'_>]) -> Vec<u8> {
    let size = frames.iter().map(|f| 5 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(4 + size);
    out.extend_from_slice(&BATCH.to_be_bytes());
    for frame in frames {
        let (kind, body) = match frame {
            Frame::Text(text) => (TEXT, text.as_bytes()),
            Frame::Binary(bytes) => (BINARY, *bytes),
        };
        out.push(kind);
        // A websocket message is far below 4 GiB; the bridge caps it.
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// The frames of a batch (what follows [`BATCH`]), or `None` if it is not
/// one: cut short, an unknown kind, text that is not UTF-8, or a batch
/// inside a batch. All or nothing, so a bad batch changes nothing.
pub fn unbatch(records: &[u8]) -> Option<Vec<Frame<'_>>> {
    let mut frames = Vec::new();
    let mut rest = records;
    while let Some((&kind, after)) = rest.split_first() {
        let (length, after) = after.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
        let (body, after) = (after.get(..length)?, &after[length..]);
        frames.push(match kind {
            TEXT => Frame::Text(std::str::from_utf8(body).ok()?),
            BINARY if untag(body).is_some_and(|(n, _)| n != BATCH) => Frame::Binary(body),
            _ => return None,
        });
        rest = after;
    }
    Some(frames)
}

/// The frames one websocket message carries: itself, or, when both sides
/// agreed to batches, those of its batch; `None` for a batch that cannot
/// be read.
pub fn unpack(message: Frame<'_>, batches: bool) -> Option<Vec<Frame<'_>>> {
    match message {
        Frame::Binary(bytes) if batches => match untag(bytes) {
            Some((BATCH, records)) => unbatch(records),
            _ => Some(vec![message]),
        },
        _ => Some(vec![message]),
    }
}

impl Frame<'_> {
    fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }
}

/// A text frame from the page on the audit socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PageCommand {
    /// Connect, as `GET /ws` with this query would. `connection` is the
    /// page's number for it, not in use on this socket.
    Open { connection: u32, target: WsQuery },
    /// End this connection (the bridge says QUIT for nobody: it just closes).
    Close { connection: u32 },
}

impl PageCommand {
    /// The command as the text of a websocket frame.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and booleans always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A text frame from the bridge on the audit socket: an event of one
/// connection, or of the whole socket when `connection` is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct TaggedEvent {
    pub connection: Option<u32>,
    pub event: BridgeEvent,
}

impl TaggedEvent {
    /// The event's JSON with `"connection": N` beside its fields.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.event).unwrap_or_default();
        if let (Some(n), Some(fields)) = (self.connection, value.as_object_mut()) {
            fields.insert("connection".into(), n.into());
        }
        value.to_string()
    }

    /// Reads the text of a websocket frame.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl<'de> Deserialize<'de> for TaggedEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let flat = FlatEvent::deserialize(deserializer)?;
        let connection = flat.connection;
        Ok(TaggedEvent { connection, event: flat.into_event()? })
    }
}

/// A binary frame carrying `bytes` of connection `connection`.
pub fn tag(connection: u32, bytes: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&connection.to_be_bytes());
    frame.extend_from_slice(bytes);
    frame
}

/// The connection's number and its bytes, if the frame has a number at all.
pub fn untag(frame: &[u8]) -> Option<(u32, &[u8])> {
    let (number, bytes) = frame.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*number), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn commands_are_the_public_api() {
        let open = PageCommand::Open {
            connection: 3,
            target: WsQuery { host: "mx.example.org".into(), port: 25, implicit_tls: false, tls_name: None },
        };
        let json = open.to_json();
        assert_eq!(
            json,
            r#"{"type":"open","connection":3,"target":{"host":"mx.example.org","port":25,"implicit_tls":false}}"#
        );
        assert_eq!(serde_json::from_str::<PageCommand>(&json).unwrap(), open);
        let close = PageCommand::Close { connection: 3 };
        assert_eq!(close.to_json(), r#"{"type":"close","connection":3}"#);
        // What a page written by hand might send: the defaults fill in.
        let short: PageCommand =
            serde_json::from_str(r#"{"type":"open","connection":0,"target":{"host":"h","port":587}}"#).unwrap();
        assert!(matches!(short, PageCommand::Open { connection: 0, target } if target.port == 587));
        assert!(serde_json::from_str::<PageCommand>(r#"{"type":"open","connection":-1}"#).is_err());
        assert!(serde_json::from_str::<PageCommand>(r#"{"type":"data","connection":1}"#).is_err());
    }

    #[test]
    fn events_carry_their_connection() {
        let tagged = TaggedEvent { connection: Some(7), event: BridgeEvent::closed(ErrorCode::ServerClosed) };
        let json = tagged.to_json();
        assert!(json.contains(r#""connection":7"#) && json.contains(r#""type":"closed""#), "{json}");
        assert_eq!(TaggedEvent::from_json(&json).unwrap(), tagged);
        let whole = TaggedEvent { connection: None, event: BridgeEvent::error(ErrorCode::OriginNotAllowed) };
        let json = whole.to_json();
        assert!(!json.contains("connection"), "{json}");
        assert_eq!(TaggedEvent::from_json(&json).unwrap(), whole);
        // A `/ws` reader ignores the number; an audit-socket reader needs a valid event.
        assert_eq!(BridgeEvent::from_json(&tagged.to_json()).unwrap(), tagged.event);
        assert!(TaggedEvent::from_json(r#"{"type":"closed","connection":1}"#).is_err());
    }

    #[test]
    fn a_batch_is_its_frames_in_order() {
        let ehlo = tag(2, b"EHLO relaycheck.invalid\r\n");
        let open = PageCommand::Close { connection: 1 }.to_json();
        let frames = [Frame::Binary(&ehlo), Frame::Text(&open), Frame::Binary(&tag(0, b""))];
        let whole = batch(&frames);
        let (number, records) = untag(&whole).unwrap();
        assert_eq!(number, BATCH);
        assert_eq!(unbatch(records).unwrap(), frames);
        assert_eq!(unbatch(&[]).unwrap(), [], "an empty batch is no frame");
        // Anything malformed is refused whole.
        assert_eq!(unbatch(&records[..records.len() - 1]), None, "cut short");
        assert_eq!(unbatch(&[7, 0, 0, 0, 0]), None, "an unknown kind");
        assert_eq!(unbatch(&[TEXT, 0, 0, 0, 1, 0xff]), None, "text that is not UTF-8");
        assert_eq!(unbatch(&[BINARY, 0, 0, 0, 2, 0, 1]), None, "bytes without a connection number");
        let nested = batch(&[Frame::Binary(&whole)]);
        assert_eq!(unbatch(&nested[4..]), None, "a batch inside a batch");
        assert_eq!(unbatch(&[TEXT, 0xff, 0xff, 0xff, 0xff]), None, "a length beyond the frame");
    }

    proptest::proptest! {
        /// Whatever a page sends as a batch: read without a panic, and a
        /// batch that reads is exactly what its frames make again.
        #[test]
        fn any_bytes_read_as_a_batch_or_not_at_all(records in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Some(frames) = unbatch(&records) {
                proptest::prop_assert_eq!(&batch(&frames)[4..], &records[..]);
            }
        }

        #[test]
        fn frames_come_back_from_their_batch(parts in proptest::collection::vec((proptest::bool::ANY, "[ -~]{0,12}", 0u32..9), 0..8)) {
            let owned: Vec<(bool, String, Vec<u8>)> =
                parts.into_iter().map(|(text, body, n)| (text, body.clone(), tag(n, body.as_bytes()))).collect();
            let frames: Vec<Frame<'_>> = owned
                .iter()
                .map(|(text, body, bytes)| if *text { Frame::Text(body) } else { Frame::Binary(bytes) })
                .collect();
            let whole = batch(&frames);
            proptest::prop_assert_eq!(untag(&whole).map(|(n, _)| n), Some(BATCH));
            proptest::prop_assert_eq!(unbatch(&whole[4..]), Some(frames));
        }
    }

    #[test]
    fn a_message_is_its_batch_only_under_batches() {
        let (noop, close) = (tag(1, b"NOOP\r\n"), PageCommand::Close { connection: 1 }.to_json());
        let frames = [Frame::Binary(&noop), Frame::Text(&close)];
        let whole = batch(&frames);
        assert_eq!(unpack(Frame::Binary(&whole), true).unwrap(), frames);
        assert_eq!(unpack(Frame::Binary(&whole), false).unwrap(), [Frame::Binary(&whole)]);
        assert_eq!(unpack(Frame::Binary(&noop), true).unwrap(), [Frame::Binary(&noop)]);
        assert_eq!(unpack(Frame::Text(&close), true).unwrap(), [Frame::Text(&close)]);
        assert_eq!(unpack(Frame::Binary(&whole[..whole.len() - 1]), true), None);
    }

    #[test]
    fn bytes_are_numbered() {
        let frame = tag(0x0102_0304, b"EHLO x\r\n");
        assert_eq!(&frame[..4], &[1, 2, 3, 4]);
        assert_eq!(untag(&frame), Some((0x0102_0304, &b"EHLO x\r\n"[..])));
        assert_eq!(untag(&tag(9, b"")), Some((9, &b""[..])));
        assert_eq!(untag(b"abc"), None, "shorter than a number");
    }
}

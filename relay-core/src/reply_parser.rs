//! An incremental reply parser: feed it bytes as they arrive, take whole
//! replies out. It never panics on what a server sends, and it bounds what it
//! keeps, so a hostile server cannot make it grow without end.

use thiserror::Error;

use crate::reply::Reply;

/// How much one reply may hold before the parser gives up on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Bytes in one line, CRLF included. RFC 5321 §4.5.3.1.5 says 512; real
    /// servers write longer banners, so we allow well beyond that.
    pub max_line: usize,
    /// Lines in one multi-line reply.
    pub max_lines: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits { max_line: 4096, max_lines: 256 }
    }
}

/// Why the bytes from the server are not an SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReplyError {
    #[error("the server sent a line longer than {limit} bytes without ending it")]
    LineTooLong { limit: usize },
    #[error("the server sent a reply of more than {limit} lines")]
    TooManyLines { limit: usize },
    #[error("the server sent a line that is not an SMTP reply: “{line}”")]
    NotAReply { line: String },
    #[error("the server changed the reply code within one reply ({first}, then {then})")]
    CodeChanged { first: u16, then: u16 },
}

/// Collects bytes and yields complete replies.
///
/// After an error the parser stays failed: the stream has lost its framing,
/// and guessing where the next reply starts would put words in the server's
/// mouth.
#[derive(Debug, Default)]
pub struct ReplyParser {
    limits: ReplyLimits,
    /// The bytes of the line being read, not yet ended.
    partial: Vec<u8>,
    /// Code and lines of a multi-line reply read so far.
    pending: Option<(u16, Vec<String>)>,
    failed: Option<ReplyError>,
    reported: bool,
    /// Whole lines already split off but not yet made into replies.
    lines: std::collections::VecDeque<Vec<u8>>,
}

impl ReplyParser {
    pub fn new(limits: ReplyLimits) -> Self {
        ReplyParser { limits, ..Default::default() }
    }

    /// Takes bytes from the server. Call [`ReplyParser::next_reply`] until it
    /// returns `None` afterwards.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    if self.partial.len() + end + 1 > self.limits.max_line {
                        self.fail(ReplyError::LineTooLong { limit: self.limits.max_line });
                        return;
                    }
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&data[..end]);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.lines.push_back(line);
                    data = &data[end + 1..];
                }
                None => {
                    if self.partial.len() + data.len() >= self.limits.max_line {
                        self.fail(ReplyError::LineTooLong { limit: self.limits.max_line });
                        return;
                    }
                    self.partial.extend_from_slice(data);
                    data = &[];
                }
            }
        }
    }

    /// The next complete reply, if one has arrived. `Some(Err(_))` means the
    /// server is not speaking SMTP; it is returned once (after any replies that
    /// were whole before the fault), then `None` for good.
    pub fn next_reply(&mut self) -> Option<Result<Reply, ReplyError>> {
        if self.reported {
            return None;
        }
        while let Some(line) = self.lines.pop_front() {
            match self.take_line(&line) {
                Ok(Some(reply)) => return Some(Ok(reply)),
                Ok(None) => {}
                Err(err) => {
                    self.failed = Some(err);
                    break;
                }
            }
        }
        let err = self.failed.clone()?;
        self.reported = true;
        self.lines.clear();
        self.pending = None;
        self.partial.clear();
        Some(Err(err))
    }

    /// True while part of a reply has arrived but not its last line.
    pub fn is_mid_reply(&self) -> bool {
        !self.partial.is_empty() || self.pending.is_some() || !self.lines.is_empty()
    }

    /// Bytes held for replies not yet taken: the line being read, whole lines
    /// not yet made into replies, and the lines of an unfinished multi-line
    /// reply. Once [`ReplyParser::next_reply`] has returned `None`, this is at
    /// most `max_line × (1 + 3 × max_lines)` whatever the server sent: the
    /// line being read is shorter than `max_line`, and an unfinished reply has
    /// at most `max_lines` lines, each shorter than `max_line` as read (and at
    /// most three times that once invalid UTF-8 is replaced by U+FFFD).
    pub fn buffered(&self) -> usize {
        self.partial.len()
            + self.lines.iter().map(Vec::len).sum::<usize>()
            + self.pending.as_ref().map_or(0, |(_, lines)| lines.iter().map(String::len).sum())
    }

    /// Whether the parser has given up on the stream.
    pub fn error(&self) -> Option<&ReplyError> {
        self.failed.as_ref()
    }

    fn fail(&mut self, err: ReplyError) {
        // Lines already whole before the fault may still hold replies;
        // `next_reply` hands those out first, then the error.
        self.partial.clear();
        self.failed = Some(err);
    }

    fn take_line(&mut self, raw: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let line = String::from_utf8_lossy(raw);
        let not_a_reply = || ReplyError::NotAReply { line: printable(&line) };
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(not_a_reply());
        }
        let code: u16 = line[..3].parse().map_err(|_| not_a_reply())?;
        if !(200..=599).contains(&code) {
            return Err(not_a_reply());
        }
        let (last, text) = match bytes.get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(not_a_reply()),
        };
        let (first, mut lines) = self.pending.take().unwrap_or((code, Vec::new()));
        if first != code {
            return Err(ReplyError::CodeChanged { first, then: code });
        }
        if lines.len() >= self.limits.max_lines {
            return Err(ReplyError::TooManyLines { limit: self.limits.max_lines });
        }
        lines.push(text.to_string());
        if last {
            Ok(Some(Reply::new(code, lines)))
        } else {
            self.pending = Some((code, lines));
            Ok(None)
        }
    }
}

/// A server's line as we show it in an error: control bytes escaped, and cut
/// short so that one error cannot flood a report.
pub(crate) fn printable(s: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::new();
    for c in s.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

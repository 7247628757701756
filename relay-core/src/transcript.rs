//! The transcript: every line sent and received, in order, with its time,
//! the way swaks prints a session.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which way a transcript line went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// We sent it to the server.
    Sent,
    /// The server sent it.
    Received,
    /// What happened on the connection itself: connected, closed, timed out.
    Note,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// Connection number, from 1.
    pub connection: u32,
    /// Milliseconds since the audit began.
    pub at_ms: f64,
    pub direction: Direction,
    /// The line without its CRLF.
    pub text: String,
}

impl fmt::Display for TranscriptLine {
    /// `[c1 +12.3ms]  -> EHLO relaycheck.invalid` — swaks's arrows: `->`
    /// for what we sent, `<-` for what came back, `===` for the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let marker = match self.direction {
            Direction::Sent => " ->",
            Direction::Received => "<- ",
            Direction::Note => "===",
        };
        // `{:>8.1}` of the milliseconds, without the float formatter.
        let at = crate::narration::fixed(self.at_ms, 1);
        write!(f, "[c{} {at:>8}ms] {} {}", self.connection, marker, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_swaks_prints_them() {
        for at_ms in [0.0, 0.05, 12.25, 1234.5678, 98_765_432.1] {
            let line = TranscriptLine { connection: 3, at_ms, direction: Direction::Sent, text: "EHLO x".into() };
            assert_eq!(line.to_string(), format!("[c3 {at_ms:>8.1}ms]  -> EHLO x"));
        }
    }
}

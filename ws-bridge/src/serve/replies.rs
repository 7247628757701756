//! Where the server's replies end in its byte stream, so that the bridge
//! knows which reply answers the page's STARTTLS and where its last byte is:
//! the bridge moves into TLS right after it, and anything the server sent
//! after it in plain text is thrown away (RFC 3207 §4.2; read later, it
//! would pass for an answer from inside TLS, as in CVE-2011-0411).
//!
//! Only a reply's last line (`250 ok`, not `250-more`) counts. Lines that are
//! not SMTP count for nothing; the engine on the page decides what they mean.
//! At most four bytes of a line are kept, so a server cannot make it grow.

/// A reply that ended in the bytes just pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyEnd {
    /// The reply's number in the session: 1 is the banner.
    pub number: u32,
    /// Its code.
    pub code: u16,
    /// Just past its last byte, in the bytes just pushed.
    pub offset: usize,
}

#[derive(Debug, Default)]
pub struct ReplyCounter {
    /// The first bytes of the line being read.
    head: [u8; 4],
    /// Bytes of that line so far, its CRLF included once seen.
    len: usize,
    /// Replies completed so far.
    complete: u32,
}

impl ReplyCounter {
    /// Reads the next bytes from the server; returns every reply they end.
    pub fn push(&mut self, data: &[u8]) -> Vec<ReplyEnd> {
        let mut ends = Vec::new();
        for (i, &b) in data.iter().enumerate() {
            if self.len < self.head.len() {
                self.head[self.len] = b;
            }
            self.len += 1;
            if b != b'\n' {
                continue;
            }
            // "250\r\n" or "250 text\r\n" ends a reply; "250-text\r\n" does not.
            let digits = self.len >= 5 && self.head[..3].iter().all(u8::is_ascii_digit);
            let last = digits && (self.len == 5 || self.head[3] == b' ');
            if last {
                self.complete += 1;
                let code = self.head[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
                ends.push(ReplyEnd { number: self.complete, code, offset: i + 1 });
            }
            self.len = 0;
        }
        ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_end_where_their_last_line_ends_whatever_the_chunks() {
        let stream = b"220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n220 2.0.0 Ready\r\nINJECTED\r\n";
        for size in [1, 2, 5, stream.len()] {
            let mut counter = ReplyCounter::default();
            let mut ends = Vec::new();
            let mut base = 0;
            for chunk in stream.chunks(size) {
                ends.extend(counter.push(chunk).into_iter().map(|e| (e.number, e.code, base + e.offset)));
                base += chunk.len();
            }
            let ready = stream.windows(5).position(|w| w == b"220 2").unwrap() + b"220 2.0.0 Ready\r\n".len();
            assert_eq!(ends, vec![(1, 220, 14), (2, 250, 52), (3, 220, ready)], "chunks of {size}");
        }
    }

    #[test]
    fn a_bare_code_ends_a_reply_and_garbage_counts_for_nothing() {
        let mut counter = ReplyCounter::default();
        let ends = counter.push(b"hello\r\n354\r\n\r\n");
        assert_eq!(ends, vec![ReplyEnd { number: 1, code: 354, offset: 12 }]);
    }
}

//! The reply parser on whatever a server may send.
//!
//! Input: `[limits, cut_lo, cut_hi, bytes…]`. The bytes are pushed into one
//! parser whole and into another cut in two at `cut` (taking every reply
//! after each push, as a driver does). Checked:
//! - nothing panics;
//! - both parsers give the same replies and the same error (the parser's
//!   promise that chunking does not matter);
//! - after draining, what the parser keeps is at most `max_line × (1 + 3 × max_lines)`;
//! - every reply has a code in 200..=599, 1 to `max_lines` lines, each shorter
//!   than `max_line`, and its wire form (`Display`) reads back as itself;
//! - an error is given once, then `None` for good, even if more bytes come.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_core::{Reply, ReplyError, ReplyLimits, ReplyParser};

fuzz_target!(|data: &[u8]| {
    let [selector, lo, hi, input @ ..] = data else { return };
    let limits = if selector & 1 == 0 {
        ReplyLimits::default()
    } else {
        // Tiny limits reach the edges quickly: 0..=93 bytes, 0..=3 lines.
        ReplyLimits { max_line: usize::from((selector >> 1) & 0x1f) * 3, max_lines: usize::from(selector >> 6) }
    };
    let cut = usize::from(u16::from_le_bytes([*lo, *hi])) % (input.len() + 1);

    let whole = feed(limits, &[input]);
    let split = feed(limits, &[&input[..cut], &input[cut..]]);
    assert_eq!(whole, split, "cutting the input at {cut} changed what was read");
});

fn feed(limits: ReplyLimits, pieces: &[&[u8]]) -> Vec<Result<Reply, ReplyError>> {
    let mut parser = ReplyParser::new(limits);
    let mut out = Vec::new();
    for piece in pieces {
        parser.push(piece);
        while let Some(next) = parser.next_reply() {
            if let Ok(reply) = &next {
                check_reply(reply, limits);
            }
            out.push(next);
        }
        // The line being read (< max_line) and the lines of an unfinished
        // reply (at most max_lines, each < max_line as read, at most three
        // times that once invalid UTF-8 is replaced by U+FFFD).
        let bound = limits.max_line.saturating_mul(3usize.saturating_mul(limits.max_lines).saturating_add(1));
        assert!(parser.buffered() <= bound, "kept {} bytes, bound {bound}", parser.buffered());
    }
    if let Some(Err(_)) = out.last() {
        assert!(parser.error().is_some());
        parser.push(b"250 more\r\n");
        assert!(parser.next_reply().is_none(), "the error is given once, then None");
        assert_eq!(parser.buffered(), 0);
    }
    assert!(out.iter().filter(|r| r.is_err()).count() <= 1);
    out
}

fn check_reply(reply: &Reply, limits: ReplyLimits) {
    assert!((200..=599).contains(&reply.code), "{reply:?}");
    assert!(!reply.lines.is_empty() && reply.lines.len() <= limits.max_lines, "{reply:?}");
    // The text after "250-" is shorter than the line, which was shorter
    // than max_line (lossy UTF-8 may lengthen it: 3 bytes per bad byte).
    for line in &reply.lines {
        assert!(line.chars().count() < limits.max_line.max(1), "{reply:?}");
    }
    let _ = (reply.summary(), reply.text(), reply.severity(), reply.needs_tls_or_auth());
    // The wire form reads back as the same reply.
    let wire = reply.to_string();
    let mut again = ReplyParser::new(ReplyLimits { max_line: usize::MAX / 2, max_lines: usize::MAX / 2 });
    again.push(wire.as_bytes());
    assert_eq!(again.next_reply(), Some(Ok(reply.clone())), "wire form {wire:?}");
    assert_eq!(again.next_reply(), None);
}

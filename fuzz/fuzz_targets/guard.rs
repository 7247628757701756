//! The bridge's guard on whatever a page may send.
//!
//! Input: `[limits, chunking, bytes…]`. The bytes go into one guard in chunks
//! whose sizes come from `chunking` (a seed for a small generator), and into
//! another guard whole. Checked:
//! - nothing panics;
//! - every `Forward` is one line ending in CRLF, at most `max_line` bytes
//!   (and never more than SMTP's 512), that `Command::parse` reads as EHLO,
//!   HELO, MAIL, RCPT, RSET, NOOP or QUIT and whose canonical form it is;
//! - no more RCPTs are forwarded than `max_rcpts`, no more lines read than
//!   `max_commands`;
//! - after a `Close`, no decision at all, in the same push or any later one;
//! - where the chunks were cut changes no decision.

#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_core::command::MAX_COMMAND_LINE;
use relay_core::{Command, Decision, Guard, GuardLimits};

fuzz_target!(|data: &[u8]| {
    let [selector, seed, input @ ..] = data else { return };
    let limits = if selector & 1 == 0 {
        GuardLimits::default()
    } else {
        GuardLimits {
            max_line: usize::from(selector >> 1) * 5,
            max_rcpts: u32::from(selector >> 4),
            max_commands: u32::from(selector >> 3),
        }
    };

    let mut chunked = Guard::new(limits);
    let mut by_chunks = Vec::new();
    let mut rest = input;
    let mut state = u32::from(*seed) | 1;
    while !rest.is_empty() {
        // Sizes 1..=64 from a xorshift of the seed: cuts land everywhere.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state as usize % 64 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let closed_before = chunked.is_closed();
        let decisions = chunked.push(chunk);
        assert!(!closed_before || decisions.is_empty(), "decisions after a Close: {decisions:?}");
        by_chunks.extend(decisions);
    }

    let mut whole = Guard::new(limits);
    let at_once = whole.push(input);
    assert_eq!(at_once, by_chunks, "the chunks changed the decisions");

    let max_line = limits.max_line.min(MAX_COMMAND_LINE);
    let mut forwarded_rcpts = 0u32;
    for (i, decision) in at_once.iter().enumerate() {
        match decision {
            Decision::Forward(bytes) => {
                assert!(bytes.ends_with(b"\r\n"), "{bytes:?}");
                assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1, "one line: {bytes:?}");
                assert_eq!(bytes.iter().filter(|&&b| b == b'\r').count(), 1, "one line: {bytes:?}");
                assert!(bytes.len() <= max_line, "{} bytes forwarded, limit {max_line}", bytes.len());
                let command = Command::parse(bytes).unwrap_or_else(|e| panic!("forwarded {bytes:?}: {e}"));
                match &command {
                    Command::Ehlo(_)
                    | Command::Helo(_)
                    | Command::Mail { .. }
                    | Command::Rset
                    | Command::Noop
                    | Command::Quit => {}
                    Command::Rcpt { .. } => forwarded_rcpts += 1,
                    other => panic!("forwarded {other:?}"),
                }
                assert_eq!(command.to_string().as_bytes(), &bytes[..], "forwarded a non-canonical form");
            }
            Decision::StartTls(bytes) => {
                assert_eq!(&bytes[..], b"STARTTLS\r\n");
                // Nobody answered it here: whatever follows ends the session.
                assert!(at_once[i + 1..].iter().all(|d| matches!(d, Decision::Close(_))), "{at_once:?}");
            }
            Decision::Refuse(_) => {}
            Decision::Close(_) => assert_eq!(i + 1, at_once.len(), "decisions after a Close: {at_once:?}"),
        }
    }
    assert!(forwarded_rcpts <= limits.max_rcpts);
    assert!(whole.recipients() == forwarded_rcpts);
    assert!(whole.commands() <= limits.max_commands);
    if whole.is_closed() {
        assert!(whole.push(b"NOOP\r\n").is_empty(), "decisions after a Close");
    }
});

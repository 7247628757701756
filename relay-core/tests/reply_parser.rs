//! Table tests for the incremental reply parser.
//!
//! Every row is fed whole, then again in chunks of 1, 2, 3, 5, 7 and 64
//! bytes, draining `next_reply` after every chunk as a driver would. Every
//! way of cutting the input must give the same replies and the same error:
//! that is what "resumable" means.

use relay_core::{ReplyError, ReplyLimits, ReplyParser};

/// What one `next_reply` should give.
#[derive(Debug)]
enum Want {
    /// A whole reply: code, enhanced code as text (if any), and its lines
    /// without code and separator.
    Reply {
        code: u16,
        enhanced: Option<&'static str>,
        lines: &'static [&'static str],
    },
    Error(ReplyError),
    /// An error of this kind; for garbage whose quoted text we do not pin.
    NotAReply,
}

fn reply(code: u16, enhanced: Option<&'static str>, lines: &'static [&'static str]) -> Want {
    Want::Reply { code, enhanced, lines }
}

struct Row {
    name: &'static str,
    input: Vec<u8>,
    limits: ReplyLimits,
    want: Vec<Want>,
}

fn row(name: &'static str, input: impl Into<Vec<u8>>, want: Vec<Want>) -> Row {
    Row { name, input: input.into(), limits: ReplyLimits::default(), want }
}

fn limited(name: &'static str, limits: ReplyLimits, input: impl Into<Vec<u8>>, want: Vec<Want>) -> Row {
    Row { name, input: input.into(), limits, want }
}

fn not_a_reply(line: &str) -> Want {
    Want::Error(ReplyError::NotAReply { line: line.into() })
}

/// A line of exactly `len` bytes, CRLF included: "250 xxx…\r\n".
fn line_of_len(len: usize) -> Vec<u8> {
    let mut line = b"250 ".to_vec();
    line.resize(len - 2, b'x');
    line.extend_from_slice(b"\r\n");
    line
}

fn table() -> Vec<Row> {
    let small = ReplyLimits { max_line: 32, max_lines: 3 };
    vec![
        row("single line", "250 OK\r\n", vec![reply(250, None, &["OK"])]),
        row(
            "multi-line EHLO reply",
            "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
            vec![reply(250, None, &["mx.example.org", "PIPELINING", "SIZE 10240000", "8BITMIME"])],
        ),
        row(
            "enhanced status code",
            "554 5.7.1 <relaycheck@example.net>: Relay access denied\r\n",
            vec![reply(554, Some("5.7.1"), &["5.7.1 <relaycheck@example.net>: Relay access denied"])],
        ),
        row(
            "enhanced status code with a three-digit detail",
            "550 5.7.606 Access denied, banned sending IP\r\n",
            vec![reply(550, Some("5.7.606"), &["5.7.606 Access denied, banned sending IP"])],
        ),
        row(
            "multi-line reply with enhanced codes on every line",
            "451-4.7.1 Greylisted, see\r\n451 4.7.1 https://example.org/greylisting\r\n",
            vec![reply(451, Some("4.7.1"), &["4.7.1 Greylisted, see", "4.7.1 https://example.org/greylisting"])],
        ),
        row(
            "a version number is not an enhanced code",
            "220 host Postfix 3.7.11\r\n",
            vec![reply(220, None, &["host Postfix 3.7.11"])],
        ),
        row(
            "a version number first is not an enhanced code either",
            "220 3.7.11 is our version\r\n",
            vec![reply(220, None, &["3.7.11 is our version"])],
        ),
        row(
            "an enhanced code of another class is not taken",
            "250 5.7.1 odd but seen\r\n",
            vec![reply(250, None, &["5.7.1 odd but seen"])],
        ),
        row("bare code without text", "250\r\n", vec![reply(250, None, &[""])]),
        row("code and space without text", "250 \r\n", vec![reply(250, None, &[""])]),
        row(
            "LF-only line endings",
            "220-mx.example.org\n220 ready\n",
            vec![reply(220, None, &["mx.example.org", "ready"])],
        ),
        row(
            "two replies in one buffer",
            "250 2.1.0 Ok\r\n554 5.7.1 Relay access denied\r\n",
            vec![reply(250, Some("2.1.0"), &["2.1.0 Ok"]), reply(554, Some("5.7.1"), &["5.7.1 Relay access denied"])],
        ),
        row(
            "UTF-8 text survives being cut mid-character",
            "220 mx.example.org Grüße\r\n",
            vec![reply(220, None, &["mx.example.org Grüße"])],
        ),
        row(
            "a reply without its line end is not a reply yet",
            "250 2.0.0 Ok\r\n250 still com",
            vec![reply(250, Some("2.0.0"), &["2.0.0 Ok"])],
        ),
        row("an HTTP server", "HTTP/1.1 400 Bad Request\r\n\r\n", vec![not_a_reply("HTTP/1.1 400 Bad Request")]),
        row("binary bytes", b"\x16\x03\x03\x00\x02\x02\x28\xff\n".to_vec(), vec![Want::NotAReply]),
        row("code out of range", "199 hm\r\n", vec![not_a_reply("199 hm")]),
        row("no separator after the code", "250Ok\r\n", vec![not_a_reply("250Ok")]),
        row("an empty line", "\r\n", vec![not_a_reply("")]),
        row(
            "good replies before garbage still come out, and nothing after it",
            "250 2.0.0 Ok\r\nHTTP/1.1 400\r\n250 2.0.0 Ok\r\n",
            vec![reply(250, Some("2.0.0"), &["2.0.0 Ok"]), not_a_reply("HTTP/1.1 400")],
        ),
        row(
            "control bytes are escaped in the error",
            b"\x1b[31mhello\r\n".to_vec(),
            vec![not_a_reply("\\u{1b}[31mhello")],
        ),
        row(
            "code changes inside a multi-line reply",
            "250-mx.example.org\r\n251 PIPELINING\r\n",
            vec![Want::Error(ReplyError::CodeChanged { first: 250, then: 251 })],
        ),
        row(
            "a line at the default limit is fine",
            line_of_len(4096),
            vec![Want::Reply { code: 250, enhanced: None, lines: &[] }],
        ),
        row(
            "a line one byte over the default limit is not",
            line_of_len(4097),
            vec![Want::Error(ReplyError::LineTooLong { limit: 4096 })],
        ),
        row(
            "an endless line without newline",
            [b"250 ".as_slice(), &[b'x'; 5000]].concat(),
            vec![Want::Error(ReplyError::LineTooLong { limit: 4096 })],
        ),
        limited(
            "a line longer than a small limit without newline, after a good reply",
            small,
            format!("250 Ok\r\n220 {}", "y".repeat(40)),
            vec![reply(250, None, &["Ok"]), Want::Error(ReplyError::LineTooLong { limit: 32 })],
        ),
        limited(
            "a line of exactly the small limit",
            small,
            line_of_len(32),
            vec![Want::Reply { code: 250, enhanced: None, lines: &[] }],
        ),
        limited(
            "a line one over the small limit, ended",
            small,
            line_of_len(33),
            vec![Want::Error(ReplyError::LineTooLong { limit: 32 })],
        ),
        limited(
            "as many lines as the limit",
            small,
            "250-a\r\n250-b\r\n250 c\r\n",
            vec![reply(250, None, &["a", "b", "c"])],
        ),
        limited(
            "more lines than the limit",
            small,
            "250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
            vec![Want::Error(ReplyError::TooManyLines { limit: 3 })],
        ),
        limited(
            "an endless multi-line reply",
            small,
            "250-more\r\n".repeat(1000),
            vec![Want::Error(ReplyError::TooManyLines { limit: 3 })],
        ),
    ]
}

/// Feeds `input` in chunks of `chunk` bytes, taking every reply after each
/// chunk, and checks the parser's promises about errors on the way.
fn feed(limits: ReplyLimits, input: &[u8], chunk: usize) -> Vec<Result<relay_core::Reply, ReplyError>> {
    let mut parser = ReplyParser::new(limits);
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        parser.push(piece);
        while let Some(item) = parser.next_reply() {
            out.push(item);
        }
    }
    if out.last().is_some_and(Result::is_err) {
        // Once failed, always failed: later bytes, even good ones, give nothing.
        parser.push(b"250 2.0.0 Ok\r\n");
        assert!(parser.next_reply().is_none(), "the error is given once, then None");
        assert!(parser.next_reply().is_none());
        assert!(parser.error().is_some(), "the parser remembers that it failed");
    } else {
        assert!(parser.error().is_none());
    }
    out
}

fn check(row: &Row, got: &[Result<relay_core::Reply, ReplyError>], how: &str) {
    assert_eq!(got.len(), row.want.len(), "{} ({how}): got {got:?}", row.name);
    for (i, (got, want)) in got.iter().zip(&row.want).enumerate() {
        let at = format!("{} ({how}), item {i}", row.name);
        match (got, want) {
            (Ok(reply), Want::Reply { code, enhanced, lines }) => {
                assert_eq!(reply.code, *code, "{at}");
                assert_eq!(reply.enhanced.map(|e| e.to_string()).as_deref(), *enhanced, "{at}");
                // An empty `lines` in the table means "one line, not checked
                // word for word" (the long-line rows).
                if lines.is_empty() {
                    assert_eq!(reply.lines.len(), 1, "{at}");
                } else {
                    assert_eq!(reply.lines, *lines, "{at}");
                }
            }
            (Err(err), Want::Error(want)) => assert_eq!(err, want, "{at}"),
            (Err(ReplyError::NotAReply { .. }), Want::NotAReply) => {}
            (got, want) => panic!("{at}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn table_fed_whole_and_in_chunks() {
    for row in table() {
        let whole = feed(row.limits, &row.input, row.input.len().max(1));
        check(&row, &whole, "whole");
        for chunk in [1, 2, 3, 5, 7, 64] {
            let got = feed(row.limits, &row.input, chunk);
            check(&row, &got, &format!("chunks of {chunk}"));
            assert_eq!(got, whole, "{}: chunks of {chunk} differ from the whole", row.name);
        }
    }
}

#[test]
fn mid_reply_until_the_last_line() {
    let mut parser = ReplyParser::new(ReplyLimits::default());
    assert!(!parser.is_mid_reply());
    parser.push(b"220-mx.example.org ESMTP\r\n");
    assert!(parser.next_reply().is_none());
    assert!(parser.is_mid_reply(), "a 220- line promises more");
    parser.push(b"220 ready");
    assert!(parser.next_reply().is_none());
    assert!(parser.is_mid_reply());
    parser.push(b"\r\n");
    let reply = parser.next_reply().expect("the last line ends the reply").expect("a good reply");
    assert_eq!(reply.lines, ["mx.example.org ESMTP", "ready"]);
    assert!(!parser.is_mid_reply());
    assert!(parser.next_reply().is_none());
}

#[test]
fn the_parser_keeps_going_after_a_good_reply() {
    // Resumption across replies, not only across chunks: one parser, many
    // pushes, as a whole session uses it.
    let mut parser = ReplyParser::new(ReplyLimits::default());
    let mut codes = Vec::new();
    for piece in ["220 mx ESMTP\r\n250-mx\r\n", "250 PIPELINING\r\n25", "0 2.1.0 Ok\r\n"] {
        parser.push(piece.as_bytes());
        while let Some(r) = parser.next_reply() {
            codes.push(r.expect("good replies").code);
        }
    }
    assert_eq!(codes, [220, 250, 250]);
}

#[test]
fn errors_read_as_sentences() {
    let err = ReplyError::NotAReply { line: "HTTP/1.1 400 Bad Request".into() };
    assert!(err.to_string().contains("HTTP/1.1 400 Bad Request"), "{err}");
    let err = ReplyError::LineTooLong { limit: 4096 };
    assert!(err.to_string().contains("4096"), "{err}");
}

#[test]
fn a_flood_of_garbage_without_newline_is_bounded() {
    // 1 MiB of bytes with no line end: the parser must give up at the limit
    // instead of keeping it all.
    let mut parser = ReplyParser::new(ReplyLimits::default());
    let junk = vec![0xAAu8; 1 << 20];
    for piece in junk.chunks(1000) {
        parser.push(piece);
    }
    assert_eq!(parser.next_reply(), Some(Err(ReplyError::LineTooLong { limit: 4096 })));
    assert_eq!(parser.next_reply(), None);
}

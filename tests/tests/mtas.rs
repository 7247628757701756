//! Each real-MTA fixture is what it claims: spoken to in raw SMTP, one
//! command at a time, never DATA.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use relaycheck_tests::exim::{self, Exim};
use relaycheck_tests::opensmtpd::{self, OpenSmtpd};
use relaycheck_tests::postfix::HOSTNAME;

/// One SMTP session, one command at a time.
struct Smtp {
    reader: BufReader<TcpStream>,
    banner: String,
    ehlo: String,
}

impl Smtp {
    fn connect(addr: SocketAddr) -> Smtp {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut smtp = Smtp { reader: BufReader::new(stream), banner: String::new(), ehlo: String::new() };
        let (code, banner) = smtp.reply();
        assert_eq!(code, 220, "banner {banner:?}");
        smtp.banner = banner;
        let (code, text) = smtp.cmd("EHLO relaycheck.invalid");
        assert_eq!(code, 250, "EHLO: {text}");
        smtp.ehlo = text;
        smtp
    }

    /// Reads one reply to its last line: its code and its lines joined by " / ".
    fn reply(&mut self) -> (u16, String) {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read a reply");
            assert!(n > 0, "connection closed after {lines:?}");
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        let code = lines[0].get(..3).and_then(|c| c.parse().ok()).expect("a reply code");
        (code, lines.join(" / "))
    }

    /// Whether the server has closed the connection (EOF within the read timeout).
    fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(self.reader.read_line(&mut line), Ok(0) | Err(_))
    }

    fn cmd(&mut self, command: &str) -> (u16, String) {
        assert!(!command.to_ascii_uppercase().starts_with("DATA"), "never DATA");
        self.reader.get_mut().write_all(format!("{command}\r\n").as_bytes()).expect("send");
        self.reply()
    }

    /// RSET, MAIL FROM:<sender>, RCPT TO:<rcpt>: the two replies that matter.
    fn probe(&mut self, sender: &str, rcpt: &str) -> ((u16, String), (u16, String)) {
        let (code, text) = self.cmd("RSET");
        assert_eq!(code, 250, "RSET: {text}");
        let mail = self.cmd(&format!("MAIL FROM:<{sender}>"));
        let rcpt = self.cmd(&format!("RCPT TO:<{rcpt}>"));
        (mail, rcpt)
    }

    /// The RCPT reply of a probe whose sender must be accepted.
    fn rcpt(&mut self, rcpt: &str) -> (u16, String) {
        let (mail, rcpt) = self.probe("relaycheck@example.com", rcpt);
        assert_eq!(mail.0, 250, "MAIL: {}", mail.1);
        rcpt
    }
}

fn local(part: &str) -> String {
    format!("{part}@{HOSTNAME}")
}

#[test]
fn closed_exim_refuses_relaying_and_literal_senders_and_knows_its_users() {
    let exim = Exim::start(exim::Policy::Closed);
    let mut s = Smtp::connect(exim.addr);
    assert!(s.banner.starts_with(&format!("220 {HOSTNAME} ESMTP Exim 4")), "{}", s.banner);
    assert!(s.ehlo.contains("250-PIPELINING"), "{}", s.ehlo);

    let (mail, _) = s.probe("relaycheck@[127.0.0.1]", "relaycheck@example.net");
    assert_eq!(mail.0, 501, "{}", mail.1);
    assert!(mail.1.contains("domain literals not allowed"), "{}", mail.1);

    let (code, text) = s.rcpt("relaycheck@example.net");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("relay not permitted"), "{text}");
    let (code, text) = s.rcpt(&local("postmaster"));
    assert_eq!(code, 250, "{text}");
    let (code, text) = s.rcpt(&local("relaycheck-nx-5f3a9c"));
    assert_eq!(code, 550, "{text}");
    let (code, text) = s.rcpt(&local("relaycheck%example.net"));
    assert_eq!(code, 550, "{text}");
    assert!(exim.log().contains("relay not permitted"), "{}", exim.log());
}

/// Exim counts only its "syntax or protocol errors" (unparsable addresses,
/// domain literals) toward `smtp_max_synprot_errors` (3): the fourth one's
/// reply ends with a `501 Too many syntax or protocol errors` line and the
/// connection closes. Refusals (550), unqualified addresses (501 "must
/// contain a domain") and, after EHLO, the 503 to a RCPT that follows a
/// refused MAIL do not count.
#[test]
fn exim_drops_a_session_at_its_fourth_syntax_error() {
    let exim = Exim::start(exim::Policy::Closed);
    let mut s = Smtp::connect(exim.addr);
    let (code, text) = s.cmd("MAIL FROM:<relaycheck@[127.0.0.1]>");
    assert_eq!(code, 501, "{text}");
    for _ in 0..3 {
        let (code, text) = s.cmd("RCPT TO:<relaycheck@example.net>");
        assert_eq!(code, 503, "{text}");
    }
    let (code, text) = s.cmd("MAIL FROM:<relaycheck@example.com>");
    assert_eq!(code, 250, "{text}");
    for _ in 0..5 {
        let (code, text) = s.cmd("RCPT TO:<relaycheck@example.net>");
        assert_eq!(code, 550, "{text}");
        let (code, text) = s.cmd("RCPT TO:<relaycheck-nx-5f3a9c>");
        assert_eq!(code, 501, "{text}");
        assert!(text.contains("must contain a domain"), "{text}");
    }
    for _ in 0..2 {
        let (code, text) = s.cmd("RCPT TO:<relaycheck@example.net@[127.0.0.1]>");
        assert_eq!(code, 501, "{text}");
        assert!(!text.contains("Too many"), "{text}");
    }
    let (code, text) = s.cmd("RCPT TO:<relaycheck%example.net@[127.0.0.1]>");
    assert_eq!(code, 501, "{text}");
    assert!(text.ends_with("501 Too many syntax or protocol errors"), "{text}");
    assert!(s.closed(), "Exim should have closed the connection");
    assert!(exim.log().contains("too many syntax or protocol errors"), "{}", exim.log());
}

/// Without a completed message, only the first RSET of a session is free:
/// each later one counts toward `smtp_accept_max_nonmail` (10), and the
/// eleventh counted gets `554 Too many nonmail commands` and the connection
/// closes. With an RSET before each probe, a session holds 11 probes.
#[test]
fn exim_drops_a_session_at_its_twelfth_rset() {
    let exim = Exim::start(exim::Policy::Closed);
    let mut s = Smtp::connect(exim.addr);
    for i in 1..=11 {
        let (mail, rcpt) = s.probe("relaycheck@example.com", "relaycheck@example.net");
        assert_eq!((mail.0, rcpt.0), (250, 550), "probe {i}: {mail:?} {rcpt:?}");
    }
    let (code, text) = s.cmd("RSET");
    assert_eq!(code, 554, "{text}");
    assert!(text.contains("Too many nonmail commands"), "{text}");
    assert!(s.closed(), "Exim should have closed the connection");
}

#[test]
fn open_exim_relays() {
    let exim = Exim::start(exim::Policy::Open);
    let mut s = Smtp::connect(exim.addr);
    let (code, text) = s.rcpt("relaycheck@example.net");
    assert_eq!(code, 250, "{text}");
}

#[test]
fn catch_all_exim_takes_any_local_part_but_does_not_relay() {
    let exim = Exim::start(exim::Policy::CatchAll);
    let mut s = Smtp::connect(exim.addr);
    let (code, text) = s.rcpt(&local("relaycheck-nx-5f3a9c"));
    assert_eq!(code, 250, "{text}");
    let (code, text) = s.rcpt(&local("relaycheck%example.net"));
    assert_eq!(code, 250, "{text}");
    let (code, text) = s.rcpt("relaycheck@example.net");
    assert_eq!(code, 550, "{text}");
}

#[test]
fn closed_opensmtpd_refuses_relaying() {
    let smtpd = OpenSmtpd::start(opensmtpd::Policy::Closed);
    let mut s = Smtp::connect(smtpd.addr);
    assert!(s.banner.starts_with(&format!("220 {HOSTNAME} ESMTP OpenSMTPD")), "{}", s.banner);
    // OpenSMTPD 6.8 does not pipeline: a client that does gets
    // `500 5.5.1 Invalid command: Pipelining not supported` and is dropped.
    assert!(!s.ehlo.contains("PIPELINING"), "{}", s.ehlo);
    let (code, text) = s.rcpt("relaycheck@example.net");
    assert_eq!(code, 550, "{text}");
    let (code, text) = s.rcpt(&local("postmaster"));
    assert_eq!(code, 250, "{text}");
    let (code, text) = s.rcpt(&local("relaycheck-nx-5f3a9c"));
    assert_eq!(code, 550, "{text}");
}

#[test]
fn open_opensmtpd_relays() {
    let smtpd = OpenSmtpd::start(opensmtpd::Policy::Open);
    let mut s = Smtp::connect(smtpd.addr);
    let (code, text) = s.rcpt("relaycheck@example.net");
    assert_eq!(code, 250, "{text}");
}

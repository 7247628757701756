//! A real report for the page's tests: a session driven by a scripted
//! closed server, the way the page drives one, so what is drawn is what the
//! engine makes. Shared by the reducer's native tests and the components'
//! browser tests (`#[path]`).

use std::time::Duration;

use relay_core::{Config, Report, Session};

/// A real report: a session driven by a scripted closed server, the way the
/// page drives one.
pub fn closed_report() -> Report {
    let mut session = Session::new(Config::default(), "mx.example.org", 25, Duration::ZERO);
    let mut now = Duration::ZERO;
    loop {
        while let Some(event) = session.poll_event() {
            if let relay_core::Event::Connect(id) = event {
                now += Duration::from_millis(1);
                session.handle_connected(id, "192.0.2.25".parse().unwrap(), now);
                session.handle_input(id, b"220 mx.example.org ESMTP Postfix\r\n", now);
            }
        }
        let mut sent_any = false;
        while let Some(t) = session.poll_transmit() {
            sent_any = true;
            let text = String::from_utf8(t.data).unwrap();
            let mut answer = String::new();
            for line in text.lines() {
                let reply = match line.split(' ').next().unwrap() {
                    "EHLO" => "250-mx.example.org\r\n250 PIPELINING",
                    "RCPT" => "554 5.7.1 Relay access denied",
                    "QUIT" => "221 2.0.0 Bye",
                    _ => "250 2.0.0 Ok",
                };
                answer.push_str(reply);
                answer.push_str("\r\n");
            }
            now += Duration::from_millis(1);
            session.handle_input(t.connection, answer.as_bytes(), now);
        }
        if session.is_finished() || !sent_any {
            break;
        }
    }
    assert!(session.is_finished(), "the scripted audit finished");
    session.report()
}

//! One audit of an imaginary mail server that refuses to relay, run wholly
//! in memory: no network, no clock, nothing sent anywhere.
//!
//! Why: a browser compiles each WASM function the first time it is called,
//! and turns JS glue fast only once it ran. The page's first audit paid for
//! all of that between the click and the verdict (about 30 ms of a 100 ms
//! lab audit in headless Chromium, measured with bench/page). The page
//! rehearses once while it is idle after loading, so the real audit finds
//! its code ready. It also shows, in a few lines, how a driver plays the
//! [`Session`]'s other side.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::{Config, ConnectionId, Event, Report, Session, TlsFailure};

/// The imaginary server's name and address (RFC 2606's and RFC 5737's,
/// which no real server has).
const HOST: &str = "mx.example.org";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25));
/// How long the imaginary server takes to answer.
const LATENCY: Duration = Duration::from_millis(1);

/// Audits the imaginary server from start to verdict and returns the report.
pub fn rehearse() -> Report {
    let mut session = Session::new(Config::default(), HOST, 25, Duration::ZERO);
    let mut now = Duration::ZERO;
    // Bounded: a session always finishes, by its own timeouts at worst.
    for _ in 0..10_000 {
        let mut moved = false;
        while let Some(event) = session.poll_event() {
            moved = true;
            match event {
                Event::Connect(id) => {
                    session.handle_connected(id, PEER, now);
                    session.handle_input(id, b"220 mx.example.org ESMTP\r\n", now);
                }
                Event::Close(id) => session.handle_closed(id, now),
                // Never offered, so never asked for; refused if it were.
                Event::StartTls(id) => {
                    session.handle_tls(id, Err(TlsFailure { reason: "not in a rehearsal".into() }), now)
                }
                Event::Finished => return session.report(),
                Event::Transcript(_) | Event::Step(_) | Event::ProbeFinished(_) => {}
            }
        }
        while let Some(transmit) = session.poll_transmit() {
            moved = true;
            let text = String::from_utf8_lossy(&transmit.data).into_owned();
            for line in text.lines() {
                now += LATENCY;
                answer(&mut session, transmit.connection, line, now);
            }
        }
        if !moved {
            let Some(at) = session.poll_timeout() else { break };
            now = now.max(at);
            session.handle_timeout(now);
        }
    }
    session.report()
}

/// What a well-configured server says to each command: every recipient
/// outside its domains refused.
fn answer(session: &mut Session, id: ConnectionId, line: &str, now: Duration) {
    let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
    let reply: &[u8] = match verb.as_str() {
        "EHLO" => b"250-mx.example.org\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n",
        "RCPT" => b"550 5.7.1 Relaying denied\r\n",
        "QUIT" => b"221 2.0.0 Bye\r\n",
        "MAIL" | "RSET" | "HELO" | "NOOP" => b"250 2.0.0 OK\r\n",
        _ => b"502 5.5.2 Command not recognised\r\n",
    };
    session.handle_input(id, reply, now);
    if verb == "QUIT" {
        session.handle_closed(id, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::ProbeVerdict;
    use crate::verdict::Verdict;

    #[test]
    fn the_rehearsal_ends_closed_with_every_probe_denied() {
        let report = rehearse();
        assert_eq!(report.verdict, Verdict::Closed, "{}", report.reason);
        assert!(report.probes.len() > 10, "only {} probes", report.probes.len());
        assert!(report.probes.iter().all(|p| p.verdict == ProbeVerdict::Denied), "{:?}", report.probes);
        assert!(!report.steps.is_empty() && !report.transcript.is_empty());
    }
}

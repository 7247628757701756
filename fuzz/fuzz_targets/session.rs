//! A whole audit against a server that says whatever the fuzzer wants.
//!
//! The input is a little program for the world around a [`Session`] (default
//! config, a 1 s reply timeout). Each step reads an opcode byte:
//!
//! | op % 8 | what happens |
//! |---|---|
//! | 0 | the oldest pending TLS handshake succeeds, else the oldest pending connection attempt succeeds (peer 192.0.2.1) |
//! | 1 | the oldest pending TLS handshake fails, else the oldest pending connection attempt fails |
//! | 2 | `[conn, len]`, then `len` raw bytes arrive on connection `conn` |
//! | 3 | `[conn, which]`: a canned reply (banner, EHLO, 250, 554, 421, 451, 530, …, or a banner with a name of `[n]` × 4 letters) arrives on `conn` |
//! | 4 | the server closes connection `conn` |
//! | 5 | time jumps to `poll_timeout()` and `handle_timeout` runs |
//! | 6 | `[ms]` time passes by that many × 10 ms, then `handle_timeout` |
//! | 7 | `[conn]` every command sent on `conn` so far and not answered gets a canned answer |
//!
//! After every step the driver polls every transmit and every event, as the
//! session's doc asks. Checked, besides "never panics":
//! - connections are asked for in order, and never more than a sane number;
//! - nothing is sent on a connection that was not connected, or is closed
//!   (by `Event::Close` or by the server), or after `Finished`; every transmit
//!   is whole lines ending in CRLF, and never DATA or BDAT;
//! - the bridge's guard would forward every byte sent, unchanged (the page
//!   drives this same session through the bridge);
//! - `report()` and `progress()` can be taken before the audit is over;
//! - when the program ends, the world winds down (pending connections fail,
//!   open ones close, time passes): the session must finish within a bounded
//!   number of steps, with every probe answered.

#![no_main]

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use relay_core::{
    CertificateFacts, Command, Config, ConnectionId, Decision, Event, Guard, GuardLimits, Session, TlsFacts, TlsFailure,
};

const START: Duration = Duration::from_secs(1_000);
/// More than the session could ever ask for: its hard cap is 60.
const MAX_CONNECTIONS: usize = 64;

const CANNED: &[&[u8]] = &[
    b"220 mx.example.org ESMTP Postfix\r\n",
    b"220-mx.example.org ESMTP\r\n220 ready\r\n",
    b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
    b"250 mx.example.org\r\n",
    b"250 2.0.0 Ok\r\n",
    b"250 2.1.5 Ok\r\n",
    b"554 5.7.1 Relay access denied\r\n",
    b"421 4.7.0 Too many errors\r\n",
    b"451 4.7.1 Greylisted\r\n",
    b"454 4.7.1 Relay access denied\r\n",
    b"530 5.7.0 Must issue a STARTTLS command first\r\n",
    b"502 5.5.2 Error: command not recognized\r\n",
    b"221 2.0.0 Bye\r\n",
    b"554 5.7.1 No service\r\n",
    b"503 5.5.1 Error: need MAIL command\r\n",
    b"250-x\r\n",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Asked for; the driver has not answered yet.
    Pending,
    Open,
    Closed,
}

struct World {
    session: Session,
    now: Duration,
    conns: Vec<State>,
    /// Connection attempts not yet answered, oldest first.
    pending: VecDeque<usize>,
    /// Command lines sent and not yet answered by `op 7`, per connection.
    unanswered: Vec<usize>,
    /// What the bridge would make of each connection's bytes, were the
    /// session driven by the page.
    guards: Vec<Guard>,
    /// Connections whose TLS handshake the driver was asked for.
    handshakes: VecDeque<usize>,
    finished: bool,
}

impl World {
    fn new() -> World {
        let config = Config { reply_timeout: Duration::from_secs(1), ..Config::default() };
        let mut world = World {
            session: Session::new(config, "mx.example.org", 25, START),
            now: START,
            conns: Vec::new(),
            pending: VecDeque::new(),
            unanswered: Vec::new(),
            guards: Vec::new(),
            handshakes: VecDeque::new(),
            finished: false,
        };
        world.pump();
        world
    }

    fn id(&self, selector: u8) -> Option<ConnectionId> {
        if self.conns.is_empty() {
            return None;
        }
        Some(ConnectionId((usize::from(selector) % self.conns.len()) as u32))
    }

    /// Takes every transmit and event, checking what the session does.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(t) = self.session.poll_transmit() {
                busy = true;
                assert!(!self.finished, "a transmit after Finished");
                let i = t.connection.0 as usize;
                assert_eq!(self.conns.get(i), Some(&State::Open), "a transmit on connection {i}, which is not open");
                assert!(t.data.ends_with(b"\r\n"), "a transmit that does not end in CRLF: {:?}", t.data);
                for line in t.data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let command = Command::parse(line);
                    assert!(!matches!(command, Ok(Command::Data | Command::Bdat(_))), "an audit never sends a message");
                    self.unanswered[i] += 1;
                }
                // The page drives the same session through the bridge, whose
                // guard must forward every byte of it, unchanged.
                let mut forwarded = Vec::new();
                // The session talks again after STARTTLS without TLS: the
                // server must have refused it, as the bridge would have seen.
                self.guards[i].tls_refused();
                for decision in self.guards[i].push(&t.data) {
                    match decision {
                        Decision::Forward(bytes) | Decision::StartTls(bytes) => forwarded.extend(bytes),
                        other => panic!(
                            "the bridge's guard would not forward {:?}: {other:?}",
                            String::from_utf8_lossy(&t.data)
                        ),
                    }
                }
                assert_eq!(forwarded, t.data, "the guard rewrote what the session sent");
            }
            while let Some(event) = self.session.poll_event() {
                busy = true;
                match event {
                    Event::Connect(id) => {
                        assert!(!self.finished, "a connection asked for after Finished");
                        assert_eq!(id.0 as usize, self.conns.len(), "connections are asked for in order");
                        assert!(self.conns.len() < MAX_CONNECTIONS, "too many connections");
                        self.conns.push(State::Pending);
                        self.unanswered.push(0);
                        self.guards.push(Guard::new(GuardLimits::default()));
                        self.pending.push_back(id.0 as usize);
                    }
                    Event::Close(id) => {
                        let i = id.0 as usize;
                        assert!(i < self.conns.len(), "closing a connection never asked for");
                        self.conns[i] = State::Closed;
                        self.pending.retain(|&p| p != i);
                    }
                    Event::Finished => {
                        assert!(!self.finished, "Finished twice");
                        self.finished = true;
                    }
                    Event::StartTls(id) => {
                        let i = id.0 as usize;
                        assert_eq!(self.conns.get(i), Some(&State::Open), "TLS asked for on a connection that is not open");
                        self.handshakes.push_back(i);
                    }
                    Event::Transcript(_) | Event::Step(_) | Event::ProbeFinished(_) => {}
                }
            }
            if !busy {
                break;
            }
        }
    }

    fn connect(&mut self, ok: bool) {
        if let Some(i) = self.handshakes.pop_front() {
            return self.handshake(i, ok);
        }
        let Some(i) = self.pending.pop_front() else { return };
        let id = ConnectionId(i as u32);
        if ok {
            self.conns[i] = State::Open;
            self.session.handle_connected(id, IpAddr::from([192, 0, 2, 1]), self.now);
        } else {
            self.conns[i] = State::Closed;
            self.session.handle_connect_failed(id, "connection refused", self.now);
        }
    }

    /// The driver's TLS handshake on connection `i` ends.
    fn handshake(&mut self, i: usize, ok: bool) {
        if self.conns[i] != State::Open {
            return;
        }
        let id = ConnectionId(i as u32);
        let outcome = if ok {
            self.guards[i].tls_started();
            Ok(TlsFacts {
                version: "TLSv1.3".into(),
                cipher: "TLS_AES_128_GCM_SHA256".into(),
                chain: vec![CertificateFacts {
                    subject: "CN=mx.example.org".into(),
                    issuer: "CN=mx.example.org".into(),
                    names: vec!["mx.example.org".into()],
                    not_before: "2026-01-01".into(),
                    not_after: "2027-01-01".into(),
                    days_left: 33,
                    self_signed: true,
                }],
                checked_name: "mx.example.org".into(),
                name_matches: true,
                trusted: false,
                trust_problem: Some("it is self-signed".into()),
            })
        } else {
            Err(TlsFailure { reason: "the server sent garbage instead of a TLS handshake".into() })
        };
        self.session.handle_tls(id, outcome, self.now);
    }

    fn input(&mut self, id: ConnectionId, data: &[u8]) {
        // A driver only reads from sockets it has; a closed one says nothing.
        if self.conns[id.0 as usize] == State::Open {
            self.session.handle_input(id, data, self.now);
        }
    }

    fn close(&mut self, id: ConnectionId) {
        let i = id.0 as usize;
        if self.conns[i] == State::Open {
            self.conns[i] = State::Closed;
            self.session.handle_closed(id, self.now);
        }
    }

    fn timeout(&mut self, at: Duration) {
        self.now = self.now.max(at);
        self.session.handle_timeout(self.now);
    }

    fn step(&mut self, data: &mut &[u8]) -> bool {
        let Some((&op, rest)) = data.split_first() else { return false };
        *data = rest;
        let mut arg = || -> u8 {
            let Some((&b, rest)) = data.split_first() else { return 0 };
            *data = rest;
            b
        };
        match op % 8 {
            0 => self.connect(true),
            1 => self.connect(false),
            2 => {
                let (conn, len) = (arg(), usize::from(arg()));
                let take = len.min(data.len());
                let (bytes, rest) = data.split_at(take);
                *data = rest;
                if let Some(id) = self.id(conn) {
                    self.input(id, bytes);
                }
            }
            3 => {
                let (conn, which) = (arg(), arg());
                if let Some(id) = self.id(conn) {
                    let which = usize::from(which) % (CANNED.len() + 1);
                    if which == CANNED.len() {
                        // A banner whose first word is a long name that looks
                        // like a domain: it must not end up in probe addresses
                        // (fuzz_regressions.rs: a_long_name_in_the_banner_…).
                        let banner = format!("220 {}.example.org ESMTP\r\n", "a".repeat(usize::from(arg()) * 4));
                        self.input(id, banner.as_bytes());
                    } else {
                        self.input(id, CANNED[which]);
                    }
                }
            }
            4 => {
                let conn = arg();
                if let Some(id) = self.id(conn) {
                    self.close(id);
                }
            }
            5 => {
                let at = self.session.poll_timeout().unwrap_or(self.now + Duration::from_secs(1));
                self.timeout(at);
            }
            6 => {
                let ms = u64::from(arg()) * 10;
                self.timeout(self.now + Duration::from_millis(ms));
            }
            _ => {
                let (conn, which) = (arg(), arg());
                if let Some(id) = self.id(conn) {
                    let i = id.0 as usize;
                    let n = std::mem::take(&mut self.unanswered[i]);
                    let reply = CANNED[usize::from(which) % CANNED.len()];
                    let all: Vec<u8> = reply.iter().copied().cycle().take(reply.len() * n).collect();
                    self.input(id, &all);
                }
            }
        }
        self.pump();
        true
    }

    /// The world ends: every attempt fails, every connection closes, time
    /// passes. The session must finish.
    fn wind_down(&mut self) {
        for _ in 0..(4 * MAX_CONNECTIONS) {
            if self.finished {
                break;
            }
            if !self.pending.is_empty() {
                self.connect(false);
            } else if let Some(i) = self.conns.iter().position(|s| *s == State::Open) {
                self.close(ConnectionId(i as u32));
            } else {
                let at = self.session.poll_timeout().unwrap_or(self.now + Duration::from_secs(1));
                self.timeout(at);
            }
            self.pump();
        }
        assert!(self.finished, "the session did not finish once every connection was gone");
        let report = self.session.report();
        let progress = self.session.progress();
        assert_eq!(progress.finished, progress.total, "every probe has its answer");
        assert_eq!(report.probes.len(), progress.total);
        assert!(self.session.poll_transmit().is_none());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut world = World::new();
    let mut program = data;
    while !world.finished && world.step(&mut program) {}
    let progress = world.session.progress();
    assert!(progress.finished <= progress.total);
    if !world.finished {
        // The report of an unfinished audit, as the page shows it mid-way.
        let _ = world.session.report();
    }
    world.wind_down();
});

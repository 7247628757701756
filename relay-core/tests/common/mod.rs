//! A scripted fake SMTP server that drives a [`Session`] entirely in memory.
//!
//! Each connection the session opens gets a [`Script`]: what the server says
//! when the client connects (possibly in pieces, with time passing between
//! them), and for each command line the client sends, what to answer. The
//! harness plays driver and server at once: it connects, hands over the
//! server's bytes after a small latency, answers every transmit from the
//! script, advances a fake clock (jumping straight to `poll_timeout()` when
//! nothing else is due), and collects every event and the final report.
//!
//! Besides what each test asserts, the harness fails any test in which the
//! client breaks a rule that real servers enforce:
//! - it speaks before the whole banner has arrived;
//! - it sends a second command before the previous reply without the server
//!   having offered PIPELINING in its EHLO reply;
//! - it sends DATA or BDAT (an audit never sends a message);
//! - it writes on a connection that is closed, or ends a transmit mid-line;
//! - it finishes while a connection is still open on the server's side.

// Each test file uses a part of the harness.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use relay_core::{CertificateFacts, Config, ConnectionId, Event, ProbeReport, Report, Session, TlsFacts, TlsFailure};

/// The name the audit is asked to check.
pub const HOST: &str = "mx.example.org";
/// The address every connection reaches.
pub const PEER: &str = "192.0.2.25";
/// The fake clock starts here, not at zero: only differences may matter.
pub const START: Duration = Duration::from_secs(1_000);
/// How long a connection takes, and how long the server takes to answer,
/// unless a script says otherwise.
pub const LATENCY: Duration = Duration::from_millis(10);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What the server does with a command.
#[derive(Clone, Debug)]
enum Answer {
    /// Reply with these lines (CRLF is added to each).
    Say(String),
    /// Say nothing, now or ever again, on this connection.
    Hang,
}

/// What one connection of the fake server does.
#[derive(Clone, Debug)]
pub struct Script {
    /// Refuse the TCP connection with this reason.
    refuse: Option<String>,
    /// The banner's bytes, each piece sent this long after the previous one
    /// (the first after the connection is made).
    banner: Vec<(Duration, String)>,
    /// Answers by command-line prefix; the longest matching prefix wins.
    answers: Vec<(String, Answer)>,
    /// Answers to the n-th command (from 1), whatever the command is.
    nth: Vec<(usize, Answer)>,
    /// Close the connection right after answering the n-th command.
    close_after: Option<usize>,
    /// Close the connection without a word right after answering the n-th RCPT.
    close_after_rcpts: Option<usize>,
    /// Exim's `smtp_max_synprot_errors`: once more than `limit` replies with
    /// one of `codes` were sent, answer the next such command with
    /// `farewell` (or nothing at all) and close.
    error_limit: Option<ErrorLimit>,
    /// The answer to RCPT when no MAIL was accepted since the last RSET.
    rcpt_without_mail: Option<String>,
    /// Answers to RCPT by the end of the path (`@mx.example.org`), which
    /// win over prefixes: a catch-all takes anything that ends there.
    rcpt_endings: Vec<(String, String)>,
    latency: Duration,
    /// TLS, when the server speaks it.
    tls: Option<ScriptTls>,
}

#[derive(Clone, Debug)]
struct ScriptTls {
    /// What the driver's handshake comes to.
    handshake: Result<TlsFacts, TlsFailure>,
    /// MAIL in plain text gets `530 5.7.0 Must issue a STARTTLS command first`.
    required: bool,
    /// TLS from the first byte: the driver reports the handshake right after
    /// connecting, before the banner.
    implicit: bool,
    /// The handshake never finishes: the driver never reports back.
    stall: bool,
}

#[derive(Clone, Debug)]
struct ErrorLimit {
    codes: Vec<String>,
    limit: usize,
    farewell: Option<String>,
}

impl Script {
    /// A server that accepts the connection and says nothing at all.
    pub fn silent() -> Script {
        Script {
            refuse: None,
            banner: Vec::new(),
            answers: Vec::new(),
            nth: Vec::new(),
            close_after: None,
            close_after_rcpts: None,
            error_limit: None,
            rcpt_without_mail: None,
            rcpt_endings: Vec::new(),
            latency: LATENCY,
            tls: None,
        }
    }

    /// Answers STARTTLS with 220, after which the driver's handshake comes
    /// to `handshake`.
    pub fn starttls(mut self, handshake: Result<TlsFacts, TlsFailure>) -> Script {
        self.tls = Some(ScriptTls { handshake, required: false, implicit: false, stall: false });
        self.on("STARTTLS", "220 2.0.0 Ready to start TLS")
    }

    /// With [`Script::starttls`]: MAIL before TLS is refused as Postfix's
    /// `smtpd_tls_security_level = encrypt` refuses it.
    pub fn requires_tls(mut self) -> Script {
        if let Some(tls) = &mut self.tls {
            tls.required = true;
        }
        self
    }

    /// With [`Script::starttls`]: after the 220, the handshake never ends.
    pub fn stall_handshake(mut self) -> Script {
        if let Some(tls) = &mut self.tls {
            tls.stall = true;
        }
        self
    }

    /// TLS from the first byte (port 465): the driver's handshake comes to
    /// `handshake` before the banner.
    pub fn implicit_tls(mut self, handshake: Result<TlsFacts, TlsFailure>) -> Script {
        self.tls = Some(ScriptTls { handshake, required: false, implicit: true, stall: false });
        self
    }

    /// A connection that cannot be made.
    pub fn refuse(reason: &str) -> Script {
        Script { refuse: Some(reason.into()), ..Script::silent() }
    }

    /// The banner, sent whole right after the connection is made. Lines are
    /// separated by `\n`; the harness ends each with CRLF.
    pub fn banner(mut self, lines: &str) -> Script {
        self.banner = vec![(Duration::ZERO, crlf(lines))];
        self
    }

    /// The banner as raw pieces (CRLF written out), each `after` the previous
    /// one: `[(ms(0), "220-a\r\n"), (secs(2), "220 b\r\n")]`.
    pub fn banner_in_pieces(mut self, pieces: &[(Duration, &str)]) -> Script {
        self.banner = pieces.iter().map(|(after, text)| (*after, text.to_string())).collect();
        self
    }

    /// Answer command lines that start with `prefix` (case-insensitive, so
    /// `"RCPT"` or `"RCPT TO:<a@[192.0.2.25]>"`) with `reply`, whose lines are
    /// separated by `\n`. The longest matching prefix wins; the same prefix
    /// again replaces the earlier answer.
    pub fn on(mut self, prefix: &str, reply: &str) -> Script {
        self.set(prefix, Answer::Say(reply.into()));
        self
    }

    /// From the first command starting with `prefix` on, say nothing more.
    pub fn hang_on(mut self, prefix: &str) -> Script {
        self.set(prefix, Answer::Hang);
        self
    }

    /// Answer the `n`-th command of this connection (counting from 1, EHLO
    /// included) with `reply`, whatever it is. A 421 closes the connection.
    pub fn nth(mut self, n: usize, reply: &str) -> Script {
        self.nth.push((n, Answer::Say(reply.into())));
        self
    }

    /// Close the connection right after answering the `n`-th command; the
    /// commands after it in the same transmit get no answer.
    pub fn close_after(mut self, n: usize) -> Script {
        self.close_after = Some(n);
        self
    }

    /// Answer RCPT with `reply` when no MAIL was accepted since the last
    /// RSET, as real servers do ("503 5.5.1 Error: need MAIL command").
    pub fn rcpt_without_mail(mut self, reply: &str) -> Script {
        self.rcpt_without_mail = Some(reply.into());
        self
    }

    /// Answer every RCPT whose path ends with `ending` (`"@mx.example.org"`)
    /// with `reply`, whatever comes before.
    pub fn rcpt_ending(mut self, ending: &str, reply: &str) -> Script {
        self.rcpt_endings.push((format!("{ending}>"), reply.into()));
        self
    }

    /// Close without a word right after answering the `n`-th RCPT.
    pub fn close_after_rcpts(mut self, n: usize) -> Script {
        self.close_after_rcpts = Some(n);
        self
    }

    /// Count replies whose code is one of `codes` (`"501 503"`); the one
    /// that would make more than `limit` becomes `farewell` (a 421, or
    /// `None` to say nothing), and the connection closes.
    pub fn error_limit(mut self, codes: &str, limit: usize, farewell: Option<&str>) -> Script {
        self.error_limit = Some(ErrorLimit {
            codes: codes.split_whitespace().map(str::to_string).collect(),
            limit,
            farewell: farewell.map(str::to_string),
        });
        self
    }

    fn set(&mut self, prefix: &str, answer: Answer) {
        self.answers.retain(|(p, _)| !p.eq_ignore_ascii_case(prefix));
        self.answers.push((prefix.to_string(), answer));
    }

    fn answer(&self, n: usize, line: &str) -> Answer {
        if let Some((_, a)) = self.nth.iter().find(|(k, _)| *k == n) {
            return a.clone();
        }
        if verb(line) == "RCPT" {
            if let Some((_, said)) = self.rcpt_endings.iter().find(|(end, _)| line.ends_with(end.as_str())) {
                return Answer::Say(said.clone());
            }
        }
        let matching = self
            .answers
            .iter()
            .filter(|(p, _)| line.len() >= p.len() && line.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
            .max_by_key(|(p, _)| p.len());
        match matching {
            Some((_, a)) => a.clone(),
            None if verb(line) == "QUIT" => Answer::Say("221 2.0.0 Bye".into()),
            None => Answer::Say("502 5.5.2 Error: command not recognized".into()),
        }
    }
}

/// What a handshake with a server whose certificate is for `name`, signed
/// by a CA Mozilla does not know, shows a driver.
pub fn tls_facts(name: &str) -> TlsFacts {
    TlsFacts {
        version: "TLSv1.3".into(),
        cipher: "TLS_AES_256_GCM_SHA384".into(),
        chain: vec![CertificateFacts {
            subject: format!("CN={name}"),
            issuer: "CN=relaycheck test CA".into(),
            names: vec![name.into()],
            not_before: "2026-11-01".into(),
            not_after: "2027-11-01".into(),
            days_left: 337,
            self_signed: false,
        }],
        checked_name: name.into(),
        name_matches: true,
        trusted: false,
        trust_problem: Some("it is signed by an issuer Mozilla does not know (CN=relaycheck test CA)".into()),
    }
}

/// Stock Postfix refusing to relay, as the closed Postfix of the tests answers it
/// (docs/architecture.md, "Tests and benchmarks"):
///
/// ```text
/// S: 220 mx.example.org ESMTP Postfix (Debian/GNU)
/// C: EHLO …        S: 250-mx.example.org / 250-PIPELINING / … / 250 CHUNKING
/// C: HELO …        S: 250 mx.example.org
/// C: RSET          S: 250 2.0.0 Ok
/// C: MAIL FROM:…   S: 250 2.1.0 Ok
/// C: RCPT TO:…     S: 554 5.7.1 Relay access denied
/// C: QUIT          S: 221 2.0.0 Bye, and closes
/// ```
pub fn postfix() -> Script {
    Script::silent()
        .banner("220 mx.example.org ESMTP Postfix (Debian/GNU)")
        .on(
            "EHLO",
            "250-mx.example.org\n250-PIPELINING\n250-SIZE 10240000\n250-VRFY\n250-ETRN\n250-STARTTLS\n\
             250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250-SMTPUTF8\n250 CHUNKING",
        )
        .on("HELO", "250 mx.example.org")
        .on("RSET", "250 2.0.0 Ok")
        .on("MAIL", "250 2.1.0 Ok")
        .on("RCPT", "554 5.7.1 Relay access denied")
        .on("QUIT", "221 2.0.0 Bye")
}

/// The same server with PIPELINING switched off in its EHLO reply.
pub fn postfix_without_pipelining() -> Script {
    postfix().on("EHLO", "250-mx.example.org\n250-SIZE 10240000\n250-ENHANCEDSTATUSCODES\n250 8BITMIME")
}

/// One transmit as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Duration,
    pub data: String,
    /// Commands still unanswered by the server when these bytes arrived.
    pub unanswered_before: usize,
}

/// What the server saw on one connection.
#[derive(Debug)]
pub struct ServerConn {
    script: Script,
    pub connected_at: Option<Duration>,
    /// When the last piece of the banner reached the client.
    pub banner_done_at: Option<Duration>,
    pub transmits: Vec<Received>,
    /// Every command line, without CRLF.
    pub commands: Vec<String>,
    /// 4xx and 5xx replies sent (Postfix slows down after 10 in a session).
    pub errors: usize,
    /// Replies counted by the script's error limit.
    pub limited_errors: usize,
    pub rcpts_answered: usize,
    /// Whether a MAIL was accepted since the last RSET.
    in_transaction: bool,
    pub closed_by_server: Option<Duration>,
    pub closed_by_client: Option<Duration>,
    pipelining: bool,
    hung: bool,
    closing: bool,
    unanswered: usize,
    partial: Vec<u8>,
    /// STARTTLS was answered 220; the handshake has not finished yet.
    pub tls_pending: bool,
    /// TLS is up on this connection.
    pub secure: bool,
    /// EHLO was sent again since TLS came up (RFC 3207 §4.2).
    greeted_in_tls: bool,
}

impl ServerConn {
    pub fn transmit_texts(&self) -> Vec<&str> {
        self.transmits.iter().map(|t| t.data.as_str()).collect()
    }

    pub fn is_closed(&self) -> bool {
        self.closed_by_client.is_some() || self.closed_by_server.is_some() || self.script.refuse.is_some()
    }
}

/// Something that reaches the client at a given time.
#[derive(Debug)]
enum Happening {
    Connected,
    ConnectFailed(String),
    Bytes {
        data: Vec<u8>,
        answers: usize,
        ends_banner: bool,
    },
    /// The driver's TLS handshake ended.
    Tls(Result<TlsFacts, TlsFailure>),
    Closed,
}

/// The outcome of a scripted audit.
#[derive(Debug)]
pub struct Run {
    pub report: Report,
    /// Every event, in order, as the session gave them.
    pub events: Vec<Event>,
    /// The server's view of each connection, by `ConnectionId`.
    pub conns: Vec<ServerConn>,
    /// Every time `handle_timeout` was called.
    pub timeouts: Vec<Duration>,
    /// When `Event::Finished` came out.
    pub finished_at: Duration,
}

impl Run {
    pub fn probe(&self, id: &str) -> &ProbeReport {
        self.report.probes.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no probe {id}"))
    }

    /// The commands sent on connection `i` (0-based, as `ConnectionId`).
    pub fn commands(&self, i: usize) -> Vec<&str> {
        self.conns[i].commands.iter().map(String::as_str).collect()
    }

    /// The connections that carried at least one probe.
    pub fn probing_conns(&self) -> impl Iterator<Item = (usize, &ServerConn)> {
        self.conns.iter().enumerate().filter(|(_, c)| c.commands.iter().any(|l| l.starts_with("RCPT")))
    }

    /// The name connection `i` (by index) greeted with: the configured one,
    /// or a forged greeting's, whose probe travels alone.
    pub fn greeting_of(&self, i: usize) -> String {
        let forged = self.report.probes.iter().find(|p| p.helo.is_some() && p.connection as usize == i + 1);
        forged.and_then(|p| p.helo.clone()).unwrap_or_else(|| Config::default().helo_name)
    }

    pub fn connect_events(&self) -> usize {
        self.events.iter().filter(|e| matches!(e, Event::Connect(_))).count()
    }
}

/// How the server's bytes reach the session: drivers differ here (one read
/// per write, a byte at a time through a websocket bridge, a reset that
/// swallows the last replies), and the audit's answer must not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Each write of the server arrives whole.
    Whole,
    /// Every byte arrives on its own.
    Bytewise,
    /// When the server closes, the replies of its last write are lost: a
    /// close with unread input becomes a TCP reset, and a reset discards
    /// what the client had not read yet.
    ResetOnClose,
}

/// Runs a whole audit of [`HOST`] port 25 against the fake server; `script`
/// gives the script of the n-th connection (0-based).
pub fn run(config: Config, script: impl Fn(usize) -> Script) -> Run {
    run_with(config, Delivery::Whole, script)
}

/// [`run`], with the server's bytes delivered as `delivery` says.
pub fn run_with(config: Config, delivery: Delivery, script: impl Fn(usize) -> Script) -> Run {
    let mut h = Harness {
        delivery,
        session: Session::new(config, HOST, 25, START),
        now: START,
        script,
        conns: Vec::new(),
        timeline: BTreeMap::new(),
        seq: 0,
        events: Vec::new(),
        timeouts: Vec::new(),
        finished_at: None,
        violations: Vec::new(),
    };
    for _ in 0..100_000 {
        h.pump();
        if h.finished_at.is_some() {
            break;
        }
        h.step();
    }
    let Some(finished_at) = h.finished_at else {
        panic!("the audit never finished; events so far: {:#?}", h.events);
    };
    for (i, c) in h.conns.iter().enumerate() {
        if !c.is_closed() {
            h.violations.push(format!("connection {i} is still open after Finished"));
        }
    }
    assert!(h.session.poll_transmit().is_none(), "nothing may be sent after Finished");
    assert!(h.violations.is_empty(), "the client broke the rules of SMTP:\n{}", h.violations.join("\n"));
    Run { report: h.session.report(), events: h.events, conns: h.conns, timeouts: h.timeouts, finished_at }
}

struct Harness<F> {
    delivery: Delivery,
    session: Session,
    now: Duration,
    script: F,
    conns: Vec<ServerConn>,
    /// What reaches the client next, by (time, order of scheduling).
    timeline: BTreeMap<(Duration, u64), (usize, Happening)>,
    seq: u64,
    events: Vec<Event>,
    timeouts: Vec<Duration>,
    finished_at: Option<Duration>,
    violations: Vec<String>,
}

impl<F: Fn(usize) -> Script> Harness<F> {
    /// Takes everything the session wants done, until it wants nothing more.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(event) = self.session.poll_event() {
                busy = true;
                self.on_event(event);
            }
            while let Some(transmit) = self.session.poll_transmit() {
                busy = true;
                self.on_transmit(transmit.connection, &transmit.data);
            }
            if !busy {
                break;
            }
        }
    }

    /// Moves the clock to the next thing due: something from the server, or
    /// the session's own timeout, whichever comes first.
    fn step(&mut self) {
        let next = self.timeline.keys().next().copied();
        let timeout = self.session.poll_timeout();
        match (next, timeout) {
            (None, None) => {
                panic!("stuck: the session has not finished but waits for nothing; events: {:#?}", self.events)
            }
            (Some(key), t) if t.is_none_or(|t| key.0 <= t) => {
                let (i, happening) = self.timeline.remove(&key).expect("key exists");
                self.now = self.now.max(key.0);
                self.deliver(i, happening);
            }
            (_, t) => {
                self.now = self.now.max(t.expect("a timeout comes before the next happening"));
                self.timeouts.push(self.now);
                self.session.handle_timeout(self.now);
            }
        }
    }

    fn schedule(&mut self, at: Duration, conn: usize, what: Happening) {
        self.seq += 1;
        self.timeline.insert((at, self.seq), (conn, what));
    }

    fn on_event(&mut self, event: Event) {
        match &event {
            Event::Connect(id) => {
                let i = id.0 as usize;
                if i != self.conns.len() {
                    self.violations.push(format!("connection ids out of order: asked for {i}"));
                }
                let script = (self.script)(i);
                let connected = self.now + script.latency;
                match &script.refuse {
                    Some(reason) => self.schedule(connected, i, Happening::ConnectFailed(reason.clone())),
                    None => {
                        self.schedule(connected, i, Happening::Connected);
                        let mut at = connected;
                        let pieces = script.banner.len();
                        for (n, (after, text)) in script.banner.iter().enumerate() {
                            at += *after;
                            let what = Happening::Bytes {
                                data: text.clone().into_bytes(),
                                answers: 0,
                                ends_banner: n + 1 == pieces,
                            };
                            self.schedule(at, i, what);
                        }
                    }
                }
                self.conns.push(ServerConn {
                    script,
                    connected_at: None,
                    banner_done_at: None,
                    transmits: Vec::new(),
                    commands: Vec::new(),
                    errors: 0,
                    limited_errors: 0,
                    rcpts_answered: 0,
                    in_transaction: false,
                    closed_by_server: None,
                    closed_by_client: None,
                    pipelining: false,
                    hung: false,
                    closing: false,
                    unanswered: 0,
                    partial: Vec::new(),
                    tls_pending: false,
                    secure: false,
                    greeted_in_tls: false,
                });
            }
            Event::Close(id) => {
                let i = id.0 as usize;
                if let Some(conn) = self.conns.get_mut(i) {
                    conn.closed_by_client.get_or_insert(self.now);
                }
                // The driver drops the socket: nothing more reaches the session.
                self.timeline.retain(|_, (c, _)| *c != i);
            }
            Event::Finished => self.finished_at = Some(self.now),
            Event::StartTls(id) => {
                let i = id.0 as usize;
                let tls = self.conns.get(i).and_then(|c| c.script.tls.clone());
                match (tls, self.conns.get(i).is_some_and(|c| c.tls_pending)) {
                    (Some(tls), true) if tls.stall => {}
                    (Some(ScriptTls { handshake, .. }), true) => {
                        let at = self.now + self.conns[i].script.latency;
                        self.schedule(at, i, Happening::Tls(handshake));
                    }
                    _ => self.violations.push(format!("TLS asked for on {id:?} without a 220 to STARTTLS")),
                }
            }
            Event::Transcript(_) | Event::Step(_) | Event::ProbeFinished(_) => {}
        }
        self.events.push(event);
    }

    fn deliver(&mut self, i: usize, happening: Happening) {
        let id = ConnectionId(i as u32);
        let now = self.now;
        match happening {
            Happening::Connected => {
                self.conns[i].connected_at = Some(now);
                self.session.handle_connected(id, PEER.parse::<IpAddr>().unwrap(), now);
                let implicit = self.conns[i].script.tls.clone().filter(|t| t.implicit);
                if let Some(tls) = implicit {
                    self.conns[i].secure = tls.handshake.is_ok();
                    self.session.handle_tls(id, tls.handshake, now);
                }
            }
            Happening::Tls(handshake) => {
                let conn = &mut self.conns[i];
                conn.tls_pending = false;
                conn.secure = handshake.is_ok();
                self.session.handle_tls(id, handshake, now);
            }
            Happening::ConnectFailed(reason) => self.session.handle_connect_failed(id, &reason, now),
            Happening::Bytes { data, answers, ends_banner } => {
                let conn = &mut self.conns[i];
                conn.unanswered -= answers;
                if ends_banner {
                    conn.banner_done_at = Some(now);
                }
                self.session.handle_input(id, &data, now);
            }
            Happening::Closed => {
                self.conns[i].closed_by_server = Some(now);
                self.session.handle_closed(id, now);
            }
        }
    }

    /// The server reads a transmit and schedules its answers.
    fn on_transmit(&mut self, id: ConnectionId, data: &[u8]) {
        let i = id.0 as usize;
        let now = self.now;
        let text = String::from_utf8_lossy(data).into_owned();
        let Some(conn) = self.conns.get_mut(i) else {
            self.violations.push(format!("sent {text:?} on connection {i}, which was never opened"));
            return;
        };
        if conn.is_closed() || conn.connected_at.is_none() {
            self.violations.push(format!("sent {text:?} on connection {i}, which is not open"));
            return;
        }
        if conn.banner_done_at.is_none() {
            self.violations.push(format!("sent {text:?} on connection {i} before the whole banner had arrived"));
        }
        if !data.ends_with(b"\r\n") {
            self.violations.push(format!("transmit {text:?} on connection {i} does not end with CRLF"));
        }
        conn.transmits.push(Received { at: now, data: text, unanswered_before: conn.unanswered });
        conn.partial.extend_from_slice(data);

        let mut reply = String::new();
        let mut answers = 0;
        // Commands the server never read because it closed first: its close
        // then becomes a reset.
        let mut unread = false;
        while let Some(end) = conn.partial.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = conn.partial.drain(..end + 2).take(end).collect();
            let line = String::from_utf8_lossy(&line).into_owned();
            if conn.unanswered > 0 && !conn.pipelining {
                self.violations.push(format!(
                    "sent {line:?} on connection {i} while {} command(s) were unanswered, without PIPELINING",
                    conn.unanswered
                ));
            }
            if matches!(verb(&line).as_str(), "DATA" | "BDAT") {
                self.violations.push(format!("sent {line:?}: an audit never sends a message"));
            }
            if conn.tls_pending {
                self.violations.push(format!("sent {line:?} on connection {i} after STARTTLS, before TLS was up"));
            }
            match verb(&line).as_str() {
                "EHLO" | "HELO" => conn.greeted_in_tls = conn.secure,
                "MAIL" | "RCPT" | "RSET" if conn.secure && !conn.greeted_in_tls => self
                    .violations
                    .push(format!("sent {line:?} on connection {i} inside TLS before greeting again (RFC 3207)")),
                _ => {}
            }
            conn.commands.push(line.clone());
            conn.unanswered += 1;
            let n = conn.commands.len();
            if conn.hung || conn.closing {
                unread |= conn.closing;
                continue;
            }
            let mut answer = conn.script.answer(n, &line);
            if verb(&line) == "MAIL" && conn.script.tls.as_ref().is_some_and(|t| t.required) && !conn.secure {
                answer = Answer::Say("530 5.7.0 Must issue a STARTTLS command first".into());
            }
            if verb(&line) == "STARTTLS" && matches!(&answer, Answer::Say(s) if s.starts_with("220")) {
                conn.tls_pending = true;
            }
            match (verb(&line).as_str(), &answer, &conn.script.rcpt_without_mail) {
                ("RCPT", Answer::Say(_), Some(need)) if !conn.in_transaction => answer = Answer::Say(need.clone()),
                ("MAIL", Answer::Say(said), _) => conn.in_transaction = said.starts_with('2'),
                ("RSET", _, _) => conn.in_transaction = false,
                _ => {}
            }
            match answer {
                Answer::Hang => conn.hung = true,
                Answer::Say(said) => {
                    if let Some(limit) = &conn.script.error_limit {
                        if limit.codes.iter().any(|c| said.starts_with(c.as_str())) {
                            conn.limited_errors += 1;
                            if conn.limited_errors > limit.limit {
                                conn.closing = true;
                                match &limit.farewell {
                                    Some(farewell) => {
                                        answers += 1;
                                        conn.errors += 1;
                                        reply.push_str(&crlf(farewell));
                                    }
                                    None => conn.hung = true,
                                }
                                continue;
                            }
                        }
                    }
                    answers += 1;
                    if verb(&line) == "RCPT" {
                        conn.rcpts_answered += 1;
                        if conn.script.close_after_rcpts == Some(conn.rcpts_answered) {
                            conn.closing = true;
                        }
                    }
                    if said.starts_with('4') || said.starts_with('5') {
                        conn.errors += 1;
                    }
                    if verb(&line) == "EHLO" && said.starts_with("250") && said.contains("PIPELINING") {
                        conn.pipelining = true;
                    }
                    if said.starts_with("421") || verb(&line) == "QUIT" {
                        conn.closing = true;
                    }
                    reply.push_str(&crlf(&said));
                }
            }
            if conn.script.close_after == Some(n) {
                conn.closing = true;
            }
        }
        let (latency, closing) = (conn.script.latency, conn.closing);
        let lost = closing && unread && self.delivery == Delivery::ResetOnClose;
        if lost {
            conn.unanswered -= answers.min(conn.unanswered);
        }
        if !reply.is_empty() && !lost {
            let data = reply.into_bytes();
            if self.delivery == Delivery::Bytewise {
                let last = data.len() - 1;
                for (k, byte) in data.into_iter().enumerate() {
                    let counted = if k == last { answers } else { 0 };
                    self.schedule(
                        now + latency,
                        i,
                        Happening::Bytes { data: vec![byte], answers: counted, ends_banner: false },
                    );
                }
            } else {
                self.schedule(now + latency, i, Happening::Bytes { data, answers, ends_banner: false });
            }
        }
        if closing && !self.timeline.values().any(|(c, h)| *c == i && matches!(h, Happening::Closed)) {
            self.schedule(now + latency, i, Happening::Closed);
        }
    }
}

fn crlf(lines: &str) -> String {
    lines.lines().map(|l| format!("{l}\r\n")).collect()
}

fn verb(line: &str) -> String {
    line.split(' ').next().unwrap_or("").to_ascii_uppercase()
}

/// Stock Exim 4 as Debian ships it, refusing to relay: it refuses senders
/// at domain literals and unqualified ones as syntax errors, refuses
/// recipients with literals or odd syntax as syntax errors too, and drops a
/// client after more than 3 syntax or protocol errors
/// (`smtp_max_synprot_errors`), counting the 503 that a pipelined RCPT
/// gets after a refused MAIL.
pub fn exim() -> Script {
    Script::silent()
        .banner("220 mx.example.org ESMTP Exim 4.96 Sun, 29 Nov 2026 16:00:00 +0000")
        .on("EHLO", "250-mx.example.org Hello relaycheck.invalid [198.51.100.1]\n250-SIZE 52428800\n250-8BITMIME\n250-PIPELINING\n250-PRDR\n250 HELP")
        .on("HELO", "250 mx.example.org Hello relaycheck.invalid [198.51.100.1]")
        .on("RSET", "250 Reset OK")
        .on("MAIL", "250 OK")
        .on("MAIL FROM:<relaycheck@[", "501 <relaycheck@[192.0.2.25]>: domain literals not allowed")
        .on("MAIL FROM:<relaycheck>", "501 <relaycheck>: sender address must contain a domain")
        .on("RCPT", "550 relay not permitted")
        .on("RCPT TO:<postmaster@mx.example.org>", "250 Accepted")
        .on("RCPT TO:<relaycheck-nx-", "550 Unrouteable address")
        .on("RCPT TO:<relaycheck%example.net@[", "501 domain literals not allowed")
        .on("RCPT TO:<relaycheck-nx-000000005eedc0de@[", "501 domain literals not allowed")
        .on("RCPT TO:<relaycheck-nx-000000005eedc0de>", "501 recipient address must contain a domain")
        .on("RCPT TO:<\"", "501 malformed address: quoted local part")
        .on("RCPT TO:<example.net!", "501 recipient address must contain a domain")
        .on("RCPT TO:<relaycheck@example.net@", "501 malformed address: @ may not follow relaycheck@example.net")
        .on("RCPT TO:<@[", "501 domain literals not allowed")
        .on("RCPT TO:<example.net!relaycheck@[", "501 domain literals not allowed")
        .rcpt_without_mail("503 sender not yet given")
        .error_limit("500 501 503", 3, Some("421 mx.example.org lost input connection: too many syntax or protocol errors"))
}

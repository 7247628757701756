//! The audit of one server: a sans-IO state machine in the manner of
//! quinn-proto's `Connection`.
//!
//! The driver owns sockets and the clock; the session owns the dialogue.
//! Drive it like this, after every input:
//!
//! 1. hand it what happened: [`Session::handle_connected`],
//!    [`Session::handle_connect_failed`], [`Session::handle_input`],
//!    [`Session::handle_closed`] or [`Session::handle_timeout`];
//! 2. send every [`Session::poll_transmit`] on its connection;
//! 3. act on every [`Session::poll_event`]: open a connection on
//!    [`Event::Connect`], close one on [`Event::Close`], show the rest;
//! 4. arm a timer for [`Session::poll_timeout`].
//!
//! Stop when [`Event::Finished`] comes out; [`Session::report`] then holds
//! the whole result. Time is whatever monotonic `Duration` the driver counts
//! from; only differences matter.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use crate::capabilities::Capabilities;
use crate::command::Command;
use crate::config::Config;
use crate::connection::{Connection, ConnectionId, Outgoing, Phase, Purpose};
use crate::finding::{self, Finding};
use crate::narration::{self, ms};
use crate::probe::{self, PlanInput, Probe, ProbeKind};
use crate::refusal::{self, Refusal};
use crate::reply::Reply;
use crate::reply_parser::{ReplyError, ReplyLimits};
use crate::report::{ProbeReport, RefusedSender, Report, Server, Timings, TlsReport};
use crate::schedule::{Opening, Schedule, MAX_ATTEMPTS};
use crate::senders::{Fallback, SenderStatus, Senders};
use crate::software::{Identity, Software};
use crate::step::{Step, StepKind, Tone};
use crate::tls::{TlsFacts, TlsFailure, TlsMode};
use crate::transcript::{Direction, TranscriptLine};
use crate::verdict::{self, Answer, Outcome, ProbeVerdict, Stage, Verdict};
use crate::wire::WsQuery;

/// How long to wait, once, when a server turns every new connection away:
/// Postfix's anvil counts connections per minute (`anvil_rate_time_unit`),
/// and so do most rate limits.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(61);

/// How long to wait for the 221 after QUIT; the verdict does not depend on it.
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// The driver bounds a handshake by the reply timeout and says why in its
/// own words; the session waits this much longer, as a backstop only.
const TLS_GRACE: Duration = Duration::from_secs(2);

/// Bytes for the driver to write on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub connection: ConnectionId,
    pub data: Vec<u8>,
}

/// What the session wants the driver to do or show.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Open a new connection to the server address already in use (never
    /// resolve the name again), then report back with
    /// [`Session::handle_connected`] or [`Session::handle_connect_failed`].
    Connect(ConnectionId),
    /// Close this connection; the session has nothing more to say on it.
    Close(ConnectionId),
    /// A line was sent, received, or noted.
    Transcript(TranscriptLine),
    /// A step of the manual test, as the page draws it.
    Step(Step),
    /// One probe has its answer.
    ProbeFinished(ProbeReport),
    /// The server answered `220` to `STARTTLS` on this connection: start
    /// TLS on it (the next bytes either way are the handshake, RFC 3207),
    /// then report with [`Session::handle_tls`]. Nothing is sent on it
    /// meanwhile.
    StartTls(ConnectionId),
    /// The audit is over; [`Session::report`] is complete.
    Finished,
}

/// How far the audit has come, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub finished: usize,
    /// 0 until the plan exists (after the first banner).
    pub total: usize,
}

/// How a connection was lost, which decides what its unfinished probes become.
#[derive(Clone, Debug)]
enum Loss {
    /// The server closed it.
    Closed,
    TimedOut,
    Garbled(ReplyError),
    /// A reply arrived while no command awaited one: the server's replies
    /// can no longer be matched to our commands (a flood of "250 x" would
    /// otherwise answer every RCPT).
    Unsolicited(Reply),
    /// 421 or another 4xx that ends the session.
    Closing(Reply),
    ConnectFailed(String),
}

impl Loss {
    fn outcome(&self, at: Stage) -> Outcome {
        match self {
            Loss::Closed => Outcome::ConnectionLost { at },
            Loss::TimedOut => Outcome::TimedOut { at },
            Loss::Garbled(err) => Outcome::Garbled { at, detail: err.to_string() },
            Loss::Unsolicited(reply) => Outcome::Garbled {
                at,
                detail: format!(
                    "The server sent a reply nobody asked for ({}), so its replies could not be matched to our commands",
                    reply.summary()
                ),
            },
            Loss::Closing(_) => Outcome::Deferred { at },
            Loss::ConnectFailed(reason) => Outcome::NotConnected { reason: reason.clone() },
        }
    }

    /// Worth another connection: the server may well answer the next one.
    /// A server that is silent or speaks garbage will do so again.
    fn retryable(&self) -> bool {
        matches!(self, Loss::Closed | Loss::Closing(_) | Loss::ConnectFailed(_))
    }

    fn reply(&self) -> Option<Reply> {
        match self {
            Loss::Closing(r) => Some(r.clone()),
            _ => None,
        }
    }
}

/// A probe's answer: how it ended, on the reply it rests on.
#[derive(Clone, Debug)]
struct ProbeResult {
    outcome: Outcome,
    reply: Option<Reply>,
    connection: ConnectionId,
    at: Duration,
}

struct ProbeState {
    probe: Probe,
    /// The sender in use: the probe's own, or one the server took instead.
    sender: String,
    /// Senders tried and refused, the first with its reply.
    refused: Vec<String>,
    refused_sender: Option<(String, Reply)>,
    /// Tries over the wire with the current sender.
    attempts: u8,
    /// The connection whose answers count for this probe now; replies on any
    /// other (an old try's, a refused sender's pipelined RCPT) are ignored.
    asking: Option<ConnectionId>,
    /// Its sender was refused, and it waits for one the server takes.
    needs_sender: bool,
    started: Option<Duration>,
    mail_reply: Option<Reply>,
    /// An accepted RCPT that waits for its control's answer.
    held: Option<ProbeResult>,
    /// Its recipient was asked again at the fallback outside domain, the
    /// first one's domain having been refused.
    other_domain: bool,
    /// What its answer refused, when the stage it came at tells more than
    /// the outcome does (a greeting refused in words of no class).
    refused_as: Option<Refusal>,
    result: Option<ProbeResult>,
}

impl ProbeState {
    fn new(probe: Probe) -> ProbeState {
        ProbeState {
            sender: probe.mail_from.clone(),
            probe,
            refused: Vec::new(),
            refused_sender: None,
            attempts: 0,
            asking: None,
            needs_sender: false,
            started: None,
            mail_reply: None,
            held: None,
            other_domain: false,
            refused_as: None,
            result: None,
        }
    }

    fn is_control(&self) -> bool {
        self.probe.kind == ProbeKind::Control
    }
}

/// How the audit ended.
struct Finish {
    at: Duration,
    verdict: Verdict,
    reason: String,
}

/// One step of the manual test as it is recorded and shown.
struct StepRecord {
    kind: StepKind,
    connection: ConnectionId,
    probe: Option<usize>,
    sent: Option<String>,
    reply: Option<Reply>,
    began: Duration,
    took: Duration,
    tone: Tone,
    meaning: String,
    details: Vec<String>,
}

impl StepRecord {
    /// A step with nothing sent or received yet, which began at `began`.
    fn new(kind: StepKind, connection: ConnectionId, began: Duration, tone: Tone, meaning: String) -> StepRecord {
        StepRecord {
            kind,
            connection,
            probe: None,
            sent: None,
            reply: None,
            began,
            took: Duration::ZERO,
            tone,
            meaning,
            details: Vec::new(),
        }
    }
}

pub struct Session {
    config: Config,
    limits: ReplyLimits,
    start: Duration,
    now: Duration,
    conns: Vec<Connection>,
    address: Option<IpAddr>,
    server: Server,
    /// The relay attempts, then the control recipients.
    probes: Vec<ProbeState>,
    /// How many of `probes` are relay attempts.
    relay_probes: usize,
    /// What the server said to each sender so far.
    senders: Senders,
    /// Whether the banner's name could not stand for the server's name.
    adapted: bool,
    planned: bool,
    schedule: Schedule,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
    transcript: Vec<TranscriptLine>,
    steps: Vec<Step>,
    timings: Timings,
    /// Why not even one connection could be made.
    failure: Option<String>,
    finished: Option<Finish>,
    /// The server demanded TLS before it took a sender: every probe goes
    /// on a connection that starts TLS first.
    tls_required: bool,
    /// How the first TLS handshake went, whichever connection did it.
    tls: Option<Result<TlsFacts, TlsFailure>>,
    /// The STARTTLS and its 220 that led to the first handshake, for its step.
    starttls_exchange: Option<(String, Reply, Duration)>,
    /// In auto mode, a connection of its own reads the server's TLS facts,
    /// opened with the probing ones; `false` once the server showed it
    /// offers no STARTTLS.
    facts_wanted: bool,
    /// That connection was opened.
    facts_connection: bool,
    /// How the last connection turned away at the door was lost: what the
    /// probes that never got a connection end as.
    turned_away_by: Option<Loss>,
    /// Waiting for the server's connection rate limit until then; the wait
    /// happens once an audit (`rate_limit_waited`).
    waiting_until: Option<Duration>,
    rate_limit_waited: bool,
}

impl Session {
    /// Starts an audit of `host` (a name or address, as the user wrote it)
    /// on `port`. The first event asks the driver to connect.
    pub fn new(config: Config, host: impl Into<String>, port: u16, now: Duration) -> Session {
        // The plan's size does not depend on the server, only its addresses do.
        let sample = PlanInput {
            config: &config,
            address: IpAddr::from([192, 0, 2, 1]),
            server_name: None,
            audited_domain: None,
        };
        let planned = probe::plan(&sample).len();
        let mut session = Session {
            limits: ReplyLimits::default(),
            start: now,
            now,
            conns: Vec::new(),
            address: None,
            server: Server { host: host.into(), port, ..Server::default() },
            probes: Vec::new(),
            relay_probes: 0,
            senders: Senders::default(),
            adapted: false,
            planned: false,
            schedule: Schedule::new(&config, planned),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            transcript: Vec::new(),
            steps: Vec::new(),
            timings: Timings::default(),
            failure: None,
            finished: None,
            tls_required: false,
            tls: None,
            starttls_exchange: None,
            facts_wanted: config.tls == TlsMode::Auto && !config.implicit_tls,
            facts_connection: false,
            turned_away_by: None,
            waiting_until: None,
            rate_limit_waited: false,
            config,
        };
        session.open_connection(Vec::new(), now);
        session
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address the first connection reached, once one has.
    pub fn server_address(&self) -> Option<IpAddr> {
        self.address
    }

    /// What a driver that connects through the bridge asks it for, for an
    /// [`Event::Connect`]: the name as given until a connection has reached
    /// the server, then that address (the bridge never resolves the name
    /// again), with the name kept for TLS to check the certificate against.
    pub fn bridge_target(&self) -> WsQuery {
        WsQuery {
            host: self.address.map_or_else(|| self.server.host.clone(), |a| a.to_string()),
            port: self.server.port,
            implicit_tls: self.config.implicit_tls,
            tls_name: self.address.map(|_| self.server.host.clone()),
        }
    }

    // ----- inputs -------------------------------------------------------

    /// The driver connected `id` to `peer`.
    pub fn handle_connected(&mut self, id: ConnectionId, peer: IpAddr, now: Duration) {
        self.now = now;
        let timeout = self.config.reply_timeout;
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.phase != Phase::Connecting {
            return;
        }
        let took = now.saturating_sub(conn.phase_since);
        let began = conn.phase_since;
        conn.set_phase(Phase::Banner, now);
        conn.deadline = Some(now + timeout);
        if self.address.is_none() {
            self.address = Some(peer);
            self.server.address = Some(peer.to_string());
            self.timings.connect_ms = Some(ms(took));
            let port = self.server.port;
            let meaning = narration::connected(peer, port, took);
            let sent = format!("telnet {} {port}", self.server.host);
            self.push_step(StepRecord {
                sent: Some(sent),
                took,
                ..StepRecord::new(StepKind::Connect, id, began, Tone::Good, meaning)
            });
        }
        self.note(id, format!("connected to {peer} port {}", self.server.port));
    }

    /// The driver could not connect `id`; `reason` is a sentence for people
    /// ("connection refused").
    pub fn handle_connect_failed(&mut self, id: ConnectionId, reason: &str, now: Duration) {
        self.now = now;
        if self.conn(id).is_some_and(|c| c.phase == Phase::Connecting) {
            self.lose(id, Loss::ConnectFailed(reason.to_string()), None, false);
            self.after_input();
        }
    }

    /// Bytes arrived from the server on `id`.
    pub fn handle_input(&mut self, id: ConnectionId, data: &[u8], now: Duration) {
        self.now = now;
        match self.conn_mut(id) {
            // During the handshake the driver has nothing for us; plain text
            // there would be an injection (RFC 3207 §4.2).
            Some(conn) if conn.is_open() && !matches!(conn.phase, Phase::Connecting | Phase::Tls) => {
                conn.push_bytes(data)
            }
            _ => return,
        }
        while let Some(next) = self.conn_mut(id).filter(|c| c.is_open()).and_then(Connection::next_reply) {
            match next {
                Ok((reply, answers)) => self.on_reply(id, reply, answers),
                Err(err) => {
                    self.note(id, format!("{err}; giving up on this connection"));
                    self.lose(id, Loss::Garbled(err), None, true);
                }
            }
        }
        self.after_input();
    }

    /// The server closed `id`, or the transport failed.
    pub fn handle_closed(&mut self, id: ConnectionId, now: Duration) {
        self.now = now;
        let Some(conn) = self.conn(id) else { return };
        match conn.phase {
            Phase::Closed => return,
            Phase::Quitting => {
                self.close(id, false);
            }
            _ => self.lose(id, Loss::Closed, None, false),
        }
        self.after_input();
    }

    /// The TLS handshake on `id` ended, after [`Event::StartTls`] or, with
    /// [`Config::implicit_tls`], right after [`Session::handle_connected`]:
    /// the facts read off it, or why it failed. The bytes of
    /// [`Session::handle_input`] and [`Session::poll_transmit`] stay SMTP in
    /// plain text; the driver encrypts and decrypts them.
    pub fn handle_tls(&mut self, id: ConnectionId, outcome: Result<TlsFacts, TlsFailure>, now: Duration) {
        self.now = now;
        let Some(conn) = self.conn(id) else { return };
        let after_starttls = conn.phase == Phase::Tls;
        let implicit = self.config.implicit_tls && conn.phase == Phase::Banner && !conn.secure;
        if !(after_starttls || implicit) {
            return;
        }
        match outcome {
            Ok(facts) => {
                self.note(id, format!("TLS is up: {}", facts.describe()));
                let timeout = self.config.reply_timeout;
                let conn = &mut self.conns[id.0 as usize];
                conn.secure = true;
                let facts_only = conn.facts_only;
                if after_starttls {
                    // RFC 3207 §4.2: the server forgets everything said
                    // before TLS; greet again before anything else.
                    conn.set_phase(Phase::Greeting, now);
                    conn.deadline = Some(now + timeout);
                    if !facts_only {
                        let name = conn.greeting.clone().unwrap_or_else(|| self.config.helo_name.clone());
                        conn.queue(Purpose::Ehlo, Command::Ehlo(name));
                    }
                }
                if self.tls.is_none() {
                    let (tone, meaning) = narration::tls_up(&facts);
                    let details = tls_details(&facts);
                    self.tls = Some(Ok(facts));
                    self.push_tls_step(id, tone, meaning, details);
                }
                if facts_only && after_starttls {
                    self.conns[id.0 as usize].set_phase(Phase::Probing, now);
                    self.quit(id);
                }
            }
            Err(failure) => self.tls_failed(id, failure, None),
        }
        self.after_input();
    }

    /// Time has passed; call when [`Session::poll_timeout`] comes due.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        if self.waiting_until.is_some_and(|t| t <= now) {
            // The wait for a rate limit is over: after_input opens again.
            self.waiting_until = None;
        }
        let due: Vec<ConnectionId> =
            self.conns.iter().filter(|c| c.is_open() && c.deadline.is_some_and(|d| d <= now)).map(|c| c.id).collect();
        for id in due {
            let phase = self.conn(id).map(|c| c.phase);
            let secs = crate::narration::fixed(self.config.reply_timeout.as_secs_f64(), 0);
            match phase {
                Some(Phase::Quitting) => self.close(id, true),
                Some(Phase::Connecting) => {
                    let reason = format!("no answer to the connection attempt within {secs} s");
                    self.lose(id, Loss::ConnectFailed(reason), None, true);
                }
                Some(Phase::Tls) => {
                    let reason = format!("the server did not finish the TLS handshake within {secs} s");
                    self.tls_failed(id, TlsFailure { reason }, None);
                }
                Some(_) => {
                    self.note(id, format!("no reply within {secs} s; giving up on this connection"));
                    self.lose(id, Loss::TimedOut, None, true);
                }
                None => {}
            }
        }
        self.after_input();
    }

    // ----- outputs ------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let connections = self.conns.iter().filter(|c| c.is_open()).filter_map(|c| c.deadline);
        connections.chain(self.waiting_until).min()
    }

    pub fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    pub fn progress(&self) -> Progress {
        let relay = &self.probes[..self.relay_probes];
        Progress { finished: relay.iter().filter(|p| p.result.is_some()).count(), total: relay.len() }
    }

    /// The report so far; complete once [`Event::Finished`] has come out.
    pub fn report(&self) -> Report {
        let (verdict, reason) = match &self.finished {
            Some(f) => (f.verdict, f.reason.clone()),
            None => self.decide(),
        };
        let end = self.finished.as_ref().map_or(self.now, |f| f.at);
        let probes: Vec<ProbeReport> = (0..self.relay_probes).map(|i| self.probe_report(i)).collect();
        let controls: Vec<ProbeReport> = (self.relay_probes..self.probes.len()).map(|i| self.probe_report(i)).collect();
        let tls = self.tls.as_ref().map(|outcome| TlsReport {
            how: if self.config.implicit_tls { "implicit" } else { "starttls" }.into(),
            required: self.tls_required,
            facts: outcome.as_ref().ok().cloned(),
            failure: outcome.as_ref().err().map(|f| f.reason.clone()),
        });
        let advice = self.advice(&probes);
        let mut findings = self.findings(&probes, &controls);
        findings.extend(finding::tls(&self.server, tls.as_ref(), self.config.implicit_tls));
        Report {
            verdict,
            reason,
            server: self.server.clone(),
            probes,
            controls,
            findings,
            tls,
            steps: self.steps.clone(),
            transcript: self.transcript.clone(),
            timings: self.timings.clone(),
            elapsed_ms: ms(end.saturating_sub(self.start)),
            connections: self.conns.iter().filter(|c| c.phase != Phase::Connecting || !c.is_open()).count() as u32,
            advice,
            from_domain: self.config.from_domain.clone(),
            to_domain: self.config.to_domain.clone(),
        }
    }

    // ----- the dialogue -------------------------------------------------

    fn on_reply(&mut self, id: ConnectionId, reply: Reply, answers: Option<Outgoing>) {
        for line in reply.wire_lines() {
            self.record(id, Direction::Received, line);
        }
        let phase = self.conn(id).map(|c| c.phase);
        if phase == Some(Phase::Banner) {
            return self.on_banner(id, reply);
        }
        let Some(out) = answers else {
            if reply.is_closing() {
                return self.lose(id, Loss::Closing(reply), None, true);
            }
            self.note(id, "a reply nobody asked for: the server's replies no longer match our commands; giving up on this connection".into());
            return self.lose(id, Loss::Unsolicited(reply), None, true);
        };
        if reply.is_closing() && out.purpose != Purpose::Quit {
            return self.lose(id, Loss::Closing(reply), Some(out), true);
        }
        let took = out.sent_at.map_or(Duration::ZERO, |t| self.now.saturating_sub(t));
        let sent_at = out.sent_at.unwrap_or(self.now);
        match out.purpose {
            Purpose::Ehlo if reply.is_positive() => {
                let caps = Capabilities::from_ehlo(&reply);
                if let Some(conn) = self.conn_mut(id) {
                    conn.pipelining = caps.pipelining();
                }
                self.greeted(id, &out.command, reply, Some(caps), sent_at, took);
            }
            Purpose::Ehlo if self.conn(id).is_some_and(|c| c.regreeting) => {
                // It will not be greeted twice, and allows no more connections.
                let outcome = Outcome::NotAsked { refused: Refusal::Limit, at: Stage::Greeting };
                for p in self.conn(id).map(|c| c.probes.clone()).unwrap_or_default() {
                    self.finish_probe(p, outcome.clone(), Some(reply.clone()), id);
                }
                self.quit(id);
            }
            Purpose::Ehlo => {
                // Old or minimal servers only know HELO (RFC 5321 §3.2).
                self.server.helo_fallback = true;
                let name = self.conn(id).and_then(|c| c.greeting.clone());
                let helo = Command::Helo(name.unwrap_or_else(|| self.config.helo_name.clone()));
                if let Some(conn) = self.conn_mut(id) {
                    conn.queue(Purpose::Helo, helo);
                }
            }
            Purpose::Helo if reply.is_positive() => self.greeted(id, &out.command, reply, None, sent_at, took),
            Purpose::Helo => {
                let refused = refusal::classify(Stage::Greeting, &reply);
                let outcome = if matches!(refused, Refusal::Client | Refusal::Greeting) {
                    Outcome::NotAsked { refused, at: Stage::Greeting }
                } else if reply.is_transient() {
                    Outcome::Deferred { at: Stage::Greeting }
                } else {
                    Outcome::Refused { at: Stage::Greeting }
                };
                if self.is_first(id) {
                    let meaning = narration::greeting_refused(&reply);
                    self.push_step(StepRecord {
                        sent: Some(line_of(&out.command)),
                        reply: Some(reply.clone()),
                        took,
                        ..StepRecord::new(StepKind::Greeting, id, sent_at, Tone::Bad, meaning)
                    });
                }
                let probes = self.conn(id).map(|c| c.probes.clone()).unwrap_or_default();
                for p in probes {
                    // A forged greeting refused: that is the answer it asked for.
                    let forged = self.probes[p].probe.helo.is_some() && refused == Refusal::Greeting;
                    let outcome = if forged { Outcome::Denied } else { outcome.clone() };
                    // Read at the greeting, whatever its words: it is the
                    // greeting that was refused.
                    self.probes[p].refused_as = Some(refused);
                    self.finish_probe(p, outcome, Some(reply.clone()), id);
                }
                self.quit(id);
            }
            Purpose::Rset(p) => {
                self.probes[p].started.get_or_insert(sent_at);
            }
            Purpose::Mail(p) => {
                if self.probes[p].asking != Some(id) {
                    return;
                }
                if reply.demands_tls() && self.may_move_into_tls(id) {
                    return self.move_into_tls(id, p, &out, reply);
                }
                self.probes[p].started.get_or_insert(sent_at);
                self.probes[p].mail_reply = Some(reply.clone());
                let refused = Outcome::from_mail(&reply);
                let sender = self.probes[p].sender.clone();
                self.senders.learn(&sender, &reply);
                if p == 0 {
                    let (tone, meaning) = match &refused {
                        None => (Tone::Neutral, narration::sender_accepted(&sender)),
                        Some(o) if self.probes[p].probe.kind == ProbeKind::Sender => {
                            (Tone::Warning, o.explain(Some(&reply)))
                        }
                        Some(_) => (Tone::Warning, narration::sender_refused(&sender, &reply)),
                    };
                    self.probe_step(StepKind::Sender, id, p, &out, &reply, (tone, meaning));
                }
                if let Some(outcome) = refused {
                    if let Some(conn) = self.conn_mut(id) {
                        conn.unqueue_rcpt(p);
                    }
                    self.sender_refused(p, outcome, reply, id);
                }
            }
            Purpose::Rcpt(p) => {
                // After a refused MAIL a pipelined RCPT gets "503 need MAIL";
                // the probe has moved on by then, and that reply means nothing.
                if self.probes[p].asking == Some(id) && self.probes[p].result.is_none() {
                    let reading = self.read_rcpt(p, &reply);
                    if matches!(reading, RcptReading::Answer(Outcome::Denied))
                        && refusal::classify_answer(Stage::Recipient, &reply) == Refusal::RecipientDomain
                    {
                        // "Unrouteable address" where the recipient lands at
                        // the server itself refuses that mailbox.
                        self.probes[p].refused_as = Some(Refusal::Recipient);
                    }
                    if p == 0 {
                        let (tone, meaning) = match &reading {
                            RcptReading::Answer(outcome) => {
                                let tone = match outcome.verdict() {
                                    ProbeVerdict::Accepted => Tone::Bad,
                                    ProbeVerdict::Denied => Tone::Good,
                                    _ => Tone::Warning,
                                };
                                (tone, outcome.explain_asked(Some(&reply), &self.asked(&self.probes[p])))
                            }
                            RcptReading::SenderRefused => {
                                (Tone::Warning, narration::sender_refused(&self.probes[p].sender, &reply))
                            }
                            RcptReading::Unexplained => (Tone::Warning, narration::refusal_unexplained(&reply)),
                        };
                        self.probe_step(StepKind::Recipient, id, p, &out, &reply, (tone, meaning));
                    }
                    let outcome = match reading {
                        RcptReading::Answer(outcome) => outcome,
                        RcptReading::SenderRefused => {
                            // Postfix checks the sender at RCPT (smtpd_delay_reject):
                            // the sender is refused, not the recipient.
                            let sender = self.probes[p].sender.clone();
                            self.senders.refuse(&sender, &reply);
                            return self.sender_refused(p, Outcome::SenderRefused, reply, id);
                        }
                        RcptReading::Unexplained => {
                            // A refusal only if the server takes postmaster from us.
                            let result = ProbeResult {
                                outcome: Outcome::Denied,
                                reply: Some(reply),
                                connection: id,
                                at: self.now,
                            };
                            self.probes[p].held = Some(result);
                            self.probes[p].asking = None;
                            return self.release_from_connections(p);
                        }
                    };
                    if matches!(outcome, Outcome::NotAsked { refused: Refusal::RecipientDomain, .. })
                        && self.ask_at_other_domain(p, id)
                    {
                        return;
                    }
                    let state = &self.probes[p];
                    if outcome == Outcome::Accepted && state.probe.lands_at.is_some() && !state.is_control() {
                        // Proof only if a mailbox that cannot exist is refused
                        // at the same place: wait for that control's answer.
                        let result = ProbeResult { outcome, reply: Some(reply), connection: id, at: self.now };
                        self.probes[p].held = Some(result);
                        self.probes[p].asking = None;
                        self.release_from_connections(p);
                    } else {
                        self.finish_probe(p, outcome, Some(reply), id);
                    }
                }
            }
            Purpose::StartTls if reply.is_positive() => {
                let timeout = self.config.reply_timeout;
                let now = self.now;
                let limits = self.limits;
                let conn = &mut self.conns[id.0 as usize];
                conn.set_phase(Phase::Tls, now);
                conn.deadline = Some(now + timeout + TLS_GRACE);
                conn.restart_parser(limits);
                if self.tls.is_none() {
                    self.starttls_exchange = Some((line_of(&out.command), reply, sent_at));
                }
                self.events.push_back(Event::StartTls(id));
            }
            Purpose::StartTls => {
                let reason = format!("the server refused STARTTLS ({})", reply.summary());
                self.tls_failed(id, TlsFailure { reason }, Some(reply));
            }
            Purpose::Quit => self.close(id, true),
        }
    }

    fn on_banner(&mut self, id: ConnectionId, reply: Reply) {
        let Some(conn) = self.conn(id) else { return };
        let waited = self.now.saturating_sub(conn.phase_since);
        let began = conn.phase_since;
        if self.server.banner.is_none() {
            self.server.banner = Some(reply.wire_lines().join("\n"));
            self.server.name = reply
                .lines
                .first()
                .and_then(|l| l.split_whitespace().next())
                .filter(|w| looks_like_domain(w))
                .map(str::to_string);
            let identity = Identity::recognise(&[&reply.text()]);
            self.server.software = identity.software;
            self.server.identity = (identity.software != Software::Other).then_some(identity);
        }
        if self.is_first(id) {
            self.timings.banner_ms = Some(ms(waited));
            let (tone, meaning) = narration::banner(&reply, self.server.software, waited);
            self.push_step(StepRecord {
                reply: Some(reply.clone()),
                took: waited,
                ..StepRecord::new(StepKind::Banner, id, began, tone, meaning)
            });
        }
        if reply.is_positive() {
            if !self.planned {
                self.make_plan();
                // The first connection carries the manual test, whichever
                // connection's banner came first.
                if self.conns[0].is_open() && !self.conns[0].served {
                    if let Some(chunk) = self.schedule.next_group() {
                        self.assign(ConnectionId(0), chunk);
                    }
                }
            }
            if !self.conns[id.0 as usize].served {
                if let Some(chunk) = self.schedule.next_group() {
                    self.assign(id, chunk);
                }
            }
            let timeout = self.config.reply_timeout;
            // A forged greeting's probe travels alone and greets its own way.
            let forged = self.conns[id.0 as usize].probes.iter().find_map(|&p| self.probes[p].probe.helo.clone());
            let ehlo = Command::Ehlo(forged.clone().unwrap_or_else(|| self.config.helo_name.clone()));
            let now = self.now;
            let conn = &mut self.conns[id.0 as usize];
            conn.greeting = forged;
            conn.set_phase(Phase::Greeting, now);
            conn.deadline = Some(now + timeout);
            conn.queue(Purpose::Ehlo, ehlo);
            // Only a server that greets is worth a look at its TLS.
            self.open_facts_connection();
            self.open_connections();
        } else if reply.is_permanent() {
            // 554 at connect: no service for us. RFC 5321 §3.1 says to QUIT.
            if !self.planned {
                self.make_plan();
                let all: Vec<usize> = (0..self.probes.len()).collect();
                self.schedule.drain();
                self.conns[id.0 as usize].probes = all;
            }
            let probes = self.conns[id.0 as usize].probes.clone();
            // A blocklisted client is refused at the door, as postscreen does.
            let outcome = match refusal::classify(Stage::Banner, &reply) {
                Refusal::Client => Outcome::NotAsked { refused: Refusal::Client, at: Stage::Banner },
                _ => Outcome::Refused { at: Stage::Banner },
            };
            for p in probes {
                self.finish_probe(p, outcome.clone(), Some(reply.clone()), id);
            }
            self.conns[id.0 as usize].set_phase(Phase::Probing, self.now);
            self.quit(id);
        } else {
            // 421 or another 4xx: busy, or too many connections from us.
            self.lose(id, Loss::Closing(reply), None, true);
        }
    }

    /// Gives a connection its group of probes; if it has already greeted,
    /// they go out at once.
    fn assign(&mut self, id: ConnectionId, chunk: Vec<usize>) {
        for &p in &chunk {
            self.probes[p].attempts += 1;
        }
        let conn = &mut self.conns[id.0 as usize];
        // A connection may carry a second group when the server limits
        // connections: `assigned` counts every probe it was given.
        conn.assigned += chunk.len();
        conn.probes = chunk;
        conn.served = true;
        if conn.phase == Phase::Probing {
            self.start_probes(id);
        }
    }

    /// Queues RSET, MAIL and RCPT for each of the connection's probes. With
    /// PIPELINING, QUIT ends the same group: one round trip for all of it.
    fn start_probes(&mut self, id: ConnectionId) {
        // What the server taught us since the group was made: a sender it
        // refused is not sent again, for it would only cost an error.
        for p in self.conns[id.0 as usize].probes.clone() {
            self.avoid_refused_sender(p, id);
        }
        let commands: Vec<(usize, Command, Command)> = self.conns[id.0 as usize]
            .probes
            .iter()
            .map(|&p| {
                let state = &self.probes[p];
                (p, Command::mail(state.sender.clone()), Command::rcpt(state.probe.rcpt_to.clone()))
            })
            .collect();
        for &(p, _, _) in &commands {
            self.probes[p].asking = Some(id);
            self.probes[p].mail_reply = None;
        }
        let conn = &mut self.conns[id.0 as usize];
        if commands.is_empty() {
            return;
        }
        for (p, mail, rcpt) in commands {
            conn.queue(Purpose::Rset(p), Command::Rset);
            conn.queue(Purpose::Mail(p), mail);
            conn.queue(Purpose::Rcpt(p), rcpt);
        }
        // A server that limits connections may need this one again: then,
        // and while other connections may still be turned away at the door
        // (Postfix's anvil answers them a second late), QUIT waits until
        // nothing is left for it.
        let others_pending = self.conns.iter().any(|c| {
            c.id != id && c.is_open() && !c.facts_only && matches!(c.phase, Phase::Connecting | Phase::Banner)
        });
        let conn = &mut self.conns[id.0 as usize];
        if conn.pipelining && !self.schedule.is_limited() && !others_pending {
            conn.queue(Purpose::Quit, Command::Quit);
            conn.quit_queued = true;
        }
    }

    fn greeted(
        &mut self,
        id: ConnectionId,
        command: &Command,
        reply: Reply,
        caps: Option<Capabilities>,
        sent_at: Duration,
        took: Duration,
    ) {
        let offered = caps.as_ref().is_some_and(Capabilities::starttls);
        let secure = self.conns[id.0 as usize].secure;
        // The manual test's greeting step is the first connection's first greeting.
        let first = self.is_first(id) && !self.conns[id.0 as usize].regreeting;
        self.conns[id.0 as usize].offers_starttls = offered;
        if first && secure && !self.config.implicit_tls {
            self.push_step(StepRecord {
                sent: Some(line_of(command)),
                reply: Some(reply),
                took,
                ..StepRecord::new(StepKind::Greeting, id, sent_at, Tone::Neutral, narration::greeted_in_tls())
            });
        } else if first {
            let caps = caps.unwrap_or_default();
            self.server.capabilities_described = caps.describe();
            let identity = Identity::recognise(&[self.server.banner.as_deref().unwrap_or(""), &reply.text()]);
            if identity.software != Software::Other {
                self.server.software = identity.software;
                self.server.identity = Some(identity);
            }
            self.server.capabilities = caps;
            self.timings.greeting_ms = Some(ms(took));
            let meaning = narration::greeted(self.server.helo_fallback, self.server.capabilities.extensions.len());
            let details = self.server.capabilities_described.clone();
            self.push_step(StepRecord {
                sent: Some(line_of(command)),
                reply: Some(reply),
                took,
                details,
                ..StepRecord::new(StepKind::Greeting, id, sent_at, Tone::Neutral, meaning)
            });
            if !offered {
                self.facts_wanted = false;
            }
        }
        if offered && !secure && self.starts_tls(id) {
            // STARTTLS stands alone: nothing may follow it in a pipelined
            // group (RFC 3207 §4.2), so the probes wait for TLS.
            self.conns[id.0 as usize].queue(Purpose::StartTls, Command::StartTls);
            return;
        }
        let now = self.now;
        let Some(conn) = self.conn_mut(id) else { return };
        conn.set_phase(Phase::Probing, now);
        if conn.facts_only {
            // No STARTTLS here (or TLS is up): nothing more to read.
            return self.quit(id);
        }
        self.start_probes(id);
    }

    /// Whether this connection starts TLS before it probes.
    fn starts_tls(&self, id: ConnectionId) -> bool {
        if self.config.implicit_tls {
            return false;
        }
        match self.config.tls {
            TlsMode::Never => false,
            TlsMode::Always => true,
            TlsMode::Auto => self.tls_required || self.conns[id.0 as usize].facts_only,
        }
    }

    /// In auto mode one connection more reads the server's TLS facts,
    /// opened with the probing ones so that it costs about one round trip
    /// (a bridge lets a page have all of one audit's connections at once). If
    /// the server offers no STARTTLS, it just says goodbye.
    fn open_facts_connection(&mut self) {
        if !self.planned || !self.facts_wanted || self.facts_connection || self.tls_required {
            return;
        }
        if !self.schedule.one_more(self.conns.len()) {
            self.facts_wanted = false;
            return;
        }
        self.facts_connection = true;
        let id = ConnectionId(self.conns.len() as u32);
        let mut conn = Connection::new(id, self.now, self.limits);
        conn.deadline = Some(self.now + self.config.reply_timeout);
        // It never carries probes.
        conn.served = true;
        conn.facts_only = true;
        self.conns.push(conn);
        self.events.push_back(Event::Connect(id));
    }

    /// Whether a demand for TLS on `id` can be met by moving into TLS.
    fn may_move_into_tls(&self, id: ConnectionId) -> bool {
        let Some(conn) = self.conn(id) else { return false };
        !conn.secure && conn.offers_starttls && !self.config.implicit_tls && self.config.tls != TlsMode::Never
    }

    /// The server demanded TLS in answer to MAIL on a plain connection: this
    /// connection's probes are asked again on connections that start TLS
    /// first (not counted as attempts), and this one says goodbye.
    fn move_into_tls(&mut self, id: ConnectionId, p: usize, out: &Outgoing, reply: Reply) {
        if !self.tls_required {
            if p == 0 {
                let meaning = narration::tls_demanded(&reply);
                self.probe_step(StepKind::Sender, id, p, out, &reply, (Tone::Warning, meaning));
            }
            let text = "the server demands TLS before it takes a sender: every probe is asked again inside TLS";
            self.note(id, text.into());
            self.tls_required = true;
        }
        let conn = &mut self.conns[id.0 as usize];
        conn.clear_outbox();
        let probes = std::mem::take(&mut conn.probes);
        if let Some(Err(failure)) = self.tls.clone() {
            for q in probes {
                self.finish_probe(q, Outcome::TlsFailed { reason: failure.reason.clone() }, Some(reply.clone()), id);
            }
        } else if !probes.is_empty() {
            for &q in &probes {
                let state = &mut self.probes[q];
                state.asking = None;
                state.attempts = state.attempts.saturating_sub(1);
            }
            self.schedule.again(probes, self.conns.len());
        }
        self.quit(id);
    }

    /// TLS could not be started on `id`: STARTTLS was refused (`reply`, and
    /// the connection is still plain), or the handshake failed (and the
    /// connection is gone). Probes that were to go inside TLS cannot be
    /// asked; the TLS facts connection just ends.
    fn tls_failed(&mut self, id: ConnectionId, failure: TlsFailure, reply: Option<Reply>) {
        self.note(id, narration::tls_failed(&failure));
        if self.tls.is_none() {
            if let (None, Some(r)) = (&self.starttls_exchange, &reply) {
                self.starttls_exchange = Some(("STARTTLS".into(), r.clone(), self.now));
            }
            self.tls = Some(Err(failure.clone()));
            self.push_tls_step(id, Tone::Bad, narration::tls_failed(&failure), Vec::new());
        }
        let conn = &mut self.conns[id.0 as usize];
        let facts_only = conn.facts_only;
        let probes = std::mem::take(&mut conn.probes);
        if !facts_only {
            let outcome = Outcome::TlsFailed { reason: failure.reason.clone() };
            let unasked: Vec<usize> = if !self.planned && self.is_first(id) {
                // TLS from the first byte failed: the plan is made anyway, so
                // the report lists every probe and why none could be asked.
                self.make_plan();
                self.schedule.drain();
                (0..self.probes.len()).collect()
            } else {
                // What waits would go inside TLS too: it cannot be asked.
                probes.into_iter().chain(self.schedule.drain()).collect()
            };
            for q in unasked {
                self.finish_probe(q, outcome.clone(), reply.clone(), id);
            }
        }
        if reply.is_some() {
            self.conns[id.0 as usize].set_phase(Phase::Probing, self.now);
            self.quit(id);
        } else {
            self.close(id, true);
        }
    }

    /// The TLS step: STARTTLS and its 220 (or, on port 465, the handshake
    /// at connect), and what came of it.
    fn push_tls_step(&mut self, id: ConnectionId, tone: Tone, meaning: String, details: Vec<String>) {
        let (sent, reply, began) = match self.starttls_exchange.take() {
            Some((sent, reply, at)) => (Some(sent), Some(reply), at),
            None => {
                let (host, port) = (&self.server.host, self.server.port);
                (Some(format!("openssl s_client -connect {host}:{port}")), None, self.now)
            }
        };
        self.push_step(StepRecord {
            sent,
            reply,
            took: self.now.saturating_sub(began),
            details,
            ..StepRecord::new(StepKind::Tls, id, began, tone, meaning)
        });
    }

    fn quit(&mut self, id: ConnectionId) {
        let now = self.now;
        let Some(conn) = self.conn_mut(id) else { return };
        if !conn.is_open() || conn.phase == Phase::Quitting {
            return;
        }
        conn.set_phase(Phase::Quitting, now);
        if !conn.quit_queued {
            conn.queue(Purpose::Quit, Command::Quit);
            conn.quit_queued = true;
        }
    }

    // ----- planning and scheduling ----------------------------------------

    /// The plan's probes and controls for `config`, from what the first
    /// connection learned.
    fn plan_for(&self, config: &Config) -> (Vec<Probe>, Vec<Probe>) {
        let address = self.address.expect("a plan is made after connecting");
        // The banner's name, else the name the user typed; without either,
        // probes that need a name use the address literal instead.
        let typed = looks_like_domain(&self.server.host).then(|| self.server.host.clone());
        let name = self.server.name.clone().or(typed.clone());
        // The domain the audit is for: the caller's, else the name typed.
        let audited = config.audited_domain.clone().or(typed);
        let input = PlanInput { config, address, server_name: name.as_deref(), audited_domain: audited.as_deref() };
        let plan = probe::plan(&input);
        let controls = probe::controls(&input, &plan);
        (plan, controls)
    }

    fn make_plan(&mut self) {
        let typed = looks_like_domain(&self.server.host);
        self.adapted = self.server.name.is_none() && !typed;
        let (plan, controls) = self.plan_for(&self.config);
        self.relay_probes = plan.len();
        self.probes = plan.into_iter().chain(controls).map(ProbeState::new).collect();
        let alone = (0..self.probes.len()).filter(|&p| self.probes[p].probe.helo.is_some()).collect();
        self.schedule.plan(self.relay_probes, self.probes.len() - self.relay_probes, alone);
        self.planned = true;
    }

    fn open_connection(&mut self, probes: Vec<usize>, now: Duration) {
        let id = ConnectionId(self.conns.len() as u32);
        let mut conn = Connection::new(id, now, self.limits);
        conn.deadline = Some(now + self.config.reply_timeout);
        for &p in &probes {
            self.probes[p].attempts += 1;
        }
        conn.served = !probes.is_empty();
        conn.assigned = probes.len();
        conn.probes = probes;
        self.conns.push(conn);
        self.events.push_back(Event::Connect(id));
    }

    /// Opens connections for waiting probe groups, as many at once as allowed.
    fn open_connections(&mut self) {
        if !self.planned || self.finished.is_some() || self.waiting_until.is_some() {
            return;
        }
        // Connections opened early and still without probes take them first.
        let waiting: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|c| c.is_open() && !c.served && !c.quit_queued && c.phase != Phase::Quitting)
            .map(|c| c.id)
            .collect();
        for id in waiting {
            // One that has greeted already cannot take a forged greeting.
            let greeted = !matches!(self.conns[id.0 as usize].phase, Phase::Connecting | Phase::Banner);
            let next = if greeted { self.schedule.next_plain_group() } else { self.schedule.next_group() };
            let Some(chunk) = next else { break };
            self.assign(id, chunk);
        }
        loop {
            let active =
                self.conns.iter().filter(|c| c.is_open() && c.phase != Phase::Quitting && !c.facts_only).count();
            match self.schedule.opening(self.conns.len(), active) {
                Opening::Open => {
                    let chunk = self.schedule.next_group().expect("a group waits");
                    self.open_connection(chunk, self.now);
                }
                Opening::Exhausted if self.may_wait_for_rate_limit() => {
                    // The server turned away every new connection: its rate
                    // limit (Postfix's anvil counts a minute) will let us in
                    // again. Wait once, then ask what is left.
                    let left = self.schedule.waiting();
                    self.schedule.refund(left.div_ceil(self.config.probes_per_connection.max(1)) + 1);
                    self.waiting_until = Some(self.now + RATE_LIMIT_WAIT);
                    let last = self.conns.last().map(|c| c.id).unwrap_or(ConnectionId(0));
                    let secs = RATE_LIMIT_WAIT.as_secs();
                    self.note(last, format!("the server turns every new connection away: waiting {secs} s for its connection rate limit, then asking the {left} probe(s) left"));
                    break;
                }
                Opening::Exhausted => {
                    // Out of connections to try: what waits can never be asked.
                    // They end as the last connection turned away did, in its words.
                    let last = self.conns.last().map(|c| c.id).unwrap_or(ConnectionId(0));
                    let (outcome, reply) = match &self.turned_away_by {
                        Some(loss) => (loss.outcome(Stage::Connect), loss.reply()),
                        None => (Outcome::ConnectionLost { at: Stage::Connect }, None),
                    };
                    for p in self.schedule.drain() {
                        self.finish_probe(p, outcome.clone(), reply.clone(), last);
                    }
                    break;
                }
                Opening::Wait | Opening::Nothing => break,
            }
        }
    }

    /// Gives up on a connection. Its unfinished probes go to a new connection
    /// if the loss is worth retrying, or get their outcome from it.
    fn lose(&mut self, id: ConnectionId, loss: Loss, answering: Option<Outgoing>, tell_driver: bool) {
        let Some(conn) = self.conn_mut(id) else { return };
        if !conn.is_open() {
            return;
        }
        let mut unanswered: Vec<Outgoing> = answering.into_iter().collect();
        unanswered.extend(conn.take_unanswered());
        let probes = std::mem::take(&mut conn.probes);
        let answered = conn.assigned.saturating_sub(probes.len());
        let stages: Vec<(usize, Stage)> = probes.iter().map(|&p| (p, conn.stage_of(p, &unanswered))).collect();
        let phase = conn.phase;
        match &loss {
            Loss::Closed => self.note(id, "the server closed the connection".into()),
            Loss::ConnectFailed(reason) => self.note(id, format!("could not connect: {reason}")),
            _ => {}
        }
        self.close(id, tell_driver);

        // The TLS facts connection carries no probe and teaches no limit: a
        // bridge or server that turns it away says nothing about the others.
        let facts_only = self.conns[id.0 as usize].facts_only;
        let turned_away =
            matches!(phase, Phase::Connecting | Phase::Banner) && !self.is_first(id) && loss.retryable() && !facts_only;
        if turned_away {
            self.schedule.turned_away();
            self.turned_away_by = Some(loss.clone());
        }
        if !self.planned && !self.is_first(id) {
            // Opened early, before the plan: it carried nothing yet.
            return;
        }
        if !self.planned {
            if self.address.is_none() {
                let reason = match &loss {
                    Loss::ConnectFailed(r) => r.clone(),
                    _ => "the connection was lost".into(),
                };
                if phase == Phase::Connecting && self.is_first(id) {
                    let meaning = narration::could_not_connect(&reason);
                    let sent = format!("telnet {} {}", self.server.host, self.server.port);
                    self.push_step(StepRecord {
                        sent: Some(sent),
                        took: self.now.saturating_sub(self.start),
                        ..StepRecord::new(StepKind::Connect, id, self.start, Tone::Bad, meaning)
                    });
                }
                self.failure = Some(reason);
                return;
            }
            // Lost before the banner: the plan is made anyway, so the report
            // lists every probe and why none could be asked.
            self.make_plan();
            self.schedule.drain();
            let stage = if phase == Phase::Connecting { Stage::Connect } else { Stage::Banner };
            for p in 0..self.probes.len() {
                self.finish_probe(p, loss.outcome(stage), loss.reply(), id);
            }
            return;
        }

        let lost_some = !stages.is_empty();
        let mut retry = Vec::new();
        for (p, stage) in stages {
            self.probes[p].asking = None;
            if turned_away {
                // Turned away at the door, it was never asked: no attempt
                // spent (the connections so refunded are bounded).
                self.probes[p].attempts = self.probes[p].attempts.saturating_sub(1);
            }
            if loss.retryable() && self.probes[p].attempts < MAX_ATTEMPTS {
                retry.push(p);
            } else {
                self.finish_probe(p, loss.outcome(stage), loss.reply(), id);
            }
        }
        if matches!(loss, Loss::Closing(_) | Loss::Closed) && phase == Phase::Probing && lost_some {
            // The server hung up after `answered` probes, with a 421 ("Too
            // many errors") or without a word (a limit on errors or on
            // recipients per connection, or a reset that swallowed its 421,
            // depending on how the bytes travelled): give later connections
            // no more, whatever the driver saw.
            self.schedule.learn_limit(answered);
            self.note(id, format!("the server hung up after {answered} probe(s) on this connection; at most that many per connection from now on"));
        }
        if !retry.is_empty() {
            self.note(id, format!("{} unfinished probe(s) will be tried again on a new connection", retry.len()));
            self.schedule.requeue(retry, self.conns.len());
        }
    }

    fn close(&mut self, id: ConnectionId, tell_driver: bool) {
        let now = self.now;
        let Some(conn) = self.conn_mut(id) else { return };
        if !conn.is_open() {
            return;
        }
        conn.set_phase(Phase::Closed, now);
        conn.deadline = None;
        if tell_driver {
            self.events.push_back(Event::Close(id));
        }
    }

    fn finish_probe(&mut self, p: usize, outcome: Outcome, reply: Option<Reply>, id: ConnectionId) {
        if self.probes[p].result.is_some() {
            return;
        }
        let state = &mut self.probes[p];
        state.result = Some(ProbeResult { outcome, reply, connection: id, at: self.now });
        state.asking = None;
        state.needs_sender = false;
        state.held = None;
        self.release_from_connections(p);
        if !self.probes[p].is_control() {
            let report = self.probe_report(p);
            self.events.push_back(Event::ProbeFinished(report));
        }
    }

    /// The probe is done with whichever connection carried it.
    fn release_from_connections(&mut self, p: usize) {
        for conn in &mut self.conns {
            conn.probes.retain(|&q| q != p);
        }
    }

    // ----- senders and controls -------------------------------------------

    /// Reads the reply to probe `p`'s RCPT for what it refuses: only a
    /// refusal of the relay or of the recipient answers the probe.
    fn read_rcpt(&self, p: usize, reply: &Reply) -> RcptReading {
        let state = &self.probes[p];
        if reply.needs_tls_or_auth() {
            return RcptReading::Answer(Outcome::Blocked { at: Stage::Recipient });
        }
        if reply.is_positive() {
            return RcptReading::Answer(Outcome::Accepted);
        }
        let refused = refusal::classify_answer(Stage::Recipient, reply);
        let not_asked = RcptReading::Answer(Outcome::NotAsked { refused, at: Stage::Recipient });
        match refused {
            // A forged greeting's question is the greeting itself.
            Refusal::Greeting if state.probe.helo.is_some() => RcptReading::Answer(Outcome::Denied),
            Refusal::Sender if state.probe.kind == ProbeKind::Sender => RcptReading::Answer(if reply.is_permanent() {
                Outcome::SenderDenied
            } else {
                Outcome::Deferred { at: Stage::Recipient }
            }),
            Refusal::Sender => RcptReading::SenderRefused,
            // Where the recipient lands at the server itself, "Unrouteable
            // address" refuses that mailbox; the outside domain, if named,
            // is what it refuses.
            Refusal::RecipientDomain
                if (state.probe.lands_at.is_some() || state.is_control())
                    && !reply.text().to_ascii_lowercase().contains(&self.config.to_domain.to_ascii_lowercase()) =>
            {
                RcptReading::Answer(Outcome::Denied)
            }
            Refusal::Client | Refusal::Greeting | Refusal::RecipientDomain => not_asked,
            Refusal::Limit => RcptReading::Answer(Outcome::Deferred { at: Stage::Recipient }),
            _ if reply.is_transient() => RcptReading::Answer(if verdict::is_relay_refusal(reply) {
                Outcome::RelayDeferred
            } else {
                Outcome::Deferred { at: Stage::Recipient }
            }),
            Refusal::Unspecified if !state.is_control() => RcptReading::Unexplained,
            _ => RcptReading::Answer(Outcome::Denied),
        }
    }

    /// MAIL was refused (or deferred) for probe `p`. A probe about its sender
    /// has its answer; any other goes on with a sender the server takes.
    fn sender_refused(&mut self, p: usize, outcome: Outcome, reply: Reply, id: ConnectionId) {
        if !reply.is_positive() && !matches!(outcome, Outcome::Blocked { .. }) {
            // Refused for who we are, not for the sender: no other sender
            // would fare better.
            let refused = refusal::classify_answer(Stage::Sender, &reply);
            let forged_greeting = self.probes[p].probe.helo.is_some();
            match refused {
                Refusal::Greeting if forged_greeting => return self.finish_probe(p, Outcome::Denied, Some(reply), id),
                Refusal::Client | Refusal::Greeting => {
                    let outcome = Outcome::NotAsked { refused, at: Stage::Sender };
                    return self.finish_probe(p, outcome, Some(reply), id);
                }
                _ => {}
            }
        }
        if self.probes[p].probe.kind == ProbeKind::Sender {
            let outcome = if outcome == Outcome::SenderRefused { Outcome::SenderDenied } else { outcome };
            return self.finish_probe(p, outcome, Some(reply), id);
        }
        if matches!(outcome, Outcome::Blocked { .. }) {
            return self.finish_probe(p, outcome, Some(reply), id);
        }
        self.switch_sender(p, reply);
        self.note(
            id,
            format!(
                "the server refused the sender <{}>, so \"{}\" will be asked again with a sender it takes",
                self.probes[p].refused.last().map_or("", String::as_str),
                self.probes[p].probe.id
            ),
        );
    }

    /// The server refused the recipient's domain before it judged
    /// relaying: with a fallback outside domain configured (one with a
    /// working MX, such as an operator's own), the probe's recipient is
    /// rewritten there and asked again, once.
    fn ask_at_other_domain(&mut self, p: usize, id: ConnectionId) -> bool {
        let Some(other) = self.config.fallback_to_domain.clone() else { return false };
        let state = &self.probes[p];
        if state.other_domain || state.is_control() || other == self.config.to_domain {
            return false;
        }
        let config = Config { to_domain: other.clone(), ..self.config.clone() };
        let (plan, _) = self.plan_for(&config);
        let Some(again) = plan.into_iter().find(|q| q.id == state.probe.id) else { return false };
        let was = std::mem::replace(&mut self.probes[p].probe.rcpt_to, again.rcpt_to);
        let state = &mut self.probes[p];
        state.other_domain = true;
        state.asking = None;
        state.attempts = 0;
        self.release_from_connections(p);
        self.note(
            id,
            format!(
                "the server refused the domain of <{was}> before it judged relaying; \"{}\" is asked again at {other}",
                self.probes[p].probe.id
            ),
        );
        self.schedule.add(vec![p], self.conns.len());
        true
    }

    /// Marks the current sender of `p` refused and leaves `p` waiting for a
    /// sender the server takes; [`Session::resolve_senders`] picks it.
    fn switch_sender(&mut self, p: usize, reply: Reply) {
        let state = &mut self.probes[p];
        let refused = state.sender.clone();
        state.refused_sender.get_or_insert_with(|| (refused.clone(), reply));
        state.refused.push(refused);
        state.asking = None;
        state.needs_sender = true;
        self.release_from_connections(p);
    }

    /// Before a probe goes out: if its sender was refused on another probe
    /// already, it goes with a sender the server took, or not at all.
    fn avoid_refused_sender(&mut self, p: usize, id: ConnectionId) {
        let state = &self.probes[p];
        if state.probe.kind == ProbeKind::Sender || state.result.is_some() {
            return;
        }
        let Some(SenderStatus::Refused(reply)) = self.senders.status(&state.sender).cloned() else { return };
        match self.fallback_for(p, std::slice::from_ref(&state.sender)) {
            Fallback::Use(sender) => {
                let state = &mut self.probes[p];
                let refused = std::mem::replace(&mut state.sender, sender);
                state.refused_sender.get_or_insert_with(|| (refused.clone(), reply));
                state.refused.push(refused);
            }
            Fallback::Wait => {}
            Fallback::Nothing => {
                let outcome = without_sender(&reply);
                let state = &mut self.probes[p];
                let refused = state.sender.clone();
                state.refused_sender.get_or_insert_with(|| (refused, reply.clone()));
                self.finish_probe(p, outcome, Some(reply), id);
            }
        }
    }

    /// The sender a probe goes on with: the manual test's outside sender,
    /// else the null sender, whichever the server took and `p` has not been
    /// refused with. A candidate never asked yet is tried; one still being
    /// asked is waited for.
    fn fallback_for(&self, p: usize, also_refused: &[String]) -> Fallback {
        let outside = format!("{}@{}", self.config.local_part, self.config.from_domain);
        let refused: Vec<String> = self.probes[p].refused.iter().chain(also_refused).cloned().collect();
        self.senders.fallback([outside, String::new()], &refused, |candidate| {
            self.probes
                .iter()
                .enumerate()
                .any(|(q, other)| q != p && other.result.is_none() && !other.needs_sender && other.sender == candidate)
        })
    }

    /// Probes whose sender was refused go on as soon as a sender is known;
    /// without one, they end "never tried", with the refusal as the reason.
    fn resolve_senders(&mut self) {
        let waiting: Vec<usize> = (0..self.probes.len()).filter(|&p| self.probes[p].needs_sender).collect();
        let mut ready = Vec::new();
        for p in waiting {
            match self.fallback_for(p, &[]) {
                Fallback::Use(sender) => {
                    let state = &mut self.probes[p];
                    state.sender = sender;
                    state.needs_sender = false;
                    state.attempts = 0;
                    ready.push(p);
                }
                Fallback::Wait => {}
                Fallback::Nothing => {
                    let reply = self.probes[p].refused_sender.as_ref().map(|(_, r)| r.clone());
                    let outcome = reply.as_ref().map_or(Outcome::SenderRefused, without_sender);
                    let last = self.conns.last().map_or(ConnectionId(0), |c| c.id);
                    self.finish_probe(p, outcome, reply, last);
                }
            }
        }
        if !ready.is_empty() {
            self.schedule.add(ready, self.conns.len());
        }
    }

    /// Accepted tricks that waited for their control get their meaning.
    fn settle_held(&mut self) {
        for p in 0..self.probes.len() {
            let Some(held) = self.probes[p].held.clone() else { continue };
            if held.outcome == Outcome::Denied {
                // A refusal without words: it refuses the relay only if the
                // server accepted postmaster at its own name from us.
                let postmaster = self.probes.iter().find(|c| c.is_control() && c.probe.id == probe::POSTMASTER);
                let outcome = match postmaster.map(|c| &c.result) {
                    Some(None) => continue,
                    Some(Some(r)) if r.outcome.verdict() == ProbeVerdict::Accepted => Outcome::Denied,
                    _ => Outcome::NotAsked { refused: Refusal::Unspecified, at: Stage::Recipient },
                };
                self.probes[p].held = None;
                self.finish_probe(p, outcome, held.reply, held.connection);
                continue;
            }
            let lands_at = self.probes[p].probe.lands_at.clone();
            let control = self.probes.iter().find(|c| c.is_control() && c.probe.lands_at == lands_at);
            let outcome = match control {
                None => Outcome::Accepted,
                Some(c) => match &c.result {
                    None => continue,
                    Some(r) if r.outcome.is_refusal() => Outcome::Accepted,
                    Some(r) => Outcome::Unconfirmed {
                        control: c.probe.rcpt_to.clone(),
                        catch_all: r.outcome.verdict() == ProbeVerdict::Accepted,
                    },
                },
            };
            self.probes[p].held = None;
            self.finish_probe(p, outcome, held.reply, held.connection);
        }
    }

    /// The most probes one connection carries under a connection limit:
    /// twice the configured group (Postfix slows down after 10 errors), and
    /// never more recipients than the bridge's guard forwards in a session.
    fn most_per_connection(&self) -> usize {
        (2 * self.config.probes_per_connection.max(1)).min(crate::guard::MAX_RECIPIENTS as usize)
    }

    /// Whether to wait for the server's connection rate limit: once, when
    /// the server itself turned connections away at the door (a 421, not a
    /// bridge's refusal, which says its own "try again later"), while
    /// nothing is open and probes wait. Sets the once.
    fn may_wait_for_rate_limit(&mut self) -> bool {
        if self.rate_limit_waited || self.waiting_until.is_some() {
            return self.waiting_until.is_some();
        }
        if !matches!(self.turned_away_by, Some(Loss::Closing(_))) || self.schedule.is_empty() {
            return false;
        }
        self.rate_limit_waited = true;
        true
    }

    /// A server that turned connections away limits how many we may have:
    /// a connection that served its group takes the next one instead of
    /// saying goodbye, as long as the errors it collects stay under the
    /// server's error limits (twice the configured group: Postfix slows
    /// down at 10). Not a forged greeting's, which asks one question only.
    fn carry_more(&mut self, id: ConnectionId) -> bool {
        let conn = &self.conns[id.0 as usize];
        if !self.schedule.is_limited()
            || conn.greeting.is_some()
            || conn.facts_only
            || self.tls_required && !conn.secure
        {
            return false;
        }
        let room = self.most_per_connection().saturating_sub(conn.assigned);
        // While forged greetings wait, each connection keeps its last place
        // for one of them.
        let kept = usize::from(self.schedule.has_alone() && !self.server.helo_fallback);
        if let Some(chunk) = self.schedule.next_plain_group_within(room.saturating_sub(kept)) {
            self.note(id, format!("the server limits connections from us: {} more probe(s) on this one", chunk.len()));
            self.assign(id, chunk);
            return true;
        }
        // A forged greeting needs a connection of its own, which the server
        // will not give: greet again on this one instead (once, while it has
        // room: one probe, after which the connection says goodbye).
        if room == 0 || self.server.helo_fallback {
            return false;
        }
        let Some(chunk) = self.schedule.next_alone() else { return false };
        let name = chunk.first().and_then(|&p| self.probes[p].probe.helo.clone()).unwrap_or_default();
        let now = self.now;
        let conn = &mut self.conns[id.0 as usize];
        conn.set_phase(Phase::Greeting, now);
        conn.greeting = Some(name.clone());
        conn.regreeting = true;
        conn.queue(Purpose::Ehlo, Command::Ehlo(name.clone()));
        self.note(id, format!("the server limits connections from us: greeting again on this one, as {name}"));
        self.assign(id, chunk);
        true
    }

    /// After every input: send what may go, open what may open, and finish
    /// when all is answered and every connection is closed.
    fn after_input(&mut self) {
        // Until nothing changes: probes that could never be asked end while
        // connections are opened, and acceptances held for them (or probes
        // waiting for a sender) must then settle before the next input,
        // which may never come. Each round ends probes, so this is short.
        loop {
            let unfinished = self.probes.iter().filter(|p| p.result.is_none()).count();
            self.settle_held();
            self.resolve_senders();
            self.open_connections();
            if self.probes.iter().filter(|p| p.result.is_none()).count() == unfinished {
                break;
            }
        }
        // A greeted connection with nothing left to ask says goodbye: one
        // that served its group, or one that could take no group that
        // waits (what waits greets its own way).
        let nothing_for_it = self.schedule.is_empty() || !self.schedule.has_plain_group();
        let done: Vec<ConnectionId> = self
            .conns
            .iter()
            .filter(|c| c.is_open() && c.phase == Phase::Probing && c.probes.is_empty() && c.is_idle())
            .filter(|c| c.served || nothing_for_it)
            .map(|c| c.id)
            .collect();
        // Under a connection limit, one with room waits while others may
        // still be turned away with probes it could carry.
        let pending = self
            .conns
            .iter()
            .any(|c| c.is_open() && !c.facts_only && matches!(c.phase, Phase::Connecting | Phase::Banner));
        if self.planned {
            for id in done {
                if self.carry_more(id) {
                    continue;
                }
                let room = self.conns[id.0 as usize].assigned < self.most_per_connection();
                let may_wait = pending && room && self.conns[id.0 as usize].greeting.is_none();
                if !may_wait {
                    self.quit(id);
                }
            }
        }
        let now = self.now;
        let timeout = self.config.reply_timeout;
        for i in 0..self.conns.len() {
            let conn = &mut self.conns[i];
            if !conn.is_open() || matches!(conn.phase, Phase::Connecting | Phase::Tls) {
                continue;
            }
            let commands = conn.take_sendable(now);
            if !commands.is_empty() {
                let wait = if conn.phase == Phase::Quitting { QUIT_GRACE.min(timeout) } else { timeout };
                conn.deadline = Some(now + wait);
                let id = conn.id;
                let data: Vec<u8> = commands.iter().flat_map(|c| c.to_string().into_bytes()).collect();
                for c in &commands {
                    self.record(id, Direction::Sent, line_of(c));
                }
                self.transmits.push_back(Transmit { connection: id, data });
            } else if conn.phase != Phase::Banner && conn.is_idle() {
                conn.deadline = None;
            }
        }
        self.finish_if_done();
    }

    fn finish_if_done(&mut self) {
        if self.finished.is_some() || self.conns.iter().any(Connection::is_open) {
            return;
        }
        let all_answered = self.planned && self.probes.iter().all(|p| p.result.is_some());
        if !(all_answered || self.failure.is_some()) {
            return;
        }
        let (verdict, reason) = self.decide();
        let tone = match verdict {
            Verdict::Open => Tone::Bad,
            Verdict::Closed => Tone::Good,
            Verdict::Inconclusive | Verdict::Blocked => Tone::Warning,
        };
        self.push_step(StepRecord::new(StepKind::Verdict, ConnectionId(0), self.now, tone, reason.clone()));
        self.finished = Some(Finish { at: self.now, verdict, reason });
        self.events.push_back(Event::Finished);
    }

    fn decide(&self) -> (Verdict, String) {
        if let Some(reason) = &self.failure {
            let host = &self.server.host;
            return (
                Verdict::Inconclusive,
                format!("Could not connect to {host} port {}: {reason}.", self.server.port),
            );
        }
        let answers: Vec<Answer> = self.probes[..self.relay_probes]
            .iter()
            .filter_map(|p| {
                p.result.as_ref().map(|r| Answer {
                    name: &p.probe.name,
                    outcome: &r.outcome,
                    reply: r.reply.as_ref(),
                    asked: self.asked(p),
                })
            })
            .collect();
        verdict::overall(&answers)
    }

    // ----- records --------------------------------------------------------

    fn findings(&self, probes: &[ProbeReport], controls: &[ProbeReport]) -> Vec<Finding> {
        let mut findings = finding::from_controls(probes, controls, self.server.software);
        if let (true, Some(address)) = (self.adapted, self.address) {
            let banner = self.server.banner.as_deref().unwrap_or_default();
            findings.push(finding::probes_adapted(banner, address));
        }
        findings
    }

    /// What to change: first the setting behind each hole a probe found,
    /// then the advice for the server's software (by its generation, for
    /// Exchange).
    fn advice(&self, probes: &[ProbeReport]) -> Vec<String> {
        // A server never asked the relay question was never shown to relay:
        // the reason says what to do, and advice on closing a relay would
        // only mislead.
        let accepted = probes.iter().any(|p| p.outcome == Outcome::Accepted);
        if !accepted && probes.iter().any(|p| matches!(p.outcome, Outcome::NotAsked { .. })) {
            return Vec::new();
        }
        let identity = self.server.identity.clone().unwrap_or_else(|| Identity::from(self.server.software));
        let mut advice: Vec<String> = Vec::new();
        for p in probes.iter().filter(|p| p.outcome == Outcome::Accepted) {
            for line in identity.hole_advice(&p.id) {
                if !advice.iter().any(|a| a == line) {
                    advice.push(line.to_string());
                }
            }
        }
        advice.extend(identity.advice().iter().map(|s| s.to_string()));
        advice
    }

    /// What probe `state` asked with: the outside domain its recipient is
    /// or hides, and the name it greeted with.
    fn asked<'a>(&'a self, state: &'a ProbeState) -> verdict::Asked<'a> {
        let to_domain = match (&self.config.fallback_to_domain, state.other_domain) {
            (Some(other), true) => other.as_str(),
            _ => self.config.to_domain.as_str(),
        };
        let helo = state.probe.helo.as_deref().unwrap_or(&self.config.helo_name);
        verdict::Asked { to_domain: Some(to_domain), helo: Some(helo) }
    }

    fn probe_report(&self, p: usize) -> ProbeReport {
        let state = &self.probes[p];
        let (outcome, reply, conn, at) = match &state.result {
            Some(r) => (r.outcome.clone(), r.reply.clone(), r.connection, r.at),
            None => (Outcome::ConnectionLost { at: Stage::Connect }, None, ConnectionId(0), self.now),
        };
        ProbeReport {
            id: state.probe.id.clone(),
            name: state.probe.name.clone(),
            mail_from: state.sender.clone(),
            rcpt_to: state.probe.rcpt_to.clone(),
            kind: state.probe.kind,
            lands_at: state.probe.lands_at.clone(),
            helo: state.probe.helo.clone(),
            refused_sender: state
                .refused_sender
                .as_ref()
                .map(|(mail_from, reply)| RefusedSender { mail_from: mail_from.clone(), reply: reply.summary() }),
            verdict: outcome.verdict(),
            code: reply.as_ref().map(|r| r.code),
            reply: reply.as_ref().map(Reply::summary),
            mail_reply: state.mail_reply.as_ref().map(Reply::summary),
            explanation: outcome.explain_asked(reply.as_ref(), &self.asked(state)),
            refused: state.refused_as.or_else(|| outcome.refused(reply.as_ref())),
            outcome,
            connection: conn.number(),
            elapsed_ms: state.started.map_or(0.0, |s| ms(at.saturating_sub(s))),
        }
    }

    fn record(&mut self, id: ConnectionId, direction: Direction, text: String) {
        let line =
            TranscriptLine { connection: id.number(), at_ms: ms(self.now.saturating_sub(self.start)), direction, text };
        self.transcript.push(line.clone());
        self.events.push_back(Event::Transcript(line));
    }

    fn note(&mut self, id: ConnectionId, text: String) {
        self.record(id, Direction::Note, text);
    }

    fn push_step(&mut self, record: StepRecord) {
        let step = Step {
            kind: record.kind,
            connection: record.connection.number(),
            probe: record.probe.map(|p| self.probes[p].probe.id.clone()),
            sent: record.sent,
            reply: record.reply,
            at_ms: ms(record.began.saturating_sub(self.start)),
            took_ms: ms(record.took),
            tone: record.tone,
            meaning: record.meaning,
            details: record.details,
        };
        self.steps.push(step.clone());
        self.events.push_back(Event::Step(step));
    }

    /// A sender or recipient step of the manual test: the command and its reply.
    fn probe_step(
        &mut self,
        kind: StepKind,
        id: ConnectionId,
        p: usize,
        out: &Outgoing,
        reply: &Reply,
        (tone, meaning): (Tone, String),
    ) {
        let sent_at = out.sent_at.unwrap_or(self.now);
        let took = self.now.saturating_sub(sent_at);
        self.push_step(StepRecord {
            probe: Some(p),
            sent: Some(line_of(&out.command)),
            reply: Some(reply.clone()),
            took,
            ..StepRecord::new(kind, id, sent_at, tone, meaning)
        });
    }

    fn conn(&self, id: ConnectionId) -> Option<&Connection> {
        self.conns.get(id.0 as usize)
    }

    fn conn_mut(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        self.conns.get_mut(id.0 as usize)
    }

    fn is_first(&self, id: ConnectionId) -> bool {
        id.0 == 0
    }
}

/// What a reply to RCPT means for its probe.
enum RcptReading {
    /// The probe has this outcome.
    Answer(Outcome),
    /// The server refused the sender, at RCPT: ask again with another.
    SenderRefused,
    /// A refusal whose words say nothing we can read: held until
    /// postmaster's answer tells whether the server takes recipients from us.
    Unexplained,
}

/// How a probe ends when no sender was left to ask its recipient with,
/// after `reply` refused the last one.
fn without_sender(reply: &Reply) -> Outcome {
    match Outcome::from_mail(reply) {
        Some(Outcome::Deferred { at }) => Outcome::Deferred { at },
        Some(Outcome::Blocked { at }) => Outcome::Blocked { at },
        _ => Outcome::SenderRefused,
    }
}

/// The TLS step's further facts: protocol and cipher, each certificate,
/// the name checked and the trust.
fn tls_details(facts: &TlsFacts) -> Vec<String> {
    let mut lines = vec![format!("Protocol {}, cipher suite {}.", facts.version, facts.cipher)];
    for (i, c) in facts.chain.iter().enumerate() {
        let names = if c.names.is_empty() { String::new() } else { format!(", names {}", c.names.join(", ")) };
        let own = if c.self_signed { ", self-signed" } else { "" };
        lines.push(format!(
            "Certificate {}: {}{names}, issued by {}{own}; valid {} to {} ({} days left).",
            i + 1,
            c.subject,
            c.issuer,
            c.not_before,
            c.not_after,
            c.days_left
        ));
    }
    let matches = if facts.name_matches { "matches" } else { "does not match" };
    lines.push(format!("The certificate {matches} the name asked for, {}.", facts.checked_name));
    lines.push(match &facts.trust_problem {
        None => "Trusted by Mozilla's roots.".to_string(),
        Some(problem) => format!("Not trusted by Mozilla's roots: {problem}."),
    });
    lines
}

/// A command as shown in a transcript: its wire form without the CRLF.
fn line_of(command: &Command) -> String {
    command.to_string().trim_end_matches("\r\n").to_string()
}

/// Whether a banner's first word can stand for the server's name in a probe:
/// a real domain name (at most 253 bytes, so every probe's command stays
/// within SMTP's 512-byte line), not an address.
fn looks_like_domain(word: &str) -> bool {
    word.contains('.') && word.parse::<IpAddr>().is_err() && crate::config::is_domain(word)
}

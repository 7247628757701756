//! One SMTP connection's dialogue: what was sent and awaits a reply, what is
//! queued, and which reply answers which command. The session decides what
//! to say; this file keeps the order straight.

use std::collections::VecDeque;
use std::time::Duration;

use crate::command::Command;
use crate::reply::Reply;
use crate::reply_parser::{ReplyError, ReplyLimits, ReplyParser};
use crate::verdict::Stage;

/// Names one connection of a session. The driver opens a transport for it
/// when told to, and tags everything it hands back with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

impl ConnectionId {
    /// Connection number as people count, from 1.
    pub fn number(self) -> u32 {
        self.0 + 1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The driver is connecting.
    Connecting,
    /// Connected; the whole 220 has not arrived yet. We say nothing until it has.
    Banner,
    /// EHLO or HELO sent (again, after TLS starts).
    Greeting,
    /// STARTTLS answered 220: the driver is doing the handshake.
    Tls,
    /// Greeted: probes are being sent and answered.
    Probing,
    /// QUIT sent.
    Quitting,
    Closed,
}

/// Why a command was sent: what its reply will be about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Ehlo,
    Helo,
    Rset(usize),
    Mail(usize),
    Rcpt(usize),
    StartTls,
    Quit,
}

impl Purpose {
    pub(crate) fn probe(self) -> Option<usize> {
        match self {
            Purpose::Rset(p) | Purpose::Mail(p) | Purpose::Rcpt(p) => Some(p),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub purpose: Purpose,
    pub command: Command,
    /// When it went out; `None` while queued.
    pub sent_at: Option<Duration>,
}

pub(crate) struct Connection {
    pub id: ConnectionId,
    pub phase: Phase,
    parser: ReplyParser,
    /// Sent, in order, each waiting for its reply.
    awaiting: VecDeque<Outgoing>,
    /// Not yet sent.
    outbox: VecDeque<Outgoing>,
    /// Whether the server offered PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// Probes given to this connection and not yet finished.
    pub probes: Vec<usize>,
    /// Whether it was ever given probes: a connection serves one group only,
    /// so that the refusals it collects stay under the server's error limits.
    pub served: bool,
    /// How many probes it was given.
    pub assigned: usize,
    /// QUIT went out at the end of the probes' pipelined group.
    pub quit_queued: bool,
    /// When this connection gives up waiting.
    pub deadline: Option<Duration>,
    /// When the current phase began.
    pub phase_since: Duration,
    /// TLS is up on it: what is sent and received is encrypted by the driver.
    pub secure: bool,
    /// Opened only to read the server's TLS facts: STARTTLS, then QUIT.
    pub facts_only: bool,
    /// Its last EHLO offered STARTTLS.
    pub offers_starttls: bool,
    /// The name it greeted with, when not the configured one (a forged
    /// greeting's probe): used again for HELO and after STARTTLS.
    pub greeting: Option<String>,
    /// It greets a second time, for a forged greeting's probe, because the
    /// server allows no more connections (RFC 5321 §4.1.4 lets a client
    /// send EHLO again; the server resets as after RSET).
    pub regreeting: bool,
}

impl Connection {
    pub fn new(id: ConnectionId, now: Duration, limits: ReplyLimits) -> Self {
        Connection {
            id,
            phase: Phase::Connecting,
            parser: ReplyParser::new(limits),
            awaiting: VecDeque::new(),
            outbox: VecDeque::new(),
            pipelining: false,
            probes: Vec::new(),
            served: false,
            assigned: 0,
            quit_queued: false,
            deadline: None,
            phase_since: now,
            secure: false,
            facts_only: false,
            offers_starttls: false,
            greeting: None,
            regreeting: false,
        }
    }

    pub fn set_phase(&mut self, phase: Phase, now: Duration) {
        self.phase = phase;
        self.phase_since = now;
    }

    pub fn is_open(&self) -> bool {
        self.phase != Phase::Closed
    }

    pub fn queue(&mut self, purpose: Purpose, command: Command) {
        self.outbox.push_back(Outgoing { purpose, command, sent_at: None });
    }

    /// Drops a queued RCPT whose MAIL was refused: without a sender there is
    /// nothing to test, and the server would count one more error.
    pub fn unqueue_rcpt(&mut self, probe: usize) {
        self.outbox.retain(|o| o.purpose != Purpose::Rcpt(probe));
    }

    /// Takes what may be sent now: with PIPELINING, everything queued (RFC 2920
    /// lets RSET, MAIL and RCPT stand anywhere in a group); without it, one
    /// command, and only once every earlier one has been answered.
    pub fn take_sendable(&mut self, now: Duration) -> Vec<Command> {
        let mut out = Vec::new();
        while !self.outbox.is_empty() {
            let may_send = match self.awaiting.back() {
                None => true,
                // A group may go on after RSET/MAIL/RCPT, and end with anything.
                Some(last) => self.pipelining && last.command.may_pipeline_mid_group(),
            };
            if !may_send {
                break;
            }
            let mut item = self.outbox.pop_front().expect("front exists");
            item.sent_at = Some(now);
            out.push(item.command.clone());
            self.awaiting.push_back(item);
        }
        out
    }

    /// Drops what is queued and not yet sent (what was sent still awaits
    /// its reply).
    pub fn clear_outbox(&mut self) {
        self.outbox.clear();
    }

    /// TLS starts: whatever the server sent in plain text after its 220 is
    /// thrown away unread (RFC 3207 §4.2; reading it would let a man in the
    /// middle inject replies, as in CVE-2011-0411).
    pub fn restart_parser(&mut self, limits: ReplyLimits) {
        self.parser = ReplyParser::new(limits);
    }

    pub fn push_bytes(&mut self, data: &[u8]) {
        self.parser.push(data);
    }

    /// The next whole reply, with the command it answers (`None` for the
    /// banner and for anything the server says unasked).
    pub fn next_reply(&mut self) -> Option<Result<(Reply, Option<Outgoing>), ReplyError>> {
        let reply = match self.parser.next_reply()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let answers = if self.phase == Phase::Banner { None } else { self.awaiting.pop_front() };
        Some(Ok((reply, answers)))
    }

    /// Everything sent or queued and not answered, emptying both queues.
    pub fn take_unanswered(&mut self) -> Vec<Outgoing> {
        let mut all: Vec<_> = self.awaiting.drain(..).collect();
        all.extend(self.outbox.drain(..));
        all
    }

    pub fn is_idle(&self) -> bool {
        self.awaiting.is_empty() && self.outbox.is_empty()
    }

    /// The stage a given unfinished probe had reached.
    pub fn stage_of(&self, probe: usize, unanswered: &[Outgoing]) -> Stage {
        match self.phase {
            Phase::Connecting => Stage::Connect,
            Phase::Banner => Stage::Banner,
            Phase::Greeting | Phase::Tls => Stage::Greeting,
            _ => {
                let first_open = unanswered.iter().find(|o| o.purpose.probe() == Some(probe)).map(|o| o.purpose);
                match first_open {
                    Some(Purpose::Rcpt(_)) => Stage::Recipient,
                    _ => Stage::Sender,
                }
            }
        }
    }
}

//! The bridge's guard: it reads what a web page sends toward a mail server
//! and decides, line by line, what may be forwarded.
//!
//! A page only needs what a relay audit needs: EHLO, HELO, MAIL, RCPT, RSET,
//! NOOP, QUIT and STARTTLS. Everything else (DATA, BDAT, AUTH, VRFY, EXPN,
//! HELP, unknown verbs) is refused and never reaches the server, so the bridge
//! cannot be used to send mail, even through the relays it finds.
//!
//! STARTTLS is the bridge's to carry out ([`Decision::StartTls`]): the bridge
//! speaks TLS with the server itself, and the page goes on speaking plain
//! text to the bridge, so this guard still reads every line. A page never
//! holds a TLS tunnel that could hide DATA.
//!
//! The page is untrusted. The guard never panics on what it sends, keeps at
//! most one line of it, and forwards a line only in its canonical form
//! (the [`Command`]'s `Display`), so the server receives exactly the command
//! the guard read and nothing hidden around it. Lines end in CRLF and nothing
//! else: a bare LF or a bare CR may end a line for some servers and not for
//! others (SMTP smuggling), so either one ends the session.
//!
//! MAIL and RCPT carry only the parameters an audit may use ([`ALLOWED_PARAMETERS`]),
//! and nothing is forwarded after QUIT: the dialogue is over.

use thiserror::Error;

use crate::command::{Command, CommandError, MAX_COMMAND_LINE};

/// The MAIL and RCPT parameters the guard forwards (RFC 1870 SIZE,
/// RFC 6152 BODY, RFC 6531 SMTPUTF8); any other (DSN's NOTIFY and ORCPT,
/// AUTH=, vendor extensions) is refused.
pub const ALLOWED_PARAMETERS: [&str; 3] = ["SIZE", "BODY", "SMTPUTF8"];

/// RCPT commands the bridge forwards in one session by default: what the
/// session puts on one connection at most, so that a page's audit always
/// fits.
pub const MAX_RECIPIENTS: u32 = 8;

/// What one page may send in one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardLimits {
    /// Bytes in one line, CRLF included. Values above [`MAX_COMMAND_LINE`]
    /// are read as [`MAX_COMMAND_LINE`]: the grammar reads nothing longer.
    pub max_line: usize,
    /// RCPT commands forwarded in one session; later ones are refused. An
    /// audit's connection sends 4, and at most 8 when the server limits
    /// connections ([`MAX_RECIPIENTS`]); no more, so that a bridge cannot be
    /// used to harvest a server's mailboxes.
    pub max_rcpts: u32,
    /// Lines read in one session, forwarded or refused; the one after the
    /// last closes the session.
    pub max_commands: u32,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits { max_line: MAX_COMMAND_LINE, max_rcpts: MAX_RECIPIENTS, max_commands: 1000 }
    }
}

/// What to do with what the page sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send these bytes to the server: one command line in its canonical wire
    /// form, CRLF included.
    Forward(Vec<u8>),
    /// Send these bytes (`STARTTLS` and CRLF), then read the server's answer
    /// to it before anything else: on 2xx move the connection into TLS and
    /// call [`Guard::tls_started`], otherwise [`Guard::tls_refused`]. A line
    /// the page sends before then closes the session (RFC 3207 §4.2: nothing
    /// may follow STARTTLS before its answer).
    StartTls(Vec<u8>),
    /// This line is not forwarded; the session goes on.
    Refuse(Refusal),
    /// The stream can no longer be read safely: nothing more is forwarded,
    /// and the bridge should end the session.
    Close(Refusal),
}

/// Why the guard did not forward a line, or stopped reading.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("the bridge never forwards {verb}: a relay audit needs only EHLO, HELO, MAIL, RCPT, RSET, NOOP, QUIT and STARTTLS")]
    CommandNotAllowed { verb: String },
    #[error("{0}, so the bridge did not forward the line")]
    Malformed(CommandError),
    #[error("the bridge never forwards the {verb} parameter {param}: it forwards only SIZE, BODY and SMTPUTF8")]
    ParameterNotAllowed { verb: String, param: String },
    #[error("the page sent a line after QUIT, so the bridge stopped reading")]
    AfterQuit,
    #[error("the page sent a line after STARTTLS before the server had answered it, so the bridge stopped reading")]
    AfterStartTls,
    #[error("TLS is already up on this connection")]
    TlsAgain,
    #[error("the bridge forwards at most {limit} RCPT commands in one session")]
    TooManyRecipients { limit: u32 },
    #[error("the page sent more than {limit} commands in one session, so the bridge stopped reading")]
    TooManyCommands { limit: u32 },
    #[error("the page sent a line longer than the {limit} bytes SMTP allows, so the bridge stopped reading")]
    LineTooLong { limit: usize },
    #[error("the page sent a byte (0x{byte:02x}) that is not SMTP text, as a TLS handshake would, so the bridge stopped reading")]
    Unreadable { byte: u8 },
    #[error("the page ended a line with a bare LF instead of CRLF, which servers read differently, so the bridge stopped reading")]
    BareLineFeed,
    #[error(
        "the page sent a CR that does not end a line, which servers read differently, so the bridge stopped reading"
    )]
    BareCarriageReturn,
}

impl Refusal {
    /// A stable name for logs, scripts and the page.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::CommandNotAllowed { .. } => "command_not_allowed",
            Refusal::Malformed(_) => "malformed_command",
            Refusal::ParameterNotAllowed { .. } => "parameter_not_allowed",
            Refusal::AfterQuit => "after_quit",
            Refusal::AfterStartTls => "after_starttls",
            Refusal::TlsAgain => "tls_again",
            Refusal::TooManyRecipients { .. } => "too_many_recipients",
            Refusal::TooManyCommands { .. } => "too_many_commands",
            Refusal::LineTooLong { .. } => "line_too_long",
            Refusal::Unreadable { .. } => "unreadable",
            Refusal::BareLineFeed => "bare_line_feed",
            Refusal::BareCarriageReturn => "bare_carriage_return",
        }
    }

    /// The verb of the refused line, when the guard could read one.
    pub fn command(&self) -> Option<&str> {
        match self {
            Refusal::CommandNotAllowed { verb } | Refusal::ParameterNotAllowed { verb, .. } => Some(verb),
            Refusal::Malformed(CommandError::UnexpectedArgument(verb) | CommandError::BadArgument(verb)) => Some(verb),
            Refusal::TooManyRecipients { .. } => Some("RCPT"),
            Refusal::TlsAgain => Some("STARTTLS"),
            _ => None,
        }
    }
}

/// Reads the page's bytes and decides what reaches the server.
///
/// Feed it every byte the page sends, in order, in whatever chunks they
/// arrive; the decisions do not depend on where the chunks were cut. After a
/// [`Decision::Close`] it decides nothing more.
#[derive(Debug, Default)]
pub struct Guard {
    limits: GuardLimits,
    /// The line being read, without its line end; never longer than
    /// `max_line - 2`.
    partial: Vec<u8>,
    /// The last byte was a CR: the next must be LF.
    after_cr: bool,
    rcpts: u32,
    commands: u32,
    closed: bool,
    /// QUIT was forwarded: nothing more is.
    quit: bool,
    /// Lines forwarded so far (each gets one reply from the server).
    forwarded: u32,
    tls: TlsState,
}

/// Where STARTTLS stands in the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TlsState {
    #[default]
    Plain,
    /// Forwarded; the server's answer has not come yet.
    Asked,
    /// TLS is up toward the server.
    Started,
}

impl Guard {
    pub fn new(limits: GuardLimits) -> Self {
        let limits = GuardLimits { max_line: limits.max_line.min(MAX_COMMAND_LINE), ..limits };
        Guard { limits, ..Default::default() }
    }

    /// Takes the next bytes from the page and says, for each line they
    /// complete, whether to forward it. Forward the bytes of each
    /// [`Decision::Forward`] in order; end the session on [`Decision::Close`].
    pub fn push(&mut self, data: &[u8]) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for &b in data {
            if self.closed {
                break;
            }
            if let Some(decision) = self.take(b) {
                if matches!(decision, Decision::Close(_)) {
                    self.closed = true;
                    self.partial = Vec::new();
                }
                decisions.push(decision);
            }
        }
        decisions
    }

    /// Whether the guard has stopped reading for good.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// RCPT commands forwarded so far.
    pub fn recipients(&self) -> u32 {
        self.rcpts
    }

    /// Lines read so far, forwarded or refused.
    pub fn commands(&self) -> u32 {
        self.commands
    }

    /// Lines forwarded so far, STARTTLS included: the server answers each
    /// once, after its banner.
    pub fn forwarded(&self) -> u32 {
        self.forwarded
    }

    /// The server answered STARTTLS with 2xx and TLS is up: lines are read
    /// again, as in plain text. STARTTLS is not forwarded a second time.
    pub fn tls_started(&mut self) {
        if self.tls == TlsState::Asked {
            self.tls = TlsState::Started;
        }
    }

    /// The server refused STARTTLS: the session goes on in plain text.
    pub fn tls_refused(&mut self) {
        if self.tls == TlsState::Asked {
            self.tls = TlsState::Plain;
        }
    }

    fn take(&mut self, b: u8) -> Option<Decision> {
        if self.after_cr {
            self.after_cr = false;
            if b != b'\n' {
                return Some(Decision::Close(Refusal::BareCarriageReturn));
            }
            let line = std::mem::take(&mut self.partial);
            return Some(self.decide(&line));
        }
        match b {
            b'\r' => {
                self.after_cr = true;
                None
            }
            b'\n' => Some(Decision::Close(Refusal::BareLineFeed)),
            // Controls (tab included) have no place in the commands a page
            // needs, and 0x16 is how a TLS handshake starts.
            0x00..=0x1f | 0x7f => Some(Decision::Close(Refusal::Unreadable { byte: b })),
            _ if self.partial.len() + 1 + 2 > self.limits.max_line => {
                Some(Decision::Close(Refusal::LineTooLong { limit: self.limits.max_line }))
            }
            _ => {
                self.partial.push(b);
                None
            }
        }
    }

    /// Decides on one whole line, without its CRLF.
    fn decide(&mut self, line: &[u8]) -> Decision {
        if self.quit {
            return Decision::Close(Refusal::AfterQuit);
        }
        if self.tls == TlsState::Asked {
            return Decision::Close(Refusal::AfterStartTls);
        }
        if self.commands >= self.limits.max_commands {
            return Decision::Close(Refusal::TooManyCommands { limit: self.limits.max_commands });
        }
        self.commands += 1;
        if let Err(e) = std::str::from_utf8(line) {
            let byte = line.get(e.valid_up_to()).copied().unwrap_or(0);
            return Decision::Close(Refusal::Unreadable { byte });
        }
        let command = match Command::parse(line) {
            Ok(command) => command,
            // Unreachable after the checks above, but the guard never trusts
            // that two readers agree.
            Err(CommandError::TooLong { .. }) => {
                return Decision::Close(Refusal::LineTooLong { limit: self.limits.max_line });
            }
            Err(CommandError::ControlByte(byte)) => return Decision::Close(Refusal::Unreadable { byte }),
            Err(CommandError::NotText) => return Decision::Close(Refusal::Unreadable { byte: 0 }),
            Err(e) => return Decision::Refuse(Refusal::Malformed(e)),
        };
        match command {
            Command::Ehlo(_)
            | Command::Helo(_)
            | Command::Mail { .. }
            | Command::Rset
            | Command::Noop
            | Command::Quit => {}
            Command::Rcpt { .. } => {
                if self.rcpts >= self.limits.max_rcpts {
                    return Decision::Refuse(Refusal::TooManyRecipients { limit: self.limits.max_rcpts });
                }
            }
            Command::StartTls if self.tls == TlsState::Started => return Decision::Refuse(Refusal::TlsAgain),
            Command::StartTls => {
                self.tls = TlsState::Asked;
                self.forwarded += 1;
                return Decision::StartTls(command.to_string().into_bytes());
            }
            other => return Decision::Refuse(Refusal::CommandNotAllowed { verb: other.verb().to_string() }),
        }
        if let Command::Mail { path, params } | Command::Rcpt { path, params } = &command {
            // The grammar reads a path up to the last '>', so parameters
            // could hide inside one (`<a@b> AUTH=<>`): a path holds no
            // angle bracket and no space.
            if path.contains(['<', '>', ' ']) {
                return Decision::Refuse(Refusal::Malformed(CommandError::BadArgument(command.verb().to_string())));
            }
            let keyword = |p: &String| p.split('=').next().unwrap_or_default().to_ascii_uppercase();
            if let Some(param) = params.iter().find(|p| !ALLOWED_PARAMETERS.contains(&keyword(p).as_str())) {
                return Decision::Refuse(Refusal::ParameterNotAllowed {
                    verb: command.verb().to_string(),
                    param: keyword(param),
                });
            }
        }
        let wire = command.to_string();
        // What the server reads must be what the guard read: the canonical
        // form has to read back as the same command.
        if Command::parse(wire.as_bytes()).as_ref() != Ok(&command) {
            return Decision::Refuse(Refusal::Malformed(CommandError::BadArgument(command.verb().to_string())));
        }
        match command {
            Command::Rcpt { .. } => self.rcpts += 1,
            Command::Quit => self.quit = true,
            _ => {}
        }
        self.forwarded += 1;
        Decision::Forward(wire.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::probe::{plan, PlanInput};

    fn fwd(s: &str) -> Decision {
        Decision::Forward(s.as_bytes().to_vec())
    }

    fn not_allowed(verb: &str) -> Decision {
        Decision::Refuse(Refusal::CommandNotAllowed { verb: verb.into() })
    }

    fn table() -> Vec<(&'static [u8], Vec<Decision>)> {
        vec![
            (b"EHLO client.example\r\n", vec![fwd("EHLO client.example\r\n")]),
            (b"ehlo  client.example \r\n", vec![fwd("EHLO client.example\r\n")]),
            (b"HELO x\r\n", vec![fwd("HELO x\r\n")]),
            (b"mail from:<a@b> SIZE=10\r\n", vec![fwd("MAIL FROM:<a@b> SIZE=10\r\n")]),
            (b"MAIL FROM: <>\r\n", vec![fwd("MAIL FROM:<>\r\n")]),
            (
                b"RCPT TO:<\"to@example.net\"@[192.0.2.1]>\r\n",
                vec![fwd("RCPT TO:<\"to@example.net\"@[192.0.2.1]>\r\n")],
            ),
            (b"RSET\r\nNOOP hello\r\nQUIT\r\n", vec![fwd("RSET\r\n"), fwd("NOOP\r\n"), fwd("QUIT\r\n")]),
            ("EHLO é.example\r\n".as_bytes(), vec![fwd("EHLO é.example\r\n")]),
            (b"RCPT TO:<a@b>\r\nDATA\r\n", vec![fwd("RCPT TO:<a@b>\r\n"), not_allowed("DATA")]),
            (b"DATA\r\nRSET\r\n", vec![not_allowed("DATA"), fwd("RSET\r\n")]),
            (b"xyzzy plugh\r\n", vec![not_allowed("XYZZY")]),
            (b"\r\n", vec![Decision::Refuse(Refusal::Malformed(CommandError::NoVerb))]),
            (
                b"DATA now\r\n",
                vec![Decision::Refuse(Refusal::Malformed(CommandError::UnexpectedArgument("DATA".into())))],
            ),
            (
                b"MAIL FROM:a@b\r\n",
                vec![Decision::Refuse(Refusal::Malformed(CommandError::BadArgument("MAIL".into())))],
            ),
            (
                b"RSET now\r\nNOOP\r\n",
                vec![
                    Decision::Refuse(Refusal::Malformed(CommandError::UnexpectedArgument("RSET".into()))),
                    fwd("NOOP\r\n"),
                ],
            ),
            // Half a line, or a line waiting for its LF: nothing yet.
            (b"RSET\r\nRCP", vec![fwd("RSET\r\n")]),
            (b"RSET\r", vec![]),
            // Smuggling: a bare LF or CR ends the session, and what follows
            // it is never forwarded.
            (b"MAIL FROM:<a@b>\nDATA\r\n", vec![Decision::Close(Refusal::BareLineFeed)]),
            (b"RSET\r\n\nDATA\r\n", vec![fwd("RSET\r\n"), Decision::Close(Refusal::BareLineFeed)]),
            (b"RSET\rDATA\r\n", vec![Decision::Close(Refusal::BareCarriageReturn)]),
            (
                b"NOOP\r\n.\r\nDATA\r\n",
                vec![fwd("NOOP\r\n"), Decision::Refuse(Refusal::Malformed(CommandError::NoVerb)), not_allowed("DATA")],
            ),
            (b"NOOP\r\nDATA\r\r\nRSET\r\n", vec![fwd("NOOP\r\n"), Decision::Close(Refusal::BareCarriageReturn)]),
            // A TLS ClientHello, alone or after a command.
            (
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                vec![Decision::Close(Refusal::Unreadable { byte: 0x16 })],
            ),
            (
                b"NOOP\r\n\x16\x03\x01\x02\x00",
                vec![fwd("NOOP\r\n"), Decision::Close(Refusal::Unreadable { byte: 0x16 })],
            ),
            (b"EHLO a\x00b\r\n", vec![Decision::Close(Refusal::Unreadable { byte: 0 })]),
            (b"EHLO a\tb\r\n", vec![Decision::Close(Refusal::Unreadable { byte: b'\t' })]),
            (b"EHLO \xff\xfe\r\n", vec![Decision::Close(Refusal::Unreadable { byte: 0xff })]),
            (
                b"NOOP\r\nEHLO \xc3\r\nRSET\r\n",
                vec![fwd("NOOP\r\n"), Decision::Close(Refusal::Unreadable { byte: 0xc3 })],
            ),
            // Nothing after QUIT, not even a command the guard would forward.
            (b"QUIT\r\nRSET\r\nDATA\r\n", vec![fwd("QUIT\r\n"), Decision::Close(Refusal::AfterQuit)]),
            // Parameters: SIZE, BODY and SMTPUTF8 only, and none hidden in a path.
            (
                b"MAIL FROM:<a@b> AUTH=<>\r\nRCPT TO:<c@d> NOTIFY=<x>\r\n",
                vec![
                    Decision::Refuse(Refusal::Malformed(CommandError::BadArgument("MAIL".into()))),
                    Decision::Refuse(Refusal::Malformed(CommandError::BadArgument("RCPT".into()))),
                ],
            ),
            (b"MAIL FROM:<a@b> size=10 SMTPUTF8\r\n", vec![fwd("MAIL FROM:<a@b> size=10 SMTPUTF8\r\n")]),
            (
                b"MAIL FROM:<a@b> AUTH=x\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\nRSET\r\n",
                vec![
                    Decision::Refuse(Refusal::ParameterNotAllowed { verb: "MAIL".into(), param: "AUTH".into() }),
                    Decision::Refuse(Refusal::ParameterNotAllowed { verb: "RCPT".into(), param: "NOTIFY".into() }),
                    fwd("RSET\r\n"),
                ],
            ),
        ]
    }

    #[test]
    fn decisions_follow_the_table() {
        for (input, expected) in table() {
            let mut guard = Guard::default_limits();
            assert_eq!(guard.push(input), expected, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn decisions_do_not_depend_on_chunks() {
        for (input, expected) in table() {
            for size in [1, 2, 3, 7] {
                let mut guard = Guard::default_limits();
                let got: Vec<_> = input.chunks(size).flat_map(|c| guard.push(c)).collect();
                assert_eq!(got, expected, "{} in chunks of {size}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn refused_commands_are_never_forwarded() {
        for (line, verb) in [
            ("DATA\r\n", "DATA"),
            ("BDAT 10 LAST\r\n", "BDAT"),
            ("AUTH PLAIN AGFAYg==\r\n", "AUTH"),
            ("VRFY postmaster\r\n", "VRFY"),
            ("EXPN staff\r\n", "EXPN"),
            ("HELP\r\n", "HELP"),
            ("XYZZY\r\n", "XYZZY"),
            ("TURN\r\n", "TURN"),
        ] {
            let mut guard = Guard::default_limits();
            let decisions = guard.push(line.as_bytes());
            assert_eq!(decisions, vec![not_allowed(verb)], "{line:?}");
            let Decision::Refuse(refusal) = &decisions[0] else { unreachable!() };
            assert_eq!(refusal.code(), "command_not_allowed");
            assert_eq!(refusal.command(), Some(verb));
            assert!(refusal.to_string().contains(verb));
            // The session goes on.
            assert_eq!(guard.push(b"NOOP\r\n"), vec![fwd("NOOP\r\n")]);
        }
    }

    #[test]
    fn starttls_is_the_bridges_to_carry_out_and_nothing_may_follow_it_unanswered() {
        let mut guard = Guard::default_limits();
        assert_eq!(
            guard.push(b"EHLO a.example\r\nstarttls\r\n"),
            vec![fwd("EHLO a.example\r\n"), Decision::StartTls(b"STARTTLS\r\n".to_vec())]
        );
        assert_eq!(guard.forwarded(), 2, "the banner, then one reply each");
        // TLS up: plain lines again, one STARTTLS only.
        guard.tls_started();
        assert_eq!(guard.push(b"EHLO a.example\r\n"), vec![fwd("EHLO a.example\r\n")]);
        assert_eq!(guard.push(b"STARTTLS\r\n"), vec![Decision::Refuse(Refusal::TlsAgain)]);
        assert_eq!(guard.push(b"DATA\r\n"), vec![not_allowed("DATA")], "inside TLS, what is refused stays refused");

        // A line before the server answered STARTTLS: the session ends, in
        // any chunks.
        for size in [1, 3, 64] {
            let mut guard = Guard::default_limits();
            let input = b"STARTTLS\r\nMAIL FROM:<a@b>\r\n";
            let got: Vec<_> = input.chunks(size).flat_map(|c| guard.push(c)).collect();
            assert_eq!(
                got,
                vec![Decision::StartTls(b"STARTTLS\r\n".to_vec()), Decision::Close(Refusal::AfterStartTls)]
            );
        }
        // Refused by the server: plain text goes on, and STARTTLS may be asked again.
        let mut guard = Guard::default_limits();
        guard.push(b"STARTTLS\r\n");
        guard.tls_refused();
        assert_eq!(
            guard.push(b"NOOP\r\nSTARTTLS\r\n"),
            vec![fwd("NOOP\r\n"), Decision::StartTls(b"STARTTLS\r\n".to_vec())]
        );
    }

    #[test]
    fn allowed_commands_are_forwarded_in_their_wire_form() {
        let config = Config::default();
        let input = PlanInput {
            config: &config,
            address: "192.0.2.7".parse().unwrap(),
            server_name: Some("mx1.example.org"),
            audited_domain: None,
        };
        let mut commands = vec![
            Command::Ehlo(config.helo_name.clone()),
            Command::Helo(config.helo_name.clone()),
            Command::Mail { path: "a@example.com".into(), params: vec!["SIZE=10".into(), "BODY=8BITMIME".into()] },
        ];
        for probe in plan(&input) {
            commands.extend([Command::Rset, Command::mail(probe.mail_from), Command::rcpt(probe.rcpt_to)]);
        }
        commands.extend([Command::Noop, Command::Quit]);
        // The whole plan in one session, past the default RCPT allowance.
        let limits = GuardLimits { max_rcpts: 100, ..GuardLimits::default() };
        let mut guard = Guard::new(limits);
        // One by one, then the whole audit pipelined in one frame.
        for command in &commands {
            let wire = command.to_string();
            assert_eq!(guard.push(wire.as_bytes()), vec![Decision::Forward(wire.into_bytes())]);
        }
        let all: String = commands.iter().map(|c| c.to_string()).collect();
        let expected: Vec<_> = commands.iter().map(|c| Decision::Forward(c.to_string().into_bytes())).collect();
        assert_eq!(Guard::new(limits).push(all.as_bytes()), expected);
    }

    #[test]
    fn recipients_are_bounded_per_session() {
        let mut guard = Guard::new(GuardLimits { max_rcpts: 2, ..GuardLimits::default() });
        let input = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nRSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<g@h>\r\nQUIT\r\n";
        let too_many = Refusal::TooManyRecipients { limit: 2 };
        assert_eq!(
            guard.push(input),
            vec![
                fwd("MAIL FROM:<a@b>\r\n"),
                fwd("RCPT TO:<c@d>\r\n"),
                fwd("RCPT TO:<e@f>\r\n"),
                fwd("RSET\r\n"),
                fwd("MAIL FROM:<a@b>\r\n"),
                Decision::Refuse(too_many.clone()),
                fwd("QUIT\r\n"),
            ]
        );
        assert_eq!(guard.recipients(), 2);
        assert_eq!(too_many.code(), "too_many_recipients");
        assert_eq!(too_many.command(), Some("RCPT"));
        // Refused RCPTs do not use up the allowance.
        let mut guard = Guard::new(GuardLimits { max_rcpts: 1, ..GuardLimits::default() });
        assert_eq!(guard.push(b"RCPT TO:a@b\r\nRCPT TO:<a@b>\r\n")[1], fwd("RCPT TO:<a@b>\r\n"));
    }

    #[test]
    fn commands_are_bounded_per_session() {
        let mut guard = Guard::new(GuardLimits { max_commands: 3, ..GuardLimits::default() });
        assert_eq!(
            guard.push(b"NOOP\r\nDATA\r\nNOOP\r\nNOOP\r\nNOOP\r\n"),
            vec![
                fwd("NOOP\r\n"),
                not_allowed("DATA"),
                fwd("NOOP\r\n"),
                Decision::Close(Refusal::TooManyCommands { limit: 3 })
            ]
        );
        assert_eq!(guard.commands(), 3);
    }

    #[test]
    fn long_lines_close_without_growing() {
        // A line of 600 bytes.
        let mut line = b"EHLO ".to_vec();
        line.resize(598, b'a');
        line.extend_from_slice(b"\r\n");
        let mut guard = Guard::default_limits();
        assert_eq!(guard.push(&line), vec![Decision::Close(Refusal::LineTooLong { limit: 512 })]);
        assert!(guard.is_closed());

        // Exactly 512 bytes with CRLF pass; 513 do not.
        let at_limit = format!("EHLO {}\r\n", "a".repeat(505));
        assert_eq!(at_limit.len(), 512);
        assert_eq!(Guard::default_limits().push(at_limit.as_bytes()), vec![fwd(&at_limit)]);
        let over = format!("EHLO {}\r\n", "a".repeat(506));
        assert_eq!(
            Guard::default_limits().push(over.as_bytes()),
            vec![Decision::Close(Refusal::LineTooLong { limit: 512 })]
        );

        // A megabyte without a line end, in small frames: the guard keeps at
        // most one line, and closes once.
        let mut guard = Guard::default_limits();
        let mut decisions = Vec::new();
        for _ in 0..1024 {
            decisions.extend(guard.push(&[b'N'; 1024]));
            assert!(guard.partial.len() <= MAX_COMMAND_LINE);
        }
        assert_eq!(decisions, vec![Decision::Close(Refusal::LineTooLong { limit: 512 })]);

        // A smaller limit is kept; a larger one is read as the grammar's.
        let mut guard = Guard::new(GuardLimits { max_line: 16, ..GuardLimits::default() });
        assert_eq!(guard.push(b"EHLO 012345678\r\n"), vec![fwd("EHLO 012345678\r\n")]);
        assert_eq!(guard.push(b"EHLO 0123456789\r\n"), vec![Decision::Close(Refusal::LineTooLong { limit: 16 })]);
        let mut guard = Guard::new(GuardLimits { max_line: 100_000, ..GuardLimits::default() });
        assert_eq!(guard.push(&line), vec![Decision::Close(Refusal::LineTooLong { limit: 512 })]);
    }

    #[test]
    fn nothing_is_decided_after_close() {
        let mut guard = Guard::default_limits();
        assert_eq!(guard.push(b"NOOP\nRSET\r\n"), vec![Decision::Close(Refusal::BareLineFeed)]);
        assert!(guard.is_closed());
        assert_eq!(guard.push(b"RSET\r\n"), vec![]);
        assert_eq!(guard.push(b"\r\nQUIT\r\n"), vec![]);
        assert_eq!(guard.commands(), 0);
    }

    #[test]
    fn hostile_input_never_panics() {
        // Every byte value, in every position of a short line, with tiny limits.
        for limits in [
            GuardLimits::default(),
            GuardLimits { max_line: 0, max_rcpts: 0, max_commands: 0 },
            GuardLimits { max_line: 3, max_rcpts: 1, max_commands: 1 },
        ] {
            for b in 0..=255u8 {
                let mut guard = Guard::new(limits);
                guard.push(&[b'R', b, b'\r', b'\n', b, b'\r', b'\r', b'\n', b'\n']);
                guard.push(&[b; 700]);
            }
        }
        let mut guard = Guard::new(GuardLimits { max_line: 0, ..GuardLimits::default() });
        assert_eq!(guard.push(b"\r\n"), vec![Decision::Refuse(Refusal::Malformed(CommandError::NoVerb))]);
        assert_eq!(guard.push(b"Q"), vec![Decision::Close(Refusal::LineTooLong { limit: 0 })]);
    }

    #[test]
    fn refusals_have_stable_codes_and_sentences() {
        let all = [
            Refusal::CommandNotAllowed { verb: "DATA".into() },
            Refusal::Malformed(CommandError::NoVerb),
            Refusal::ParameterNotAllowed { verb: "MAIL".into(), param: "AUTH".into() },
            Refusal::AfterQuit,
            Refusal::TooManyRecipients { limit: 64 },
            Refusal::TooManyCommands { limit: 1000 },
            Refusal::LineTooLong { limit: 512 },
            Refusal::Unreadable { byte: 0x16 },
            Refusal::BareLineFeed,
            Refusal::BareCarriageReturn,
        ];
        let codes: Vec<_> = all.iter().map(Refusal::code).collect();
        assert_eq!(
            codes,
            [
                "command_not_allowed",
                "malformed_command",
                "parameter_not_allowed",
                "after_quit",
                "too_many_recipients",
                "too_many_commands",
                "line_too_long",
                "unreadable",
                "bare_line_feed",
                "bare_carriage_return"
            ]
        );
        for refusal in &all {
            let sentence = refusal.to_string();
            assert!(!sentence.is_empty() && !sentence.contains('\n'), "{sentence}");
        }
        assert_eq!(
            Refusal::Unreadable { byte: 0x16 }.to_string(),
            "the page sent a byte (0x16) that is not SMTP text, as a TLS handshake would, so the bridge stopped reading"
        );
        assert_eq!(Refusal::Malformed(CommandError::BadArgument("MAIL".into())).command(), Some("MAIL"));
        assert_eq!(Refusal::BareLineFeed.command(), None);
    }

    impl Guard {
        fn default_limits() -> Guard {
            Guard::new(GuardLimits::default())
        }
    }
}

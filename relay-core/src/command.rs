//! SMTP commands. Each command's `Display` is its exact wire form, CRLF
//! included, so what is shown in a transcript is what was sent.
//!
//! [`Command::parse`] reads a line the other way, with the grammar that the
//! bridge's guard uses to decide what a page may send.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest command line RFC 5321 §4.5.3.1.4 allows, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;

/// A command as the engine sends it or the guard reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", content = "arg", rename_all = "UPPERCASE")]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<path>` and its parameters. The path is kept as written,
    /// because relay probes are made of paths no well-behaved client writes.
    Mail {
        path: String,
        params: Vec<String>,
    },
    Rcpt {
        path: String,
        params: Vec<String>,
    },
    Rset,
    Noop,
    Quit,
    Data,
    Bdat(String),
    StartTls,
    Auth(String),
    Vrfy(String),
    Expn(String),
    Help(String),
    /// Any other verb, upper-cased, and its argument.
    Other {
        verb: String,
        arg: String,
    },
}

impl Command {
    pub fn mail(path: impl Into<String>) -> Command {
        Command::Mail { path: path.into(), params: Vec::new() }
    }

    pub fn rcpt(path: impl Into<String>) -> Command {
        Command::Rcpt { path: path.into(), params: Vec::new() }
    }

    /// The verb as a server logs it.
    pub fn verb(&self) -> &str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Data => "DATA",
            Command::Bdat(_) => "BDAT",
            Command::StartTls => "STARTTLS",
            Command::Auth(_) => "AUTH",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::Other { verb, .. } => verb,
        }
    }

    /// Whether RFC 2920 lets this command stand anywhere in a pipelined
    /// group, not only at its end.
    pub fn may_pipeline_mid_group(&self) -> bool {
        matches!(self, Command::Rset | Command::Mail { .. } | Command::Rcpt { .. })
    }

    /// Reads one command line, with or without its line ending.
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() + 2 > MAX_COMMAND_LINE {
            return Err(CommandError::TooLong { limit: MAX_COMMAND_LINE });
        }
        if let Some(&b) = line.iter().find(|&&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(CommandError::ControlByte(b));
        }
        let line = std::str::from_utf8(line).map_err(|_| CommandError::NotText)?;
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, a),
            None => (line, ""),
        };
        if verb.is_empty() || !verb.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CommandError::NoVerb);
        }
        let verb = verb.to_ascii_uppercase();
        let arg = arg.to_string();
        let no_arg = |cmd: Command| {
            if arg.trim().is_empty() {
                Ok(cmd)
            } else {
                Err(CommandError::UnexpectedArgument(verb.clone()))
            }
        };
        Ok(match verb.as_str() {
            "EHLO" => Command::Ehlo(required(&verb, arg)?),
            "HELO" => Command::Helo(required(&verb, arg)?),
            "MAIL" => {
                let (path, params) = parse_path(&arg, "FROM:")?;
                Command::Mail { path, params }
            }
            "RCPT" => {
                let (path, params) = parse_path(&arg, "TO:")?;
                Command::Rcpt { path, params }
            }
            "RSET" => no_arg(Command::Rset)?,
            // NOOP may carry a string, which the server ignores (RFC 5321 §4.1.1.9).
            "NOOP" => Command::Noop,
            "QUIT" => no_arg(Command::Quit)?,
            "DATA" => no_arg(Command::Data)?,
            "STARTTLS" => no_arg(Command::StartTls)?,
            "BDAT" => Command::Bdat(arg),
            "AUTH" => Command::Auth(arg),
            "VRFY" => Command::Vrfy(arg),
            "EXPN" => Command::Expn(arg),
            "HELP" => Command::Help(arg),
            _ => Command::Other { verb, arg },
        })
    }
}

fn required(verb: &str, arg: String) -> Result<String, CommandError> {
    let arg = arg.trim();
    if arg.is_empty() || arg.contains(' ') {
        return Err(CommandError::BadArgument(verb.to_string()));
    }
    Ok(arg.to_string())
}

/// `FROM:<path> PARAM…` / `TO:<path> PARAM…`. The path runs to the last `>`
/// that is followed by a space or the end: probes put `>`-free oddities such
/// as quotes, `%`, `!` and `@[ip]:` routes inside the brackets.
fn parse_path(arg: &str, keyword: &str) -> Result<(String, Vec<String>), CommandError> {
    let verb = if keyword == "FROM:" { "MAIL" } else { "RCPT" };
    let bad = || CommandError::BadArgument(verb.to_string());
    let head = arg.get(..keyword.len()).ok_or_else(bad)?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(bad());
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<').ok_or_else(bad)?;
    let close = rest.rfind('>').ok_or_else(bad)?;
    let (path, params) = (&rest[..close], rest[close + 1..].trim());
    if !params.is_empty() && !rest[close + 1..].starts_with(' ') {
        return Err(bad());
    }
    let params = params.split(' ').filter(|p| !p.is_empty()).map(str::to_string).collect();
    Ok((path.to_string(), params))
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn with_params(f: &mut fmt::Formatter<'_>, head: &str, path: &str, params: &[String]) -> fmt::Result {
            write!(f, "{head}<{path}>")?;
            for p in params {
                write!(f, " {p}")?;
            }
            write!(f, "\r\n")
        }
        fn with_arg(f: &mut fmt::Formatter<'_>, verb: &str, arg: &str) -> fmt::Result {
            if arg.is_empty() {
                write!(f, "{verb}\r\n")
            } else {
                write!(f, "{verb} {arg}\r\n")
            }
        }
        match self {
            Command::Ehlo(name) => with_arg(f, "EHLO", name),
            Command::Helo(name) => with_arg(f, "HELO", name),
            Command::Mail { path, params } => with_params(f, "MAIL FROM:", path, params),
            Command::Rcpt { path, params } => with_params(f, "RCPT TO:", path, params),
            Command::Bdat(a) => with_arg(f, "BDAT", a),
            Command::Auth(a) => with_arg(f, "AUTH", a),
            Command::Vrfy(a) => with_arg(f, "VRFY", a),
            Command::Expn(a) => with_arg(f, "EXPN", a),
            Command::Help(a) => with_arg(f, "HELP", a),
            Command::Other { verb, arg } => with_arg(f, verb, arg),
            Command::Rset | Command::Noop | Command::Quit | Command::Data | Command::StartTls => {
                write!(f, "{}\r\n", self.verb())
            }
        }
    }
}

/// Why a line is not a command we can read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("the command line is longer than the {limit} bytes SMTP allows")]
    TooLong { limit: usize },
    #[error("the command holds a control byte (0x{0:02x}) where SMTP allows none")]
    ControlByte(u8),
    #[error("the command is not plain text")]
    NotText,
    #[error("the line does not start with an SMTP verb")]
    NoVerb,
    #[error("{0} takes no argument")]
    UnexpectedArgument(String),
    #[error("{0} has a malformed argument")]
    BadArgument(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_wire_form() {
        let cases = [
            (Command::mail(""), "MAIL FROM:<>\r\n"),
            (Command::rcpt("\"to@example.net\"@[192.0.2.1]"), "RCPT TO:<\"to@example.net\"@[192.0.2.1]>\r\n"),
            (Command::Ehlo("relaycheck.invalid".into()), "EHLO relaycheck.invalid\r\n"),
            (Command::Rset, "RSET\r\n"),
            (Command::Quit, "QUIT\r\n"),
            (
                Command::Mail { path: "a@example.com".into(), params: vec!["SIZE=10".into()] },
                "MAIL FROM:<a@example.com> SIZE=10\r\n",
            ),
        ];
        for (cmd, wire) in cases {
            assert_eq!(cmd.to_string(), wire);
        }
    }

    #[test]
    fn parse_round_trips_what_display_writes() {
        for cmd in [
            Command::mail(""),
            Command::rcpt("@[127.0.0.1]:to@example.net"),
            Command::rcpt("example.net!to@[127.0.0.1]"),
            Command::Helo("x.example".into()),
            Command::Rset,
            Command::Noop,
            Command::Quit,
            Command::Data,
        ] {
            assert_eq!(Command::parse(cmd.to_string().as_bytes()), Ok(cmd.clone()), "{cmd}");
        }
    }

    #[test]
    fn parse_is_case_insensitive_and_strict() {
        assert_eq!(Command::parse(b"mail from:<a@b>\r\n"), Ok(Command::mail("a@b")));
        assert_eq!(Command::parse(b"data"), Ok(Command::Data));
        assert_eq!(Command::parse(b"DATA now"), Err(CommandError::UnexpectedArgument("DATA".into())));
        assert_eq!(Command::parse(b"MAIL FROM:a@b"), Err(CommandError::BadArgument("MAIL".into())));
        assert_eq!(Command::parse(b"MAIL FROM:<a@b>X"), Err(CommandError::BadArgument("MAIL".into())));
        assert_eq!(Command::parse(b"\x16\x03\x01"), Err(CommandError::NoVerb));
        assert_eq!(Command::parse(b"RSET\rDATA"), Err(CommandError::ControlByte(b'\r')));
        assert!(matches!(Command::parse(&[b'N'; 600]), Err(CommandError::TooLong { .. })));
        assert_eq!(Command::parse(b"bdat 10 LAST"), Ok(Command::Bdat("10 LAST".into())));
    }
}

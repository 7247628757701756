//! A raw SMTP dialogue of the test's own, one command at a time: what a
//! server really answers, checked before relaycheck is asked about it, so
//! that a fixture configured wrong cannot pass for a bug in the engine, nor
//! the other way round. It never sends DATA.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long any reply may take (postscreen's banner pause included).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One reply: every line as received, without the line ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<String>,
}

impl Reply {
    /// The code of its last line (0 if the server closed instead).
    pub fn code(&self) -> u16 {
        self.last().get(..3).and_then(|c| c.parse().ok()).unwrap_or(0)
    }

    /// Its last line, e.g. `554 5.7.1 <a@b.example>: Relay access denied`.
    pub fn last(&self) -> &str {
        self.lines.last().map(String::as_str).unwrap_or("")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines.join("\n"))
    }
}

/// An open SMTP connection and what was said on it.
pub struct Dialogue {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The banner, every line of it.
    pub banner: Reply,
    /// `<- reply line` (the banner's first) and `-> command`, in order, for
    /// failure messages.
    pub transcript: Vec<String>,
}

impl Dialogue {
    /// Connects to `addr` and reads the whole banner (every line of a
    /// multi-line one, however long the server pauses in between).
    pub fn open(addr: SocketAddr) -> Dialogue {
        let mut dialogue = Dialogue::connect(addr);
        dialogue.banner = dialogue.reply();
        dialogue
    }

    /// Connects and sends `command` at once, before the banner, as spam
    /// robots do (and as postscreen's pregreet test catches). The banner is
    /// then the first line the server sent alone; the reply to `command`
    /// is returned.
    pub fn open_talking_early(addr: SocketAddr, command: &str) -> (Dialogue, Reply) {
        let mut dialogue = Dialogue::connect(addr);
        dialogue.transcript.push(format!("-> {command} (before the banner)"));
        dialogue.writer.write_all(format!("{command}\r\n").as_bytes()).expect("send a command");
        let first = dialogue.line().unwrap_or_else(|end| end);
        dialogue.banner = Reply { lines: vec![first] };
        let reply = dialogue.reply();
        (dialogue, reply)
    }

    fn connect(addr: SocketAddr) -> Dialogue {
        let writer = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        writer.set_read_timeout(Some(REPLY_TIMEOUT)).expect("set a read timeout");
        let reader = BufReader::new(writer.try_clone().expect("clone the stream"));
        Dialogue { reader, writer, banner: Reply { lines: Vec::new() }, transcript: Vec::new() }
    }

    /// Sends `command` (without CRLF) and reads its reply.
    pub fn say(&mut self, command: &str) -> Reply {
        self.transcript.push(format!("-> {command}"));
        self.writer.write_all(format!("{command}\r\n").as_bytes()).expect("send a command");
        self.reply()
    }

    /// Reads one reply to its last line; a reply cut short by the server
    /// closing (or by the timeout) ends with a line saying so, code 0.
    fn reply(&mut self) -> Reply {
        let mut lines = Vec::new();
        loop {
            match self.line() {
                Ok(line) => {
                    let last = line.as_bytes().get(3) != Some(&b'-');
                    lines.push(line);
                    if last {
                        break;
                    }
                }
                Err(end) => {
                    lines.push(end);
                    break;
                }
            }
        }
        Reply { lines }
    }

    /// One line, without its ending; or a line saying why none came.
    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        let end = match self.reader.read_line(&mut line) {
            Ok(0) => "(connection closed)".to_string(),
            Err(e) => format!("(no reply: {e})"),
            Ok(_) => {
                let line = line.trim_end().to_string();
                self.transcript.push(format!("<- {line}"));
                return Ok(line);
            }
        };
        self.transcript.push(end.clone());
        Err(end)
    }
}

impl Drop for Dialogue {
    fn drop(&mut self) {
        let _ = self.writer.write_all(b"QUIT\r\n");
    }
}

/// The manual relay test by hand on a connection of its own: see
/// [`Dialogue::relay_attempt`].
pub fn relay_attempt(addr: SocketAddr, helo: &str, from: &str, to: &str) -> (Dialogue, Reply) {
    let mut dialogue = Dialogue::open(addr);
    let reply = dialogue.relay_attempt(helo, from, to);
    (dialogue, reply)
}

impl Dialogue {
    /// The manual relay test by hand: EHLO `helo`, MAIL FROM `from`, RCPT
    /// TO `to`. Returns the reply to RCPT, or to the command that failed
    /// before it; the transcript says everything.
    pub fn relay_attempt(&mut self, helo: &str, from: &str, to: &str) -> Reply {
        for command in [format!("EHLO {helo}"), format!("MAIL FROM:<{from}>")] {
            let reply = self.say(&command);
            if reply.code() / 100 != 2 {
                return reply;
            }
        }
        self.say(&format!("RCPT TO:<{to}>"))
    }
}

impl fmt::Display for Dialogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.transcript {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

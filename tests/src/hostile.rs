//! A scripted SMTP server on loopback that misbehaves on purpose: tarpits,
//! 421 at the door, greylisting, STARTTLS demands, garbage instead of a
//! banner, replies that never end, dropped connections, error limits, and
//! relays that only fall for one address trick.
//!
//! It is plain threads and blocking sockets, so sync `#[test]`s can use it
//! without a runtime: [`HostileServer::start`] binds `127.0.0.1:0`
//! ([`HostileServer::start_on`] another loopback address, `::1` included) and gives
//! each accepted connection the [`Script`] its closure returns for that
//! connection's index (0 for the first). Dropping the server stops the accept
//! thread and every connection thread (each polls a stop flag at least every
//! few tens of milliseconds, floods included) and joins them.
//!
//! [`run_measured`] runs a child process and reports its exit code, wall time
//! and peak resident memory (as GNU time measures it), killing it if it
//! outlives a hard limit.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The name the scripted server gives itself in its banner.
pub const SERVER_NAME: &str = "mx.hostile.test";

/// How often blocked reads and writes look at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// A flood stops by itself after this long or this many bytes, whichever
/// comes first, even if nobody stops it: every loop here is bounded.
const FLOOD_MAX_TIME: Duration = Duration::from_secs(60);
const FLOOD_MAX_BYTES: u64 = 4 << 30;
/// A client line longer than this is not SMTP; the server hangs up.
const MAX_CLIENT_LINE: usize = 64 * 1024;

/// What the server does at some point of the dialogue.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Write these lines, separated by `\n` (CRLF is added to each).
    Say(String),
    /// Write these exact bytes.
    Raw(Vec<u8>),
    /// Write these bytes again and again, never stopping on its own (but for
    /// the safety limits), without reading anything more.
    Flood(Vec<u8>),
    /// Close the connection without a word.
    Close,
    /// Say nothing more on this connection, but keep it open.
    Hang,
}

/// How one connection of the server behaves.
#[derive(Clone, Debug)]
pub struct Script {
    /// How long after accepting the connection the opening comes.
    banner_delay: Duration,
    /// If the client sends anything before the opening, answer 554 and close
    /// (as Postfix's postscreen and Exim's pipelining-sync check do).
    punish_early_talkers: bool,
    /// What comes first: normally the 220 banner.
    opening: Answer,
    /// Answers by command-line prefix, case-insensitive; the longest wins.
    answers: Vec<(String, Answer)>,
    /// RCPT paths (inside `<>`) that this predicate accepts get `250 2.1.5 Ok`.
    relays_for: Option<fn(&str) -> bool>,
    /// Close right after answering the n-th command (from 1, EHLO included).
    close_after: Option<usize>,
    /// After this many 4xx/5xx replies, answer the next command with
    /// `421 4.7.0 Too many errors` and close, as Postfix's hard error limit does.
    error_limit: Option<usize>,
}

impl Script {
    /// A correctly closed server in the manner of stock Postfix with
    /// `reject_unauth_destination`: 220, EHLO with PIPELINING and STARTTLS,
    /// 250 to RSET and MAIL, `554 5.7.1 Relay access denied` to every RCPT,
    /// `503 5.5.1` to an RCPT without a sender, 221 and close on QUIT.
    pub fn closed_relay() -> Script {
        Script {
            banner_delay: Duration::ZERO,
            punish_early_talkers: false,
            opening: Answer::Say(format!("220 {SERVER_NAME} ESMTP Postfix (Debian/GNU)")),
            answers: Vec::new(),
            relays_for: None,
            close_after: None,
            error_limit: None,
        }
        .on(
            "EHLO",
            &format!(
                "250-{SERVER_NAME}\n250-PIPELINING\n250-SIZE 10240000\n250-STARTTLS\n250-ENHANCEDSTATUSCODES\n\
                 250-8BITMIME\n250 SMTPUTF8"
            ),
        )
        .on("HELO", &format!("250 {SERVER_NAME}"))
        .on("RSET", "250 2.0.0 Ok")
        .on("NOOP", "250 2.0.0 Ok")
        .on("MAIL", "250 2.1.0 Ok")
        .on("RCPT", "554 5.7.1 Relay access denied")
        .on("QUIT", "221 2.0.0 Bye")
    }

    /// The banner, lines separated by `\n`.
    pub fn banner(mut self, lines: &str) -> Script {
        self.opening = Answer::Say(lines.into());
        self
    }

    /// Something else than a banner: raw bytes, a flood, silence, a hang-up.
    pub fn opening(mut self, opening: Answer) -> Script {
        self.opening = opening;
        self
    }

    /// Wait this long before the banner (a tarpit).
    pub fn banner_after(mut self, delay: Duration) -> Script {
        self.banner_delay = delay;
        self
    }

    /// A client that speaks before the banner gets `554` and a closed connection.
    pub fn punish_early_talkers(mut self) -> Script {
        self.punish_early_talkers = true;
        self
    }

    /// Answer command lines starting with `prefix` with `reply` (lines
    /// separated by `\n`); the longest matching prefix wins.
    pub fn on(self, prefix: &str, reply: &str) -> Script {
        self.answer(prefix, Answer::Say(reply.into()))
    }

    /// Do `answer` to command lines starting with `prefix`.
    pub fn answer(mut self, prefix: &str, answer: Answer) -> Script {
        self.answers.retain(|(p, _)| !p.eq_ignore_ascii_case(prefix));
        self.answers.push((prefix.into(), answer));
        self
    }

    /// Accept the RCPT paths that `accepts` says yes to: an open relay for
    /// one address trick only.
    pub fn relays_for(mut self, accepts: fn(&str) -> bool) -> Script {
        self.relays_for = Some(accepts);
        self
    }

    /// Close the connection right after answering the `n`-th command.
    pub fn close_after(mut self, n: usize) -> Script {
        self.close_after = Some(n);
        self
    }

    /// After `n` error replies, `421 4.7.0 Too many errors` to the next
    /// command, then close.
    pub fn error_limit(mut self, n: usize) -> Script {
        self.error_limit = Some(n);
        self
    }

    fn answer_to(&self, line: &str, mail_ok: bool) -> Answer {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        if verb == "RCPT" {
            if !mail_ok {
                return Answer::Say("503 5.5.1 Error: need MAIL command".into());
            }
            if let Some(accepts) = self.relays_for {
                if accepts(rcpt_path(line)) {
                    return Answer::Say("250 2.1.5 Ok".into());
                }
            }
        }
        let best = self
            .answers
            .iter()
            .filter(|(p, _)| line.len() >= p.len() && line.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
            .max_by_key(|(p, _)| p.len());
        match best {
            Some((_, a)) => a.clone(),
            None => Answer::Say("502 5.5.2 Error: command not recognized".into()),
        }
    }
}

/// The path inside `RCPT TO:<…>`, or the whole argument if it has no brackets.
pub fn rcpt_path(line: &str) -> &str {
    let arg = line.split_once(':').map_or("", |(_, a)| a.trim());
    match (arg.find('<'), arg.rfind('>')) {
        (Some(a), Some(b)) if a < b => &arg[a + 1..b],
        _ => arg,
    }
}

/// The local part of an address path: everything before the last `@` that
/// is outside quotes (the whole path if there is none).
pub fn local_part(path: &str) -> &str {
    let mut quoted = false;
    let mut at = None;
    for (i, c) in path.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '@' if !quoted => at = Some(i),
            _ => {}
        }
    }
    at.map_or(path, |i| &path[..i])
}

/// What the server saw on one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnLog {
    /// Command lines received, without CRLF.
    pub commands: Vec<String>,
    /// The client sent bytes before the opening was written.
    pub spoke_early: bool,
    /// The server closed the connection (QUIT, a script's close, an error limit).
    pub closed_by_server: bool,
    /// Bytes written by the server, floods included.
    pub bytes_written: u64,
}

/// A running scripted server; stopped and joined when dropped.
pub struct HostileServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<ConnLog>>>,
}

impl HostileServer {
    /// Listens on `127.0.0.1:0`; connection `i` (from 0) plays `script(i)`.
    pub fn start(script: impl Fn(usize) -> Script + Send + 'static) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        HostileServer::serve(listener, script)
    }

    /// Listens on `addr`, which must be a loopback address (127.0.0.0/8 or
    /// `::1`): an IPv6 listener beside an IPv4 one at the same port, as a
    /// dual-stack mail server has. Fails if the port is taken.
    pub fn start_on(
        addr: SocketAddr,
        script: impl Fn(usize) -> Script + Send + 'static,
    ) -> std::io::Result<HostileServer> {
        assert!(addr.ip().is_loopback(), "fixtures listen on loopback only, not {addr}");
        Ok(HostileServer::serve(TcpListener::bind(addr)?, script))
    }

    fn serve(listener: TcpListener, script: impl Fn(usize) -> Script + Send + 'static) -> HostileServer {
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<ConnLog>>> = Arc::default();
        let (stop2, log2) = (stop.clone(), log.clone());
        let accept = std::thread::spawn(move || {
            let mut workers: Vec<JoinHandle<()>> = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = {
                            let mut log = log2.lock().unwrap();
                            log.push(ConnLog::default());
                            log.len() - 1
                        };
                        let conn =
                            Conn { stream, script: script(index), index, stop: stop2.clone(), log: log2.clone() };
                        workers.push(std::thread::spawn(move || conn.serve()));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        HostileServer { addr, stop, accept: Some(accept), log }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the server saw on each connection so far, in the order accepted.
    pub fn connections(&self) -> Vec<ConnLog> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

struct Conn {
    stream: TcpStream,
    script: Script,
    index: usize,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<ConnLog>>>,
}

/// Why a connection's dialogue ended.
enum End {
    /// The client closed, a socket error, or the server is stopping.
    Gone,
    /// The script closed it.
    ClosedByServer,
}

impl Conn {
    fn serve(mut self) {
        let _ = self.stream.set_nodelay(true);
        let _ = self.stream.set_read_timeout(Some(POLL));
        let _ = self.stream.set_write_timeout(Some(POLL * 5));
        if let End::ClosedByServer = self.dialogue() {
            self.with_log(|l| l.closed_by_server = true);
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    fn with_log(&self, f: impl FnOnce(&mut ConnLog)) {
        if let Some(entry) = self.log.lock().unwrap().get_mut(self.index) {
            f(entry);
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Reads what is there within one poll interval: `Ok(None)` if nothing
    /// came, `Err(())` if the client is gone.
    fn read_some(&mut self, into: &mut Vec<u8>) -> Result<Option<usize>, ()> {
        let mut buf = [0u8; 8192];
        match self.stream.read(&mut buf) {
            Ok(0) => Err(()),
            Ok(n) => {
                into.extend_from_slice(&buf[..n]);
                Ok(Some(n))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                Ok(None)
            }
            Err(_) => Err(()),
        }
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), ()> {
        while !data.is_empty() {
            if self.stopping() {
                return Err(());
            }
            match self.stream.write(data) {
                Ok(0) => return Err(()),
                Ok(n) => {
                    self.with_log(|l| l.bytes_written += n as u64);
                    data = &data[n..];
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// Writes `pattern` until the client goes away, the server stops, or the
    /// safety limits are reached.
    fn flood(&mut self, pattern: &[u8]) -> End {
        let mut chunk = Vec::with_capacity(64 * 1024);
        while chunk.len() < 64 * 1024 {
            chunk.extend_from_slice(pattern);
        }
        let started = Instant::now();
        let mut written = 0u64;
        while started.elapsed() < FLOOD_MAX_TIME && written < FLOOD_MAX_BYTES {
            if self.write(&chunk).is_err() {
                return End::Gone;
            }
            written += chunk.len() as u64;
        }
        End::ClosedByServer
    }

    /// Does `answer`; `Some(end)` if the dialogue is over.
    fn act(&mut self, answer: &Answer, out: &mut Vec<u8>) -> Option<End> {
        match answer {
            Answer::Say(lines) => {
                for line in lines.lines() {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                None
            }
            Answer::Raw(bytes) => {
                out.extend_from_slice(bytes);
                None
            }
            Answer::Flood(pattern) => {
                let pending = std::mem::take(out);
                if self.write(&pending).is_err() {
                    return Some(End::Gone);
                }
                Some(self.flood(pattern))
            }
            Answer::Close => Some(End::ClosedByServer),
            Answer::Hang => Some(self.hang()),
        }
    }

    /// Keeps the connection open, reading and ignoring, until the client
    /// leaves or the server stops.
    fn hang(&mut self) -> End {
        let mut sink = Vec::new();
        while !self.stopping() {
            sink.clear();
            if self.read_some(&mut sink).is_err() {
                return End::Gone;
            }
        }
        End::Gone
    }

    fn dialogue(&mut self) -> End {
        let mut input = Vec::new();
        // The wait before the opening, listening for early talkers.
        let until = Instant::now() + self.script.banner_delay;
        while Instant::now() < until {
            if self.stopping() {
                return End::Gone;
            }
            match self.read_some(&mut input) {
                Err(()) => return End::Gone,
                Ok(Some(_)) => {
                    self.with_log(|l| l.spoke_early = true);
                    if self.script.punish_early_talkers {
                        let _ = self.write(b"554 5.5.1 Protocol error: you talked before my greeting\r\n");
                        return End::ClosedByServer;
                    }
                }
                Ok(None) => {}
            }
        }
        let mut out = Vec::new();
        let opening = self.script.opening.clone();
        if let Some(end) = self.act(&opening, &mut out) {
            return end;
        }
        if self.write(&std::mem::take(&mut out)).is_err() {
            return End::Gone;
        }
        if let Answer::Say(banner) = &opening {
            if !banner.starts_with("220") {
                // 421 or 554 at the door: say it and hang up.
                return End::ClosedByServer;
            }
        }

        let mut answered = 0usize;
        let mut errors = 0usize;
        let mut mail_ok = false;
        loop {
            if self.stopping() {
                return End::Gone;
            }
            // Take every whole line there is, answer them all in one write,
            // as a server flushes once its input is drained.
            while let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = input.drain(..end + 2).take(end).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                self.with_log(|l| l.commands.push(line.clone()));
                let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                if self.script.error_limit.is_some_and(|n| errors >= n) {
                    out.extend_from_slice(b"421 4.7.0 mx.hostile.test Error: too many errors\r\n");
                    let _ = self.write(&out);
                    return End::ClosedByServer;
                }
                let answer = self.script.answer_to(&line, mail_ok);
                if let Answer::Say(text) = &answer {
                    if text.starts_with('4') || text.starts_with('5') {
                        errors += 1;
                    }
                    match verb.as_str() {
                        "MAIL" => mail_ok = text.starts_with('2'),
                        "RSET" | "EHLO" | "HELO" => mail_ok = false,
                        _ => {}
                    }
                }
                if let Some(end) = self.act(&answer, &mut out) {
                    let _ = self.write(&out);
                    return end;
                }
                answered += 1;
                if verb == "QUIT" || self.script.close_after == Some(answered) {
                    let _ = self.write(&out);
                    return End::ClosedByServer;
                }
            }
            if !out.is_empty() && self.write(&std::mem::take(&mut out)).is_err() {
                return End::Gone;
            }
            if input.len() > MAX_CLIENT_LINE {
                return End::ClosedByServer;
            }
            if self.read_some(&mut input).is_err() {
                return End::Gone;
            }
        }
    }
}

/// How a measured child process ended.
#[derive(Debug)]
pub struct Measured {
    /// The exit code; `None` if a signal ended it (as the hard limit does).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From spawn to exit.
    pub wall: Duration,
    /// Peak resident set size in KiB, as GNU time reports it (`%M`); 0 if killed.
    pub peak_rss_kib: u64,
    /// The child outlived `kill_after` and was killed.
    pub killed: bool,
}

/// GNU time, which measures a command's peak memory (Debian's `time` package;
/// `scripts/setup test` installs it).
pub const GNU_TIME: &str = "/usr/bin/time";

/// Runs `command` under GNU time with piped output, in a process group of its
/// own, killing the group if it outlives `kill_after`, and measures it.
///
/// Why GNU time and not this process's own `wait4`: Linux carries the
/// memory high-water mark of the address space a process had before `exec`
/// into its `ru_maxrss`, so a child spawned straight from a test binary
/// reports the test binary's memory. GNU time is a small process that forks
/// and execs the command itself, so the figure is the command's own.
pub fn run_measured(command: Command, kill_after: Duration) -> Measured {
    use std::os::unix::process::CommandExt;
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    assert!(
        std::path::Path::new(GNU_TIME).exists(),
        "{GNU_TIME} is missing: install Debian's time package (scripts/setup test does)"
    );
    let report = std::env::temp_dir().join(format!(
        "relaycheck-rss-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut wrapped = Command::new(GNU_TIME);
    wrapped.arg("-q").args(["-f", "%M", "-o"]).arg(&report).arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let started = Instant::now();
    let mut child = wrapped
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command under GNU time");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if !killed && started.elapsed() > kill_after {
            // SAFETY: signals the process group this function just created.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    let peak_rss_kib = std::fs::read_to_string(&report)
        .ok()
        .and_then(|text| text.lines().filter_map(|l| l.trim().parse().ok()).next_back())
        .or(if killed { Some(0) } else { None })
        .unwrap_or_else(|| panic!("GNU time wrote no figure to {}", report.display()));
    let _ = std::fs::remove_file(&report);
    Measured {
        code: if killed { None } else { status.code() },
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        wall,
        peak_rss_kib,
        killed,
    }
}

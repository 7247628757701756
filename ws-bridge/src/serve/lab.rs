//! The lab of `ws-bridge serve --lab`: two small SMTP servers on loopback,
//! one a closed relay and one an open relay, so that the page can show both
//! verdicts on a machine with no mail server and no internet.
//!
//! Each server speaks just enough SMTP, in Postfix's words, for relay-core's
//! audit to reach the verdict a real server of its kind would get: the closed
//! one refuses every outside recipient with a 5xx, the open one accepts every
//! recipient. Neither ever takes a message: DATA and BDAT are refused, so
//! nothing is stored or delivered, whatever the policy says about recipients.
//!
//! [`Dialogue`] is the SMTP side without I/O (bytes in, reply bytes out);
//! [`serve`] and the connection task around it add sockets, time and limits.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use relay_core::{Command, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

/// The lab's own mail domain: the closed server takes mail for it (and for
/// the servers' own names), and for nothing else.
pub const LAB_DOMAIN: &str = "lab.relaycheck.test";

/// The longest line the lab reads, line ending included: RFC 5321's limit
/// for a text line (§4.5.3.1.6). Also what bounds a connection's line buffer.
const MAX_LINE: usize = 1000;

/// The message size limit advertised in EHLO. No message is ever taken; the
/// figure only makes the lab look like the servers it stands in for.
const ADVERTISED_SIZE: u32 = 1_048_576;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 4096;

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends. Closing a socket with unread input makes the kernel
/// send a reset, which can destroy the last reply before the client reads it.
const LINGER: Duration = Duration::from_secs(2);

/// How long the accept loop rests after a failed accept (out of file
/// descriptors, say) instead of spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Which of the two lab servers this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabPolicy {
    /// Takes mail only for the lab's own domain: every relay probe is denied.
    Closed,
    /// Takes mail for anyone: every relay probe is accepted.
    Open,
}

impl LabPolicy {
    /// The server's name, the first word of its banner.
    pub fn server_name(self) -> &'static str {
        match self {
            LabPolicy::Closed => "closed.lab.relaycheck.test",
            LabPolicy::Open => "open.lab.relaycheck.test",
        }
    }

    /// What the server is, in the words the banner uses.
    pub fn description(self) -> &'static str {
        match self {
            LabPolicy::Closed => "closed relay",
            LabPolicy::Open => "open relay",
        }
    }

    /// Whether RCPT TO:<path> gets a 250.
    fn accepts_recipient(self, path: &str) -> bool {
        match self {
            LabPolicy::Open => true,
            LabPolicy::Closed => is_lab_mailbox(path),
        }
    }
}

/// A plain `user@domain` in the lab's own domains, or the bare `postmaster`
/// that RFC 5321 §4.5.1 says every server must take. Every relay trick (`%`,
/// `!`, quotes, a second `@`, source routes, trailing dots) fails this test,
/// which is how a well-configured server tells local mail from relaying.
fn is_lab_mailbox(path: &str) -> bool {
    if path.eq_ignore_ascii_case("postmaster") {
        return true;
    }
    let Some((local, domain)) = path.split_once('@') else {
        return false;
    };
    let lab_domains = [LAB_DOMAIN, LabPolicy::Closed.server_name(), LabPolicy::Open.server_name()];
    is_plain_local_part(local) && lab_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

/// A dot-atom local part (RFC 5321 §4.1.2) without `%` and `!`, which old
/// routers read as "relay onward".
fn is_plain_local_part(local: &str) -> bool {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"#$&'*+-/=?^_`{|}~".contains(&b);
    !local.is_empty() && local.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(atext))
}

/// How long a connection may stay silent, and how many may be open at once.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_connections: usize,
    idle_timeout: Duration,
}

impl Limits {
    const DEFAULT: Limits = Limits { max_connections: 64, idle_timeout: Duration::from_secs(60) };
}

/// One running lab server.
#[derive(Debug)]
pub struct LabServer {
    pub addr: SocketAddr,
    pub policy: LabPolicy,
    task: JoinHandle<()>,
}

impl LabServer {
    /// Waits until the server has stopped: after shutdown, once its listener
    /// is closed and its last connection has ended.
    pub async fn stopped(self) {
        // The task never panics on its own; if it was cancelled, it has stopped too.
        let _ = self.task.await;
    }
}

/// Both lab servers.
#[derive(Debug)]
pub struct Lab {
    pub closed: LabServer,
    pub open: LabServer,
}

impl Lab {
    /// Binds two servers on 127.0.0.1 (ports chosen by the system) and serves
    /// until `shutdown` holds `true` or its sender is dropped.
    pub async fn start(shutdown: watch::Receiver<bool>) -> io::Result<Lab> {
        // Bind both before serving either, so that a failure leaves nothing running.
        let closed_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let open_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let spawn = |listener: TcpListener, policy: LabPolicy| -> io::Result<LabServer> {
            let addr = listener.local_addr()?;
            let task = tokio::spawn(serve(listener, policy, shutdown.clone()));
            Ok(LabServer { addr, policy, task })
        };
        Ok(Lab { closed: spawn(closed_listener, LabPolicy::Closed)?, open: spawn(open_listener, LabPolicy::Open)? })
    }

    /// Waits until both servers have stopped.
    pub async fn stopped(self) {
        self.closed.stopped().await;
        self.open.stopped().await;
    }
}

/// The accept loop of one lab server. Returns after `shutdown` (see
/// [`Lab::start`]): it stops accepting at once, tells every open connection
/// that the service is going away, and waits for them to end.
pub async fn serve(listener: TcpListener, policy: LabPolicy, shutdown: watch::Receiver<bool>) {
    serve_with_limits(listener, policy, Limits::DEFAULT, shutdown).await
}

async fn serve_with_limits(
    listener: TcpListener,
    policy: LabPolicy,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown_requested(&mut shutdown) => break,
            // Reap finished connections, so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                };
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        connections.spawn(converse_until_shutdown(stream, policy, limits, shutdown.clone(), permit));
                    }
                    Err(_) => {
                        // A fresh socket's send buffer is empty, so this never
                        // blocks; if it fails, the client just sees the close.
                        let _ = stream.try_write(closing_reply(policy, "4.7.0", "too many connections").as_bytes());
                    }
                }
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Resolves once the lab should stop: `true` was sent, or nobody is left
/// who could ever send it.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// A 421, which tells the client the server is closing the connection.
fn closing_reply(policy: LabPolicy, enhanced: &str, why: &str) -> String {
    Reply::new(421, vec![format!("{enhanced} {} Error: {why}", policy.server_name())]).to_string()
}

/// One connection from accept to close. The permit is held until the end, so
/// it counts against the server's connection limit for exactly that long.
async fn converse_until_shutdown(
    mut stream: TcpStream,
    policy: LabPolicy,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let interrupted = tokio::select! {
        () = converse(&mut stream, policy, limits.idle_timeout) => false,
        () = shutdown_requested(&mut shutdown) => true,
    };
    if interrupted {
        // Without waiting: a client that does not read must not hold up shutdown.
        let _ = stream.try_write(closing_reply(policy, "4.3.2", "service shutting down").as_bytes());
    }
}

/// The SMTP dialogue on one socket: banner, then one write of replies for
/// each read of commands, until QUIT, an error, the idle timeout or EOF.
async fn converse(stream: &mut TcpStream, policy: LabPolicy, idle_timeout: Duration) {
    let mut dialogue = Dialogue::new(policy);
    if !send(stream, &dialogue.banner(), idle_timeout).await {
        return;
    }
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let n = match tokio::time::timeout(idle_timeout, stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_elapsed) => {
                let bye = closing_reply(policy, "4.4.2", "timeout exceeded");
                if send(stream, &bye, idle_timeout).await {
                    close_gently(stream).await;
                }
                return;
            }
        };
        let answer = dialogue.handle_input(&chunk[..n]);
        if !send(stream, &answer.replies, idle_timeout).await {
            return;
        }
        if answer.close {
            close_gently(stream).await;
            return;
        }
    }
}

/// Writes `wire`, giving up if the client has not taken it within `limit`
/// (a client that never reads would otherwise hold the connection forever).
async fn send(stream: &mut TcpStream, wire: &str, limit: Duration) -> bool {
    if wire.is_empty() {
        return true;
    }
    matches!(tokio::time::timeout(limit, stream.write_all(wire.as_bytes())).await, Ok(Ok(())))
}

/// Sends FIN, then reads and drops whatever still arrives, until the client
/// closes too or [`LINGER`] runs out (see there for why).
async fn close_gently(stream: &mut TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        if stream.shutdown().await.is_err() {
            return;
        }
        let mut discard = [0u8; READ_CHUNK];
        while let Ok(1..) = stream.read(&mut discard).await {}
    })
    .await;
}

/// What the server says back to one read's worth of input.
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    /// Every reply, in order, in wire form: sent in one write.
    replies: String,
    /// Close the connection after sending.
    close: bool,
}

/// The SMTP side of one connection, without I/O: bytes in, replies out.
/// It keeps the part of a line that has not ended yet, never more than
/// [`MAX_LINE`] bytes.
#[derive(Debug)]
struct Dialogue {
    policy: LabPolicy,
    /// EHLO or HELO was answered.
    greeted: bool,
    /// MAIL was answered and no RSET, EHLO or HELO has ended it yet.
    in_transaction: bool,
    partial_line: Vec<u8>,
}

impl Dialogue {
    fn new(policy: LabPolicy) -> Dialogue {
        Dialogue { policy, greeted: false, in_transaction: false, partial_line: Vec::new() }
    }

    fn banner(&self) -> String {
        let text = format!("{} ESMTP relaycheck lab ({})", self.policy.server_name(), self.policy.description());
        Reply::new(220, vec![text]).to_string()
    }

    /// Answers every line that `bytes` completes, in order. Lines end in LF,
    /// with or without CR before it. A line too long ends the connection, as
    /// does QUIT; whatever follows either is not read.
    fn handle_input(&mut self, bytes: &[u8]) -> Answer {
        // Taken out of `self` so that lines can borrow it while `self` answers them.
        let mut buffer = std::mem::take(&mut self.partial_line);
        buffer.extend_from_slice(bytes);
        let mut answer = Answer::default();
        let mut consumed = 0;
        while let Some(end) = buffer[consumed..].iter().position(|&b| b == b'\n') {
            let line = &buffer[consumed..consumed + end + 1];
            consumed += end + 1;
            let (reply, close) = if line.len() > MAX_LINE { (line_too_long(), true) } else { self.answer_line(line) };
            answer.replies.push_str(&reply.to_string());
            if close {
                answer.close = true;
                return answer;
            }
        }
        buffer.drain(..consumed);
        // Whatever ends this line, it will be too long: say so now rather than buffer more.
        if buffer.len() >= MAX_LINE {
            answer.replies.push_str(&line_too_long().to_string());
            answer.close = true;
            return answer;
        }
        self.partial_line = buffer;
        answer
    }

    /// The reply to one command line, and whether to close after it.
    fn answer_line(&mut self, line: &[u8]) -> (Reply, bool) {
        let say = |code: u16, text: String| Reply::new(code, vec![text]);
        let name = self.policy.server_name();
        let Ok(command) = Command::parse(line) else {
            return (say(500, "5.5.2 Error: command not recognized".into()), false);
        };
        let reply = match command {
            Command::Ehlo(_) => {
                self.greeted = true;
                self.in_transaction = false;
                let extensions = ["PIPELINING", &format!("SIZE {ADVERTISED_SIZE}"), "ENHANCEDSTATUSCODES", "8BITMIME"];
                let lines = std::iter::once(name).chain(extensions).map(str::to_string).collect();
                Reply::new(250, lines)
            }
            Command::Helo(_) => {
                self.greeted = true;
                self.in_transaction = false;
                say(250, name.into())
            }
            Command::Mail { .. } if !self.greeted => say(503, "5.5.1 Error: send HELO/EHLO first".into()),
            Command::Mail { .. } if self.in_transaction => say(503, "5.5.1 Error: nested MAIL command".into()),
            Command::Mail { .. } => {
                self.in_transaction = true;
                say(250, "2.1.0 Ok".into())
            }
            Command::Rcpt { .. } if !self.in_transaction => say(503, "5.5.1 Error: need MAIL command".into()),
            Command::Rcpt { path, .. } if self.policy.accepts_recipient(&path) => say(250, "2.1.5 Ok".into()),
            Command::Rcpt { path, .. } => say(554, format!("5.7.1 <{path}>: Relay access denied")),
            Command::Rset => {
                self.in_transaction = false;
                say(250, "2.0.0 Ok".into())
            }
            Command::Noop => say(250, "2.0.0 Ok".into()),
            Command::Quit => return (say(221, "2.0.0 Bye".into()), true),
            Command::Data | Command::Bdat(_) => say(554, "5.5.1 Error: the relaycheck lab takes no messages".into()),
            Command::Vrfy(_) => say(252, "2.0.0 Cannot VRFY user; try RCPT to attempt delivery".into()),
            Command::StartTls | Command::Auth(_) | Command::Expn(_) | Command::Help(_) | Command::Other { .. } => {
                say(500, "5.5.2 Error: command not recognized".into())
            }
        };
        (reply, false)
    }
}

fn line_too_long() -> Reply {
    Reply::new(500, vec!["5.5.2 line too long".into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    use relay_core::{ProbeVerdict, Verdict};
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// Long enough for a loaded machine, short enough that a hang fails fast.
    const TEST_WAIT: Duration = Duration::from_secs(10);

    /// A lab server of its own for one test, stopped by `stop`.
    struct TestServer {
        addr: SocketAddr,
        stop: watch::Sender<bool>,
        task: JoinHandle<()>,
    }

    impl TestServer {
        async fn start(policy: LabPolicy) -> TestServer {
            TestServer::start_with_limits(policy, Limits::DEFAULT).await
        }

        async fn start_with_limits(policy: LabPolicy, limits: Limits) -> TestServer {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, shutdown) = watch::channel(false);
            let task = tokio::spawn(serve_with_limits(listener, policy, limits, shutdown));
            TestServer { addr, stop, task }
        }

        async fn shut_down(self) {
            self.stop.send(true).unwrap();
            tokio::time::timeout(TEST_WAIT, self.task).await.expect("server stops").unwrap();
        }
    }

    /// A client that speaks raw lines and reads whole replies.
    struct Client {
        stream: BufReader<TcpStream>,
    }

    impl Client {
        async fn connect(addr: SocketAddr) -> Client {
            Client { stream: BufReader::new(TcpStream::connect(addr).await.unwrap()) }
        }

        /// Connects and checks the banner.
        async fn greeted_by(addr: SocketAddr, policy: LabPolicy) -> Client {
            let mut client = Client::connect(addr).await;
            let banner = format!("220 {} ESMTP relaycheck lab ({})\r\n", policy.server_name(), policy.description());
            assert_eq!(client.reply().await, banner);
            client
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.stream.get_mut().write_all(bytes).await.unwrap();
        }

        /// One whole reply, every line with its CRLF.
        async fn reply(&mut self) -> String {
            let mut reply = String::new();
            loop {
                let mut line = String::new();
                let n = tokio::time::timeout(TEST_WAIT, self.stream.read_line(&mut line))
                    .await
                    .expect("a reply in time")
                    .unwrap();
                assert!(n > 0, "connection closed after {reply:?}");
                reply.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return reply;
                }
            }
        }

        /// Sends `command` (CRLF added) and checks the whole reply.
        async fn expect(&mut self, command: &str, reply: &str) {
            self.send(format!("{command}\r\n").as_bytes()).await;
            assert_eq!(self.reply().await, format!("{reply}\r\n"), "reply to {command:?}");
        }

        /// Checks that the server has closed the connection.
        async fn expect_closed(&mut self) {
            let mut rest = String::new();
            let read = tokio::time::timeout(TEST_WAIT, self.stream.read_to_string(&mut rest)).await;
            match read.expect("the server closes") {
                Ok(_) => assert_eq!(rest, "", "nothing after the last reply"),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
            }
        }
    }

    const EHLO_CLOSED: &str = "250-closed.lab.relaycheck.test\r\n250-PIPELINING\r\n250-SIZE 1048576\r\n\
                               250-ENHANCEDSTATUSCODES\r\n250 8BITMIME";

    #[tokio::test]
    async fn closed_lab_takes_mail_for_itself_and_denies_relaying() {
        let server = TestServer::start(LabPolicy::Closed).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        c.expect("EHLO client.example", EHLO_CLOSED).await;
        c.expect("MAIL FROM:<relaycheck@example.com>", "250 2.1.0 Ok").await;
        c.expect("RCPT TO:<relaycheck@example.net>", "554 5.7.1 <relaycheck@example.net>: Relay access denied").await;
        for local in
            ["postmaster@lab.relaycheck.test", "a.b+c@CLOSED.lab.relaycheck.test", "x@open.lab.relaycheck.test"]
        {
            c.expect(&format!("RCPT TO:<{local}>"), "250 2.1.5 Ok").await;
        }
        c.expect("RCPT TO:<Postmaster>", "250 2.1.5 Ok").await;
        for trick in [
            "relaycheck%example.net@closed.lab.relaycheck.test",
            "relaycheck%example.net@[127.0.0.1]",
            "\"relaycheck@example.net\"@lab.relaycheck.test",
            "\"relaycheck\"@lab.relaycheck.test",
            "relaycheck@example.net@lab.relaycheck.test",
            "@lab.relaycheck.test:relaycheck@example.net",
            "example.net!relaycheck@lab.relaycheck.test",
            "example.net!relaycheck",
            "relaycheck@lab.relaycheck.test.",
            "relaycheck@lab.relaycheck.test@",
            ".relaycheck@lab.relaycheck.test",
            "",
        ] {
            c.expect(&format!("RCPT TO:<{trick}>"), &format!("554 5.7.1 <{trick}>: Relay access denied")).await;
        }
        c.expect("MAIL FROM:<other@example.com>", "503 5.5.1 Error: nested MAIL command").await;
        c.expect("RSET", "250 2.0.0 Ok").await;
        c.expect("RCPT TO:<postmaster@lab.relaycheck.test>", "503 5.5.1 Error: need MAIL command").await;
        c.expect("NOOP", "250 2.0.0 Ok").await;
        c.expect("VRFY postmaster", "252 2.0.0 Cannot VRFY user; try RCPT to attempt delivery").await;
        c.expect("STARTTLS", "500 5.5.2 Error: command not recognized").await;
        c.expect("XYZZY plugh", "500 5.5.2 Error: command not recognized").await;
        c.expect("MAIL FROM:no-brackets@example.com", "500 5.5.2 Error: command not recognized").await;
        c.expect("QUIT", "221 2.0.0 Bye").await;
        c.expect_closed().await;
        server.shut_down().await;
    }

    #[tokio::test]
    async fn open_lab_accepts_every_recipient() {
        let server = TestServer::start(LabPolicy::Open).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Open).await;
        c.expect("RCPT TO:<relaycheck@example.net>", "503 5.5.1 Error: need MAIL command").await;
        c.expect("HELO client.example", "250 open.lab.relaycheck.test").await;
        c.expect("MAIL FROM:<>", "250 2.1.0 Ok").await;
        c.expect("RCPT TO:<relaycheck@example.net>", "250 2.1.5 Ok").await;
        c.expect("RCPT TO:<relaycheck%example.net@[127.0.0.1]>", "250 2.1.5 Ok").await;
        c.expect("RCPT TO:<@[127.0.0.1]:relaycheck@example.net>", "250 2.1.5 Ok").await;
        c.expect("RSET", "250 2.0.0 Ok").await;
        c.expect("MAIL FROM:<relaycheck> SIZE=100", "250 2.1.0 Ok").await;
        c.expect("RCPT TO:<postmaster@lab.relaycheck.test>", "250 2.1.5 Ok").await;
        c.expect("QUIT", "221 2.0.0 Bye").await;
        c.expect_closed().await;
        server.shut_down().await;
    }

    #[tokio::test]
    async fn pipelined_batch_is_answered_in_order() {
        let server = TestServer::start(LabPolicy::Closed).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        c.send(
            b"EHLO client.example\r\nRSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n\
              RCPT TO:<b@lab.relaycheck.test>\r\nNOOP\r\nQUIT\r\n",
        )
        .await;
        assert_eq!(c.reply().await, format!("{EHLO_CLOSED}\r\n"));
        assert_eq!(c.reply().await, "250 2.0.0 Ok\r\n");
        assert_eq!(c.reply().await, "250 2.1.0 Ok\r\n");
        assert_eq!(c.reply().await, "554 5.7.1 <b@example.net>: Relay access denied\r\n");
        assert_eq!(c.reply().await, "250 2.1.5 Ok\r\n");
        assert_eq!(c.reply().await, "250 2.0.0 Ok\r\n");
        assert_eq!(c.reply().await, "221 2.0.0 Bye\r\n");
        c.expect_closed().await;
        server.shut_down().await;
    }

    #[test]
    fn one_read_gets_all_its_replies_in_one_answer() {
        let mut dialogue = Dialogue::new(LabPolicy::Open);
        let answer = dialogue.handle_input(b"HELO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nNOOP");
        assert_eq!(
            answer,
            Answer { replies: "250 open.lab.relaycheck.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n".into(), close: false }
        );
        // The unfinished NOOP waits for its line ending.
        assert_eq!(dialogue.handle_input(b"\r\n"), Answer { replies: "250 2.0.0 Ok\r\n".into(), close: false });
    }

    #[test]
    fn input_in_any_chunks_gets_the_same_replies() {
        let script: &[u8] =
            b"EHLO x\r\nMAIL FROM:<>\nRCPT TO:<a%b@lab.relaycheck.test>\r\n\xff\xfe\r\n\x16\x03\x01\0\r\n\
                              RCPT TO:<a@lab.relaycheck.test>\r\nDATA\r\nQUIT\r\nNOOP\r\n";
        let whole = Dialogue::new(LabPolicy::Closed).handle_input(script);
        assert!(whole.close);
        assert_eq!(whole.replies.lines().count(), 12, "{}", whole.replies);
        assert!(whole.replies.ends_with("221 2.0.0 Bye\r\n"), "nothing is read after QUIT");
        for size in [1, 2, 5, 7, 64] {
            let mut dialogue = Dialogue::new(LabPolicy::Closed);
            let mut replies = String::new();
            for chunk in script.chunks(size) {
                let answer = dialogue.handle_input(chunk);
                replies.push_str(&answer.replies);
                if answer.close {
                    break;
                }
            }
            assert_eq!(replies, whole.replies, "chunks of {size}");
        }
    }

    #[test]
    fn closed_policy_knows_its_own_mailboxes() {
        for path in
            ["u@lab.relaycheck.test", "u@LAB.RELAYCHECK.TEST", "first.last@open.lab.relaycheck.test", "postmaster"]
        {
            assert!(is_lab_mailbox(path), "{path}");
        }
        for path in [
            "u@example.net",
            "u",
            "@lab.relaycheck.test",
            "u..v@lab.relaycheck.test",
            "u.@lab.relaycheck.test",
            "u%example.net@lab.relaycheck.test",
            "example.net!u@lab.relaycheck.test",
            "\"u\"@lab.relaycheck.test",
            "u@example.net@lab.relaycheck.test",
            "@lab.relaycheck.test:u@lab.relaycheck.test",
            "u@[127.0.0.1]",
            "u@sub.lab.relaycheck.test",
            "u@lab.relaycheck.test.",
        ] {
            assert!(!is_lab_mailbox(path), "{path}");
        }
    }

    #[tokio::test]
    async fn data_and_bdat_are_refused_even_by_the_open_lab() {
        let server = TestServer::start(LabPolicy::Open).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Open).await;
        c.expect("EHLO client.example", &EHLO_CLOSED.replace("closed.", "open.")).await;
        c.expect("MAIL FROM:<relaycheck@example.com>", "250 2.1.0 Ok").await;
        c.expect("RCPT TO:<relaycheck@example.net>", "250 2.1.5 Ok").await;
        c.expect("DATA", "554 5.5.1 Error: the relaycheck lab takes no messages").await;
        c.expect("BDAT 10 LAST", "554 5.5.1 Error: the relaycheck lab takes no messages").await;
        c.expect("NOOP", "250 2.0.0 Ok").await;
        server.shut_down().await;
    }

    #[tokio::test]
    async fn mail_before_greeting_is_refused() {
        let server = TestServer::start(LabPolicy::Open).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Open).await;
        c.expect("MAIL FROM:<relaycheck@example.com>", "503 5.5.1 Error: send HELO/EHLO first").await;
        c.expect("EHLO client.example", &EHLO_CLOSED.replace("closed.", "open.")).await;
        c.expect("MAIL FROM:<relaycheck@example.com>", "250 2.1.0 Ok").await;
        server.shut_down().await;
    }

    #[tokio::test]
    async fn bare_lf_and_garbage_are_read_without_harm() {
        let server = TestServer::start(LabPolicy::Closed).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        c.send(b"NOOP\n").await;
        assert_eq!(c.reply().await, "250 2.0.0 Ok\r\n");
        for garbage in
            [&b"\x16\x03\x01\x02\x00\x01\x00\r\n"[..], b"\xff\xfe\xfd\r\n", b"\r\n", b"RSET\rDATA\r\n", b"\0\n"]
        {
            c.send(garbage).await;
            assert_eq!(c.reply().await, "500 5.5.2 Error: command not recognized\r\n", "{garbage:?}");
        }
        c.expect("NOOP", "250 2.0.0 Ok").await;
        server.shut_down().await;
    }

    #[tokio::test]
    async fn a_line_too_long_is_refused_and_the_connection_closed() {
        let server = TestServer::start(LabPolicy::Closed).await;
        // A line that ends, but too late.
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        c.send(format!("NOOP {}\r\n", "x".repeat(1200)).as_bytes()).await;
        assert_eq!(c.reply().await, "500 5.5.2 line too long\r\n");
        c.expect_closed().await;
        // A line that never ends: refused once it cannot fit any more.
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        c.send(&[b'x'; MAX_LINE]).await;
        assert_eq!(c.reply().await, "500 5.5.2 line too long\r\n");
        c.expect_closed().await;
        // The longest line allowed is read (and, past SMTP's command length, not understood).
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        c.send(format!("NOOP {}\r\n", "x".repeat(MAX_LINE - 7)).as_bytes()).await;
        assert_eq!(c.reply().await, "500 5.5.2 Error: command not recognized\r\n");
        server.shut_down().await;
    }

    #[tokio::test]
    async fn a_silent_client_is_timed_out() {
        let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::DEFAULT };
        let server = TestServer::start_with_limits(LabPolicy::Closed, limits).await;
        let mut c = Client::greeted_by(server.addr, LabPolicy::Closed).await;
        assert_eq!(c.reply().await, "421 4.4.2 closed.lab.relaycheck.test Error: timeout exceeded\r\n");
        c.expect_closed().await;
        server.shut_down().await;
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_turned_away() {
        let limits = Limits { max_connections: 2, ..Limits::DEFAULT };
        let server = TestServer::start_with_limits(LabPolicy::Open, limits).await;
        let mut first = Client::greeted_by(server.addr, LabPolicy::Open).await;
        let _second = Client::greeted_by(server.addr, LabPolicy::Open).await;
        let mut third = Client::connect(server.addr).await;
        assert_eq!(third.reply().await, "421 4.7.0 open.lab.relaycheck.test Error: too many connections\r\n");
        third.expect_closed().await;
        // Once a connection ends, its place is free again.
        first.expect("QUIT", "221 2.0.0 Bye").await;
        first.expect_closed().await;
        drop(first);
        let deadline = tokio::time::Instant::now() + TEST_WAIT;
        loop {
            let mut again = Client::connect(server.addr).await;
            if again.reply().await.starts_with("220 ") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the freed place is never given again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.shut_down().await;
    }

    #[tokio::test]
    async fn shutdown_closes_the_listener_and_the_connections() {
        let server = TestServer::start(LabPolicy::Closed).await;
        let addr = server.addr;
        let mut c = Client::greeted_by(addr, LabPolicy::Closed).await;
        c.expect("EHLO client.example", EHLO_CLOSED).await;
        server.shut_down().await;
        assert_eq!(c.reply().await, "421 4.3.2 closed.lab.relaycheck.test Error: service shutting down\r\n");
        c.expect_closed().await;
        let refused = TcpStream::connect(addr).await.expect_err("nothing listens after shutdown");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn the_lab_stops_when_its_shutdown_sender_is_dropped() {
        let (stop, shutdown) = watch::channel(false);
        let lab = Lab::start(shutdown).await.unwrap();
        let (closed, open) = (lab.closed.addr, lab.open.addr);
        drop(stop);
        tokio::time::timeout(TEST_WAIT, lab.stopped()).await.expect("the lab stops");
        for addr in [closed, open] {
            assert!(TcpStream::connect(addr).await.is_err(), "{addr} still listens");
        }
    }

    #[tokio::test]
    async fn a_real_audit_finds_the_closed_lab_closed_and_the_open_lab_open() {
        let (stop, shutdown) = watch::channel(false);
        let lab = Lab::start(shutdown).await.unwrap();
        for server in [&lab.closed, &lab.open] {
            assert!(server.addr.ip().is_loopback(), "the lab listens on loopback only");
            assert_ne!(server.addr.port(), 0);
        }
        assert_eq!((lab.closed.policy, lab.open.policy), (LabPolicy::Closed, LabPolicy::Open));
        let audit = |addr: SocketAddr| {
            let config = relay_core::Config::default();
            let dial = std::sync::Arc::new(crate::audit::Direct::new(&config, 1));
            crate::audit::run(config, "127.0.0.1", addr.port(), vec![addr], dial, |_| {})
        };
        let (closed, open) = tokio::join!(audit(lab.closed.addr), audit(lab.open.addr));

        assert_eq!(closed.verdict, Verdict::Closed, "{}", closed.reason);
        assert!(closed.probes.len() >= 20, "the whole plan ran");
        for probe in &closed.probes {
            assert_eq!(probe.verdict, ProbeVerdict::Denied, "{} ({}): {:?}", probe.id, probe.rcpt_to, probe.reply);
        }
        assert_eq!(closed.server.name.as_deref(), Some("closed.lab.relaycheck.test"));

        assert_eq!(open.verdict, Verdict::Open, "{}", open.reason);
        assert!(open.probes.iter().all(|p| p.verdict == ProbeVerdict::Accepted));

        stop.send(true).unwrap();
        tokio::time::timeout(TEST_WAIT, lab.stopped()).await.expect("the lab stops");
    }
}

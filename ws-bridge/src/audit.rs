//! The tokio driver of a relay-core [`Session`]: real TCP connections, the
//! real clock. It is a small loop, as relay-core's session doc describes;
//! everything that needs judgement happens in the engine.
//!
//! `ws-bridge check` uses it with [`Direct`] connections; the hosted API
//! with connections that each pass the bridge's destination limits (see
//! `api.rs`). Everything it spawns is aborted when [`run`]'s future is
//! dropped, so an audit never outlives the request that started it.
//!
//! Each connection is a task that owns its socket, so that it can move into
//! TLS in place when the engine asks ([`Event::StartTls`], or from the first
//! byte with [`Config::implicit_tls`]): the loop sends it [`Order`]s, it
//! sends back [`Io`]. The engine only ever sees SMTP in plain text.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use relay_core::tls::{TlsFacts, TlsFailure};
use relay_core::{Config, ConnectionId, Event, Report, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::tls::{Start, Stream};

/// 64 random bits from std's hasher keys, which the OS seeds: enough for a
/// mailbox name nobody can predict, without a crate for it.
fn fresh_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// How an audit opens its TCP connections.
pub trait Dial: Send + Sync + 'static {
    /// Something held for as long as the connection is open (a place
    /// under a limit); `()` when nothing is.
    type Hold: Send + 'static;

    /// Connects to one of `targets`, in order, or says why not in words.
    fn dial(
        &self,
        targets: Vec<SocketAddr>,
    ) -> impl Future<Output = Result<(TcpStream, SocketAddr, Self::Hold), String>> + Send;
}

/// Straight TCP from this machine, as `ws-bridge check` connects: each
/// address gets its share of the reply timeout, and no less than 2 s.
pub struct Direct {
    pub per_address: Duration,
}

impl Direct {
    pub fn new(config: &Config, addresses: usize) -> Direct {
        Direct { per_address: (config.reply_timeout / addresses.max(1) as u32).max(Duration::from_secs(2)) }
    }
}

impl Dial for Direct {
    type Hold = ();

    async fn dial(&self, targets: Vec<SocketAddr>) -> Result<(TcpStream, SocketAddr, ()), String> {
        let mut errors = Vec::new();
        for addr in &targets {
            let error = match tokio::time::timeout(self.per_address, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => return Ok((s, *addr, ())),
                Ok(Err(e)) => connect_error(&e),
                Err(_) => format!("no answer within {} s", self.per_address.as_secs()),
            };
            // With one address the caller already names it; with several, say which failed how.
            errors.push(if targets.len() > 1 { format!("{} {error}", addr.ip()) } else { error });
        }
        Err(errors.join("; "))
    }
}

/// A spawned task, aborted when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a connection's task tells the loop.
enum Io {
    Connected(SocketAddr, mpsc::UnboundedSender<Order>),
    ConnectFailed(String),
    /// The handshake ended (STARTTLS, or implicit TLS right after connecting).
    Tls(Result<TlsFacts, TlsFailure>),
    Data(Vec<u8>),
    Closed,
}

/// What the loop tells a connection's task.
enum Order {
    /// Write these SMTP bytes (encrypted, once in TLS).
    Send(Vec<u8>),
    /// The server said `220` to `STARTTLS`: move into TLS now.
    StartTls,
}

/// What a connection's task needs besides its socket.
struct Link {
    id: ConnectionId,
    /// The name the certificate is checked against (the host asked for).
    server_name: String,
    implicit_tls: bool,
    /// The handshake's time limit: the reply timeout, as for any answer.
    tls_timeout: Duration,
    tx: mpsc::UnboundedSender<(ConnectionId, Io)>,
}

/// Runs a whole audit of `host` at the already resolved `addresses` (tried
/// in order for the first connection; every later one reuses the address
/// that answered). `on_event` sees each event as it happens, for live output.
pub async fn run<D: Dial>(
    config: Config,
    host: &str,
    port: u16,
    addresses: Vec<SocketAddr>,
    dial: Arc<D>,
    mut on_event: impl FnMut(&Event),
) -> Report {
    let start = Instant::now();
    // The control mailbox must not be guessable: a fresh random part per audit.
    let config = Config { nonce: fresh_nonce(), ..config };
    let implicit_tls = config.implicit_tls;
    let tls_timeout = config.reply_timeout;
    let mut session = Session::new(config, host, port, Duration::ZERO);
    let (tx, mut rx) = mpsc::unbounded_channel::<(ConnectionId, Io)>();
    let mut writers: HashMap<ConnectionId, mpsc::UnboundedSender<Order>> = HashMap::new();
    let mut tasks: HashMap<ConnectionId, Task> = HashMap::new();
    let mut chosen: Option<SocketAddr> = None;

    loop {
        while let Some(transmit) = session.poll_transmit() {
            let id = transmit.connection;
            if let Some(writer) = writers.get(&id) {
                if writer.send(Order::Send(transmit.data)).is_err() {
                    writers.remove(&id);
                    session.handle_closed(id, start.elapsed());
                }
            }
        }
        while let Some(event) = session.poll_event() {
            on_event(&event);
            match event {
                Event::Connect(id) => {
                    let targets = match chosen {
                        Some(addr) => vec![addr],
                        None => addresses.clone(),
                    };
                    let link = Link { id, server_name: host.to_string(), implicit_tls, tls_timeout, tx: tx.clone() };
                    let task = tokio::spawn(connection_task(link, targets, Arc::clone(&dial)));
                    tasks.insert(id, Task(task));
                }
                Event::Close(id) => {
                    // Without its orders the task writes what was queued
                    // (QUIT) and drops the socket, which sends FIN. A task
                    // stuck on a server that reads nothing is aborted when
                    // the audit ends, with every other.
                    writers.remove(&id);
                }
                Event::StartTls(id) => match writers.get(&id) {
                    Some(writer) if writer.send(Order::StartTls).is_ok() => {}
                    _ => {
                        let lost = TlsFailure { reason: "the connection was lost before TLS could start".into() };
                        session.handle_tls(id, Err(lost), start.elapsed());
                    }
                },
                _ => {}
            }
        }
        if session.is_finished() {
            break;
        }
        let deadline = session.poll_timeout().map(|t| start + t);
        tokio::select! {
            message = rx.recv() => {
                let Some((id, io)) = message else { break };
                let now = start.elapsed();
                match io {
                    Io::Connected(peer, writer) => {
                        chosen.get_or_insert(peer);
                        writers.insert(id, writer);
                        session.handle_connected(id, peer.ip(), now);
                    }
                    Io::ConnectFailed(reason) => session.handle_connect_failed(id, &reason, now),
                    Io::Tls(outcome) => session.handle_tls(id, outcome, now),
                    Io::Data(data) => session.handle_input(id, &data, now),
                    Io::Closed => {
                        writers.remove(&id);
                        session.handle_closed(id, now);
                    }
                }
            }
            _ = sleep_until(deadline) => session.handle_timeout(start.elapsed()),
        }
    }
    drop(tasks);
    session.report()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn connection_task<D: Dial>(link: Link, targets: Vec<SocketAddr>, dial: Arc<D>) {
    let Link { id, server_name, implicit_tls, tls_timeout, tx } = link;
    let say = |io: Io| tx.send((id, io)).is_ok();
    let (tcp, peer, _hold) = match dial.dial(targets).await {
        Ok(dialed) => dialed,
        Err(reason) => {
            say(Io::ConnectFailed(reason));
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (orders_tx, mut orders) = mpsc::unbounded_channel::<Order>();
    if !say(Io::Connected(peer, orders_tx)) {
        return;
    }
    let mut stream = Stream::Plain(tcp);
    // Port 465: TLS before the banner, so the engine hears of it first.
    if implicit_tls && !upgrade(&mut stream, &server_name, tls_timeout, Start::Implicit, &say).await {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // The read is dropped when an order comes first; reads of a TcpStream
        // and of a TlsStream lose nothing when dropped (rustls keeps what it
        // has decrypted).
        let next = tokio::select! {
            order = orders.recv() => Next::Order(order),
            read = stream.read(&mut buf) => Next::Read(read),
        };
        match next {
            // The loop let go of this connection: what it queued is written.
            Next::Order(None) => return,
            Next::Order(Some(Order::Send(data))) => {
                if stream.write_all(&data).await.is_err() || stream.flush().await.is_err() {
                    say(Io::Closed);
                    return;
                }
            }
            Next::Order(Some(Order::StartTls)) => {
                if !upgrade(&mut stream, &server_name, tls_timeout, Start::StartTls, &say).await {
                    return;
                }
            }
            Next::Read(Ok(0) | Err(_)) => {
                say(Io::Closed);
                return;
            }
            Next::Read(Ok(n)) => {
                if !say(Io::Data(buf[..n].to_vec())) {
                    return;
                }
            }
        }
    }
}

/// Moves the connection into TLS and tells the loop how it went; false
/// when the connection is over (a failed handshake leaves it of no use to
/// SMTP, so it is reported closed too).
async fn upgrade(
    stream: &mut Stream,
    server_name: &str,
    timeout: Duration,
    start: Start,
    say: &impl Fn(Io) -> bool,
) -> bool {
    match stream.upgrade(server_name, timeout, start).await {
        Ok(facts) => say(Io::Tls(Ok(facts))),
        Err(failure) => {
            say(Io::Tls(Err(failure)));
            say(Io::Closed);
            false
        }
    }
}

enum Next {
    Order(Option<Order>),
    Read(io::Result<usize>),
}

/// A connect error as a mail administrator would say it.
pub fn connect_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "connection refused (nothing listens on that port, or a firewall rejects it)".into()
        }
        io::ErrorKind::TimedOut => "timed out (a firewall may be dropping the connection)".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable (no route from here)".into(),
        io::ErrorKind::AddrNotAvailable => "that address cannot be used from here".into(),
        _ => e.to_string(),
    }
}

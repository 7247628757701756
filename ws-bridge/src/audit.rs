//! The tokio driver of a relay-core [`Session`]: real TCP connections, the
//! real clock. It is a small loop, as relay-core's session doc describes;
//! everything that needs judgement happens in the engine.
//!
//! `ws-bridge check` uses it with [`Direct`] connections; the hosted API
//! with connections that each pass the bridge's destination limits (see
//! `api.rs`). Everything it spawns is aborted when [`run`]'s future is
//! dropped, so an audit never outlives the request that started it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use relay_core::{Config, ConnectionId, Event, Report, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
    Connected(SocketAddr, OwnedWriteHalf),
    ConnectFailed(String),
    Data(Vec<u8>),
    Closed,
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
    let mut session = Session::new(config, host, port, Duration::ZERO);
    let (tx, mut rx) = mpsc::unbounded_channel::<(ConnectionId, Io)>();
    let mut writers: HashMap<ConnectionId, OwnedWriteHalf> = HashMap::new();
    let mut tasks: HashMap<ConnectionId, Task> = HashMap::new();
    let mut chosen: Option<SocketAddr> = None;

    loop {
        while let Some(transmit) = session.poll_transmit() {
            let id = transmit.connection;
            if let Some(writer) = writers.get_mut(&id) {
                if writer.write_all(&transmit.data).await.is_err() {
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
                    let task = tokio::spawn(connection_task(id, targets, Arc::clone(&dial), tx.clone()));
                    tasks.insert(id, Task(task));
                }
                Event::Close(id) => {
                    // Dropping the write half sends FIN; aborting the task
                    // drops the read half. Nothing of the socket is left.
                    writers.remove(&id);
                    tasks.remove(&id);
                }
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

async fn connection_task<D: Dial>(
    id: ConnectionId,
    targets: Vec<SocketAddr>,
    dial: Arc<D>,
    tx: mpsc::UnboundedSender<(ConnectionId, Io)>,
) {
    let (stream, peer, _hold) = match dial.dial(targets).await {
        Ok(dialed) => dialed,
        Err(reason) => {
            let _ = tx.send((id, Io::ConnectFailed(reason)));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    if tx.send((id, Io::Connected(peer, writer))).is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send((id, Io::Closed));
                return;
            }
            Ok(n) => {
                if tx.send((id, Io::Data(buf[..n].to_vec()))).is_err() {
                    return;
                }
            }
        }
    }
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

//! The tokio driver of a relay-core [`Session`]: real TCP connections, the
//! real clock. It is a small loop, as relay-core's session doc describes;
//! everything that needs judgement happens in the engine.
//!
//! `ws-bridge check` uses it, and so will the hosted API.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
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
pub async fn run(
    config: Config,
    host: &str,
    port: u16,
    addresses: Vec<SocketAddr>,
    mut on_event: impl FnMut(&Event),
) -> Report {
    let start = Instant::now();
    let per_address = (config.reply_timeout / addresses.len().max(1) as u32).max(Duration::from_secs(2));
    // The control mailbox must not be guessable: a fresh random part per audit.
    let config = Config { nonce: fresh_nonce(), ..config };
    let mut session = Session::new(config, host, port, Duration::ZERO);
    let (tx, mut rx) = mpsc::unbounded_channel::<(ConnectionId, Io)>();
    let mut writers: HashMap<ConnectionId, OwnedWriteHalf> = HashMap::new();
    let mut tasks: HashMap<ConnectionId, JoinHandle<()>> = HashMap::new();
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
                    tasks.insert(id, tokio::spawn(connection_task(id, targets, per_address, tx.clone())));
                }
                Event::Close(id) => {
                    // Dropping the write half sends FIN; aborting the task
                    // drops the read half. Nothing of the socket is left.
                    writers.remove(&id);
                    if let Some(task) = tasks.remove(&id) {
                        task.abort();
                    }
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
    for (_, task) in tasks {
        task.abort();
    }
    session.report()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn connection_task(
    id: ConnectionId,
    targets: Vec<SocketAddr>,
    per_address: Duration,
    tx: mpsc::UnboundedSender<(ConnectionId, Io)>,
) {
    let mut errors = Vec::new();
    let mut stream = None;
    for addr in &targets {
        let error = match tokio::time::timeout(per_address, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some((s, *addr));
                break;
            }
            Ok(Err(e)) => connect_error(&e),
            Err(_) => format!("no answer within {} s", per_address.as_secs()),
        };
        // With one address the caller already names it; with several, say which failed how.
        errors.push(if targets.len() > 1 { format!("{} {error}", addr.ip()) } else { error });
    }
    let Some((stream, peer)) = stream else {
        let _ = tx.send((id, Io::ConnectFailed(errors.join("; "))));
        return;
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

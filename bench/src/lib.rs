//! Shared pieces of relaycheck's benchmark tools (bench/run drives them):
//! the servers they talk to, the websocket client of a bridge or of
//! websockify, the processes under test, percentiles, and memory read from
//! `/proc`.
//!
//! Everything here stays on loopback, and every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The banner every bench server greets with.
pub const BANNER: &[u8] = b"220 bench.relaycheck.invalid ESMTP\r\n";
/// What the echo server answers to every line.
pub const NOOP_REPLY: &[u8] = b"250 2.0.0 Ok\r\n";

/// Refuses anything but loopback: the benchmarks never aim elsewhere.
pub fn require_loopback(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!("{addr} is not a loopback address; the benchmarks only ever use loopback"))
    }
}

pub use relaycheck_tests::net::free_port;

/// The `p`-th percentile (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// An SMTP-ish server on 127.0.0.1 for the latency benchmark: a banner, then
/// `250 2.0.0 Ok` for every line it reads. One blocking thread per
/// connection, so that nothing but the kernel sits between the bytes.
/// Returns its address; it lives as long as the process (at most
/// `max_connections` connections, each ending when its client leaves).
pub fn spawn_echo_server(max_connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
    let addr = listener.local_addr().expect("echo server address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_connections) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
                if stream.write_all(BANNER).is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                let mut carry = 0usize;
                loop {
                    let n = match stream.read(&mut buf[carry..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let end = carry + n;
                    let lines = buf[..end].windows(2).filter(|w| w == b"\r\n").count();
                    // Keep an unfinished line (at most the buffer) for the next read.
                    let last = buf[..end].windows(2).rposition(|w| w == b"\r\n").map_or(0, |i| i + 2);
                    buf.copy_within(last..end, 0);
                    carry = (end - last) % buf.len();
                    let reply: Vec<u8> = NOOP_REPLY.repeat(lines);
                    if !reply.is_empty() && stream.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A mail server that greets and then says nothing more, for idle sessions:
/// it holds up to `max_connections` connections at once, each until its
/// client leaves. Runs on the current tokio runtime.
pub async fn spawn_idle_server(max_connections: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the idle server");
    let addr = listener.local_addr().expect("idle server address");
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _permit = permit;
                if stream.write_all(BANNER).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 64];
                // Whatever comes is ignored; the session ends when the client leaves.
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// What the benchmark client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// `ws-bridge serve`: `/ws?host=&port=`, Origin checked, a `connected`
    /// text event first.
    Bridge,
    /// websockify: any path, the `binary` subprotocol, SMTP bytes at once.
    Websockify,
}

pub type Ws = WebSocketStream<TcpStream>;

/// A websocket client session, open and greeted (the server's banner read).
pub struct Session {
    pub ws: Ws,
}

impl Session {
    /// Opens a session through `peer` at `server` toward `target`, and reads
    /// up to the end of the banner. Bounded by `within`.
    pub async fn open(peer: Peer, server: SocketAddr, target: SocketAddr, within: Duration) -> Result<Session, String> {
        tokio::time::timeout(within, Self::open_inner(peer, server, target))
            .await
            .map_err(|_| format!("no session through {server} within {within:?}"))?
    }

    async fn open_inner(peer: Peer, server: SocketAddr, target: SocketAddr) -> Result<Session, String> {
        let url = match peer {
            Peer::Bridge => format!("ws://{server}/ws?host={}&port={}", target.ip(), target.port()),
            Peer::Websockify => format!("ws://{server}/"),
        };
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        match peer {
            // The bridge admits only the origin its own page is served from.
            Peer::Bridge => {
                headers.insert("origin", format!("http://{server}").parse().expect("origin header"));
            }
            Peer::Websockify => {
                headers.insert("sec-websocket-protocol", "binary".parse().expect("protocol header"));
            }
        }
        let stream = TcpStream::connect(server).await.map_err(|e| format!("connect to {server}: {e}"))?;
        let _ = stream.set_nodelay(true);
        // Small buffers: ten thousand of these live in one process.
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| format!("websocket handshake with {server}: {e}"))?;
        let mut session = Session { ws };
        if peer == Peer::Bridge {
            match session.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    if event["type"] != "connected" {
                        return Err(format!("the bridge refused: {text}"));
                    }
                }
                other => return Err(format!("expected the connected event, got {other:?}")),
            }
        }
        session.read_until_suffix(BANNER).await?;
        Ok(session)
    }

    /// Reads binary frames until what came ends with `suffix`.
    pub async fn read_until_suffix(&mut self, suffix: &[u8]) -> Result<(), String> {
        let mut got = Vec::new();
        while !got.ends_with(suffix) {
            match self.ws.next().await {
                Some(Ok(Message::Binary(data))) => got.extend_from_slice(&data),
                Some(Ok(Message::Text(text))) => return Err(format!("event instead of bytes: {text}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".into()),
            }
            if got.len() > 64 * 1024 {
                return Err("reply too long".into());
            }
        }
        Ok(())
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.ws.send(Message::binary(bytes.to_vec())).await.map_err(|e| e.to_string())
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// A child process under test, killed (and reaped) when dropped.
pub struct Process {
    child: Child,
    pub name: String,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGTERM first, so that websockify ends its children; then SIGKILL.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `BIN serve --listen 127.0.0.1:0 --allow-target TARGET ARGS…` and
/// waits (at most 30 s) until it says where it serves.
pub fn spawn_bridge(bin: &Path, target: SocketAddr, args: &[String]) -> Result<(Process, SocketAddr), String> {
    require_loopback(target)?;
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--allow-target", &target.to_string()])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("stdout");
    let process = Process { child, name: "ws-bridge".into() };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "ws-bridge serve did not start".to_string())?;
    let addr = first
        .strip_prefix("relaycheck is serving http://")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .ok_or_else(|| format!("unexpected first line from ws-bridge serve: {first}"))?;
    Ok((process, addr))
}

/// Starts `websockify [EXTRA…] 127.0.0.1:PORT TARGET` and waits (at most
/// 30 s) until it listens.
pub fn spawn_websockify(bin: &Path, target: SocketAddr, extra: &[String]) -> Result<(Process, SocketAddr), String> {
    require_loopback(target)?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child = Command::new(bin)
        .args(extra)
        .arg(listen.to_string())
        .arg(target.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut process = Process { child, name: "websockify".into() };
    let until = Instant::now() + Duration::from_secs(30);
    while !is_listening(listen) {
        if let Some(status) = process.exited() {
            return Err(format!("websockify exited at once ({status})"));
        }
        if Instant::now() > until {
            return Err("websockify did not listen within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((process, listen))
}

/// Whether a socket listens on this IPv4 address, from /proc/net/tcp (a test
/// connection would cost websockify a process of its own).
pub fn is_listening(addr: SocketAddr) -> bool {
    let IpAddr::V4(ip) = addr.ip() else { return false };
    let want = format!("{:08X}:{:04X}", u32::from_le_bytes(ip.octets()), addr.port());
    std::fs::read_to_string("/proc/net/tcp").unwrap_or_default().lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let state = fields.nth(1);
        local == Some(want.as_str()) && state == Some("0A")
    })
}

/// Memory of a process and all its descendants.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub processes: usize,
    /// VmRSS of the root process alone.
    pub root_rss_kib: u64,
    /// Proportional set size, summed over the tree: shared pages are divided
    /// among the processes that share them, so a forked child counts only
    /// what it made its own. For a single process it is its resident memory
    /// less its share of the libraries it maps with others.
    pub tree_pss_kib: u64,
    /// VmRSS summed over the tree (counts shared pages once per process).
    pub tree_rss_kib: u64,
}

/// Reads the memory of `pid` and its descendants from /proc.
pub fn memory(pid: u32) -> Memory {
    let mut tree = vec![pid];
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Some(ppid) = status_field(p, "PPid:") {
                parents.push((p, ppid as u32));
            }
        }
    }
    // Descendants, breadth first; bounded by the number of processes seen.
    let mut i = 0;
    while i < tree.len() && tree.len() <= parents.len() + 1 {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|&&(_, pp)| pp == parent).map(|&(p, _)| p));
        i += 1;
    }
    let mut m = Memory { processes: 0, root_rss_kib: status_field(pid, "VmRSS:").unwrap_or(0), ..Memory::default() };
    for p in tree {
        let Some(rss) = status_field(p, "VmRSS:") else { continue };
        m.processes += 1;
        m.tree_rss_kib += rss;
        m.tree_pss_kib += pss_kib(p).unwrap_or(rss);
    }
    m
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    line[4..].split_whitespace().next()?.parse().ok()
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One `key=value` result line, which bench/run collects.
pub fn result_line(fields: &[(String, String)]) -> String {
    let mut line = String::from("RESULT");
    for (k, v) in fields {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        line.push_str(&v.replace(char::is_whitespace, "_"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 50.0), 50.0);
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn only_loopback() {
        assert!(require_loopback("127.0.0.25:25".parse().unwrap()).is_ok());
        assert!(require_loopback("192.0.2.1:25".parse().unwrap()).is_err());
    }

    #[test]
    fn echo_server_answers_each_line() {
        let addr = spawn_echo_server(4);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut banner = vec![0u8; BANNER.len()];
        s.read_exact(&mut banner).unwrap();
        assert_eq!(banner, BANNER);
        s.write_all(b"NOOP\r\nNO").unwrap();
        s.write_all(b"OP\r\n").unwrap();
        let mut reply = vec![0u8; NOOP_REPLY.len() * 2];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply, NOOP_REPLY.repeat(2));
    }

    #[test]
    fn own_memory_is_readable() {
        let m = memory(std::process::id());
        assert!(m.processes >= 1 && m.root_rss_kib > 0 && m.tree_pss_kib > 0);
    }

    #[test]
    fn listening_sockets_are_seen() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(is_listening(addr));
        drop(listener);
        assert!(!is_listening(addr));
    }
}

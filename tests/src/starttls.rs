//! A scripted SMTP server on loopback that demands STARTTLS, agrees to it
//! (`220 2.0.0 Ready to start TLS`) and then does not speak TLS: it answers
//! the ClientHello with plain text, closes, says nothing, or floods. What a
//! checker must turn into a sentence, without hanging and within bounded
//! memory.
//!
//! Plain threads and blocking sockets, as in [`crate::hostile`]: every loop
//! polls a stop flag, a flood stops by itself after [`FLOOD_MAX_BYTES`], and
//! dropping the server joins every thread.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The name the server gives itself.
pub const SERVER_NAME: &str = "mx.rogue-tls.test";

const POLL: Duration = Duration::from_millis(20);
/// A flood stops by itself after this many bytes.
pub const FLOOD_MAX_BYTES: u64 = 1 << 30;

/// What the server does once it has read the ClientHello.
#[derive(Clone, Debug)]
pub enum AfterStartTls {
    /// Answer with these bytes (plain text, not TLS), then keep the
    /// connection open until the client goes.
    Say(&'static [u8]),
    /// Close the connection.
    Close,
    /// Say nothing, keep the connection open.
    Stall,
    /// Write this record again and again until the client goes (or
    /// [`FLOOD_MAX_BYTES`]).
    Flood(Vec<u8>),
}

/// A running server; stopped when dropped.
pub struct RogueTls {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    handshakes: Arc<AtomicUsize>,
}

impl RogueTls {
    /// Listens on 127.0.0.1; every connection demands STARTTLS before MAIL
    /// and misbehaves as `after` says once it has agreed to it.
    pub fn start(after: AfterStartTls) -> RogueTls {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (stop, handshakes) = (Arc::clone(&stop), Arc::clone(&handshakes));
            std::thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, handshakes, after) = (Arc::clone(&stop), Arc::clone(&handshakes), after.clone());
                            conns.push(std::thread::spawn(move || serve(stream, after, &stop, &handshakes)));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
                for conn in conns {
                    let _ = conn.join();
                }
            })
        };
        RogueTls { addr, stop, accept: Some(accept), handshakes }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections got as far as sending a ClientHello.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for RogueTls {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Reads what is there within [`POLL`]: `Some(0)` when the client closed,
/// `None` when nothing came.
fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> Option<usize> {
    match stream.read(buf) {
        Ok(n) => Some(n),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(_) => Some(0),
    }
}

fn serve(mut stream: TcpStream, after: AfterStartTls, stop: &AtomicBool, handshakes: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    if stream.write_all(format!("220 {SERVER_NAME} ESMTP\r\n").as_bytes()).is_err() {
        return;
    }
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    // The plain-text dialogue, up to STARTTLS.
    'dialogue: while !stop.load(Ordering::Relaxed) {
        match read_some(&mut stream, &mut buf) {
            Some(0) => return,
            Some(n) => pending.extend_from_slice(&buf[..n]),
            None => continue,
        }
        if pending.len() > 64 * 1024 {
            return;
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let command = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
            let reply = match command.split(' ').next().unwrap_or("") {
                "EHLO" => format!("250-{SERVER_NAME}\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
                "HELO" | "RSET" | "NOOP" => "250 2.0.0 Ok\r\n".to_string(),
                "MAIL" => "530 5.7.0 Must issue a STARTTLS command first\r\n".to_string(),
                "RCPT" => "503 5.5.1 Error: need MAIL command\r\n".to_string(),
                "QUIT" => {
                    let _ = stream.write_all(b"221 2.0.0 Bye\r\n");
                    return;
                }
                "STARTTLS" => {
                    if stream.write_all(b"220 2.0.0 Ready to start TLS\r\n").is_err() {
                        return;
                    }
                    break 'dialogue;
                }
                _ => "502 5.5.2 Error: command not recognized\r\n".to_string(),
            };
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
    // Wait for the ClientHello (or whatever comes).
    while !stop.load(Ordering::Relaxed) {
        match read_some(&mut stream, &mut buf) {
            Some(0) => return,
            Some(_) => break,
            None => continue,
        }
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    match after {
        AfterStartTls::Close => return,
        AfterStartTls::Say(bytes) => {
            if stream.write_all(bytes).is_err() {
                return;
            }
        }
        AfterStartTls::Stall => {}
        AfterStartTls::Flood(record) => {
            let _ = stream.set_write_timeout(Some(POLL));
            let mut written = 0u64;
            while !stop.load(Ordering::Relaxed) && written < FLOOD_MAX_BYTES {
                match stream.write(&record) {
                    Ok(n) => written += n as u64,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
            return;
        }
    }
    // Hold the connection open, reading and ignoring, until the client goes.
    while !stop.load(Ordering::Relaxed) {
        if read_some(&mut stream, &mut buf) == Some(0) {
            return;
        }
    }
}

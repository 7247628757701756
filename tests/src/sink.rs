//! A closed mail server that takes as many connections as it is given: for
//! load tests, where a real MTA's own limits would be what is measured.
//! It answers like a correctly closed Postfix (554 5.7.1 to every outside
//! recipient) and never accepts a message.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// A running sink; stops accepting when dropped.
pub struct Sink {
    pub addr: SocketAddr,
    /// Connections open right now.
    pub open: Arc<AtomicUsize>,
    /// Connections accepted in all.
    pub accepted: Arc<AtomicUsize>,
    /// The most connections open at once so far.
    pub peak: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Sink {
    pub async fn start() -> Sink {
        // A deep accept queue: thousands of connections arrive at once.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind the sink");
        let listener = socket.listen(8192).expect("listen");
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (o, a, p) = (open.clone(), accepted.clone(), peak.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let o = o.clone();
                tokio::spawn(async move {
                    let _ = serve(stream).await;
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Sink { addr, open, accepted, peak, task }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.write_all(b"220 sink.relaycheck.test ESMTP Postfix\r\n").await?;
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        let mut quit = false;
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let verb = line.split(|&b| b == b' ' || b == b'\r').next().unwrap_or(&[]).to_ascii_uppercase();
            out.extend_from_slice(match verb.as_slice() {
                b"EHLO" => b"250-sink.relaycheck.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n".as_slice(),
                b"HELO" => b"250 sink.relaycheck.test\r\n",
                b"MAIL" => b"250 2.1.0 Ok\r\n",
                b"RCPT" => b"554 5.7.1 Relay access denied\r\n",
                b"RSET" | b"NOOP" => b"250 2.0.0 Ok\r\n",
                b"QUIT" => {
                    quit = true;
                    b"221 2.0.0 Bye\r\n"
                }
                _ => b"502 5.5.2 Error: command not recognized\r\n",
            });
            if quit {
                break;
            }
        }
        stream.write_all(&out).await?;
        if quit || pending.len() > 4096 {
            return Ok(());
        }
    }
}

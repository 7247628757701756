//! A TCP proxy on loopback that holds every chunk for a fixed delay in each
//! direction, in order, as a network with that one-way latency would.
//!
//!     delay-proxy --listen 127.0.0.35:25 --target 127.0.0.25:25 --delay-ms 25
//!
//! A client's audit through it takes its time on loopback plus one round
//! trip (twice the delay) for every exchange it has to wait for, so that
//! (wall time with the delay − wall time without) / (2 × delay) counts the
//! round trips on its critical path. The TCP handshake with the proxy is
//! not delayed: the figure counts what the protocol waits for, not the
//! connection set-up.
//!
//! Both ends must be loopback addresses. Buffers are bounded (64 chunks of
//! at most 16 KiB per direction), connections too, and the proxy exits by
//! itself after --lifetime seconds.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use relaycheck_bench::require_loopback;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "A TCP proxy on loopback adding a fixed delay each way")]
struct Args {
    /// Where to listen (a loopback address).
    #[arg(long)]
    listen: SocketAddr,
    /// Where to forward (a loopback address).
    #[arg(long)]
    target: SocketAddr,
    /// Delay added to every chunk, in each direction, in milliseconds.
    #[arg(long, default_value_t = 25)]
    delay_ms: u64,
    /// Seconds after which the proxy exits by itself.
    #[arg(long, default_value_t = 1800)]
    lifetime: u64,
    /// Connections at once; later ones wait.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
}

/// Chunks held per direction before the reader waits for the writer.
const QUEUE: usize = 64;
const CHUNK: usize = 16 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (listen, target) = match (require_loopback(args.listen), require_loopback(args.target)) {
        (Ok(l), Ok(t)) => (l, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("delay-proxy: {e}");
            return ExitCode::from(64);
        }
    };
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("delay-proxy: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let delay = Duration::from_millis(args.delay_ms);
    println!("delay-proxy: {listen} -> {target}, +{} ms each way", args.delay_ms);
    let slots = Arc::new(Semaphore::new(args.max_connections.max(1)));
    let accept = async {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let Ok((client, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let _permit = permit;
                let Ok(Ok(server)) = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(target)).await
                else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_rx, client_tx) = client.into_split();
                let (server_rx, server_tx) = server.into_split();
                let up = tokio::spawn(pipe(client_rx, server_tx, delay));
                let down = tokio::spawn(pipe(server_rx, client_tx, delay));
                let _ = tokio::join!(up, down);
            });
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(args.lifetime), accept).await;
    ExitCode::SUCCESS
}

/// Carries one direction: each chunk (and the end of the stream) leaves
/// `delay` after it arrived, in the order it arrived.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(QUEUE);
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let chunk = match from.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            };
            let end = chunk.is_none();
            if tx.send((Instant::now() + delay, chunk)).await.is_err() || end {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}

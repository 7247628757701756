//! What a bridge adds to each SMTP round trip: `NOOP` → `250 2.0.0 Ok`
//! against an echo server on loopback, straight over TCP, through
//! `ws-bridge serve` (a websocket client as the page is one), and through
//! websockify, in the same run, interleaved block by block so that a
//! change in the machine's load falls on all three alike.
//!
//!     bridge-latency --ws-bridge target/release/ws-bridge [--websockify PATH]
//!
//! Prints p50 and p99 of each path in microseconds, what each bridge adds
//! to the direct path, and a `RESULT key=value…` line for bench/run.
//! Each block is one fresh session (the bridge's guard reads at most 1,000
//! commands per session); everything is bounded by --blocks and --rounds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use relaycheck_bench::{percentile, result_line, spawn_bridge, spawn_echo_server, spawn_websockify, Peer, Session};
use relaycheck_bench::{BANNER, NOOP_REPLY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Round-trip latency: direct TCP, through ws-bridge, through websockify")]
struct Args {
    /// The ws-bridge binary (a release build).
    #[arg(long)]
    ws_bridge: PathBuf,
    /// The websockify program; left out, only the bridge is measured.
    #[arg(long)]
    websockify: Option<PathBuf>,
    /// Blocks; each opens one fresh session per path.
    #[arg(long, default_value_t = 50)]
    blocks: usize,
    /// Round trips measured per block and path.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Round trips per block and path before measuring.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
}

const NOOP: &[u8] = b"NOOP\r\n";
const STEP: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Direct,
    Bridge,
    Websockify,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct TCP",
            Path::Bridge => "ws-bridge",
            Path::Websockify => "websockify",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Bridge => "bridge",
            Path::Websockify => "websockify",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.rounds + args.warmup > 990 || args.rounds == 0 || args.blocks == 0 {
        eprintln!(
            "bridge-latency: --rounds + --warmup must be between 1 and 990 (the guard reads 1,000 commands a session)"
        );
        return ExitCode::from(64);
    }
    let echo = spawn_echo_server(args.blocks * 3 + 8);
    let bridge_args: Vec<String> = [
        "--connects-per-ip",
        "100000",
        "--connects-per-destination",
        "100000",
        "--connections-per-destination",
        "100000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (_bridge, bridge_addr) = match spawn_bridge(&args.ws_bridge, echo, &bridge_args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bridge-latency: {e}");
            return ExitCode::from(1);
        }
    };
    let websockify = match &args.websockify {
        Some(bin) => match spawn_websockify(bin, echo, &[]) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("bridge-latency: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let mut paths = vec![Path::Direct, Path::Bridge];
    if websockify.is_some() {
        paths.push(Path::Websockify);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let outcome: Result<(), String> = runtime.block_on(async {
        for block in 0..args.blocks {
            // Rotate the order so that no path always comes first.
            for k in 0..paths.len() {
                let i = (block + k) % paths.len();
                let took = match paths[i] {
                    Path::Direct => direct(echo, args.warmup, args.rounds).await?,
                    Path::Bridge => through(Peer::Bridge, bridge_addr, echo, args.warmup, args.rounds).await?,
                    Path::Websockify => {
                        let addr = websockify.as_ref().expect("websockify").1;
                        through(Peer::Websockify, addr, echo, args.warmup, args.rounds).await?
                    }
                };
                samples[i].extend(took);
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        eprintln!("bridge-latency: {e}");
        return ExitCode::from(1);
    }

    let mut fields = vec![("rounds".to_string(), (args.blocks * args.rounds).to_string())];
    let mut p = Vec::new();
    println!(
        "{:<12} {:>10} {:>10} {:>10}   (µs per round trip, {} each)",
        "path",
        "p50",
        "p99",
        "mean",
        args.blocks * args.rounds
    );
    for (i, path) in paths.iter().enumerate() {
        let s = &mut samples[i];
        s.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(s, 50.0), percentile(s, 99.0));
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        println!("{:<12} {:>10.1} {:>10.1} {:>10.1}", path.name(), p50, p99, mean);
        fields.push((format!("{}_p50_us", path.key()), format!("{p50:.1}")));
        fields.push((format!("{}_p99_us", path.key()), format!("{p99:.1}")));
        p.push((p50, p99));
    }
    for (i, path) in paths.iter().enumerate().skip(1) {
        let (a50, a99) = (p[i].0 - p[0].0, p[i].1 - p[0].1);
        println!("{} adds {a50:.1} µs at p50 and {a99:.1} µs at p99", path.name());
        fields.push((format!("{}_added_p50_us", path.key()), format!("{a50:.1}")));
        fields.push((format!("{}_added_p99_us", path.key()), format!("{a99:.1}")));
    }
    println!("{}", result_line(&fields));
    ExitCode::SUCCESS
}

/// Straight over TCP: the floor every bridge adds to.
async fn direct(echo: SocketAddr, warmup: usize, rounds: usize) -> Result<Vec<f64>, String> {
    let mut stream = TcpStream::connect(echo).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    read_until(&mut stream, BANNER).await?;
    let mut took = Vec::with_capacity(rounds);
    for i in 0..warmup + rounds {
        let t0 = Instant::now();
        stream.write_all(NOOP).await.map_err(|e| e.to_string())?;
        read_until(&mut stream, NOOP_REPLY).await?;
        if i >= warmup {
            took.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(took)
}

async fn read_until(stream: &mut TcpStream, suffix: &[u8]) -> Result<(), String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(suffix) {
        let n = tokio::time::timeout(STEP, stream.read(&mut buf))
            .await
            .map_err(|_| "no reply within 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the echo server closed".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// Through a websocket bridge, binary frames both ways.
async fn through(
    peer: Peer,
    server: SocketAddr,
    echo: SocketAddr,
    warmup: usize,
    rounds: usize,
) -> Result<Vec<f64>, String> {
    let mut session = Session::open(peer, server, echo, STEP).await?;
    let mut took = Vec::with_capacity(rounds);
    for i in 0..warmup + rounds {
        let t0 = Instant::now();
        session.send(NOOP).await?;
        tokio::time::timeout(STEP, session.read_until_suffix(NOOP_REPLY))
            .await
            .map_err(|_| format!("no reply through {server} within 10 s"))??;
        if i >= warmup {
            took.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    session.close().await;
    Ok(took)
}

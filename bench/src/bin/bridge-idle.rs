//! Memory per idle session: opens many websocket sessions through a bridge
//! (`ws-bridge serve`) or through websockify, each to a mail server on
//! loopback that greets and then says nothing, waits until every one is
//! established (the banner came back through it), and reads the memory of
//! the bridge's process tree from /proc before and after.
//!
//!     bridge-idle --ws-bridge target/release/ws-bridge --sessions 10000
//!     bridge-idle --websockify ~/.cache/relaycheck/venv/bin/websockify --sessions 10000 --max-server-mib 4096
//!
//! The figure is the growth of the proportional set size (Pss) summed over
//! the process and its descendants: for one process that is the growth of
//! its resident memory; for websockify, which forks a process per
//! connection, each child counts only the pages it made its own. The
//! growth of the root's VmRSS is printed beside it.
//!
//! Raise the open-files limit first (`ulimit -n 65536`): this process holds
//! both ends' sockets (2 per session) and the bridge holds 2 per session.
//! Bounded: it stops opening at --sessions, at --max-server-mib of growth,
//! after 100 failed sessions or after --timeout seconds, and says which;
//! then it closes everything and stops the bridge.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use relaycheck_bench::{
    memory, open_files_limit, result_line, spawn_bridge, spawn_idle_server, spawn_websockify, Memory, Peer, Session,
};

#[derive(Parser, Debug)]
#[command(about = "Memory per idle websocket session of ws-bridge or websockify")]
struct Args {
    /// Measure this ws-bridge binary (a release build).
    #[arg(long, conflicts_with = "websockify", required_unless_present_any = ["websockify", "idle_server"])]
    ws_bridge: Option<PathBuf>,
    /// Measure this websockify program instead.
    #[arg(long)]
    websockify: Option<PathBuf>,
    /// An extra argument for websockify (repeatable), e.g. --libserver.
    #[arg(long = "websockify-arg", value_name = "ARG", allow_hyphen_values = true)]
    websockify_args: Vec<String>,
    /// Sessions to open.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Stop opening once the server has grown by this many MiB.
    #[arg(long, default_value_t = 4096)]
    max_server_mib: u64,
    /// Stop opening after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Seconds to let the server settle before reading its memory.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// A label for the RESULT line.
    #[arg(long, default_value = "server")]
    label: String,
    /// (Internal) be the idle mail server: print its address, serve until
    /// standard input closes or SECS pass.
    #[arg(long, value_name = "SECS", hide = true)]
    idle_server: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Some(secs) = args.idle_server {
        return runtime.block_on(idle_server(args.sessions, secs));
    }
    let mut sessions = args.sessions;
    // The bridge holds two sockets per session (this process and the idle
    // server one each), and inherits this process's limit.
    if let (Some(limit), true) = (open_files_limit(), args.ws_bridge.is_some()) {
        let fit = (limit.saturating_sub(64) / 2) as usize;
        if fit < sessions {
            println!(
                "bridge-idle: the open-files limit is {limit}: room for {fit} bridge sessions (two sockets each), \
                 not {sessions}; measuring {fit}"
            );
            sessions = fit;
        }
    }
    runtime.block_on(run(args, sessions))
}

/// The idle mail server, in a process of its own so that its sockets do
/// not count against this one's limit.
async fn idle_server(sessions: usize, secs: u64) -> ExitCode {
    use tokio::io::AsyncReadExt;
    let addr = spawn_idle_server(sessions + 64).await;
    println!("{addr}");
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 16];
    let until_eof = async {
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(secs), until_eof).await;
    ExitCode::SUCCESS
}

/// Starts this program again as the idle server; it ends when the returned
/// child's standard input is closed (the child is killed when dropped).
fn start_idle_server(sessions: usize, secs: u64) -> Result<(IdleServer, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["--sessions", &sessions.to_string(), "--idle-server", &secs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the idle server: {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    let server = IdleServer(child);
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let addr = line.trim().parse().map_err(|_| format!("the idle server said {line:?}"))?;
    Ok((server, addr))
}

struct IdleServer(Child);

impl Drop for IdleServer {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run(args: Args, sessions: usize) -> ExitCode {
    let (_idle_server, idle) = match start_idle_server(sessions, args.timeout + args.settle + 300) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bridge-idle: {e}");
            return ExitCode::from(1);
        }
    };
    let started = match (&args.ws_bridge, &args.websockify) {
        (Some(bin), _) => {
            let limits: Vec<String> = [
                "--max-sessions",
                "20000",
                "--max-sessions-per-ip",
                "20000",
                "--connects-per-ip",
                "1000000",
                "--connects-per-destination",
                "1000000",
                "--connections-per-destination",
                "1000000",
                "--idle-timeout",
                "600",
                "--session-lifetime",
                "3600",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            spawn_bridge(bin, idle, &limits).map(|(p, a)| (p, a, Peer::Bridge))
        }
        (None, Some(bin)) => spawn_websockify(bin, idle, &args.websockify_args).map(|(p, a)| (p, a, Peer::Websockify)),
        (None, None) => unreachable!("clap requires one"),
    };
    let (mut server, addr, peer) = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bridge-idle: {e}");
            return ExitCode::from(1);
        }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = memory(server.pid());
    let t0 = Instant::now();
    let deadline = Duration::from_secs(args.timeout);
    let cap_kib = args.max_server_mib * 1024;

    let mut open: Vec<Session> = Vec::with_capacity(sessions);
    let mut failures = 0usize;
    let mut first_failure = None;
    let mut stopped = "all_open";
    let mut attempts = futures_util::stream::iter(0..sessions)
        .map(|_| Session::open(peer, addr, idle, Duration::from_secs(30)))
        .buffer_unordered(args.concurrency.max(1));
    while let Some(result) = attempts.next().await {
        match result {
            Ok(s) => open.push(s),
            Err(e) => {
                failures += 1;
                first_failure.get_or_insert(e);
                if failures >= 100 {
                    stopped = "too_many_failures";
                    break;
                }
            }
        }
        if open.len().is_multiple_of(100) && !open.is_empty() {
            let now = memory(server.pid());
            if now.tree_pss_kib.saturating_sub(before.tree_pss_kib) > cap_kib {
                stopped = "memory_cap";
                break;
            }
            if server.exited().is_some() {
                stopped = "server_exited";
                break;
            }
        }
        if t0.elapsed() > deadline {
            stopped = "timeout";
            break;
        }
    }
    drop(attempts);
    let open_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let after = memory(server.pid());
    // Are they all still there? The bridge would have closed idle ones with an event.
    let alive = server.exited().is_none();

    let n = open.len();
    let grew = after.tree_pss_kib.saturating_sub(before.tree_pss_kib);
    let root_grew = after.root_rss_kib.saturating_sub(before.root_rss_kib);
    let per = if n > 0 { grew as f64 / n as f64 } else { f64::NAN };
    let name = if peer == Peer::Bridge {
        "ws-bridge".to_string()
    } else {
        format!("websockify {}", args.websockify_args.join(" "))
    };
    println!(
        "{}: {n} idle sessions open (of {} asked, {failures} failed, {open_secs:.1} s to open; {stopped})",
        name.trim(),
        args.sessions
    );
    print_memory("before", &before);
    print_memory("after", &after);
    println!(
        "grew by {:.1} MiB (Pss, whole process tree; root VmRSS grew {:.1} MiB): {per:.1} KiB per idle session",
        grew as f64 / 1024.0,
        root_grew as f64 / 1024.0
    );
    if let Some(e) = &first_failure {
        println!("first failure: {e}");
    }
    if !alive {
        println!("the server exited during the measurement");
    }
    let fields: Vec<(String, String)> = vec![
        ("label".into(), args.label.clone()),
        ("sessions".into(), n.to_string()),
        ("asked".into(), args.sessions.to_string()),
        ("failed".into(), failures.to_string()),
        ("stopped".into(), stopped.to_string()),
        ("open_secs".into(), format!("{open_secs:.1}")),
        ("processes".into(), after.processes.to_string()),
        ("before_kib".into(), before.tree_pss_kib.to_string()),
        ("after_kib".into(), after.tree_pss_kib.to_string()),
        ("grew_kib".into(), grew.to_string()),
        ("root_rss_grew_kib".into(), root_grew.to_string()),
        ("per_session_kib".into(), format!("{per:.2}")),
        ("server_alive".into(), alive.to_string()),
    ];
    println!("{}", result_line(&fields));

    // Close everything: the clients, then (dropping it) the server.
    let closing = futures_util::stream::iter(open).for_each_concurrent(256, |s| s.close());
    let _ = tokio::time::timeout(Duration::from_secs(60), closing).await;
    drop(server);
    ExitCode::SUCCESS
}

fn print_memory(when: &str, m: &Memory) {
    println!(
        "  {when:<6} {:>4} process(es), Pss {:>9.1} MiB, RSS {:>9.1} MiB (root VmRSS {:.1} MiB)",
        m.processes,
        m.tree_pss_kib as f64 / 1024.0,
        m.tree_rss_kib as f64 / 1024.0,
        m.root_rss_kib as f64 / 1024.0
    );
}

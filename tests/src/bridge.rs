//! A real `ws-bridge serve` process on loopback, for tests that go through
//! the bridge as a page or an API client would.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running bridge; killed when dropped.
pub struct Bridge {
    child: Child,
    pub addr: SocketAddr,
    /// The lab's closed and open servers, when started with `--lab`.
    pub lab: Option<(SocketAddr, SocketAddr)>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Bridge {
    /// Starts `bin serve --listen 127.0.0.1:0 ARGS…` and waits until it says
    /// where it listens.
    pub fn spawn(bin: impl AsRef<Path>, args: &[&str]) -> Bridge {
        let mut child = Command::new(bin.as_ref())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ws-bridge serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = stderr_text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("ws-bridge serve did not start: {}", stderr_text.lock().unwrap())
        });
        let addr = first
            .strip_prefix("relaycheck is serving http://")
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let lab = if args.contains(&"--lab") {
            let line = rx.recv_timeout(Duration::from_secs(5)).expect("lab line");
            let addrs: Vec<SocketAddr> =
                line.split_whitespace().filter_map(|w| w.trim_end_matches(',').parse().ok()).collect();
            assert_eq!(addrs.len(), 2, "unexpected lab line: {line}");
            Some((addrs[0], addrs[1]))
        } else {
            None
        };
        Bridge { child, addr, lab, stderr: stderr_text }
    }

    /// The origin the page is served from: what a browser sends as Origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the bridge logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET on loopback: status code and body.
pub fn http_get(url: &str) -> (u16, String) {
    http_request("GET", url, &[], "")
}

/// `POST url` with a JSON body, as an API client sends it: status and body.
pub fn http_post_json(url: &str, json: &str) -> (u16, String) {
    http_request("POST", url, &[("Content-Type", "application/json")], json)
}

/// One HTTP/1.1 request on loopback with extra `headers` (a `Host` header
/// among them replaces the default): status code and body.
pub fn http_request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to bridge");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let body = match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.to_ascii_lowercase().contains("transfer-encoding: chunked") => dechunk(body),
        Some((_, body)) => body.to_string(),
        None => String::new(),
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

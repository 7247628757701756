//! A private `redis-server` on a free loopback port, persistence off,
//! killed when dropped: the shared store of a fleet of bridges in tests.
//! Debian's `redis-server` package (installed by `scripts/setup test`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    child: Option<Child>,
    pub addr: SocketAddr,
}

impl Redis {
    /// Starts a server on a free loopback port and waits until it answers.
    pub fn start() -> Redis {
        Redis::start_on(crate::net::free_port())
    }

    /// Starts a server on `port` (again, after [`Redis::kill`]).
    pub fn start_on(port: u16) -> Redis {
        let mut redis = Redis { child: None, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`, as `serve --redis` takes it.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.addr.port().to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian's redis-server package; scripts/setup test installs it)");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on {} within 10 s", self.addr);
    }

    /// Whether the server answers PING.
    pub fn ping(&self) -> bool {
        self.command(&["PING"]).is_some_and(|r| r.starts_with("+PONG"))
    }

    /// One command in RESP, its raw reply (for looking inside from a test).
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

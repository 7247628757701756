//! Loopback helpers.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago. Another process may take it
/// before we bind it again; for tests on one machine the window is small.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// Waits until a server on `addr` sends a line starting with `220`, or
/// returns why not after `within`.
pub fn wait_for_banner(addr: SocketAddr, within: Duration) -> Result<String, String> {
    let until = Instant::now() + within;
    let mut last = String::from("never tried");
    while Instant::now() < until {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                match BufReader::new(stream).read_line(&mut line) {
                    Ok(_) if line.starts_with("220") => return Ok(line.trim_end().to_string()),
                    Ok(_) => last = format!("unexpected banner {line:?}"),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no SMTP banner on {addr} within {within:?}: {last}"))
}

/// Waits until something accepts connections on `addr`, or returns why not
/// after `within` (for servers that say nothing first, such as TLS from the
/// first byte).
pub fn wait_for_port(addr: SocketAddr, within: Duration) -> Result<(), String> {
    let until = Instant::now() + within;
    let mut last = String::from("never tried");
    while Instant::now() < until {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing accepts connections on {addr} within {within:?}: {last}"))
}

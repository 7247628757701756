//! Loopback helpers.

use std::fs::{self, File, TryLockError};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where [`free_port`] keeps one lock file per port it handed out.
const PORT_LOCKS: &str = "relaycheck-ports";

/// The port locks this process holds: released when it exits, however it
/// exits, as flock(2) locks are.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// A loopback port that was free a moment ago and that no other caller of
/// `free_port` on this machine holds, in this process or another, until
/// this process exits.
///
/// Binding port 0 alone is not enough: the kernel may hand the same port to
/// two test processes in turn (each binds, lets go, and starts a server on
/// it), and Postfix's master binds with SO_REUSEPORT, so two Postfix
/// fixtures on one port both start and split the connections between them;
/// a test then talks to the other test's server (as a TLS test once did, and
/// saw the wrong certificate). A lock file per port, flock'ed for the life
/// of the process, rules that out among fixtures.
pub fn free_port() -> u16 {
    let dir = std::env::temp_dir().join(PORT_LOCKS);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    loop {
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0");
        let path = dir.join(port.to_string());
        let lock = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        match lock.try_lock() {
            Ok(()) => {
                HELD.lock().unwrap_or_else(|e| e.into_inner()).push(lock);
                return port;
            }
            // Another fixture holds it: ask the kernel for another.
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => panic!("lock {}: {e}", path.display()),
        }
    }
}

/// How many sockets listen on `addr` in this network namespace (from
/// /proc/net/tcp or tcp6). A server that shares its address with another,
/// as SO_REUSEPORT allows, answers only some of the connections: fixtures
/// check that theirs is the only one.
pub fn listeners_on(addr: SocketAddr) -> usize {
    // The kernel prints each 32-bit word of the address as it lies in
    // memory (little-endian here), in hex, then the port.
    let words = |octets: &[u8]| -> String {
        octets.chunks(4).map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]))).collect()
    };
    let (table, ip) = match addr.ip() {
        IpAddr::V4(ip) => ("/proc/net/tcp", words(&ip.octets())),
        IpAddr::V6(ip) => ("/proc/net/tcp6", words(&ip.octets())),
    };
    let local = format!("{ip}:{:04X}", addr.port());
    let table = fs::read_to_string(table).unwrap_or_else(|e| panic!("read {table}: {e}"));
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let (addr, state) = (fields.next(), fields.nth(1));
            // 0A is TCP_LISTEN.
            addr == Some(local.as_str()) && state == Some("0A")
        })
        .count()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_not_handed_out_twice_and_their_listeners_are_counted() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "free_port repeated a port: {ports:?}");

        let port = ports[0];
        // On 127.0.0.1 and on another loopback address (the benchmarks'
        // Postfix listens on 127.0.0.25), each counted on its own.
        for ip in ["127.0.0.1", "127.0.0.25"] {
            let addr = SocketAddr::new(ip.parse().unwrap(), port);
            assert_eq!(listeners_on(addr), 0);
            let listener = TcpListener::bind(addr).expect("bind a port free_port gave");
            assert_eq!(listeners_on(addr), 1, "{addr}");
            drop(listener);
            assert_eq!(listeners_on(addr), 0);
        }
        if let Ok(listener) = TcpListener::bind(("::1", port)) {
            let addr = listener.local_addr().unwrap();
            assert_eq!(listeners_on(addr), 1, "{addr}");
        }
    }
}

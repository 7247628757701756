//! A small authoritative DNS server on loopback, for tests of name resolution.
//!
//! [`DnsServer::start`] serves the records it is given, one zone per top-level
//! label (`test.` for `a.test`, and for `1.0.0.127.rbl.test`), on UDP and TCP
//! at the same port of 127.0.0.1. [`DnsServer::start_at`] serves them at an
//! address chosen by the test, and [`DnsServer::start_on_port_53`] on port 53
//! of a loopback address of this process's own ([`port_53_address`]), for
//! programs that read `/etc/resolv.conf`, which names a server but no port
//! (see [`crate::postfix::Builder::resolver`]). Names under a served zone that have no records get `NXDOMAIN`;
//! names outside every served zone get `REFUSED`, as from any authoritative
//! server that is not a resolver. The special-use zone `invalid.` (RFC 6761)
//! is always served, empty: every name in it is `NXDOMAIN`, as a resolver
//! says of it (a mail server looking up relaycheck's greeting,
//! `relaycheck.invalid`, hears "no such host", not a failure to retry). It never asks another server anything.
//!
//! The server runs on its own thread with its own Tokio runtime, so sync tests
//! and `#[tokio::test]`s (of either flavour) can use it alike. It stops when
//! the [`DnsServer`] is dropped.
//!
//! The addresses it hands out are only data: nothing here connects to them.
//! Prefer the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//! 2001:db8::/32) for anything a test should never reach.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::net::free_port;

use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::rr::rdata::{A, AAAA, MX, PTR, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;

/// Time to live of every record served, in seconds (also the negative TTL).
const TTL: u32 = 60;

/// One resource record of the served zones, as a test writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsRecord {
    /// `name A addr`
    A { name: String, addr: Ipv4Addr },
    /// `name AAAA addr`
    Aaaa { name: String, addr: Ipv6Addr },
    /// `name MX preference exchange`; an exchange of `"."` is a null MX (RFC 7505).
    Mx { name: String, preference: u16, exchange: String },
    /// `name TXT "text"` (one character-string; a blocklist's reason).
    Txt { name: String, text: String },
    /// `name PTR target`: an address's reverse name.
    Ptr { name: String, target: String },
}

impl DnsRecord {
    /// `name A addr`. Panics if `addr` is not an IPv4 address.
    pub fn a(name: &str, addr: &str) -> DnsRecord {
        DnsRecord::A { name: name.to_string(), addr: addr.parse().expect("an IPv4 address") }
    }

    /// `name AAAA addr`. Panics if `addr` is not an IPv6 address.
    pub fn aaaa(name: &str, addr: &str) -> DnsRecord {
        DnsRecord::Aaaa { name: name.to_string(), addr: addr.parse().expect("an IPv6 address") }
    }

    /// `name MX preference exchange`.
    pub fn mx(name: &str, preference: u16, exchange: &str) -> DnsRecord {
        DnsRecord::Mx { name: name.to_string(), preference, exchange: exchange.to_string() }
    }

    /// `name MX 0 .`: the domain accepts no mail (RFC 7505).
    pub fn null_mx(name: &str) -> DnsRecord {
        DnsRecord::mx(name, 0, ".")
    }

    /// `name TXT "text"`, e.g. the reason a blocklist gives for a listing
    /// (RFC 5782). Panics if `text` is longer than a character-string's 255 bytes.
    pub fn txt(name: &str, text: &str) -> DnsRecord {
        assert!(text.len() <= 255, "a TXT character-string holds at most 255 bytes");
        DnsRecord::Txt { name: name.to_string(), text: text.to_string() }
    }

    /// `d.c.b.a.in-addr.arpa PTR target`: the reverse name of the IPv4
    /// address `addr` (`a.b.c.d`). Panics if `addr` is not one.
    pub fn ptr(addr: &str, target: &str) -> DnsRecord {
        let addr: Ipv4Addr = addr.parse().expect("an IPv4 address");
        let [a, b, c, d] = addr.octets();
        DnsRecord::Ptr { name: format!("{d}.{c}.{b}.{a}.in-addr.arpa"), target: target.to_string() }
    }

    fn name(&self) -> &str {
        match self {
            DnsRecord::A { name, .. }
            | DnsRecord::Aaaa { name, .. }
            | DnsRecord::Mx { name, .. }
            | DnsRecord::Txt { name, .. }
            | DnsRecord::Ptr { name, .. } => name,
        }
    }

    fn to_record(&self) -> Record {
        let name = fqdn(self.name());
        let data = match self {
            DnsRecord::A { addr, .. } => RData::A(A(*addr)),
            DnsRecord::Aaaa { addr, .. } => RData::AAAA(AAAA(*addr)),
            DnsRecord::Mx { preference, exchange, .. } => RData::MX(MX::new(*preference, fqdn(exchange))),
            DnsRecord::Txt { text, .. } => RData::TXT(TXT::new(vec![text.clone()])),
            DnsRecord::Ptr { target, .. } => RData::PTR(PTR(fqdn(target))),
        };
        Record::from_rdata(name, TTL, data)
    }
}

/// The zone the resolver tests use:
///
/// ```text
/// mx1.relay.test  A     192.0.2.10
/// mx2.relay.test  AAAA  2001:db8::25
/// a.test          MX    10 mx1.relay.test
/// a.test          MX    20 mx2.relay.test
/// both.test       A     192.0.2.20
/// both.test       AAAA  2001:db8::20
/// private.test    A     10.0.0.5
/// loop.test       A     127.0.0.1
/// nomx.test       A     198.51.100.7      (no MX: an implicit MX)
/// nullmx.test     MX    0 .               (accepts no mail)
/// ```
pub fn example_zone() -> Vec<DnsRecord> {
    vec![
        DnsRecord::a("mx1.relay.test", "192.0.2.10"),
        DnsRecord::aaaa("mx2.relay.test", "2001:db8::25"),
        DnsRecord::mx("a.test", 10, "mx1.relay.test"),
        DnsRecord::mx("a.test", 20, "mx2.relay.test"),
        DnsRecord::a("both.test", "192.0.2.20"),
        DnsRecord::aaaa("both.test", "2001:db8::20"),
        DnsRecord::a("private.test", "10.0.0.5"),
        DnsRecord::a("loop.test", "127.0.0.1"),
        DnsRecord::a("nomx.test", "198.51.100.7"),
        DnsRecord::null_mx("nullmx.test"),
    ]
}

/// A loopback address of this process's own, port 53: `127.53.X.Y` where
/// `X.Y` are the two bytes of a port [`free_port`] handed out, so that no
/// other caller on this machine (thread or process) gets the same address
/// while this process lives. For a DNS server that a resolver library must
/// find through `/etc/resolv.conf`, which cannot name a port.
pub fn port_53_address() -> SocketAddr {
    let [x, y] = free_port().to_be_bytes();
    SocketAddr::from(([127, 53, x, y], 53))
}

/// A command that runs `program` in a mount namespace of its own where
/// `/etc/resolv.conf` is `resolv_conf`, written here to name `dns` alone:
/// for a mail server that resolves through the C library, which reads no
/// other file and cannot be given a port (so `dns` is on port 53 of a
/// loopback address, as [`DnsServer::start_on_port_53`]'s). The caller adds
/// `program`'s arguments. util-linux `unshare` makes the namespace and a
/// private bind mount; the namespace lives as long as a process in it does
/// (a daemon `program` forks keeps it), and nothing else on the machine
/// sees it. Names in /etc/hosts still come from there.
pub fn resolving_at(dns: SocketAddr, resolv_conf: &Path, program: impl AsRef<std::ffi::OsStr>) -> io::Result<Command> {
    assert!(dns.ip().is_loopback(), "fixtures resolve through loopback only, not {dns}");
    assert_eq!(dns.port(), 53, "/etc/resolv.conf names a DNS server without a port: it must listen on 53");
    std::fs::write(resolv_conf, format!("# relaycheck test fixture: asks {dns} only\nnameserver {}\n", dns.ip()))?;
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/resolv.conf && exec "$@""#)
        .arg(resolv_conf)
        .arg(program);
    Ok(command)
}

/// A running DNS server on loopback, UDP and TCP on the same port.
pub struct DnsServer {
    /// Where it listens, for UDP and TCP alike.
    pub addr: SocketAddr,
    queries: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Starts serving `records`. Panics if a name is not a valid domain name or
    /// no loopback port can be had; the sockets are bound when this returns, so
    /// queries sent right away are answered.
    pub fn start(records: impl IntoIterator<Item = DnsRecord>) -> DnsServer {
        let (udp, tcp) = bind_same_port().expect("bind a UDP and a TCP socket on one loopback port");
        Self::serve_on(udp, tcp, records)
    }

    /// Starts serving `records` on UDP and TCP at `addr`, a loopback address.
    /// Panics if either cannot be bound.
    pub fn start_at(addr: SocketAddr, records: impl IntoIterator<Item = DnsRecord>) -> DnsServer {
        assert!(addr.ip().is_loopback(), "the DNS fixture listens on loopback only, not {addr}");
        let bind = || -> io::Result<(UdpSocket, TcpListener)> {
            let (udp, tcp) = (UdpSocket::bind(addr)?, TcpListener::bind(addr)?);
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            Ok((udp, tcp))
        };
        let (udp, tcp) = bind().unwrap_or_else(|e| panic!("bind UDP and TCP on {addr}: {e}"));
        Self::serve_on(udp, tcp, records)
    }

    /// Starts serving `records` on port 53 of [`port_53_address`].
    pub fn start_on_port_53(records: impl IntoIterator<Item = DnsRecord>) -> DnsServer {
        Self::start_at(port_53_address(), records)
    }

    fn serve_on(udp: UdpSocket, tcp: TcpListener, records: impl IntoIterator<Item = DnsRecord>) -> DnsServer {
        let catalog = catalog(records.into_iter().collect());
        let addr = udp.local_addr().expect("local address");
        let queries = Arc::new(Mutex::new(Vec::new()));
        let handler = Logging { catalog, queries: queries.clone() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("dns-fixture-{addr}"))
            .spawn(move || serve(handler, udp, tcp, stopped))
            .expect("spawn the DNS server's thread");
        DnsServer { addr, queries, stop: Some(stop), thread: Some(thread) }
    }

    /// The questions received so far, in order, as `"name TYPE"` with the
    /// name as asked (lowercased, fully qualified), e.g. `"a.test. MX"`.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fqdn(name: &str) -> Name {
    let mut name = Name::from_ascii(name).unwrap_or_else(|e| panic!("{name:?} is not a domain name: {e}"));
    name.set_fqdn(true);
    name
}

/// One in-memory zone per top-level label of the records' names.
fn catalog(records: Vec<DnsRecord>) -> Catalog {
    let mut zones: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
    zones.insert(fqdn("invalid"), Vec::new());
    for record in &records {
        let record = record.to_record();
        assert!(record.name.num_labels() >= 2, "{} must be below a top-level domain", record.name);
        let origin = record.name.trim_to(1);
        zones.entry(origin).or_default().push(record);
    }
    let mut catalog = Catalog::new();
    for (origin, records) in zones {
        let mut zone =
            InMemoryZoneHandler::<TokioRuntimeProvider>::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            Name::from_ascii("ns").and_then(|n| n.append_domain(&origin)).expect("ns name"),
            Name::from_ascii("hostmaster").and_then(|n| n.append_domain(&origin)).expect("hostmaster name"),
            1,
            3600,
            600,
            86400,
            TTL,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)), 1), "SOA for {origin}");
        for record in records {
            let text = record.to_string();
            assert!(zone.upsert_mut(record, 1), "the zone {origin} refused {text}");
        }
        let zone: Arc<dyn ZoneHandler> = Arc::new(zone);
        catalog.upsert(LowerName::new(&origin), vec![zone]);
    }
    catalog
}

/// Binds UDP on 127.0.0.1:0, then TCP on the port it got; retries when that
/// TCP port is taken.
fn bind_same_port() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok((udp, tcp));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

fn serve(handler: Logging, udp: UdpSocket, tcp: TcpListener, stopped: tokio::sync::oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let mut server = Server::new(handler);
        server.register_socket(tokio::net::UdpSocket::from_std(udp).expect("register the UDP socket"));
        server.register_listener(
            tokio::net::TcpListener::from_std(tcp).expect("register the TCP listener"),
            Duration::from_secs(5),
            32,
        );
        tokio::select! {
            _ = stopped => {}
            result = server.block_until_done() => {
                if let Err(e) = result {
                    eprintln!("dns fixture: server stopped: {e}");
                }
            }
        }
    });
    // Ends the server's tasks and closes its sockets, open TCP connections included.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// The catalog, plus a log of the questions asked.
struct Logging {
    catalog: Catalog,
    queries: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl RequestHandler for Logging {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, response_handle: R) -> ResponseInfo {
        if let Ok(info) = request.request_info() {
            let line = format!("{} {}", info.query.name(), info.query.query_type());
            self.queries.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
        self.catalog.handle_request::<R, T>(request, response_handle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::{Message, Query, ResponseCode};
    use hickory_server::proto::rr::RecordType;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn question(name: &str, rtype: RecordType) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(fqdn(name), rtype));
        message.to_vec().expect("encode")
    }

    fn ask_udp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        socket.send_to(&question(name, rtype), server).expect("send");
        let mut buf = [0u8; 4096];
        let (n, _) = socket.recv_from(&mut buf).expect("an answer over UDP");
        Message::from_vec(&buf[..n]).expect("decode")
    }

    fn ask_tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
        let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let q = question(name, rtype);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        stream.write_all(&framed).expect("send");
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).expect("an answer over TCP");
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut buf).expect("the whole answer");
        Message::from_vec(&buf).expect("decode")
    }

    fn answers(message: &Message) -> Vec<String> {
        message.answers.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn answers_a_aaaa_and_mx_over_udp() {
        let server = DnsServer::start(example_zone());
        assert!(server.addr.ip().is_loopback());

        let a = ask_udp(server.addr, "mx1.relay.test", RecordType::A);
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert!(a.metadata.authoritative);
        assert_eq!(answers(&a), ["192.0.2.10"]);

        let aaaa = ask_udp(server.addr, "mx2.relay.test", RecordType::AAAA);
        assert_eq!(answers(&aaaa), ["2001:db8::25"]);

        let mut mx = answers(&ask_udp(server.addr, "a.test", RecordType::MX));
        mx.sort();
        assert_eq!(mx, ["10 mx1.relay.test.", "20 mx2.relay.test."]);

        assert_eq!(answers(&ask_udp(server.addr, "nullmx.test", RecordType::MX)), ["0 ."]);
        assert_eq!(server.queries(), ["mx1.relay.test. A", "mx2.relay.test. AAAA", "a.test. MX", "nullmx.test. MX"]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_missing_types_are_empty() {
        let server = DnsServer::start(example_zone());
        let nx = ask_udp(server.addr, "nowhere.test", RecordType::A);
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert!(nx.answers.is_empty());

        let nodata = ask_udp(server.addr, "nomx.test", RecordType::MX);
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
    }

    #[test]
    fn names_in_invalid_do_not_exist_and_other_zones_are_refused() {
        let server = DnsServer::start([DnsRecord::a("x.example", "192.0.2.1")]);
        let invalid = ask_udp(server.addr, "relaycheck.invalid", RecordType::A);
        assert_eq!(invalid.metadata.response_code, ResponseCode::NXDomain);
        let elsewhere = ask_udp(server.addr, "a.test", RecordType::A);
        assert_eq!(elsewhere.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn answers_over_tcp_on_the_same_port() {
        let server = DnsServer::start(example_zone());
        let a = ask_tcp(server.addr, "nomx.test", RecordType::A);
        assert_eq!(answers(&a), ["198.51.100.7"]);
    }

    #[test]
    fn stops_listening_when_dropped() {
        let server = DnsServer::start([DnsRecord::a("x.example", "192.0.2.1")]);
        let addr = server.addr;
        assert_eq!(answers(&ask_tcp(addr, "x.example", RecordType::A)), ["192.0.2.1"]);
        drop(server);
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(), "still listening on {addr}");
    }

    #[test]
    fn serves_a_blocklist_on_port_53_of_an_address_of_its_own() {
        // RFC 5782: 127.0.0.1 listed in rbl.test, with a reason in TXT; the
        // reversed octets sit in the zone of the top-level label, test.
        let server = DnsServer::start_on_port_53([
            DnsRecord::a("1.0.0.127.rbl.test", "127.0.0.2"),
            DnsRecord::txt("1.0.0.127.rbl.test", "listed for relaycheck's tests"),
            DnsRecord::a("x.example", "192.0.2.1"),
        ]);
        let ip = server.addr.ip().to_string();
        assert!(ip.starts_with("127.53.") && server.addr.port() == 53, "{}", server.addr);
        let listed = ask_udp(server.addr, "1.0.0.127.rbl.test", RecordType::A);
        assert_eq!(listed.metadata.response_code, ResponseCode::NoError);
        assert_eq!(answers(&listed), ["127.0.0.2"]);
        assert_eq!(
            answers(&ask_tcp(server.addr, "1.0.0.127.rbl.test", RecordType::TXT)),
            ["listed for relaycheck's tests"]
        );
        let unlisted = ask_udp(server.addr, "2.0.0.127.rbl.test", RecordType::A);
        assert_eq!(unlisted.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(answers(&ask_udp(server.addr, "x.example", RecordType::A)), ["192.0.2.1"]);

        // Another server in this process gets another address.
        let other = DnsServer::start_on_port_53([DnsRecord::a("x.example", "192.0.2.2")]);
        assert_ne!(other.addr, server.addr);
        assert_eq!(answers(&ask_udp(other.addr, "x.example", RecordType::A)), ["192.0.2.2"]);
    }

    #[tokio::test]
    async fn works_inside_an_async_test() {
        let server = DnsServer::start(example_zone());
        let addr = server.addr;
        let a = tokio::task::spawn_blocking(move || ask_udp(addr, "loop.test", RecordType::A)).await.expect("join");
        assert_eq!(answers(&a), ["127.0.0.1"]);
        drop(server);
    }
}

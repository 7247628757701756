//! The bridge's destination policy, through the websocket: every refusal
//! is an `error` event with a stable code and a sentence, then a close.

use std::time::Duration;

use relay_core::{BridgeEvent, ErrorCode};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::dns::{example_zone, DnsServer};
use relaycheck_tests::ws::{Frame, WsSession};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

async fn refusal(bridge: &Bridge, host: &str, port: u16) -> (ErrorCode, String) {
    let mut ws = WsSession::open(bridge.addr, host, port, Some(&bridge.origin())).await;
    let event = ws.next_event(Duration::from_secs(10)).await;
    let BridgeEvent::Error { code, message } = event else { panic!("{host}:{port} was not refused: {event:?}") };
    assert!(matches!(ws.next(Duration::from_secs(5)).await, Some(Frame::Closed)), "no close after the error");
    (code, message)
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_destinations_are_refused_in_words() {
    let dns = DnsServer::start(example_zone());
    // Rate limits high enough for a table of refusals from one client.
    let bridge = Bridge::spawn(BIN, &["--resolver", &dns.addr.to_string(), "--connects-per-ip", "1000"]);
    let table: &[(&str, u16, ErrorCode, &str)] = &[
        ("127.0.0.1", 25, ErrorCode::AddressDenied, "loopback"),
        ("10.1.2.3", 25, ErrorCode::AddressDenied, "private"),
        ("172.16.0.1", 587, ErrorCode::AddressDenied, "private"),
        ("192.168.1.1", 465, ErrorCode::AddressDenied, "private"),
        ("169.254.169.254", 25, ErrorCode::AddressDenied, "link-local"),
        ("100.64.0.1", 25, ErrorCode::AddressDenied, "carrier-grade NAT"),
        ("0.0.0.0", 25, ErrorCode::AddressDenied, "unspecified"),
        ("224.0.0.1", 25, ErrorCode::AddressDenied, "multicast"),
        ("240.0.0.1", 25, ErrorCode::AddressDenied, "reserved"),
        ("192.0.2.1", 25, ErrorCode::AddressDenied, "documentation"),
        ("[::1]", 25, ErrorCode::AddressDenied, "loopback"),
        ("[fd00::1]", 25, ErrorCode::AddressDenied, "unique-local"),
        ("[fe80::1]", 25, ErrorCode::AddressDenied, "link-local"),
        ("[::ffff:10.0.0.1]", 25, ErrorCode::AddressDenied, "IPv4-mapped"),
        ("[64:ff9b::a00:1]", 25, ErrorCode::AddressDenied, "NAT64"),
        ("[2002:a00:1::1]", 25, ErrorCode::AddressDenied, "6to4"),
        ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", 25, ErrorCode::AddressDenied, "Teredo"),
        // A name whose address is private, looked up on the loopback DNS server.
        // The sentence names the kind of address, never the address (finding 6).
        ("private.test", 25, ErrorCode::AddressDenied, "private address"),
        ("loop.test", 25, ErrorCode::AddressDenied, "loopback address"),
        ("nowhere.test", 25, ErrorCode::UnknownHost, "does not exist"),
        ("8.8.8.8", 22, ErrorCode::PortNotAllowed, "25, 465 and 587"),
        ("", 25, ErrorCode::BadRequest, "host"),
    ];
    for &(host, port, want, words) in table {
        let (code, message) = refusal(&bridge, host, port).await;
        assert_eq!(code, want, "{host}:{port}: {message}");
        assert!(message.contains(words), "{host}:{port}: {message:?} should mention {words:?}");
        assert!(message.ends_with('.') && message.chars().next().unwrap().is_uppercase(), "not a sentence: {message}");
        assert!(
            !message.contains("10.0.0.5") && !message.contains("127.0.0.1") || host.starts_with("127"),
            "{message}"
        );
    }
}

/// Finding 9: a name with many addresses costs at most four connection
/// attempts, within one connect deadline.
#[tokio::test(flavor = "multi_thread")]
async fn at_most_four_addresses_are_tried_for_one_connection() {
    use relaycheck_tests::dns::DnsRecord;
    let addresses: Vec<String> = (2..=13).map(|i| format!("127.0.0.{i}")).collect();
    let dns = DnsServer::start(addresses.iter().map(|a| DnsRecord::a("many.test", a)).collect::<Vec<_>>());
    // Nothing listens on this port: every attempt is refused at once.
    let port = relaycheck_tests::net::free_port();
    let target = format!("many.test:{port}");
    let bridge = Bridge::spawn(BIN, &["--resolver", &dns.addr.to_string(), "--allow-target", &target]);
    let (code, message) = refusal(&bridge, "many.test", port).await;
    assert_eq!(code, ErrorCode::ConnectFailed, "{message}");
    let tried = addresses.iter().filter(|a| message.contains(&format!("{a}:"))).count();
    assert_eq!(tried, 4, "{message}");
    assert!(message.contains("8 more addresses not tried"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_target_opens_exactly_one_host_and_port() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (closed, _) = bridge.lab.unwrap();
    // The lab's own port is open…
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", closed.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(Duration::from_secs(5)).await, BridgeEvent::Connected { .. }));
    // …the next port on the same address is not.
    let (code, _) = refusal(&bridge, "127.0.0.1", closed.port().wrapping_add(1)).await;
    assert!(matches!(code, ErrorCode::PortNotAllowed | ErrorCode::AddressDenied), "{code:?}");
}

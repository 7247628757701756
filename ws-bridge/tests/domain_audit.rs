//! The domain audit (`ws-bridge check DOMAIN`): every MX host at every
//! address, IPv4 and IPv6, against the project's DNS fixture and scripted
//! mail servers on loopback only (127.0.0.1 and `::1`). The DNS fixture
//! hands out nothing but loopback addresses, so nothing leaves the machine.

use std::net::{Ipv6Addr, SocketAddr};
use std::process::{Command, Output};

use relaycheck_tests::bridge::{http_post_json, Bridge};
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::hostile::{Answer, HostileServer, Script};
use serde_json::Value;

/// A closed server on 127.0.0.1 and, at the same port, `v6` on `[::1]`: a
/// dual-stack mail server whose IPv6 listener may have its own rules.
fn dual_stack(v6: fn() -> Script) -> (HostileServer, HostileServer) {
    for _ in 0..20 {
        let v4 = HostileServer::start(|_| Script::closed_relay());
        let on_v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), v4.port());
        match HostileServer::start_on(on_v6, move |_| v6()) {
            Ok(server) => return (v4, server),
            Err(e) => eprintln!("[::1]:{} is taken ({e}); trying another port", v4.port()),
        }
    }
    panic!("no port free on both 127.0.0.1 and [::1] (is ::1 configured on lo?)");
}

fn open_relay() -> Script {
    Script::closed_relay().banner("220 mx6.dual.test ESMTP open").relays_for(|_| true)
}

/// The zone of `two.test`: two MX hosts, the second dual-stack.
fn two_mx() -> Vec<DnsRecord> {
    vec![
        DnsRecord::mx("two.test", 10, "mx1.two.test"),
        DnsRecord::mx("two.test", 20, "mx2.two.test"),
        DnsRecord::a("mx1.two.test", "127.0.0.1"),
        DnsRecord::a("mx2.two.test", "127.0.0.1"),
        DnsRecord::aaaa("mx2.two.test", "::1"),
    ]
}

fn check(dns: &DnsServer, port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ws-bridge"))
        .arg("check")
        .args(args)
        .args(["--port", &port.to_string(), "--resolver", &dns.addr.to_string(), "--timeout", "10"])
        .output()
        .expect("run ws-bridge")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn targets(report: &Value) -> Vec<(String, String, Value)> {
    report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| (t["mx_host"].as_str().unwrap().to_string(), t["address"].to_string(), t["verdict"].clone()))
        .collect()
}

#[test]
fn loopback_has_ipv6() {
    // The tests below need ::1; say so plainly if this machine has none.
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("::1 must be usable on this machine");
}

#[test]
fn an_open_relay_on_the_backup_mx_ipv6_address_makes_the_domain_open() {
    let (v4, v6) = dual_stack(open_relay);
    let dns = DnsServer::start(two_mx());
    let out = check(&dns, v4.port(), &["two.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "exit code follows the domain's verdict: {report:#}");
    assert_eq!(report["domain"], "two.test");
    assert_eq!(report["verdict"], "open");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.starts_with("mx2.two.test [::1] is an open relay"), "{reason}");
    let t = targets(&report);
    assert_eq!(
        t,
        [
            ("mx1.two.test".into(), "\"127.0.0.1\"".into(), "closed".into()),
            ("mx2.two.test".into(), "\"127.0.0.1\"".into(), "closed".into()),
            ("mx2.two.test".into(), "\"::1\"".into(), "open".into()),
        ]
    );
    let first = &report["targets"][0];
    assert_eq!(first["preference"], 10);
    assert_eq!(first["server"]["address"], "127.0.0.1", "each target is the single-server report");
    assert!(first["probes"].as_array().is_some_and(|p| !p.is_empty()));
    assert_eq!(report["targets"][2]["server"]["address"], "::1");
    assert!(!v6.connections().is_empty(), "the IPv6 listener was audited");

    // The table: one row per host × address, then the domain's verdict.
    let out = check(&dns, v4.port(), &["two.test"]);
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("mx")).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[2].contains("::1") && rows[2].contains("open") && rows[2].contains("mx6.dual.test"), "{text}");
    assert!(rows[0].contains("closed") && rows[0].contains("Postfix"), "{text}");
    assert!(text.contains("Domain:  OPEN RELAY: mx2.two.test [::1] is an open relay"), "{text}");
}

#[test]
fn a_domain_closed_at_every_address_is_closed() {
    let (v4, _v6) = dual_stack(Script::closed_relay);
    let dns = DnsServer::start(two_mx());
    let out = check(&dns, v4.port(), &["two.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["verdict"], "closed");
    assert!(report["reason"].as_str().unwrap().starts_with("Every one of the 3 addresses audited is closed"));
    assert_eq!(targets(&report).len(), 3);
}

#[test]
fn a_host_is_audited_at_every_address_and_host_forces_it() {
    let (v4, _v6) = dual_stack(open_relay);
    let dns = DnsServer::start(two_mx());
    // mx2.two.test has no MX records: it is audited alone, at both addresses.
    let out = check(&dns, v4.port(), &["mx2.two.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(targets(&report).len(), 2);
    assert!(report["reason"].as_str().unwrap().contains("[::1]"));
    // --host audits two.test itself, which has no address.
    let out = check(&dns, v4.port(), &["two.test", "--host", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    // One address: the single-server report, unchanged.
    let out = check(&dns, v4.port(), &["mx1.two.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(report.get("targets").is_none() && report["server"]["address"] == "127.0.0.1", "{report:#}");
}

#[test]
fn a_null_mx_is_said_in_words() {
    let dns = DnsServer::start([DnsRecord::null_mx("nullmx.test")]);
    let out = check(&dns, 25, &["nullmx.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["verdict"], "closed");
    assert!(report["reason"].as_str().unwrap().contains("accepts no mail: it publishes a null MX record"));
    assert_eq!(report["targets"], serde_json::json!([]));
    let out = check(&dns, 25, &["nullmx.test"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("null MX"));
}

#[test]
fn a_domain_without_mx_is_its_own_implicit_mx() {
    let (v4, _v6) = dual_stack(Script::closed_relay);
    let dns = DnsServer::start([DnsRecord::a("nomx.test", "127.0.0.1"), DnsRecord::aaaa("nomx.test", "::1")]);
    let out = check(&dns, v4.port(), &["nomx.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let notes = report["notes"].to_string();
    assert!(notes.contains("has no MX record") && notes.contains("implicit MX"), "{notes}");
    assert!(report["targets"].as_array().unwrap().iter().all(|t| t["implicit"] == true && t["mx_host"] == "nomx.test"));
    assert_eq!(targets(&report).len(), 2);
}

#[test]
fn an_mx_host_that_does_not_resolve_is_listed_with_the_reason() {
    let v4 = HostileServer::start(|_| Script::closed_relay());
    let dns = DnsServer::start([
        DnsRecord::mx("half.test", 10, "gone.half.test"),
        DnsRecord::mx("half.test", 20, "mx.half.test"),
        DnsRecord::a("mx.half.test", "127.0.0.1"),
    ]);
    let out = check(&dns, v4.port(), &["half.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let gone = &report["targets"][0];
    assert_eq!(gone["mx_host"], "gone.half.test");
    assert!(gone["address"].is_null() && gone.get("verdict").is_none(), "{gone:#}");
    assert!(gone["not_checked"].as_str().unwrap().contains("did not resolve"), "{gone:#}");
    assert!(report["notes"].to_string().contains("gone.half.test does not resolve"), "{report:#}");
    assert_eq!(report["targets"][1]["verdict"], "closed");

    // Nothing resolves: nothing audited, exit 4.
    let dns =
        DnsServer::start([DnsRecord::mx("none.test", 10, "gone.none.test"), DnsRecord::a("x.none.test", "127.0.0.1")]);
    let out = check(&dns, v4.port(), &["none.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(4), "{report:#}");
    assert_eq!(report["verdict"], "inconclusive");
    assert!(report["reason"].as_str().unwrap().contains("No mail server of none.test could be audited"));
}

#[test]
fn more_mx_hosts_than_the_cap_are_cut_and_said_so() {
    let v4 = HostileServer::start(|_| Script::closed_relay());
    let mut zone = Vec::new();
    for i in 0..12 {
        zone.push(DnsRecord::mx("big.test", 10 + i, &format!("mx{i:02}.big.test")));
        zone.push(DnsRecord::a(&format!("mx{i:02}.big.test"), "127.0.0.1"));
    }
    let dns = DnsServer::start(zone);
    let out = check(&dns, v4.port(), &["big.test", "--json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let all = report["targets"].as_array().unwrap();
    assert_eq!(all.len(), 12, "every host is listed");
    assert_eq!(all.iter().filter(|t| t["verdict"] == "closed").count(), 10);
    for t in &all[10..] {
        assert!(t["not_checked"].as_str().unwrap().contains("only the first 10 mail servers"), "{t:#}");
    }
    assert!(report["notes"].to_string().contains("has 12 mail servers: only the first 10"), "{report:#}");
}

/// `POST /api/check` with `{"domain":…}` on a bridge that asks `dns` and
/// opens exactly `mx2.two.test` at `port` (pinned to 127.0.0.1 and ::1).
fn hosted(dns: &DnsServer, port: u16, extra: &[&str]) -> (Bridge, u16, Value) {
    let allow = format!("mx2.two.test:{port}");
    let mut args = vec!["--resolver", &dns.addr.to_string(), "--allow-target", &allow]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bridge = Bridge::spawn(env!("CARGO_BIN_EXE_ws-bridge"), &args);
    let (status, text) =
        http_post_json(&bridge.url("/api/check"), &format!(r#"{{"domain":"two.test","port":{port}}}"#));
    let report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (bridge, status, report)
}

#[test]
fn the_hosted_api_audits_a_domain_under_the_bridge_policy() {
    let (v4, v6) = dual_stack(open_relay);
    let dns = DnsServer::start(two_mx());
    let (_bridge, status, report) = hosted(&dns, v4.port(), &[]);
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["verdict"], "open", "{report:#}");
    assert!(report["reason"].as_str().unwrap().starts_with("mx2.two.test [::1] is an open relay"), "{report:#}");
    // mx1.two.test is not an allow-target (its port is not a mail port, its
    // address loopback): listed, refused in the policy's words, its address hidden.
    let refused = &report["targets"][0];
    assert_eq!((refused["mx_host"].as_str(), refused["address"].as_str()), (Some("mx1.two.test"), Some("hidden")));
    assert!(refused.get("verdict").is_none(), "{refused:#}");
    let why = refused["not_checked"].as_str().unwrap();
    assert!(why.starts_with("not audited: Port") && why.contains("not a mail port"), "{why}");
    let verdicts: Vec<&str> =
        report["targets"].as_array().unwrap()[1..].iter().map(|t| t["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["closed", "open"], "{report:#}");
    assert!(!v6.connections().is_empty());

    // Every connection of every target passes the destination function:
    // with 2 connects a minute per destination, neither server sees more
    // than 2 from this audit, and the targets say why they stopped.
    let (before4, before6) = (v4.connections().len(), v6.connections().len());
    let (_bridge, status, report) = hosted(&dns, v4.port(), &["--connects-per-destination", "2"]);
    assert_eq!(status, 200, "{report:#}");
    assert!(v4.connections().len() - before4 <= 2, "{} connections to 127.0.0.1", v4.connections().len() - before4);
    assert!(v6.connections().len() - before6 <= 2, "{} connections to ::1", v6.connections().len() - before6);
    assert_eq!(report["targets"].as_array().unwrap().len(), 3, "{report:#}");
    eprintln!("with 2 connects a minute: {}: {}", report["verdict"], report["reason"]);
    assert_ne!(report["verdict"], "closed", "a cut audit is never closed: {report:#}");

    // Either a host or a domain.
    let bridge = Bridge::spawn(env!("CARGO_BIN_EXE_ws-bridge"), &["--resolver", &dns.addr.to_string()]);
    let (status, text) = http_post_json(&bridge.url("/api/check"), r#"{"domain":"two.test","host":"x.test"}"#);
    assert_eq!(status, 400, "{text}");
    // A null MX is a report in words.
    let dns = DnsServer::start([DnsRecord::null_mx("nullmx.test")]);
    let bridge = Bridge::spawn(env!("CARGO_BIN_EXE_ws-bridge"), &["--resolver", &dns.addr.to_string()]);
    let (status, text) = http_post_json(&bridge.url("/api/check"), r#"{"domain":"nullmx.test"}"#);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("null MX"), "{text}");
}

/// A server that accepts and then never says a word.
fn silent() -> Script {
    Script::closed_relay().opening(Answer::Hang)
}

#[test]
fn a_streamed_domain_audit_sends_each_row_as_it_finishes_and_keeps_them_when_time_runs_out() {
    use std::io::{Read, Write};
    // mx2.two.test is closed at 127.0.0.1 and silent at ::1: its audit there
    // waits for a banner (30 s) past the session's lifetime (3 s).
    let (v4, _v6) = dual_stack(silent);
    let dns = DnsServer::start(two_mx());
    let allow = format!("mx2.two.test:{}", v4.port());
    let args = ["--resolver", &dns.addr.to_string(), "--allow-target", &allow, "--session-lifetime", "3"];
    let bridge = Bridge::spawn(env!("CARGO_BIN_EXE_ws-bridge"), &[&args[..], &["--timeout", "30"]].concat());
    let body = format!(r#"{{"domain":"two.test","port":{}}}"#, v4.port());

    let url = bridge.url("/api/check");
    let host = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    write!(
        stream,
        "POST /api/check HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/x-ndjson\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The closed address's row comes while the silent one is still being
    // waited for: the end cannot come before the lifetime runs out.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(r#"{"finished""#) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended before any row finished: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let early = String::from_utf8_lossy(&seen).into_owned();
    assert!(early.contains("content-type: application/x-ndjson"), "{early}");
    assert!(!early.contains(r#"{"done""#), "a row is sent as it finishes, not with the report: {early}");
    stream.read_to_end(&mut seen).unwrap();
    let text = String::from_utf8_lossy(&seen).into_owned();
    let lines: Vec<Value> = text
        .split("\r\n")
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l.as_object().unwrap().keys().next().unwrap().as_str()).collect();
    assert_eq!(kinds, ["planned", "finished", "done"], "{text}");
    let planned = lines[0]["planned"]["targets"].as_array().unwrap();
    assert_eq!(planned.len(), 3, "every row at once, the refused one too: {text}");
    assert!(planned[2].get("verdict").is_none() && planned[2].get("not_checked").is_none(), "pending: {text}");
    assert_eq!(lines[1]["finished"]["index"], 1, "{text}");
    assert_eq!(lines[1]["finished"]["target"]["verdict"], "closed", "{text}");

    // The finished row is kept; the cut one says so; a closed server beside
    // an unfinished one is no firm answer for the domain.
    let report = &lines[2]["done"]["report"];
    assert_eq!(report["verdict"], "inconclusive", "{report:#}");
    assert!(report["reason"].as_str().unwrap().starts_with("mx2.two.test [::1] was not finished"), "{report:#}");
    assert_eq!(report["targets"][1]["verdict"], "closed", "{report:#}");
    assert_eq!(report["targets"][2]["unfinished"], true, "{report:#}");

    // The answer in one piece says the same.
    let (status, text) = http_post_json(&url, &body);
    assert_eq!(status, 200, "{text}");
    let whole: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((&whole["verdict"], &whole["reason"]), (&report["verdict"], &report["reason"]), "{whole:#}");
    assert_eq!(whole["targets"][1]["verdict"], "closed");
}

#[test]
fn owners_who_opted_out_are_listed_not_audited_and_a_domain_that_did_is_refused() {
    let (v4, v6) = dual_stack(open_relay);
    let dns = DnsServer::start(two_mx());
    let dir = std::env::temp_dir().join(format!("relaycheck-optout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("optout");
    std::fs::write(&file, "mx2.two.test\n").unwrap();
    let (before4, before6) = (v4.connections().len(), v6.connections().len());
    let (_bridge, status, report) = hosted(&dns, v4.port(), &["--optout-file", file.to_str().unwrap()]);
    assert_eq!(status, 200, "{report:#}");
    let rows = report["targets"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{report:#}");
    for row in &rows[1..] {
        let why = row["not_checked"].as_str().unwrap_or_default();
        assert!(why.contains("asked not to be tested"), "{row:#}");
    }
    assert_eq!((v4.connections().len(), v6.connections().len()), (before4, before6), "nothing reached them");
    assert_ne!(report["verdict"], "open");

    std::fs::write(&file, "two.test\n").unwrap();
    let (_bridge, status, body) = hosted(&dns, v4.port(), &["--optout-file", file.to_str().unwrap()]);
    assert_eq!(status, 403, "{body:#}");
    assert_eq!(body["error"]["code"], "opted_out", "{body:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

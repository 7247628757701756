//! The mail servers people run, on loopback: Postfix, Exim 4 and OpenSMTPD,
//! each closed and open, a stock Debian Postfix (454), an Exim that takes
//! any recipient at its own name, and scripted hostile servers. For each:
//!
//! - the verdict is right and every probe's question reached the server
//!   (no relay probe ends lost or without a sender);
//! - three drivers of the one engine give the same answer: `ws-bridge check`
//!   straight over TCP, the hosted `/api/check`, and the page in headless
//!   Chromium through `ws-bridge serve` (tests/e2e/reports.mjs). Same
//!   verdict, and the same outcome for every probe.
//!
//! Needs what `scripts/setup test` installs: Postfix, Exim and OpenSMTPD
//! unpacked under /opt/relaycheck-mtas, Chromium and playwright-core, and the
//! page built into dist/ (scripts/test runs `trunk build` first). A missing
//! piece fails with the command that installs it: nothing here skips.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use relaycheck_tests::bridge::{http_post_json, Bridge};
use relaycheck_tests::certs::{TestCa, Validity};
use relaycheck_tests::exim::{self, Exim};
use relaycheck_tests::hostile::{HostileServer, Script};
use relaycheck_tests::opensmtpd::{self, OpenSmtpd};
use relaycheck_tests::postfix::{self, Postfix, Tls, TlsListener};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const CHROMIUM: &str = "/usr/bin/chromium";
/// reports.mjs bounds each audit to 60 s; this is the backstop for all.
const PAGE_DEADLINE: Duration = Duration::from_secs(420);

/// One server under test and what it must come out as.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    verdict: &'static str,
    /// The audit must have gone into TLS: facts in the report, a TLS step.
    tls: bool,
}

/// What must hold of one report, whichever driver made it.
fn assert_right(target: &Target, driver: &str, report: &Value) {
    let what = format!("{} through {driver}", target.name);
    assert_eq!(report["verdict"], target.verdict, "{what}: {}", report["reason"]);
    let probes = report["probes"].as_array().unwrap_or_else(|| panic!("{what}: no probes: {report:#}"));
    // 22 address and sender forms and 3 forged greetings.
    assert_eq!(probes.len(), 25, "{what}");
    for p in probes {
        let kind = p["outcome"]["kind"].as_str().unwrap_or_default();
        assert!(
            !matches!(kind, "sender_refused" | "connection_lost" | "timed_out" | "garbled"),
            "{what}: probe {} was never asked ({kind}): {p:#}",
            p["id"]
        );
    }
}

/// Probe id → (verdict, outcome kind): what must be equal across drivers.
fn outcomes(report: &Value) -> BTreeMap<String, (String, String)> {
    report["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (s(&p["id"]), (s(&p["verdict"]), s(&p["outcome"]["kind"])))
        })
        .collect()
}

fn check_json(addr: SocketAddr) -> Value {
    let out = Command::new(BIN)
        .args(["check", "127.0.0.1", "--port", &addr.port().to_string(), "--json", "--timeout", "10"])
        .output()
        .expect("run ws-bridge check");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json: not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn api_json(bridge: &Bridge, addr: SocketAddr) -> Value {
    let (status, body) =
        http_post_json(&bridge.url("/api/check"), &format!(r#"{{"host":"127.0.0.1","port":{}}}"#, addr.port()));
    assert_eq!(status, 200, "/api/check for {addr}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/api/check: not JSON ({e}): {body}"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// The page's reports for every target, one browser for all.
fn page_reports(bridge: &Bridge, targets: &[Target]) -> BTreeMap<u16, Value> {
    let root = workspace();
    let e2e = root.join("tests/e2e");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup test (it installs Debian's chromium and chromium-driver)"
    );
    assert!(
        e2e.join("node_modules/playwright-core/package.json").exists(),
        "playwright-core is missing from tests/e2e/node_modules: run scripts/setup test (it runs npm ci there)"
    );
    assert!(
        root.join("dist/index.html").exists(),
        "the page is not built: run `trunk build` at the top of the repository (scripts/test does it before the tests)"
    );
    let out = std::env::temp_dir().join(format!("relaycheck-page-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create the reports directory");
    let ports: Vec<String> = targets.iter().map(|t| t.addr.port().to_string()).collect();
    let mut child = Command::new("node")
        .arg(e2e.join("reports.mjs"))
        .current_dir(&e2e)
        .env("BRIDGE_URL", bridge.url("/"))
        .env("PORTS", ports.join(","))
        .env("OUT_DIR", &out)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start node ({e}): run scripts/setup test"));
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > PAGE_DEADLINE {
            let _ = Command::new("kill").args(["-KILL", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!("{}{}", stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    let ok = status.is_some_and(|s| s.success());
    assert!(ok, "tests/e2e/reports.mjs failed ({status:?}):\n{output}\n--- bridge log ---\n{}", bridge.log());
    let reports = targets
        .iter()
        .map(|t| {
            let file = out.join(format!("{}.json", t.addr.port()));
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}\n{output}", file.display()));
            (t.addr.port(), serde_json::from_str(&text).expect("the page's report is JSON"))
        })
        .collect();
    let _ = std::fs::remove_dir_all(&out);
    reports
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Audits every target through the three drivers and holds each report to
/// the target's verdict and the drivers to one another.
fn three_drivers_agree(targets: &[Target]) {
    // Three drivers' audits of many servers from one client address: more
    // connections a minute than a public bridge allows one client.
    let mut args: Vec<String> =
        ["--connects-per-ip", "1000", "--connects-per-destination", "1000", "--connections-per-destination", "1000"]
            .map(String::from)
            .into();
    for t in targets {
        args.push("--allow-target".to_string());
        args.push(t.addr.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bridge = Bridge::spawn(BIN, &args);
    let page = page_reports(&bridge, targets);
    for t in targets {
        let cli = check_json(t.addr);
        let api = api_json(&bridge, t.addr);
        let page = &page[&t.addr.port()];
        assert_right(t, "check", &cli);
        assert_right(t, "/api/check", &api);
        assert_right(t, "the page", page);
        assert_eq!(outcomes(&api), outcomes(&cli), "{}: /api/check and check disagree", t.name);
        assert_eq!(outcomes(page), outcomes(&cli), "{}: the page and check disagree", t.name);
        if t.tls {
            for (driver, report) in [("check", &cli), ("/api/check", &api), ("the page", page)] {
                let facts = &report["tls"]["facts"];
                assert!(facts["version"].as_str().is_some_and(|v| v.starts_with("TLSv1.")), "{driver}: {report:#}");
                let steps = report["steps"].as_array().expect("steps");
                assert!(steps.iter().any(|s| s["kind"] == "tls"), "{}: {driver} drew no TLS step", t.name);
            }
        }
    }
}

#[test]
fn postfix_exim_and_hostile_servers_get_one_answer_from_every_driver() {
    let postfix = Postfix::start(&[postfix::Policy::Closed, postfix::Policy::Deferring, postfix::Policy::Open]);
    let exim_closed = Exim::start(exim::Policy::Closed);
    let exim_open = Exim::start(exim::Policy::Open);
    let exim_catch_all = Exim::start(exim::Policy::CatchAll);
    // Hangs up without a word after its third RCPT on every connection.
    let three_rcpts = HostileServer::start(|_| Script::closed_relay().close_after(1 + 3 * 3));
    let targets = [
        Target { name: "closed Postfix", addr: postfix.addr(postfix::Policy::Closed), verdict: "closed", tls: false },
        Target {
            name: "stock Postfix (454)",
            addr: postfix.addr(postfix::Policy::Deferring),
            verdict: "closed",
            tls: false,
        },
        Target { name: "open Postfix", addr: postfix.addr(postfix::Policy::Open), verdict: "open", tls: false },
        Target { name: "stock-like Exim", addr: exim_closed.addr, verdict: "closed", tls: false },
        Target { name: "open Exim", addr: exim_open.addr, verdict: "open", tls: false },
        Target { name: "catch-all Exim", addr: exim_catch_all.addr, verdict: "closed", tls: false },
        Target { name: "silent hang-up after 3 RCPTs", addr: three_rcpts.addr(), verdict: "closed", tls: false },
    ];
    three_drivers_agree(&targets);
}

#[test]
fn postfix_behind_starttls_gets_one_answer_from_every_driver() {
    // TLS spoken by check itself, by the bridge for /api/check, and by the
    // bridge for the page (which says STARTTLS in plain text to it).
    let ca = TestCa::new();
    let cert = ca.leaf(&[postfix::HOSTNAME], Validity::Current);
    let postfix = Postfix::start_tls(&[
        TlsListener { policy: postfix::Policy::Open, tls: Tls::Required, cert: &cert },
        TlsListener { policy: postfix::Policy::Closed, tls: Tls::Offered, cert: &cert },
    ]);
    three_drivers_agree(&[
        Target { name: "open Postfix behind STARTTLS", addr: postfix.listener(0), verdict: "open", tls: true },
        Target { name: "closed Postfix offering STARTTLS", addr: postfix.listener(1), verdict: "closed", tls: true },
    ]);
}

#[test]
fn opensmtpd_gets_one_answer_from_every_driver() {
    // One OpenSMTPD at a time on a machine (a fixed control socket): closed
    // first, then open, each through all three drivers.
    for (policy, verdict) in [(opensmtpd::Policy::Closed, "closed"), (opensmtpd::Policy::Open, "open")] {
        let server = OpenSmtpd::start(policy);
        three_drivers_agree(&[Target { name: "OpenSMTPD", addr: server.addr, verdict, tls: false }]);
    }
}

#[test]
fn stock_like_exim_has_every_trick_asked_with_a_sender_it_takes() {
    let exim = Exim::start(exim::Policy::Closed);
    let report = check_json(exim.addr);
    assert_eq!(report["verdict"], "closed", "{}", report["reason"]);
    let probes = report["probes"].as_array().unwrap();
    let by_id = |id: &str| probes.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no {id}"));
    // Exim refuses senders at domain literals: the sender probe is denied by
    // that refusal, and every trick is asked again from the outside sender.
    assert_eq!(by_id("sender-at-ip")["outcome"]["kind"], "sender_denied", "{:#}", by_id("sender-at-ip"));
    let mut re_asked = 0;
    for p in probes.iter().filter(|p| p["kind"] == "recipient" && p["id"] != "manual") {
        assert_eq!(p["verdict"], "denied", "{p:#}");
        if let Some(refused) = p.get("refused_sender") {
            assert_eq!(refused["mail_from"], "relaycheck@[127.0.0.1]", "{p:#}");
            assert_eq!(p["mail_from"], "relaycheck@example.com", "{p:#}");
            re_asked += 1;
        }
    }
    assert_eq!(re_asked, 16, "every trick was re-asked: {:#}", report["probes"]);
    let controls = report["controls"].as_array().unwrap();
    let postmaster = controls.iter().find(|c| c["id"] == "postmaster").expect("postmaster control");
    assert_eq!(postmaster["verdict"], "accepted", "{postmaster:#}");
    assert!(exim.log().lines().all(|l| !l.contains("<=")), "Exim took a message:\n{}", exim.log());
}

#[test]
fn catch_all_exim_is_not_open_and_is_told_about_backscatter() {
    let exim = Exim::start(exim::Policy::CatchAll);
    let report = check_json(exim.addr);
    assert_eq!(report["verdict"], "closed", "{}", report["reason"]);
    let findings = report["findings"].as_array().unwrap();
    let catch_all = findings.iter().find(|f| f["id"] == "accepts-any-recipient").expect("the catch-all finding");
    assert!(catch_all["text"].as_str().unwrap().contains("backscatter"), "{catch_all:#}");
    assert!(!catch_all["advice"].as_array().unwrap().is_empty(), "Exim advice: {catch_all:#}");
    let unconfirmed: Vec<&str> = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["outcome"]["kind"] == "unconfirmed")
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        unconfirmed.contains(&"percent-server"),
        "the tricks at its own name were taken, but not counted: {:#}",
        report["probes"]
    );
    // Only where nonsense is taken too: its own name and localhost.
    for p in report["probes"].as_array().unwrap().iter().filter(|p| p["outcome"]["kind"] == "unconfirmed") {
        assert!(matches!(p["lands_at"].as_str(), Some("mx.relaycheck.test" | "localhost")), "{p:#}");
    }
}

//! The page's domain audit end to end: a real browser (Debian's Chromium,
//! driven by playwright-core from tests/e2e/domain.mjs) loads the page from
//! a real `ws-bridge serve` that asks the project's DNS fixture, and audits a
//! domain of two MX hosts: one refused by the bridge's policy, one
//! dual-stack with a closed server on 127.0.0.1 and an open relay on `::1`
//! at the same port. Loopback only. Needs what page_e2e.rs needs (Chromium,
//! playwright-core, the page built into dist/); never skips.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::hostile::{HostileServer, Script};

#[test]
fn the_page_audits_a_whole_domain_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf();
    let e2e = root.join("tests/e2e");
    assert!(Path::new("/usr/bin/chromium").exists(), "Chromium is missing: run scripts/setup test");
    assert!(
        e2e.join("node_modules/playwright-core/package.json").exists(),
        "playwright-core is missing: run scripts/setup test"
    );
    assert!(root.join("dist/index.html").exists(), "the page is not built: run `trunk build`");

    let (v4, _v6) = (0..20)
        .find_map(|_| {
            let v4 = HostileServer::start(|_| Script::closed_relay());
            let on_v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), v4.port());
            // Slow to greet, so that the page shows its row still being
            // audited beside the finished ones.
            let open = |_| {
                Script::closed_relay()
                    .banner("220 mx6.dual.test ESMTP open")
                    .banner_after(Duration::from_secs(2))
                    .relays_for(|_| true)
            };
            HostileServer::start_on(on_v6, open).ok().map(|v6| (v4, v6))
        })
        .expect("a port free on both 127.0.0.1 and [::1]");
    let port = v4.port();
    let dns = DnsServer::start([
        DnsRecord::mx("two.test", 10, "mx1.two.test"),
        DnsRecord::mx("two.test", 20, "mx2.two.test"),
        DnsRecord::a("mx1.two.test", "127.0.0.1"),
        DnsRecord::a("mx2.two.test", "127.0.0.1"),
        DnsRecord::aaaa("mx2.two.test", "::1"),
    ]);
    let allow = format!("mx2.two.test:{port}");
    let bridge = Bridge::spawn(
        env!("CARGO_BIN_EXE_ws-bridge"),
        &["--resolver", &dns.addr.to_string(), "--allow-target", &allow],
    );
    let shots = root.join("target/e2e-shots");
    std::fs::create_dir_all(&shots).expect("create target/e2e-shots");
    let out = Command::new("timeout")
        .args(["-s", "KILL", "150", "node"])
        .arg(e2e.join("domain.mjs"))
        .current_dir(&e2e)
        .env("BRIDGE_URL", bridge.url("/"))
        .env("DOMAIN", "two.test")
        .env("PORT", port.to_string())
        .env("SHOTS_DIR", &shots)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run node (Node.js must be installed)");
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "tests/e2e/domain.mjs failed ({})\n{output}\n--- bridge log ---\n{}",
        out.status,
        bridge.log()
    );
    assert!(output.lines().any(|l| l.ends_with(" passed, 0 failed")), "no summary line:\n{output}");
    println!("{output}");
}

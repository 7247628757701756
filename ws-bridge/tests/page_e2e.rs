//! The page end to end: a real browser (Debian's Chromium, driven by
//! playwright-core from tests/e2e/page.mjs) loads the page from a real
//! `ws-bridge serve` and audits a real Postfix through it, a closed relay and
//! an open one, then two that say no, or yes, for something other than the
//! relay itself (issue 22; `relaycheck_tests::refusals` has them, each proven
//! by a raw SMTP dialogue as it starts): an open relay whose blocklist lists
//! the checker, which must never come out "closed", and a relay for whoever
//! greets as the server's own name, which is open; then asks for a private
//! address that the bridge must refuse in words. One browser for all of it.
//! The script checks what the page shows and writes screenshots to
//! target/e2e-shots/.
//!
//! Needs what `scripts/setup test` installs (Postfix, Chromium, playwright-core
//! in tests/e2e/node_modules) and the page built into dist/ by `trunk build`
//! (scripts/test does both first). A missing piece fails the test with the
//! command that installs it: this test never skips.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::postfix::{Policy, Postfix};
use relaycheck_tests::refusals;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const CHROMIUM: &str = "/usr/bin/chromium";
/// The script bounds its own waits (150 s in all); this is the backstop.
const DEADLINE: Duration = Duration::from_secs(180);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

#[test]
fn the_page_audits_a_real_postfix_in_a_real_browser() {
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

    let postfix = Postfix::start(&[Policy::Closed, Policy::Open]);
    let (closed, open) = (postfix.addr(Policy::Closed), postfix.addr(Policy::Open));
    let (blocklisted, helo_trusted) = (refusals::blocklisted_relay(), refusals::helo_trusting_relay());
    let allowed = [closed, open, blocklisted.addr(), helo_trusted.addr()].map(|addr| addr.to_string());
    let mut args: Vec<&str> = allowed.iter().flat_map(|addr| ["--allow-target", addr]).collect();
    // Five audits of about 12 connections each within seconds, from one
    // client: more than the 60 a minute a bridge allows by default.
    args.extend(["--connects-per-ip", "600"]);
    let bridge = Bridge::spawn(BIN, &args);
    let shots = root.join("target/e2e-shots");
    std::fs::create_dir_all(&shots).expect("create target/e2e-shots");

    let mut child = Command::new("node")
        .arg(e2e.join("page.mjs"))
        .current_dir(&e2e)
        .env("BRIDGE_URL", bridge.url("/"))
        .env("CLOSED_PORT", closed.port().to_string())
        .env("OPEN_PORT", open.port().to_string())
        .env("BLOCKLISTED_PORT", blocklisted.addr().port().to_string())
        .env("HELO_TRUSTED_PORT", helo_trusted.addr().port().to_string())
        .env("SHOTS_DIR", &shots)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a time-out ends Chromium too.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("could not start node ({e}): Node.js and npm must be installed (scripts/setup uses npm)")
        });
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = Command::new("kill").args(["-KILL", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        match stderr.join().unwrap_or_default() {
            e if e.trim().is_empty() => String::new(),
            e => format!("--- stderr of page.mjs ---\n{e}"),
        }
    );

    let Some(status) = status else {
        panic!(
            "tests/e2e/page.mjs did not finish within {} s and was killed\n{output}\n--- bridge log ---\n{}",
            DEADLINE.as_secs(),
            bridge.log()
        );
    };
    assert!(
        status.success(),
        "tests/e2e/page.mjs failed ({status}); screenshots in {}\n{output}\n--- bridge log ---\n{}",
        shots.display(),
        bridge.log()
    );
    assert!(output.lines().any(|l| l.ends_with(" passed, 0 failed")), "no summary line from page.mjs:\n{output}");
    println!("{output}screenshots: {}", shots.display());
}

/// Reads a pipe to its end on a thread, so that a chatty child never blocks.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

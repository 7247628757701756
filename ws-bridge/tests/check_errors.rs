//! `ws-bridge check` when it cannot run: each failure a sentence and an exit code.

use std::net::TcpListener;
use std::process::{Command, Output};

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ws-bridge")).arg("check").args(args).output().expect("run ws-bridge")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn refused_port_exits_5_with_a_sentence() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let out = check(&["127.0.0.1", "--port", &port]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("connection refused"), "{}", stderr(&out));
}

#[test]
fn unknown_host_exits_4_with_a_sentence() {
    // The lookup runs in a network namespace of its own (`unshare -n`, as
    // root), so not even the DNS query leaves this machine.
    let out = Command::new("unshare")
        .args(["-n", env!("CARGO_BIN_EXE_ws-bridge"), "check", "no-such-host.invalid"])
        .output()
        .expect("run unshare (util-linux) for an isolated network namespace");
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("could not find the server"), "{}", stderr(&out));
}

#[test]
fn bad_arguments_exit_3() {
    assert_eq!(check(&[]).status.code(), Some(3));
    assert_eq!(check(&["127.0.0.1", "--port", "nope"]).status.code(), Some(3));
    let out = check(&["127.0.0.1", "--to-domain", "example.net>\r\nDATA"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("is not a domain name"), "{}", stderr(&out));
}

#[test]
fn silent_server_times_out_as_inconclusive() {
    // Accepts the connection and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let _keep = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(10));
        drop(conns);
    });
    let started = std::time::Instant::now();
    let out = check(&["127.0.0.1", "--port", &port, "--timeout", "1", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(report["verdict"], "inconclusive");
    assert!(report["reason"].as_str().unwrap().contains("did not answer"), "{}", report["reason"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "took {:?}", started.elapsed());
}

//! Runs a command beside a private Postfix on loopback, then stops Postfix.
//!
//!     postfix-lab [--policy closed,open,deferring] [--port25] -- COMMAND [ARG…]
//!
//! The command finds the listeners in `LAB_CLOSED`, `LAB_OPEN` and
//! `LAB_DEFERRING` (each `ADDRESS:PORT`): free ports of 127.0.0.1, or with
//! `--port25` port 25 of 127.0.0.25, .26 and .27 (tools such as nmap only
//! treat a port as SMTP when it is a mail port). scripts/run and bench/ use it.

use std::process::{Command, ExitCode};

use relaycheck_tests::postfix::{Policy, Postfix};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(split) = args.iter().position(|a| a == "--") else {
        eprintln!("usage: postfix-lab [--policy closed,open,deferring] -- COMMAND [ARG…]");
        return ExitCode::from(64);
    };
    let mut policies = vec![Policy::Closed, Policy::Open];
    if let Some(i) = args[..split].iter().position(|a| a == "--policy") {
        let Some(list) = args.get(i + 1).filter(|_| i + 1 < split) else {
            eprintln!("postfix-lab: --policy needs a list such as closed,open");
            return ExitCode::from(64);
        };
        let mut parsed = Vec::new();
        for name in list.split(',') {
            parsed.push(match name {
                "closed" => Policy::Closed,
                "open" => Policy::Open,
                "deferring" => Policy::Deferring,
                other => {
                    eprintln!("postfix-lab: unknown policy {other:?} (closed, open or deferring)");
                    return ExitCode::from(64);
                }
            });
        }
        policies = parsed;
    }
    let Some((program, rest)) = args[split + 1..].split_first() else {
        eprintln!("postfix-lab: no command given after --");
        return ExitCode::from(64);
    };
    let postfix = if args[..split].iter().any(|a| a == "--port25") {
        let listeners: Vec<_> = policies
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, std::net::SocketAddr::from(([127, 0, 0, 25 + i as u8], 25))))
            .collect();
        Postfix::start_on(&listeners, &[])
    } else {
        Postfix::start(&policies)
    };
    let mut command = Command::new(program);
    command.args(rest);
    for &policy in &policies {
        let name = match policy {
            Policy::Closed => "LAB_CLOSED",
            Policy::Open => "LAB_OPEN",
            Policy::Deferring => "LAB_DEFERRING",
        };
        command.env(name, postfix.addr(policy).to_string());
    }
    let status = command.status();
    drop(postfix);
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("postfix-lab: could not run {program}: {e}");
            ExitCode::from(127)
        }
    }
}

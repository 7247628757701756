//! `ws-bridge`: relaycheck's native program.
//!
//! - `ws-bridge serve` is the websocket bridge: it serves the page, carries
//!   its SMTP to port 25 under a strict policy, and offers the hosted API.
//! - `ws-bridge check HOST` audits a mail server from this terminal.
//!
//! `check`'s exit codes are part of the interface; see [`exit::ExitCode`].
//! Everything lives in the `ws_bridge` library; this file only parses the
//! command line and picks the runtime.

use clap::{Parser, Subcommand};
use ws_bridge::{check, exit, serve, store};

#[derive(Parser)]
#[command(
    name = "ws-bridge",
    version,
    about = "relaycheck: tells whether a mail server relays mail for strangers, without ever sending a message"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start-up: the size does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Audit a mail domain (every MX host at every address) or one mail server for open relaying, from this machine.
    Check(check::CheckArgs),
    /// Serve the page, the websocket bridge and the hosted API.
    Serve(serve::ServeArgs),
    /// Manage the list of domains and address blocks whose owners asked not to be tested.
    Optout(store::optout::OptoutArgs),
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; everything else is a usage error.
            let code = if e.use_stderr() { exit::ExitCode::Usage } else { exit::ExitCode::Closed };
            let _ = e.print();
            return code.into();
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let code = runtime.block_on(async {
        match cli.command {
            Command::Check(args) => check::run(args).await,
            Command::Optout(args) => match store::optout::run(args).await {
                Ok(text) => {
                    print!("{text}");
                    exit::ExitCode::Closed
                }
                Err(e) => {
                    eprintln!("ws-bridge optout: {e}");
                    match e {
                        store::optout::OptoutError::Usage(_) => exit::ExitCode::Usage,
                        store::optout::OptoutError::Store(_) => exit::ExitCode::Unreachable,
                    }
                }
            },
            Command::Serve(args) => {
                init_logging();
                match serve::main(args).await {
                    Ok(()) => exit::ExitCode::Closed,
                    Err(message) => {
                        eprintln!("ws-bridge: {message}");
                        exit::ExitCode::Unreachable
                    }
                }
            }
        }
    });
    code.into()
}

/// One line per event on stderr; `RUST_LOG` overrides the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

//! `ws-bridge`: relaycheck's native program.
//!
//! - `ws-bridge check HOST` audits a mail server from this terminal.
//!
//! Exit codes are part of the interface; see [`exit::ExitCode`].

mod audit;
mod check;
mod exit;
mod render;

use clap::{Parser, Subcommand};

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
enum Command {
    /// Audit one mail server for open relaying, from this machine.
    Check(check::CheckArgs),
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
        }
    });
    code.into()
}

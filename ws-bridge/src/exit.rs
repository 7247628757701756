//! The exit codes of `ws-bridge check`, a public interface for scripts.

/// 0–2 are answers about the server; 3 and up mean the audit could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: relaying is prohibited.
    Closed = 0,
    /// 1: the server is an open relay.
    Open = 1,
    /// 2: no firm answer (temporary refusals, no reply, TLS or login required).
    Inconclusive = 2,
    /// 3: the command line is wrong.
    Usage = 3,
    /// 4: the host name does not resolve.
    UnknownHost = 4,
    /// 5: no connection to the server could be made.
    Unreachable = 5,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

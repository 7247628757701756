//! relay-core: the sans-IO engine of relaycheck.
//!
//! It knows SMTP and relay auditing, and nothing of sockets, runtimes or
//! clocks, so the same code runs in the browser (WASM), in the terminal and
//! on the server. [`Session`] is the entry point; its module doc says how to
//! drive it.
//!
//! One concept per module:
//! - [`reply`], [`reply_parser`]: what servers say, read incrementally;
//! - [`command`]: what clients say, and the grammar the bridge's guard uses;
//! - [`capabilities`]: EHLO extensions in plain words;
//! - [`probe`]: the relay tricks tried;
//! - [`refusal`]: what a refusal refuses (the relay, or something else first);
//! - [`verdict`]: what the answers mean; [`finding`]: what else was noticed;
//! - [`session`] (with the private `connection`, `schedule` and `senders`): the
//!   dialogue, which connection asks what, and what the server taught us about
//!   its limits and our senders;
//! - [`narration`]: the sentences every driver shows, and how times are written;
//! - [`step`], [`transcript`], [`report`]: what is shown and saved;
//! - [`software`]: which MTA answered, and advice for it;
//! - [`config`]: the caller's choices;
//! - [`wire`]: what the page and the bridge say to each other;
//! - [`guard`]: what the bridge lets a page send to a mail server;
//! - [`domain`]: a domain's answer, the worst over every MX host × address;
//! - [`rehearsal`]: one audit of an imaginary server, in memory, so a driver's
//!   code is ready before the first real one.

pub mod capabilities;
pub mod command;
pub mod config;
mod connection;
mod de;
pub mod domain;
pub mod finding;
pub mod guard;
pub mod narration;
pub mod probe;
pub mod refusal;
pub mod rehearsal;
pub mod reply;
pub mod reply_parser;
pub mod report;
mod schedule;
mod senders;
pub mod session;
pub mod software;
pub mod step;
pub mod tls;
pub mod transcript;
pub mod verdict;
pub mod wire;

pub use capabilities::Capabilities;
pub use command::Command;
pub use config::{Config, ConfigError};
pub use connection::ConnectionId;
pub use domain::{DomainReport, Target};
pub use finding::Finding;
pub use guard::{Decision, Guard, GuardLimits, Refusal};
pub use probe::ProbeKind;
pub use reply::{EnhancedCode, Reply, Severity};
pub use reply_parser::{ReplyError, ReplyLimits, ReplyParser};
pub use report::{ProbeReport, RefusedSender, Report, Server, Timings, TlsReport};
pub use session::{Event, Progress, Session, Transmit};
pub use software::Software;
pub use step::{Step, StepKind, Tone};
pub use tls::{CertificateFacts, TlsFacts, TlsFailure, TlsMode};
pub use transcript::{Direction, TranscriptLine};
pub use verdict::{Outcome, ProbeVerdict, Stage, Verdict};
pub use wire::{BridgeEvent, ErrorCode, WsQuery};

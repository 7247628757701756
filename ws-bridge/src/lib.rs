//! The native side of relaycheck, as a library: `ws-bridge`'s thin `main`
//! parses the command line and calls in here, and tests can start a bridge
//! in-process ([`serve::run`]) when they need to look inside.
//!
//! - [`check`]: `ws-bridge check HOST`, the audit from a terminal;
//! - [`serve`]: `ws-bridge serve`, the websocket bridge, the page, the hosted
//!   API and the lab, with the policy and the limits that keep it from ever
//!   becoming an open proxy;
//! - [`audit`]: the tokio driver of relay-core's session, which `check`, the
//!   hosted API and the lab share; [`domain`]: every address of a domain
//!   audited at once; [`resolve`]: DNS; [`exit`]: `check`'s exit
//!   codes; [`tls`]: TLS toward mail servers (STARTTLS, port 465) and
//!   the facts read off it.

pub mod audit;
pub mod check;
pub mod domain;
pub mod exit;
pub mod resolve;
pub mod serve;
pub mod store;
pub mod tls;

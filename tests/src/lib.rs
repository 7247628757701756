//! Fixtures for relaycheck's tests: real mail servers on loopback.
//!
//! Nothing here ever talks to an address outside 127.0.0.0/8, and the mail
//! servers it starts discard everything they would deliver.

pub mod net;
pub mod postfix;

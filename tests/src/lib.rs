//! Fixtures for relaycheck's tests: real mail servers, scripted hostile ones and a
//! DNS server on loopback.
//!
//! Nothing here ever talks to an address outside 127.0.0.0/8, and the mail
//! servers it starts discard everything they would deliver.

pub mod audit_socket;
pub mod bridge;
pub mod certs;
pub mod check;
pub mod dns;
pub mod exim;
pub mod hostile;
pub mod net;
pub mod opensmtpd;
pub mod postfix;
pub mod redis;
pub mod refusals;
pub mod sink;
pub mod smtp;
pub mod starttls;
pub mod ws;

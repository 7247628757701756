//! relaycheck's page: the relay audit step by step, in the browser.
//!
//! - [`state`]: the reducer fed by relay-core's events;
//! - [`components`]: one component per file;
//! - [`services`]: the websocket driver of the audit, the bridge's API, and
//!   the browser's clock, clipboard and URL.
//!
//! The page never parses SMTP; relay-core does.

pub mod app;
pub mod components;
pub mod services;
pub mod state;

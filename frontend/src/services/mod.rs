//! Work that is not drawing: the websocket driver of the audit, the bridge's
//! JSON API, and what the browser offers (clock, clipboard, downloads, URL).

pub mod api;
pub mod audit;
pub mod browser;
pub mod checks;

//! What the caller chooses about an audit.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of one audit. `Default` is what the CLI and the page use unless
/// told otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The outside sender's domain. RFC 2606 reserves it, so no real mailbox
    /// is ever named, yet it has address records, so "unknown sender domain"
    /// checks let it through and the recipient is really tested.
    pub from_domain: String,
    /// The outside recipient's domain: another reserved one.
    pub to_domain: String,
    /// The local part of every probe address.
    pub local_part: String,
    /// The name we greet with (EHLO/HELO).
    pub helo_name: String,
    /// How long to wait for a connection, the banner or any reply.
    pub reply_timeout: Duration,
    /// Probes per connection. Each refusal counts as an error on the server,
    /// and a refused sender can cost two; Postfix slows down after 10 errors
    /// in one session (`smtpd_soft_error_limit`), so 4 probes stay under it.
    pub probes_per_connection: usize,
    /// Connections open at the same time.
    pub parallel_connections: usize,
    /// Connections beyond the planned ones, for going on after drops.
    pub spare_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            from_domain: "example.com".into(),
            to_domain: "example.net".into(),
            local_part: "relaycheck".into(),
            helo_name: "relaycheck.invalid".into(),
            reply_timeout: Duration::from_secs(20),
            probes_per_connection: 4,
            parallel_connections: 6,
            spare_connections: 4,
        }
    }
}

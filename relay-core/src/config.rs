//! What the caller chooses about an audit.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::tls::TlsMode;

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
    /// Another outside domain, with a working MX (an operator's own), at
    /// which a probe is asked again when the server refuses `to_domain`'s
    /// domain before it judges relaying (the reserved domains publish a
    /// null MX, RFC 7505). `None`: such a probe ends not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_to_domain: Option<String>,
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
    /// Connections open at the same time: enough for the whole plan at once
    /// (6 groups of probes, 2 of controls and the 3 forged greetings, each
    /// alone), so an audit of a PIPELINING server takes a handful of round
    /// trips. A server that allows fewer turns the rest away, and the
    /// session then carries more on the connections it allowed.
    pub parallel_connections: usize,
    /// Connections beyond the planned ones, for going on after drops.
    pub spare_connections: usize,
    /// Makes the control mailbox (`relaycheck-nx-…`) unguessable, so that no
    /// server can be taught to refuse just that one. Drivers set it from a
    /// random source; any value works.
    pub nonce: u64,
    /// When to move into TLS with STARTTLS (see [`TlsMode`]).
    pub tls: TlsMode,
    /// The driver connects with TLS from the first byte (port 465, RFC
    /// 8314) and tells [`crate::Session::handle_tls`] how it went before
    /// the banner; STARTTLS is then never sent.
    pub implicit_tls: bool,
    /// The domain the audit is for (a domain audit's domain): a sender is
    /// forged in it, for servers that trust their customers' domains.
    /// `None`: the name typed for the host, if it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audited_domain: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            from_domain: "example.com".into(),
            to_domain: "example.net".into(),
            fallback_to_domain: None,
            local_part: "relaycheck".into(),
            helo_name: "relaycheck.invalid".into(),
            reply_timeout: Duration::from_secs(20),
            probes_per_connection: 4,
            parallel_connections: 11,
            spare_connections: 4,
            nonce: 0x5eed_c0de,
            tls: TlsMode::Auto,
            implicit_tls: false,
            audited_domain: None,
        }
    }
}

/// A setting that cannot work, said so that the user can fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the {what} \"{value}\" is not a domain name (letters, digits, dots and hyphens, such as example.com)")]
    NotADomain { what: &'static str, value: String },
    #[error("the local part \"{0}\" must be letters, digits, dots, hyphens or underscores")]
    BadLocalPart(String),
    #[error("the timeout must be at least one second")]
    TimeoutTooShort,
}

impl Config {
    /// Checks what a user may have typed. Probes put these strings into SMTP
    /// commands, so anything beyond a plain domain could change the commands.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (what, value) in [
            ("sender domain", &self.from_domain),
            ("recipient domain", &self.to_domain),
            ("greeting name", &self.helo_name),
        ] {
            if !is_domain(value) {
                return Err(ConfigError::NotADomain { what, value: value.clone() });
            }
        }
        for (what, value) in
            [("audited domain", &self.audited_domain), ("fallback recipient domain", &self.fallback_to_domain)]
        {
            if let Some(domain) = value.as_ref().filter(|d| !is_domain(d)) {
                return Err(ConfigError::NotADomain { what, value: domain.clone() });
            }
        }
        let ok_local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
        if self.local_part.is_empty() || self.local_part.len() > 64 || !self.local_part.bytes().all(ok_local) {
            return Err(ConfigError::BadLocalPart(self.local_part.clone()));
        }
        if self.reply_timeout < Duration::from_secs(1) {
            return Err(ConfigError::TimeoutTooShort);
        }
        Ok(())
    }
}

/// A DNS name of LDH labels (RFC 1123), at most 253 bytes.
pub fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_refuses_what_would_change_a_command() {
        assert_eq!(Config::default().validate(), Ok(()));
        for bad in ["", "example.com>\r\nDATA", "a b.example", "-x.example", "x..example", "ex@mple.com"] {
            let config = Config { to_domain: bad.into(), ..Config::default() };
            assert!(config.validate().is_err(), "{bad:?} should be refused");
        }
        let config = Config { reply_timeout: Duration::from_millis(10), ..Config::default() };
        assert_eq!(config.validate(), Err(ConfigError::TimeoutTooShort));
    }
}

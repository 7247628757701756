//! TLS as the engine sees it: the engine never speaks TLS itself (it has no
//! I/O, and the page must never tunnel SMTP past the bridge's guard). It asks
//! its driver to start TLS after `STARTTLS` → `220` ([`crate::Event::StartTls`]),
//! and is told the handshake's outcome: the [`TlsFacts`] the driver read off
//! it, or a [`TlsFailure`] in words. Then it greets again (RFC 3207 §4.2).
//!
//! The facts are what an administrator checks after relaying: protocol and
//! cipher, the certificate chain, whether Mozilla's roots trust it, whether it
//! names the host that was asked for, and how long it has left.

use std::fmt;

use serde::{Deserialize, Serialize};

/// When the audit moves into TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Never: a server that demands TLS cannot be tested (the manual test
    /// without `openssl s_client`).
    Never,
    /// In plain text, as the manual test does, moving into TLS when the
    /// server demands it; when it offers STARTTLS, its TLS facts are read
    /// on a connection of their own.
    #[default]
    Auto,
    /// Every connection moves into TLS before probing, when the server
    /// offers it.
    Always,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Never => "never",
            TlsMode::Auto => "auto",
            TlsMode::Always => "always",
        }
    }
}

impl std::str::FromStr for TlsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(TlsMode::Never),
            "auto" => Ok(TlsMode::Auto),
            "always" => Ok(TlsMode::Always),
            other => Err(format!("the TLS choice \"{other}\" is not one of never, auto, always")),
        }
    }
}

/// What a driver read off a finished handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsFacts {
    /// `TLSv1.3`, `TLSv1.2`, …
    pub version: String,
    /// The negotiated cipher suite, as IANA names it
    /// (`TLS_AES_256_GCM_SHA384`).
    pub cipher: String,
    /// The certificates the server sent, its own first.
    pub chain: Vec<CertificateFacts>,
    /// The name the certificate was checked against: the host that was asked
    /// for (the MX name), never the address.
    pub checked_name: String,
    /// Whether a name of the server's certificate covers `checked_name`.
    pub name_matches: bool,
    /// Whether the chain leads to one of Mozilla's roots (webpki-roots), is
    /// in its dates and names `checked_name`.
    pub trusted: bool,
    /// Why it is not trusted, in words ("the certificate expired on
    /// 2026-01-01"); `None` when it is.
    pub trust_problem: Option<String>,
}

/// One certificate of the chain, as people read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateFacts {
    /// The subject's distinguished name (`CN=mx.example.org`).
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The DNS names of its subjectAltName, and its IP addresses.
    pub names: Vec<String>,
    /// Start and end of validity, `YYYY-MM-DD` (UTC).
    pub not_before: String,
    pub not_after: String,
    /// Days from the handshake to `not_after`; negative once expired.
    pub days_left: i64,
    /// Subject and issuer are the same and it signs itself.
    pub self_signed: bool,
}

crate::de::deserialize_from_map!(TlsFacts {
    version,
    cipher,
    chain,
    checked_name,
    name_matches,
    trusted,
    trust_problem,
});
crate::de::deserialize_from_map!(CertificateFacts {
    subject,
    issuer,
    names,
    not_before,
    not_after,
    days_left,
    self_signed,
});

/// Why the handshake did not end in TLS, for the report and the step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFailure {
    /// A sentence a mail administrator can act on ("no protocol version in
    /// common: the server offers only TLS 1.0").
    pub reason: String,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl TlsFacts {
    /// The server's own certificate.
    pub fn leaf(&self) -> Option<&CertificateFacts> {
        self.chain.first()
    }

    /// One sentence: "TLSv1.3 with TLS_AES_256_GCM_SHA384; the certificate
    /// for mx.example.org is trusted and has 62 days left."
    pub fn describe(&self) -> String {
        let mut s = format!("{} with {}", self.version, self.cipher);
        match self.leaf() {
            None => s.push_str("; the server sent no certificate"),
            Some(leaf) => {
                let names = if leaf.names.is_empty() { leaf.subject.clone() } else { leaf.names.join(", ") };
                s.push_str(&format!("; the certificate for {names}"));
                match &self.trust_problem {
                    None => s.push_str(" is trusted"),
                    Some(problem) => s.push_str(&format!(" is not trusted: {problem}")),
                }
                match leaf.days_left {
                    d if d < 0 => s.push_str(&format!(", and expired {} days ago", -d)),
                    1 => s.push_str(", and has 1 day left"),
                    d => s.push_str(&format!(", and has {d} days left")),
                }
            }
        }
        s.push('.');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn facts(trust_problem: Option<&str>, days_left: i64) -> TlsFacts {
        TlsFacts {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            chain: vec![CertificateFacts {
                subject: "CN=mx.example.org".into(),
                issuer: "CN=Example CA".into(),
                names: vec!["mx.example.org".into()],
                not_before: "2026-01-01".into(),
                not_after: "2027-01-01".into(),
                days_left,
                self_signed: false,
            }],
            checked_name: "mx.example.org".into(),
            name_matches: true,
            trusted: trust_problem.is_none(),
            trust_problem: trust_problem.map(str::to_string),
        }
    }

    #[test]
    fn the_facts_in_one_sentence() {
        assert_eq!(
            facts(None, 62).describe(),
            "TLSv1.3 with TLS_AES_256_GCM_SHA384; the certificate for mx.example.org is trusted, and has 62 days left."
        );
        let expired = facts(Some("it expired on 2026-11-01"), -28).describe();
        assert!(expired.contains("is not trusted: it expired on 2026-11-01, and expired 28 days ago"), "{expired}");
    }

    #[test]
    fn the_mode_reads_its_own_names() {
        for mode in [TlsMode::Never, TlsMode::Auto, TlsMode::Always] {
            assert_eq!(mode.as_str().parse::<TlsMode>(), Ok(mode));
        }
        assert!("sometimes".parse::<TlsMode>().unwrap_err().contains("never, auto, always"));
    }
}

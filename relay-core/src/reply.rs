//! SMTP replies (RFC 5321 §4.2) and enhanced status codes (RFC 3463).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One complete server reply: a three-digit code, an optional enhanced status
/// code, and the text of every line (without code and separator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced: Option<EnhancedCode>,
    pub lines: Vec<String>,
}

crate::de::deserialize_from_map!(Reply { code, enhanced, lines });

/// The first digit of a reply code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// 2xx: the command was done.
    Positive,
    /// 3xx: go on (354 after DATA; never seen in an audit).
    Intermediate,
    /// 4xx: not now; the same command may work later.
    TransientNegative,
    /// 5xx: no, and the same command will fail again.
    PermanentNegative,
}

impl Reply {
    pub fn new(code: u16, lines: Vec<String>) -> Self {
        let enhanced = lines.first().and_then(|l| EnhancedCode::parse_prefix(l, code));
        Reply { code, enhanced, lines }
    }

    pub fn severity(&self) -> Severity {
        match self.code / 100 {
            2 => Severity::Positive,
            3 => Severity::Intermediate,
            4 => Severity::TransientNegative,
            _ => Severity::PermanentNegative,
        }
    }

    pub fn is_positive(&self) -> bool {
        self.severity() == Severity::Positive
    }

    pub fn is_transient(&self) -> bool {
        self.severity() == Severity::TransientNegative
    }

    pub fn is_permanent(&self) -> bool {
        self.severity() == Severity::PermanentNegative
    }

    /// 421: the server is closing the channel (RFC 5321 §3.8), whatever was asked.
    pub fn is_closing(&self) -> bool {
        self.code == 421
    }

    /// The server wants STARTTLS or authentication before it will take mail:
    /// 530 (RFC 3207, RFC 4954), or any reply whose enhanced code says so
    /// (5.7.9 mechanism too weak, 5.7.10 and 5.7.11 encryption required).
    pub fn needs_tls_or_auth(&self) -> bool {
        if self.code == 530 || self.code == 538 {
            return true;
        }
        matches!(self.enhanced, Some(EnhancedCode { class: 5 | 4, subject: 7, detail: 9..=11 }))
    }

    /// The server wants TLS before it goes on (`530 5.7.0 Must issue a
    /// STARTTLS command first`, and kin): a TLS-or-login demand whose words
    /// name TLS. A demand for a login alone is not met by TLS.
    pub fn demands_tls(&self) -> bool {
        self.needs_tls_or_auth() && {
            let text = self.text().to_ascii_uppercase();
            text.contains("TLS") || matches!(self.enhanced, Some(EnhancedCode { subject: 7, detail: 10 | 11, .. }))
        }
    }

    /// The text of all lines after the enhanced code, joined by spaces: the
    /// server's own words, for showing in one line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            let line = match (i, &self.enhanced) {
                (_, Some(e)) => e.strip_prefix(line),
                (_, None) => line.as_str(),
            };
            if !out.is_empty() && !line.is_empty() {
                out.push(' ');
            }
            out.push_str(line.trim());
        }
        out
    }

    /// The reply as one line: `554 5.7.1 <x@example.net>: Relay access denied`.
    pub fn summary(&self) -> String {
        match &self.enhanced {
            Some(e) => format!("{} {} {}", self.code, e, self.text()).trim_end().to_string(),
            None => format!("{} {}", self.code, self.text()).trim_end().to_string(),
        }
    }

    /// The lines as the server sent them, without line endings.
    pub fn wire_lines(&self) -> Vec<String> {
        let last = self.lines.len().saturating_sub(1);
        if self.lines.is_empty() {
            return vec![self.code.to_string()];
        }
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let sep = if i == last { ' ' } else { '-' };
                if l.is_empty() && i == last {
                    self.code.to_string()
                } else {
                    format!("{}{}{}", self.code, sep, l)
                }
            })
            .collect()
    }
}

impl fmt::Display for Reply {
    /// The exact wire form, CRLF after each line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.wire_lines() {
            write!(f, "{line}\r\n")?;
        }
        Ok(())
    }
}

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    /// Reads an enhanced code at the start of a reply's text. RFC 3463 says
    /// its class must agree with the reply code's first digit; a text that only
    /// looks like one (a version number, say) is not taken.
    pub fn parse_prefix(text: &str, code: u16) -> Option<EnhancedCode> {
        let word = text.split(' ').next()?;
        let mut parts = word.split('.');
        let class: u8 = parse_digits(parts.next()?, 1)?;
        let subject: u16 = parse_digits(parts.next()?, 3)?;
        let detail: u16 = parse_digits(parts.next()?, 3)?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) || u16::from(class) != code / 100 {
            return None;
        }
        Some(EnhancedCode { class, subject, detail })
    }

    fn strip_prefix<'a>(&self, line: &'a str) -> &'a str {
        let prefix = self.to_string();
        match line.strip_prefix(prefix.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim_start(),
            _ => line,
        }
    }
}

fn parse_digits<T: std::str::FromStr>(s: &str, max_len: usize) -> Option<T> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl Serialize for EnhancedCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EnhancedCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let class = s.split('.').next().and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
        EnhancedCode::parse_prefix(&s, class * 100)
            .ok_or_else(|| serde::de::Error::custom(format!("not an enhanced status code: {s}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_code_must_match_class() {
        assert_eq!(
            EnhancedCode::parse_prefix("5.7.1 Relay access denied", 554),
            Some(EnhancedCode { class: 5, subject: 7, detail: 1 })
        );
        assert_eq!(EnhancedCode::parse_prefix("2.7.1 odd", 554), None);
        assert_eq!(EnhancedCode::parse_prefix("Postfix 3.7.11", 220), None);
        assert_eq!(EnhancedCode::parse_prefix("5.7.1234 x", 554), None);
    }

    #[test]
    fn text_and_summary_drop_the_enhanced_code() {
        let r = Reply::new(554, vec!["5.7.1 <a@example.net>: Relay access denied".into()]);
        assert_eq!(r.text(), "<a@example.net>: Relay access denied");
        assert_eq!(r.summary(), "554 5.7.1 <a@example.net>: Relay access denied");
        assert!(r.is_permanent());
    }

    #[test]
    fn display_is_wire_form() {
        let r = Reply::new(250, vec!["mx.example.org".into(), "PIPELINING".into(), "8BITMIME".into()]);
        assert_eq!(r.to_string(), "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    }

    #[test]
    fn tls_or_auth_required() {
        assert!(Reply::new(530, vec!["5.7.0 Must issue a STARTTLS command first".into()]).needs_tls_or_auth());
        assert!(Reply::new(554, vec!["5.7.11 Encryption required".into()]).needs_tls_or_auth());
        assert!(!Reply::new(554, vec!["5.7.1 Relay access denied".into()]).needs_tls_or_auth());
    }
}

//! What a server offers in its EHLO reply (RFC 5321 §4.1.1.1), and how to
//! say it in plain words.

use serde::{Deserialize, Serialize};

use crate::reply::Reply;

/// The extensions a server advertised, one per EHLO line after the first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Each keyword upper-cased, with its parameters as the server wrote them.
    pub extensions: Vec<Extension>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub keyword: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
}

impl Capabilities {
    /// Reads a positive EHLO reply. The first line is the server's name and
    /// greeting, not an extension.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let extensions = reply
            .lines
            .iter()
            .skip(1)
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let keyword = words.next()?.to_ascii_uppercase();
                // Old Microsoft servers wrote "AUTH=LOGIN" alongside "AUTH LOGIN".
                let (keyword, first) = match keyword.split_once('=') {
                    Some((k, p)) => (k.to_string(), Some(p.to_string())),
                    None => (keyword, None),
                };
                let params = first.into_iter().chain(words.map(str::to_string)).collect();
                Some(Extension { keyword, params })
            })
            .collect();
        Capabilities { extensions }
    }

    pub fn has(&self, keyword: &str) -> bool {
        self.extensions.iter().any(|e| e.keyword.eq_ignore_ascii_case(keyword))
    }

    pub fn params(&self, keyword: &str) -> Option<&[String]> {
        self.extensions.iter().find(|e| e.keyword.eq_ignore_ascii_case(keyword)).map(|e| e.params.as_slice())
    }

    /// RFC 2920: commands may be sent in groups without waiting for each reply.
    pub fn pipelining(&self) -> bool {
        self.has("PIPELINING")
    }

    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }

    /// The SIZE limit in bytes, when the server names one.
    pub fn size_limit(&self) -> Option<u64> {
        self.params("SIZE")?.first()?.parse().ok().filter(|&n| n > 0)
    }

    /// One plain sentence per extension, for people who do not read RFCs.
    pub fn describe(&self) -> Vec<String> {
        self.extensions.iter().map(describe_extension).collect()
    }
}

fn describe_extension(ext: &Extension) -> String {
    let p = ext.params.join(" ");
    match ext.keyword.as_str() {
        "PIPELINING" => "PIPELINING: takes several commands at once, so the audit needs fewer round trips".into(),
        "STARTTLS" => "STARTTLS: can switch this connection to encryption".into(),
        "SIZE" => match ext.params.first().and_then(|s| s.parse::<u64>().ok()).filter(|&n| n > 0) {
            Some(n) => format!("SIZE: takes messages up to {}", human_bytes(n)),
            None => "SIZE: tells the largest message it takes up front".into(),
        },
        "AUTH" => format!("AUTH: lets users log in before sending ({p})"),
        "8BITMIME" => "8BITMIME: takes 8-bit message bodies".into(),
        "SMTPUTF8" => "SMTPUTF8: takes international (UTF-8) addresses".into(),
        "CHUNKING" => "CHUNKING: takes messages in chunks (BDAT)".into(),
        "DSN" => "DSN: can report delivery status on request".into(),
        "ENHANCEDSTATUSCODES" => "ENHANCEDSTATUSCODES: adds detailed codes such as 5.7.1 to its replies".into(),
        "VRFY" => "VRFY: answers questions about whether an address exists".into(),
        "ETRN" => "ETRN: lets a backup server ask for queued mail".into(),
        "BINARYMIME" => "BINARYMIME: takes binary message bodies".into(),
        "REQUIRETLS" => "REQUIRETLS: can insist on TLS all along the way".into(),
        "XCLIENT" | "XFORWARD" => format!("{}: a Postfix extension for trusted proxies", ext.keyword),
        other if p.is_empty() => format!("{other}: a further extension"),
        other => format!("{other} {p}: a further extension"),
    }
}

fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB {
        format!("{} MiB", crate::narration::fixed(n as f64 / MIB as f64, 0))
    } else if n >= 1024 {
        format!("{} KiB", crate::narration::fixed(n as f64 / 1024.0, 0))
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_postfix_ehlo() {
        let r = Reply::new(
            250,
            ["mx.example.org", "PIPELINING", "SIZE 10240000", "AUTH=PLAIN LOGIN", "STARTTLS", "8BITMIME"]
                .map(String::from)
                .to_vec(),
        );
        let caps = Capabilities::from_ehlo(&r);
        assert!(caps.pipelining());
        assert!(caps.starttls());
        assert_eq!(caps.size_limit(), Some(10_240_000));
        assert_eq!(caps.params("auth"), Some(&["PLAIN".to_string(), "LOGIN".to_string()][..]));
        assert_eq!(caps.describe()[1], "SIZE: takes messages up to 10 MiB");
    }
}

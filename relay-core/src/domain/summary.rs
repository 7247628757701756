//! What a page needs to draw a domain report, read from the whole report's
//! JSON (everything else in it is skipped). The page keeps the JSON text for
//! its download; reading only this keeps the full report's deserialisers,
//! probes, transcripts and all, out of the page's WASM (its weight goal is
//! 200 KiB).

use std::fmt::Write;

use serde::Deserialize;

use crate::software::Software;
use crate::step::Step;
use crate::verdict::Verdict;

#[derive(Clone, Debug, PartialEq)]
pub struct DomainSummary {
    pub domain: String,
    pub verdict: Verdict,
    pub reason: String,
    pub targets: Vec<TargetSummary>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TargetSummary {
    pub mx_host: String,
    pub address: Option<String>,
    pub not_checked: Option<String>,
    /// Its audit was cut short (see [`super::Target::unfinished`]).
    pub unfinished: bool,
    /// Present when the target was audited (its report's own fields).
    pub verdict: Option<Verdict>,
    pub reason: Option<String>,
    pub server: Option<ServerSummary>,
    pub elapsed_ms: Option<f64>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerSummary {
    pub name: Option<String>,
    pub software: Software,
}

// Read as serde's derive would, with `#[serde(default)]` where `= …` says.
crate::de::deserialize_from_map!(DomainSummary { domain, verdict, reason, targets, notes = Vec::new() });
crate::de::deserialize_from_map!(TargetSummary {
    mx_host, address, not_checked = None, unfinished = false, verdict = None, reason = None, server = None,
    elapsed_ms = None, steps = Vec::new(),
});
crate::de::deserialize_from_map!(ServerSummary { name = None, software = Software::default() });

impl DomainSummary {
    /// The domain audit as plain text, for a ticket or a mail: the verdict
    /// and why, the notes, then every row with its answer and, for each
    /// server audited, the manual test's steps as a terminal shows them.
    pub fn to_text(&self) -> String {
        let mut out = format!("relaycheck: the mail servers of {}: {}\n{}\n", self.domain, self.verdict, self.reason);
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        for t in &self.targets {
            let place = match t.address.as_deref() {
                Some(a) if a != t.mx_host => format!("{} [{a}]", t.mx_host),
                _ => t.mx_host.clone(),
            };
            let _ = match (t.verdict, &t.not_checked) {
                (Some(verdict), _) => writeln!(out, "\n{place}: {verdict}: {}", t.reason.as_deref().unwrap_or("")),
                (None, Some(why)) => writeln!(out, "\n{place}: {why}"),
                (None, None) => writeln!(out, "\n{place}: still being audited"),
            };
            for step in &t.steps {
                if let Some(sent) = &step.sent {
                    let _ = writeln!(out, "  > {sent}");
                }
                for line in step.reply.iter().flat_map(|r| r.wire_lines()) {
                    let _ = writeln!(out, "  < {line}");
                }
            }
        }
        out
    }
}

/// A line of the streamed domain audit ([`super::progress::Progress`]), as
/// the page reads it: rows as summaries, the final report kept as its JSON
/// text (for the download) to be read into a [`DomainSummary`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    Planned { domain: String, targets: Vec<TargetSummary> },
    Finished { index: usize, target: TargetSummary },
    Done { report: Box<serde_json::value::RawValue> },
    Failed { code: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_the_verdict_every_row_and_each_servers_dialogue() {
        let json = r#"{
            "domain": "a.test", "verdict": "open", "reason": "mx2.a.test [::1] is an open relay: it took all.",
            "notes": ["1 address(es) could not be audited; each row says why."],
            "targets": [
                {"mx_host": "mx1.a.test", "preference": 10, "address": "hidden", "not_checked": "not audited: denied."},
                {"mx_host": "mx2.a.test", "preference": 20, "address": "::1", "verdict": "open", "reason": "it took all.",
                 "steps": [{"kind": "greeting", "connection": 1, "sent": "EHLO relaycheck.invalid",
                            "reply": {"code": 250, "lines": ["mx2.a.test", "PIPELINING"]},
                            "at_ms": 1.0, "took_ms": 1.0, "tone": "good", "meaning": "It greeted us."}]},
                {"mx_host": "mx2.a.test", "preference": 20, "address": "127.0.0.1"}
            ]
        }"#;
        let summary: DomainSummary = serde_json::from_str(json).unwrap();
        let text = summary.to_text();
        for expected in [
            "relaycheck: the mail servers of a.test: open\nmx2.a.test [::1] is an open relay",
            "- 1 address(es) could not be audited",
            "mx1.a.test [hidden]: not audited: denied.",
            "mx2.a.test [::1]: open: it took all.\n  > EHLO relaycheck.invalid\n  < 250-mx2.a.test\n  < 250 PIPELINING\n",
            "mx2.a.test [127.0.0.1]: still being audited",
        ] {
            assert!(text.contains(expected), "{expected:?} in:\n{text}");
        }
    }
}

//! What a page needs to draw a domain report, read from the whole report's
//! JSON (everything else in it is skipped). The page keeps the JSON text for
//! its download; reading only this keeps the full report's deserialisers,
//! probes, transcripts and all, out of the page's WASM (its weight goal is
//! 200 KiB).

use serde::Deserialize;

use crate::software::Software;
use crate::step::Step;
use crate::verdict::Verdict;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DomainSummary {
    pub domain: String,
    pub verdict: Verdict,
    pub reason: String,
    pub targets: Vec<TargetSummary>,
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TargetSummary {
    pub mx_host: String,
    pub address: Option<String>,
    #[serde(default)]
    pub not_checked: Option<String>,
    /// Its audit was cut short (see [`super::Target::unfinished`]).
    #[serde(default)]
    pub unfinished: bool,
    /// Present when the target was audited (its report's own fields).
    #[serde(default)]
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub server: Option<ServerSummary>,
    #[serde(default)]
    pub elapsed_ms: Option<f64>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ServerSummary {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub software: Software,
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

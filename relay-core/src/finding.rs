//! Findings: what the audit noticed besides the relay verdict, each in words
//! with what to change. Controls give most of them: a server that takes any
//! recipient at its own name, one that refuses `postmaster`.

use serde::{Deserialize, Serialize};

use crate::step::Tone;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// A stable name for scripts: `accepts-any-recipient`, `postmaster-refused`,
    /// `probes-adapted`.
    pub id: String,
    /// How the page should colour it.
    pub tone: Tone,
    /// What was found, in one or two sentences.
    pub text: String,
    /// What to change, for the software recognised; may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<String>,
}

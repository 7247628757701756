//! A domain audit told as it goes: the lines of the hosted API's streamed
//! answer (`POST /api/check` with `{"domain":…}` and `Accept:
//! application/x-ndjson`), one JSON object per line, so that a page can draw
//! every row at once and fill each in as its audit finishes.
//!
//! In order: one [`Progress::Planned`], a [`Progress::Finished`] per audited
//! row (in the order they finish), then one [`Progress::Done`], or a
//! [`Progress::Failed`] if the audit could not end with a report.

use serde::{Deserialize, Serialize};

use super::{DomainReport, Target};
use crate::wire::ErrorCode;

/// The media type of the streamed answer.
pub const MEDIA_TYPE: &str = "application/x-ndjson";

/// One line of a streamed domain audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// Every row, in the report's order: the ones being audited have
    /// neither a report nor `not_checked` yet.
    Planned { domain: String, targets: Vec<Target> },
    /// Row `index` of the plan has its answer.
    Finished { index: usize, target: Box<Target> },
    /// The whole report, exactly as the answer in one piece gives it.
    Done { report: Box<DomainReport> },
    /// The audit ended without a report: a stable code and a sentence.
    Failed { code: ErrorCode, message: String },
}

impl Progress {
    /// The line as sent: JSON and a newline.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a progress line always serialises");
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{plan, summary, Item, MailServers, MxHost};

    #[test]
    fn each_line_is_one_json_object_the_page_reads_back() {
        let hosts = vec![MxHost {
            preference: 10,
            exchange: "mx.a.test".into(),
            addresses: vec!["192.0.2.1".parse().unwrap()],
            implicit: false,
            error: None,
        }];
        let targets: Vec<Target> = plan(&hosts)
            .iter()
            .map(|item| match item {
                Item::Audit(p) => Target::pending(p),
                Item::Skip(t) => (**t).clone(),
            })
            .collect();
        let planned = Progress::Planned { domain: "a.test".into(), targets: targets.clone() };
        let report = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
        let lines = [
            planned.to_line(),
            Progress::Done { report: Box::new(report) }.to_line(),
            Progress::Failed { code: ErrorCode::Internal, message: "The bridge failed.".into() }.to_line(),
        ];
        for line in &lines {
            assert_eq!(line.matches('\n').count(), 1, "one line each: {line}");
            assert_eq!(&serde_json::from_str::<Progress>(line).unwrap().to_line(), line);
        }
        match serde_json::from_str::<summary::Progress>(&lines[0]).unwrap() {
            summary::Progress::Planned { domain, targets } => {
                assert_eq!(domain, "a.test");
                assert_eq!(targets[0].address.as_deref(), Some("192.0.2.1"));
                assert!(targets[0].verdict.is_none() && targets[0].not_checked.is_none(), "pending");
            }
            other => panic!("{other:?}"),
        }
        match serde_json::from_str::<summary::Progress>(&lines[1]).unwrap() {
            summary::Progress::Done { report } => {
                let whole: DomainReport = serde_json::from_str(report.get()).unwrap();
                assert_eq!(whole.domain, "a.test");
            }
            other => panic!("{other:?}"),
        }
    }
}

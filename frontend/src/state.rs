//! The page's state: a reducer fed by relay-core's events, in the manner of
//! yew's function_todomvc. Components only read it; the audit service and
//! the form write it through [`AuditAction`]s.

use std::rc::Rc;

use relay_core::{ProbeReport, Report, Step, TranscriptLine};
use yew::Reducible;

/// What to audit.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Idle,
    Running,
    Finished,
    /// The audit could not run (bridge unreachable or refusing, unknown host).
    Failed,
    Cancelled,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditState {
    pub phase: Phase,
    /// Each run has a number; events of an older run are ignored.
    pub run: u32,
    pub target: Option<Target>,
    pub steps: Vec<Step>,
    pub probes: Vec<ProbeReport>,
    /// Probes planned; 0 until the server's banner arrived.
    pub total: usize,
    pub transcript: Vec<TranscriptLine>,
    pub report: Option<Rc<Report>>,
    /// Why the audit could not run, in words.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AuditAction {
    Start { run: u32, target: Target },
    Step { run: u32, step: Step },
    Line { run: u32, line: TranscriptLine },
    Probe { run: u32, probe: ProbeReport, total: usize },
    Finished { run: u32, report: Rc<Report> },
    Failed { run: u32, message: String },
    Cancel,
}

impl AuditAction {
    fn run(&self) -> Option<u32> {
        match self {
            AuditAction::Start { .. } | AuditAction::Cancel => None,
            AuditAction::Step { run, .. }
            | AuditAction::Line { run, .. }
            | AuditAction::Probe { run, .. }
            | AuditAction::Finished { run, .. }
            | AuditAction::Failed { run, .. } => Some(*run),
        }
    }
}

impl Reducible for AuditState {
    type Action = AuditAction;

    fn reduce(self: Rc<Self>, action: AuditAction) -> Rc<Self> {
        if action.run().is_some_and(|run| run != self.run) || (self.phase != Phase::Running && action.run().is_some()) {
            // A cancelled or superseded run still has events in flight.
            return self;
        }
        let mut next = (*self).clone();
        match action {
            AuditAction::Start { run, target } => {
                next = AuditState { phase: Phase::Running, run, target: Some(target), ..AuditState::default() };
            }
            AuditAction::Step { step, .. } => next.steps.push(step),
            AuditAction::Line { line, .. } => next.transcript.push(line),
            AuditAction::Probe { probe, total, .. } => {
                next.probes.push(probe);
                next.total = total;
            }
            AuditAction::Finished { report, .. } => {
                next.total = report.probes.len();
                next.probes = report.probes.clone();
                next.steps = report.steps.clone();
                next.transcript = report.transcript.clone();
                next.phase = Phase::Finished;
                next.report = Some(report);
            }
            AuditAction::Failed { message, .. } => {
                next.phase = Phase::Failed;
                next.error = Some(message);
            }
            AuditAction::Cancel => {
                if next.phase == Phase::Running {
                    next.phase = Phase::Cancelled;
                }
            }
        }
        Rc::new(next)
    }
}

impl AuditState {
    /// "Probe 3 of 22: recipient" — for the progress line read to screen readers.
    pub fn progress_text(&self) -> String {
        let done = self.probes.len();
        let step = self.steps.last().map_or("connecting", |s| s.kind.next_action());
        if self.total == 0 {
            format!("Starting: {step}")
        } else {
            format!("Probe {} of {}: {step}", (done + 1).min(self.total), self.total)
        }
    }

    /// The transcript as text, as `ws-bridge check` prints it.
    pub fn transcript_text(&self) -> String {
        self.transcript.iter().map(|l| format!("{l}\n")).collect()
    }
}

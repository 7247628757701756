//! The page's state: one reducer for all of it, in the manner of yew's
//! function_todomvc. Components only read it; the services and the form
//! write it through verb-named [`PageAction`]s.
//!
//! Plain Rust, no browser: its tests run natively (`cargo test -p
//! relaycheck-frontend`).

use std::rc::Rc;

use relay_core::domain::summary::{DomainSummary, TargetSummary};
use relay_core::wire::{LabTarget, MxHostAnswer};
use relay_core::{Config, ProbeReport, Report, Step, TlsMode, TranscriptLine};
use yew::Reducible;

/// What to audit.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

/// What the user typed.
#[derive(Clone, Debug, PartialEq)]
pub struct FormValues {
    pub host: String,
    pub port: u16,
    pub from_domain: String,
    pub to_domain: String,
    /// When the audit moves into TLS (the bridge speaks it, never the page).
    pub tls: TlsMode,
    pub bridge: String,
}

impl FormValues {
    /// The defaults, with the bridge at `bridge`.
    pub fn new(bridge: String) -> Self {
        let defaults = Config::default();
        FormValues {
            host: String::new(),
            port: 25,
            from_domain: defaults.from_domain,
            to_domain: defaults.to_domain,
            tls: defaults.tls,
            bridge,
        }
    }

    /// The server the form names.
    pub fn target(&self) -> Target {
        Target { host: self.host.clone(), port: self.port }
    }

    /// The engine's settings for an audit of `target` with this form's
    /// other choices, or why they cannot be used, in words.
    pub fn config(&self, target: &Target) -> Result<Config, String> {
        if target.host.is_empty() {
            return Err("Enter the mail server's name or address first.".into());
        }
        let config = Config {
            from_domain: self.from_domain.clone(),
            to_domain: self.to_domain.clone(),
            tls: self.tls,
            // Port 465 is TLS from the first byte (RFC 8314).
            implicit_tls: target.port == 465,
            ..Config::default()
        };
        config.validate().map_err(|e| relay_core::wire::sentence(&e.to_string()))?;
        Ok(config)
    }

    /// The query parameters of a link that reopens this check of `target`
    /// (only what differs from the defaults; `origin` is the page's own,
    /// the default bridge).
    pub fn permalink_params(&self, target: &Target, origin: &str) -> Vec<(&'static str, String)> {
        let defaults = Config::default();
        let mut params = vec![("host", target.host.clone()), ("port", target.port.to_string())];
        if self.from_domain != defaults.from_domain {
            params.push(("from", self.from_domain.clone()));
        }
        if self.to_domain != defaults.to_domain {
            params.push(("to", self.to_domain.clone()));
        }
        if self.tls != defaults.tls {
            params.push(("tls", self.tls.as_str().to_string()));
        }
        if self.bridge != origin {
            params.push(("bridge", self.bridge.clone()));
        }
        params.push(("run", "1".into()));
        params
    }
}

/// Whether `host` may be a mail domain (and so needs an MX lookup): not an
/// address, and more than one label.
pub fn may_be_domain(host: &str) -> bool {
    let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_err() && bare.trim_end_matches('.').contains('.')
}

/// How many relay tricks follow the manual test: counted from the engine's
/// own plan, so the page never says a number the engine does not try.
pub fn relay_tricks() -> usize {
    let config = Config::default();
    let input = relay_core::probe::PlanInput {
        config: &config,
        address: std::net::Ipv4Addr::new(192, 0, 2, 1).into(),
        server_name: Some("mx.example.org"),
        audited_domain: None,
    };
    relay_core::probe::plan(&input).len().saturating_sub(1)
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

/// The MX lookup of "List the domain's mail servers".
#[derive(Clone, Debug, PartialEq)]
pub enum MxView {
    Loading(String),
    Hosts(String, Rc<Vec<MxHostAnswer>>),
    Failed(String),
}

/// A domain audit (every mail server at every address, by the bridge's
/// hosted API, streamed): starting, its rows filling in, done, or stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum DomainView {
    /// Before the rows are known: what is happening, in words.
    Starting(String),
    /// The domain and its rows so far; a row still being audited has no
    /// verdict yet.
    Live(String, Rc<Vec<TargetSummary>>),
    /// The report's JSON as the bridge sent it (for the download), and
    /// what the page draws from it.
    Done(Rc<(String, DomainSummary)>),
    /// Why the audit stopped, and the rows that were in by then.
    Failed(String, Option<(String, Rc<Vec<TargetSummary>>)>),
}

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct PageState {
    pub form: FormValues,
    /// The built-in lab's servers; empty without `--lab`.
    pub lab: Rc<Vec<LabTarget>>,
    pub mx: Option<MxView>,
    /// Each check (audit, MX lookup before one, domain audit) has a number;
    /// actions of an older one are ignored.
    pub run: u32,
    pub phase: Phase,
    pub target: Option<Target>,
    pub steps: Rc<Vec<Step>>,
    pub probes: Rc<Vec<ProbeReport>>,
    /// Probes planned; 0 until the server's banner arrived.
    pub total: usize,
    pub transcript: Rc<Vec<TranscriptLine>>,
    pub report: Option<Rc<Report>>,
    /// Whether the verdict has been painted and the whole report drawn
    /// after it. Until then the page shows the verdict over what it had
    /// drawn while the audit ran, and lays out only what is on screen
    /// ([`PageState::drawing`]): the verdict comes first, the four hundred
    /// elements of a report a frame later.
    pub settled: bool,
    /// Why the audit could not run, in words.
    pub error: Option<String>,
    pub domain: Option<DomainView>,
    /// "Copied" after a copy, for the live region.
    pub notice: Option<String>,
}

impl PageState {
    pub fn new(form: FormValues) -> Self {
        PageState {
            form,
            lab: Rc::default(),
            mx: None,
            run: 0,
            phase: Phase::Idle,
            target: None,
            steps: Rc::default(),
            probes: Rc::default(),
            total: 0,
            transcript: Rc::default(),
            report: None,
            settled: false,
            error: None,
            domain: None,
            notice: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PageAction {
    /// The user changed the form.
    Edit(FormValues),
    ShowLab(Vec<LabTarget>),
    /// "List the domain's mail servers" was asked for this domain.
    LookUpMx(String),
    ShowMx {
        domain: String,
        hosts: Vec<MxHostAnswer>,
    },
    FailMx(String),
    /// An audit of one server starts: what the last check showed goes.
    StartRun {
        run: u32,
        target: Target,
    },
    RecordStep {
        run: u32,
        step: Step,
    },
    AppendLine {
        run: u32,
        line: TranscriptLine,
    },
    RecordProbe {
        run: u32,
        probe: ProbeReport,
        total: usize,
    },
    Finish {
        run: u32,
        report: Rc<Report>,
    },
    /// The audit (or the check before it) could not run, in words.
    Fail {
        run: u32,
        message: String,
    },
    /// The verdict of check `run` has been painted: draw its whole report,
    /// and lay out all of it.
    SettleReport {
        run: u32,
    },
    /// Several actions at once, drawn once: every engine event one input
    /// produced.
    ApplyAll(Vec<PageAction>),
    /// The user stopped whatever ran; `run` is the next check's number, so
    /// late answers of the stopped one change nothing.
    Cancel {
        run: u32,
    },
    /// A domain audit (or the MX lookup deciding on one) starts, said in words.
    StartDomain {
        run: u32,
        message: String,
    },
    /// The domain audit's rows, none audited yet.
    PlanDomain {
        run: u32,
        domain: String,
        rows: Vec<TargetSummary>,
    },
    FinishDomainRow {
        run: u32,
        index: usize,
        row: TargetSummary,
    },
    /// The domain's report: its JSON as sent, and what it says.
    FinishDomain {
        run: u32,
        json: String,
        summary: DomainSummary,
    },
    FailDomain {
        run: u32,
        message: String,
    },
    /// A short word for the live region ("Transcript copied.").
    Notify(String),
}

impl Reducible for PageState {
    type Action = PageAction;

    fn reduce(self: Rc<Self>, action: PageAction) -> Rc<Self> {
        let mut next = Rc::unwrap_or_clone(self);
        next.apply(action);
        Rc::new(next)
    }
}

impl PageState {
    /// Applies one action in place (a stale one changes nothing).
    pub fn apply(&mut self, action: PageAction) {
        use PageAction::*;
        let running = self.phase == Phase::Running;
        match action {
            Edit(form) => self.form = form,
            ShowLab(targets) => self.lab = Rc::new(targets),
            LookUpMx(domain) => self.mx = Some(MxView::Loading(domain)),
            ShowMx { domain, hosts } => self.mx = Some(MxView::Hosts(domain, Rc::new(hosts))),
            FailMx(message) => self.mx = Some(MxView::Failed(message)),
            StartRun { run, target } => {
                let (form, lab, mx) = (self.form.clone(), self.lab.clone(), self.mx.take());
                *self = PageState { lab, mx, run, phase: Phase::Running, target: Some(target), ..PageState::new(form) };
            }
            ApplyAll(actions) => {
                for action in actions {
                    self.apply(action);
                }
            }
            RecordStep { run, step } if run == self.run && running => Rc::make_mut(&mut self.steps).push(step),
            AppendLine { run, line } if run == self.run && running => Rc::make_mut(&mut self.transcript).push(line),
            RecordProbe { run, probe, total } if run == self.run && running => {
                Rc::make_mut(&mut self.probes).push(probe);
                self.total = total;
            }
            // The verdict first: what was drawn of the steps, probes and
            // transcript stays as it is until the verdict has been painted.
            Finish { run, report } if run == self.run && running => {
                self.phase = Phase::Finished;
                self.report = Some(report);
            }
            // Then the report's own, whole.
            SettleReport { run } if run == self.run && self.phase == Phase::Finished && !self.settled => {
                if let Some(report) = &self.report {
                    self.total = report.probes.len();
                    self.probes = Rc::new(report.probes.clone());
                    self.steps = Rc::new(report.steps.clone());
                    self.transcript = Rc::new(report.transcript.clone());
                }
                self.settled = true;
            }
            Fail { run, message } if run == self.run && running => {
                self.phase = Phase::Failed;
                self.error = Some(message);
            }
            Cancel { run } => {
                if running {
                    self.phase = Phase::Cancelled;
                }
                self.run = run;
                self.domain = None;
            }
            StartDomain { run, message } => {
                let (form, lab, mx) = (self.form.clone(), self.lab.clone(), self.mx.take());
                *self = PageState { lab, mx, run, domain: Some(DomainView::Starting(message)), ..PageState::new(form) };
            }
            PlanDomain { run, domain, rows } if run == self.run && self.domain_running() => {
                self.domain = Some(DomainView::Live(domain, Rc::new(rows)));
            }
            FinishDomainRow { run, index, row } if run == self.run => {
                if let Some(DomainView::Live(_, rows)) = &mut self.domain {
                    if let Some(slot) = Rc::make_mut(rows).get_mut(index) {
                        *slot = row;
                    }
                }
            }
            FinishDomain { run, json, summary } if run == self.run && self.domain_running() => {
                self.domain = Some(DomainView::Done(Rc::new((json, summary))));
            }
            FailDomain { run, message } if run == self.run && self.domain_running() => {
                let rows = match self.domain.take() {
                    Some(DomainView::Live(name, rows)) => Some((name, rows)),
                    _ => None,
                };
                self.domain = Some(DomainView::Failed(message, rows));
            }
            Notify(text) => self.notice = Some(text),
            // A stale answer: a cancelled or superseded check's.
            RecordStep { .. }
            | AppendLine { .. }
            | RecordProbe { .. }
            | Finish { .. }
            | SettleReport { .. }
            | Fail { .. }
            | PlanDomain { .. }
            | FinishDomainRow { .. }
            | FinishDomain { .. }
            | FailDomain { .. } => {}
        }
    }

    fn domain_running(&self) -> bool {
        matches!(self.domain, Some(DomainView::Starting(_) | DomainView::Live(..)))
    }

    /// Whether a check is under way (the Run button waits, Cancel works).
    pub fn running(&self) -> bool {
        self.phase == Phase::Running || self.domain_running()
    }

    /// Whether the page lays out only what is on screen (the class
    /// `drawing`): while an audit runs, and until its whole report is drawn.
    pub fn drawing(&self) -> bool {
        self.phase == Phase::Running || self.phase == Phase::Finished && !self.settled
    }

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

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

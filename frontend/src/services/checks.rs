//! What the page's buttons start: an audit of one server (the websocket
//! driver), the audit of a whole domain (the hosted API, streamed), the MX
//! lookup, the lab, and what is done with a report. Each says what happens
//! as [`PageAction`]s; the reducer keeps the state.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::Rc;

use relay_core::domain::summary::{DomainSummary, Progress};
use yew::Callback;

use crate::services::audit::{self, AuditHandle, WarmSocket};
use crate::services::{api, browser};
use crate::state::{may_be_domain, DomainView, FormValues, PageAction, PageState, Target};

/// The page's running work, shared by every callback.
#[derive(Clone)]
pub struct Checks {
    dispatch: Callback<PageAction>,
    /// The audit running over websockets; dropping it stops it.
    audit: Rc<RefCell<Option<AuditHandle>>>,
    /// The last check's number: async answers of an older one stop early.
    runs: Rc<Cell<u32>>,
    /// An audit socket opened as the user came to the form, for the next check.
    warm: Rc<RefCell<Option<WarmSocket>>>,
}

impl PartialEq for Checks {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.audit, &other.audit)
    }
}

impl Checks {
    pub fn new(dispatch: Callback<PageAction>) -> Self {
        Checks { dispatch, audit: Rc::default(), runs: Rc::default(), warm: Rc::default() }
    }

    /// Stops what runs and numbers the next check.
    fn next_run(&self) -> u32 {
        self.audit.borrow_mut().take();
        self.runs.set(self.runs.get() + 1);
        self.runs.get()
    }

    fn current(&self, run: u32) -> bool {
        self.runs.get() == run
    }

    /// The pointer or the keyboard came to the form or the lab: a check is
    /// likely, so the audit socket is opened now (one at a time).
    pub fn warm_up(&self, form: &FormValues) {
        let bridge_ws = browser::ws_base(&form.bridge);
        let mut warm = self.warm.borrow_mut();
        if !warm.as_ref().is_some_and(|w| w.serves(&bridge_ws)) {
            *warm = WarmSocket::open(&bridge_ws);
        }
    }

    /// The user changed the form.
    pub fn edit(&self, form: FormValues) {
        self.dispatch.emit(PageAction::Edit(form));
    }

    /// On load: the lab's targets, and a permalink's check.
    pub fn load(&self, form: &FormValues) {
        let (dispatch, bridge) = (self.dispatch.clone(), form.bridge.clone());
        wasm_bindgen_futures::spawn_local(async move {
            dispatch.emit(PageAction::ShowLab(api::lab_targets(&bridge).await));
        });
        audit::rehearse_soon();
        if browser::query_param("run").as_deref() == Some("1") && !form.host.is_empty() {
            self.check(form, form.target());
        }
    }

    /// The Run button and permalinks: a name with MX records is a domain,
    /// audited whole; anything else (an address, a server's own name) is
    /// audited here, step by step.
    pub fn check(&self, form: &FormValues, target: Target) {
        if !may_be_domain(&target.host) {
            return self.audit(form, target);
        }
        let run = self.next_run();
        let message = format!("Looking up the mail servers of {}…", target.host);
        self.dispatch.emit(PageAction::StartDomain { run, message });
        let (me, form) = (self.clone(), form.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let found = api::mx_hosts(&form.bridge, &target.host).await;
            if !me.current(run) {
                return;
            }
            match found {
                Ok(answer) if answer.hosts.first().is_some_and(|h| h.implicit) => me.audit(&form, target),
                // MX records, a null MX, or a failure the domain audit says in words.
                _ => me.audit_domain(&form, target.host),
            }
        });
    }

    /// Audits one server here, step by step, over the bridge's websockets.
    pub fn audit(&self, form: &FormValues, target: Target) {
        self.start_audit(form, target, Vec::new());
    }

    /// Audits `target`; the page draws `first`, then that the audit started,
    /// with the audit's first frame (see [`AuditHandle::start`]).
    fn start_audit(&self, form: &FormValues, target: Target, mut first: Vec<PageAction>) {
        let run = self.next_run();
        first.push(PageAction::StartRun { run, target: target.clone() });
        match form.config(&target) {
            Ok(config) => {
                let warm = self.warm.borrow_mut().take();
                let bridge_ws = browser::ws_base(&form.bridge);
                let handle = AuditHandle::start(bridge_ws, target, config, run, first, self.dispatch.clone(), warm);
                *self.audit.borrow_mut() = Some(handle);
            }
            Err(message) => {
                first.push(PageAction::Fail { run, message });
                self.dispatch.emit(PageAction::ApplyAll(first));
            }
        }
    }

    /// Audits a whole domain through the hosted API: every mail server at
    /// every address, one row each, the domain's verdict on top.
    pub fn audit_domain(&self, form: &FormValues, name: String) {
        let run = self.next_run();
        let message = format!("Auditing every mail server of {name} at every address, IPv4 and IPv6, at once…");
        self.dispatch.emit(PageAction::StartDomain { run, message });
        let (me, form) = (self.clone(), form.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let dispatch = me.dispatch.clone();
            let mut ended = false;
            let on_progress = |line: Progress| {
                if !me.current(run) {
                    return ControlFlow::Break(()); // cancelled, or another check started
                }
                dispatch.emit(match line {
                    Progress::Planned { domain, targets } => PageAction::PlanDomain { run, domain, rows: targets },
                    Progress::Finished { index, target } => PageAction::FinishDomainRow { run, index, row: target },
                    Progress::Done { report } => {
                        ended = true;
                        match serde_json::from_str::<DomainSummary>(report.get()) {
                            Ok(summary) => PageAction::FinishDomain { run, json: report.get().to_string(), summary },
                            Err(e) => {
                                PageAction::FailDomain { run, message: format!("The bridge answered oddly: {e}") }
                            }
                        }
                    }
                    Progress::Failed { message, .. } => {
                        ended = true;
                        PageAction::FailDomain { run, message }
                    }
                });
                ControlFlow::Continue(())
            };
            let query = api::DomainQuery {
                domain: &name,
                port: form.port,
                from_domain: &form.from_domain,
                to_domain: &form.to_domain,
                tls: form.tls.as_str(),
            };
            let result = api::check_domain(&form.bridge, &query, on_progress).await;
            if !me.current(run) || ended {
                return;
            }
            let message = result.err().unwrap_or_else(|| {
                format!("The bridge at {} stopped answering before the audit of {name} finished.", form.bridge)
            });
            dispatch.emit(PageAction::FailDomain { run, message });
        });
    }

    /// One of a domain's servers, from the MX list or the lab: into the form, then audited.
    pub fn audit_server(&self, form: &FormValues, target: Target) {
        let form = FormValues { host: target.host.clone(), port: target.port, ..form.clone() };
        self.start_audit(&form, target, vec![PageAction::Edit(form.clone())]);
    }

    /// The whole domain, from the MX list: into the form, then audited.
    pub fn audit_whole_domain(&self, form: &FormValues, name: String) {
        let form = FormValues { host: name.clone(), ..form.clone() };
        self.dispatch.emit(PageAction::Edit(form.clone()));
        self.audit_domain(&form, name);
    }

    pub fn cancel(&self) {
        let run = self.next_run();
        self.dispatch.emit(PageAction::Cancel { run });
    }

    /// "List the domain's mail servers".
    pub fn find_mx(&self, form: &FormValues) {
        let (dispatch, domain, bridge) = (self.dispatch.clone(), form.host.clone(), form.bridge.clone());
        dispatch.emit(PageAction::LookUpMx(domain.clone()));
        wasm_bindgen_futures::spawn_local(async move {
            dispatch.emit(match api::mx_hosts(&bridge, &domain).await {
                Ok(answer) => PageAction::ShowMx { domain, hosts: answer.hosts },
                Err(message) => PageAction::FailMx(message),
            });
        });
    }

    pub fn copy_transcript(&self, state: &PageState) {
        browser::copy_to_clipboard(&state.transcript_text());
        self.dispatch.emit(PageAction::Notify("Transcript copied.".into()));
    }

    pub fn download_report(&self, state: &PageState) {
        if let Some(report) = &state.report {
            let name = format!("relaycheck-{}-{}.json", report.server.host, report.server.port);
            let json = serde_json::to_string(&**report).unwrap_or_default();
            browser::download(&name, "application/json", &browser::indent_json(&json));
        }
    }

    pub fn run_again(&self, state: &PageState) {
        if let Some(target) = state.target.clone() {
            self.audit(&state.form, target);
        }
    }

    pub fn copy_domain(&self, state: &PageState) {
        if let Some(DomainView::Done(answer)) = &state.domain {
            browser::copy_to_clipboard(&answer.1.to_text());
            self.dispatch.emit(PageAction::Notify("Results copied.".into()));
        }
    }

    pub fn download_domain(&self, state: &PageState) {
        if let Some(DomainView::Done(answer)) = &state.domain {
            let (json, report) = &**answer;
            browser::download(&format!("relaycheck-{}.json", report.domain), "application/json", json);
        }
    }
}

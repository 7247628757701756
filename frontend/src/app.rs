//! The page: the form, then the manual test step by step, the verdict, every
//! probe, and what to do. State lives in [`AuditState`]; the network in
//! services.

use std::cell::RefCell;
use std::rc::Rc;

use std::ops::ControlFlow;

use relay_core::domain::summary::{self, DomainSummary, TargetSummary};
use relay_core::{Config, Verdict};
use yew::prelude::*;

use crate::components::advice::Advice;
use crate::components::batch_summary::{BatchRow, BatchSummary};
use crate::components::domain_report::DomainAudit;
use crate::components::error_notice::ErrorNotice;
use crate::components::findings::Findings;
use crate::components::lab_targets::LabTargets;
use crate::components::mx_hosts::MxHosts;
use crate::components::probe_matrix::ProbeMatrix;
use crate::components::progress::Progress;
use crate::components::report_actions::ReportActions;
use crate::components::step_panel::StepPanel;
use crate::components::target_form::{FormValues, TargetForm};
use crate::components::verdict_banner::VerdictBanner;
use crate::services::api::{self, LabTarget, MxHost};
use crate::services::audit::AuditHandle;
use crate::services::browser;
use crate::state::{AuditAction, AuditState, Phase, Target};

/// A domain audit (every mail server at every address, by the bridge's
/// hosted API, streamed): starting, its rows filling in, done, or stopped.
#[derive(Clone, PartialEq)]
enum DomainView {
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

/// Whether `host` may be a mail domain (and so needs an MX lookup): not an
/// address, and more than one label.
fn may_be_domain(host: &str) -> bool {
    let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_err() && bare.trim_end_matches('.').contains('.')
}

#[derive(Clone, PartialEq)]
enum MxView {
    Loading(String),
    Hosts(String, Vec<MxHost>),
    Failed(String),
}

/// The form as a permalink left it, or the defaults.
fn initial_form() -> FormValues {
    let defaults = Config::default();
    FormValues {
        host: browser::query_param("host").unwrap_or_default(),
        port: browser::query_param("port").and_then(|p| p.parse().ok()).unwrap_or(25),
        from_domain: browser::query_param("from").unwrap_or(defaults.from_domain),
        to_domain: browser::query_param("to").unwrap_or(defaults.to_domain),
        tls: browser::query_param("tls").and_then(|t| t.parse().ok()).unwrap_or(defaults.tls),
        bridge: browser::query_param("bridge").unwrap_or_else(browser::origin),
    }
}

fn permalink(form: &FormValues) -> String {
    let defaults = Config::default();
    let mut params = vec![("host", form.host.clone()), ("port", form.port.to_string())];
    if form.from_domain != defaults.from_domain {
        params.push(("from", form.from_domain.clone()));
    }
    if form.to_domain != defaults.to_domain {
        params.push(("to", form.to_domain.clone()));
    }
    if form.tls != defaults.tls {
        params.push(("tls", form.tls.as_str().to_string()));
    }
    if form.bridge != browser::origin() {
        params.push(("bridge", form.bridge.clone()));
    }
    params.push(("run", "1".into()));
    browser::permalink(&params)
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(AuditState::default);
    let form = use_state(initial_form);
    let handle: Rc<RefCell<Option<AuditHandle>>> = use_mut_ref(|| None);
    let runs = use_mut_ref(|| 0u32);
    let lab = use_state(Vec::<LabTarget>::new);
    let mx = use_state(|| None::<MxView>);
    let batch = use_state(Vec::<BatchRow>::new);
    let notice = use_state(|| None::<String>);
    let domain = use_state(|| None::<DomainView>);

    // Starts an audit of `host:port` with the form's other settings.
    let start = {
        let (state, form, handle, runs, notice, domain) =
            (state.clone(), form.clone(), handle.clone(), runs.clone(), notice.clone(), domain.clone());
        Callback::from(move |target: Target| {
            handle.borrow_mut().take();
            notice.set(None);
            domain.set(None);
            let run = {
                let mut r = runs.borrow_mut();
                *r += 1;
                *r
            };
            state.dispatch(AuditAction::Start { run, target: target.clone() });
            let config = Config {
                from_domain: form.from_domain.clone(),
                to_domain: form.to_domain.clone(),
                tls: form.tls,
                // Port 465 is TLS from the first byte (RFC 8314).
                implicit_tls: target.port == 465,
                ..Config::default()
            };
            if target.host.is_empty() {
                state.dispatch(AuditAction::Failed {
                    run,
                    message: "Enter the mail server's name or address first.".into(),
                });
                return;
            }
            if let Err(e) = config.validate() {
                state.dispatch(AuditAction::Failed { run, message: relay_core::wire::sentence(&e.to_string()) });
                return;
            }
            let dispatcher = state.dispatcher();
            let emit = Callback::from(move |action| dispatcher.dispatch(action));
            *handle.borrow_mut() = Some(AuditHandle::start(browser::ws_base(&form.bridge), target, config, run, emit));
        })
    };

    // Audits a whole domain through the hosted API: every mail server at
    // every address, one row each, the domain's verdict on top.
    let start_domain = {
        let (form, handle, runs, domain, batch) =
            (form.clone(), handle.clone(), runs.clone(), domain.clone(), batch.clone());
        Callback::from(move |name: String| {
            handle.borrow_mut().take();
            batch.set(Vec::new());
            let run = {
                let mut r = runs.borrow_mut();
                *r += 1;
                *r
            };
            domain.set(Some(DomainView::Starting(format!(
                "Auditing every mail server of {name} at every address, IPv4 and IPv6, at once…"
            ))));
            let (form, runs, domain) = (form.clone(), runs.clone(), domain.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let mut rows: Option<(String, Vec<TargetSummary>)> = None;
                let mut ended = false;
                let on_progress = |line: summary::Progress| {
                    if *runs.borrow() != run {
                        return ControlFlow::Break(()); // cancelled, or another check started
                    }
                    let view = match line {
                        summary::Progress::Planned { domain, targets } => {
                            rows = Some((domain, targets));
                            None
                        }
                        summary::Progress::Finished { index, target } => {
                            if let Some(row) = rows.as_mut().and_then(|(_, r)| r.get_mut(index)) {
                                *row = target;
                            }
                            None
                        }
                        summary::Progress::Done { report } => {
                            ended = true;
                            Some(match serde_json::from_str::<DomainSummary>(report.get()) {
                                Ok(summary) => DomainView::Done(Rc::new((report.get().to_string(), summary))),
                                Err(e) => DomainView::Failed(format!("The bridge answered oddly: {e}"), None),
                            })
                        }
                        summary::Progress::Failed { message, .. } => {
                            ended = true;
                            Some(DomainView::Failed(message, rows.clone().map(|(d, r)| (d, Rc::new(r)))))
                        }
                    };
                    domain.set(Some(view.unwrap_or_else(|| {
                        let (name, rows) = rows.clone().unwrap_or_default();
                        DomainView::Live(name, Rc::new(rows))
                    })));
                    ControlFlow::Continue(())
                };
                let result =
                    api::check_domain(&form.bridge, &name, form.port, &form.from_domain, &form.to_domain, on_progress)
                        .await;
                if *runs.borrow() != run || ended {
                    return;
                }
                let message = result.err().unwrap_or_else(|| {
                    format!("The bridge at {} stopped answering before the audit of {name} finished.", form.bridge)
                });
                domain.set(Some(DomainView::Failed(message, rows.map(|(d, r)| (d, Rc::new(r))))));
            });
        })
    };

    // The Run button and permalinks: a name with MX records is a domain,
    // audited whole; anything else (an address, a server's own name) is
    // audited here, step by step.
    let run_target = {
        let (start, start_domain, form, domain, runs) =
            (start.clone(), start_domain.clone(), form.clone(), domain.clone(), runs.clone());
        Callback::from(move |target: Target| {
            if !may_be_domain(&target.host) {
                start.emit(target);
                return;
            }
            let run = {
                let mut r = runs.borrow_mut();
                *r += 1;
                *r
            };
            domain.set(Some(DomainView::Starting(format!("Looking up the mail servers of {}…", target.host))));
            let (start, start_domain, bridge, runs) =
                (start.clone(), start_domain.clone(), form.bridge.clone(), runs.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let found = api::mx_hosts(&bridge, &target.host).await;
                if *runs.borrow() != run {
                    return;
                }
                match found {
                    Ok(hosts) if hosts.first().is_some_and(|h| h.implicit) => start.emit(target),
                    // MX records, a null MX, or a failure the domain audit says in words.
                    _ => start_domain.emit(target.host),
                }
            });
        })
    };

    // On load: the lab's targets, and a permalink's check.
    {
        let (lab, form, start) = (lab.clone(), form.clone(), run_target.clone());
        use_effect_with((), move |_| {
            let bridge = form.bridge.clone();
            wasm_bindgen_futures::spawn_local(async move {
                lab.set(api::lab_targets(&bridge).await);
            });
            if browser::query_param("run").as_deref() == Some("1") && !form.host.is_empty() {
                start.emit(Target { host: form.host.clone(), port: form.port });
            }
        });
    }

    // When an audit ends: note it in the batch and start the next server;
    // move focus to the verdict so keyboard and screen-reader users hear it.
    {
        let (batch, start, state_now) = (batch.clone(), start.clone(), state.clone());
        use_effect_with((state.run, state.phase), move |(_, phase)| {
            if matches!(phase, Phase::Finished | Phase::Failed) {
                if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                    if let Some(el) = doc.get_element_by_id("verdict-title") {
                        if let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
                            let _ = el.focus();
                        }
                    }
                }
                let host = state_now.target.as_ref().map(|t| t.host.clone()).unwrap_or_default();
                let mut rows = (*batch).clone();
                if let Some(row) = rows.iter_mut().find(|r| r.host == host && r.verdict.is_none()) {
                    match (&state_now.report, &state_now.error) {
                        (Some(report), _) => {
                            row.verdict = Some(report.verdict);
                            row.reason = report.reason.clone();
                        }
                        (None, error) => {
                            row.verdict = Some(Verdict::Inconclusive);
                            row.reason = error.clone().unwrap_or_default();
                        }
                    }
                    let next = rows.iter().find(|r| r.verdict.is_none()).map(|r| r.host.clone());
                    let port = state_now.target.as_ref().map_or(25, |t| t.port);
                    batch.set(rows);
                    if let Some(host) = next {
                        start.emit(Target { host, port });
                    }
                }
            }
        });
    }

    let running =
        state.phase == Phase::Running || matches!(&*domain, Some(DomainView::Starting(_) | DomainView::Live(..)));
    let on_change = {
        let form = form.clone();
        Callback::from(move |values: FormValues| form.set(values))
    };
    let on_run = {
        let (start, form, batch) = (run_target.clone(), form.clone(), batch.clone());
        Callback::from(move |_| {
            batch.set(Vec::new());
            start.emit(Target { host: form.host.clone(), port: form.port });
        })
    };
    let on_cancel = {
        let (state, handle, batch, domain, runs) =
            (state.clone(), handle.clone(), batch.clone(), domain.clone(), runs.clone());
        Callback::from(move |_| {
            handle.borrow_mut().take();
            batch.set(Vec::new());
            *runs.borrow_mut() += 1;
            domain.set(None);
            state.dispatch(AuditAction::Cancel);
        })
    };
    let on_find_mx = {
        let (mx, form) = (mx.clone(), form.clone());
        Callback::from(move |_| {
            let (mx, domain, bridge) = (mx.clone(), form.host.clone(), form.bridge.clone());
            mx.set(Some(MxView::Loading(domain.clone())));
            wasm_bindgen_futures::spawn_local(async move {
                mx.set(Some(match api::mx_hosts(&bridge, &domain).await {
                    Ok(hosts) => MxView::Hosts(domain, hosts),
                    Err(message) => MxView::Failed(message),
                }));
            });
        })
    };
    let on_test_mx = {
        let (start, form, batch) = (start.clone(), form.clone(), batch.clone());
        Callback::from(move |host: String| {
            batch.set(Vec::new());
            form.set(FormValues { host: host.clone(), ..(*form).clone() });
            start.emit(Target { host, port: form.port });
        })
    };
    let on_test_domain = {
        let (start_domain, form) = (start_domain.clone(), form.clone());
        Callback::from(move |name: String| {
            form.set(FormValues { host: name.clone(), ..(*form).clone() });
            start_domain.emit(name);
        })
    };
    let on_download_domain = {
        let domain = domain.clone();
        Callback::from(move |_| {
            if let Some(DomainView::Done(answer)) = &*domain {
                let (json, report) = &**answer;
                browser::download(&format!("relaycheck-{}.json", report.domain), "application/json", json);
            }
        })
    };
    let on_copy_domain = {
        let (domain, notice) = (domain.clone(), notice.clone());
        Callback::from(move |_| {
            if let Some(DomainView::Done(answer)) = &*domain {
                browser::copy_to_clipboard(&answer.1.to_text());
                notice.set(Some("Results copied.".into()));
            }
        })
    };
    let domain_link = match &*domain {
        Some(DomainView::Done(answer)) => permalink(&FormValues { host: answer.1.domain.clone(), ..(*form).clone() }),
        _ => String::new(),
    };
    let on_pick_lab = {
        let (start, form, batch) = (start.clone(), form.clone(), batch.clone());
        Callback::from(move |t: LabTarget| {
            batch.set(Vec::new());
            form.set(FormValues { host: t.host.clone(), port: t.port, ..(*form).clone() });
            start.emit(Target { host: t.host, port: t.port });
        })
    };
    let on_copy = {
        let (state, notice) = (state.clone(), notice.clone());
        Callback::from(move |_| {
            browser::copy_to_clipboard(&state.transcript_text());
            notice.set(Some("Transcript copied.".into()));
        })
    };
    let on_download = {
        let state = state.clone();
        Callback::from(move |_| {
            if let Some(report) = &state.report {
                let name = format!("relaycheck-{}-{}.json", report.server.host, report.server.port);
                let json = serde_json::to_string(&**report).unwrap_or_default();
                browser::download(&name, "application/json", &browser::indent_json(&json));
            }
        })
    };
    let on_run_again = {
        let (start, state) = (start.clone(), state.clone());
        Callback::from(move |_| {
            if let Some(target) = state.target.clone() {
                start.emit(target);
            }
        })
    };

    let current_link = state
        .target
        .as_ref()
        .map(|t| permalink(&FormValues { host: t.host.clone(), port: t.port, ..(*form).clone() }))
        .unwrap_or_default();

    html! {
        <>
            <header class="top">
                <div class="wrap">
                    <h1>{ "relaycheck" }</h1>
                    <p class="lede">
                        { "Does your mail server relay mail for strangers? relaycheck does the classic manual test — connect, " }
                        <code>{ "HELO" }</code>{ ", " }<code>{ "MAIL FROM" }</code>{ " an outside address, " }<code>{ "RCPT TO" }</code>
                        { " another — and 21 relay tricks more, explains every reply, and never sends a message." }
                    </p>
                </div>
            </header>
            <main class="wrap">
                <TargetForm values={(*form).clone()} running={running} on_change={on_change}
                    on_run={on_run} on_cancel={on_cancel} on_find_mx={on_find_mx} />
                <LabTargets targets={(*lab).clone()} disabled={running} on_pick={on_pick_lab} />
                {
                    match &*mx {
                        Some(MxView::Loading(d)) => html! { <p class="help" role="status">{ format!("Looking up the mail servers of {d}…") }</p> },
                        Some(MxView::Hosts(d, hosts)) => html! {
                            <MxHosts domain={d.clone()} hosts={hosts.clone()} disabled={running} on_test={on_test_mx} on_test_domain={on_test_domain} />
                        },
                        Some(MxView::Failed(message)) => html! { <p class="error" role="alert">{ message }</p> },
                        None => html! {},
                    }
                }
                {
                    match &*domain {
                        Some(DomainView::Starting(text)) => html! { <p class="help" role="status" data-testid="domain-progress">{ text }</p> },
                        Some(DomainView::Live(name, rows)) => html! {
                            <DomainAudit domain={name.clone()} rows={rows.clone()} />
                        },
                        Some(DomainView::Done(answer)) => html! {
                            <DomainAudit domain={answer.1.domain.clone()} rows={Rc::new(answer.1.targets.clone())}
                                done={Rc::new(answer.1.clone())} on_download={on_download_domain} on_copy={on_copy_domain}
                                permalink={domain_link} notice={(*notice).clone()} />
                        },
                        Some(DomainView::Failed(message, rows)) => html! {
                            <>
                                <ErrorNotice message={message.clone()} />
                                if let Some((name, rows)) = rows {
                                    <DomainAudit domain={name.clone()} rows={rows.clone()} />
                                }
                            </>
                        },
                        None => html! {},
                    }
                }
                <BatchSummary rows={(*batch).clone()} />
                if state.phase == Phase::Failed {
                    <ErrorNotice message={state.error.clone().unwrap_or_default()} />
                }
                if state.phase == Phase::Cancelled {
                    <p class="help" role="status">{ "Cancelled. Nothing more was sent." }</p>
                }
                if running {
                    <Progress text={state.progress_text()} done={state.probes.len()} total={state.total} />
                }
                if let Some(report) = &state.report {
                    <VerdictBanner report={report.clone()} />
                }
                if !state.steps.is_empty() {
                    <section class="steps" aria-labelledby="steps-title">
                        <h2 id="steps-title">{ "The manual test, step by step" }</h2>
                        <ol class="step-list">
                            { for state.steps.iter().map(|s| html! { <StepPanel step={s.clone()} /> }) }
                        </ol>
                    </section>
                }
                if let Some(report) = &state.report {
                    <Findings report={report.clone()} />
                    <Advice report={report.clone()} />
                }
                if !state.probes.is_empty() {
                    <ProbeMatrix probes={state.probes.clone()} />
                }
                if state.phase == Phase::Finished {
                    <ReportActions permalink={current_link} on_copy={on_copy} on_download={on_download}
                        on_run_again={on_run_again} notice={(*notice).clone()} />
                }
                if !state.transcript.is_empty() {
                    <details class="transcript">
                        <summary>{ format!("Full transcript ({} lines)", state.transcript.len()) }</summary>
                        <pre class="terminal">{ state.transcript_text() }</pre>
                    </details>
                }
            </main>
            <footer class="wrap foot">
                <p>{ "relaycheck never sends DATA: every probe stops at RCPT TO, so no message is ever delivered. The bridge that carries this page's SMTP refuses DATA too." }</p>
            </footer>
        </>
    }
}

//! The page: the form, then the manual test step by step, the verdict, every
//! probe, and what to do. State lives in [`PageState`] (one reducer); the
//! work in [`Checks`]; every callback here is one line.

use yew::prelude::*;

use crate::components::advice::advice;
use crate::components::domain_report::{domain_report, Actions};
use crate::components::error_notice::error_notice;
use crate::components::findings::findings;
use crate::components::lab_targets::lab_targets;
use crate::components::mx_hosts::{self, mx_lookup};
use crate::components::probe_matrix::probe_matrix;
use crate::components::progress::progress;
use crate::components::report_actions::{self, report_actions};
use crate::components::step_list::step_list;
use crate::components::target_form::{self, target_form};
use crate::components::verdict_banner::verdict_banner;
use crate::services::browser;
use crate::services::checks::Checks;
use crate::state::{relay_tricks, DomainView, PageAction, PageState, Phase, Target};

/// A callback doing `work` with the checks and the state as drawn.
fn act<T: 'static>(
    checks: &Checks,
    state: &UseReducerHandle<PageState>,
    work: fn(&Checks, &PageState, T),
) -> Callback<T> {
    let (checks, state) = (checks.clone(), state.clone());
    Callback::from(move |value| work(&checks, &state, value))
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| PageState::new(browser::form_from_url()));
    let checks = {
        let dispatcher = state.dispatcher();
        use_memo((), move |_| Checks::new(Callback::from(move |action| dispatcher.dispatch(action))))
    };
    let checks = &*checks;

    // On load: the lab's targets, and a permalink's check.
    {
        let (checks, form) = (checks.clone(), state.form.clone());
        use_effect_with((), move |_| {
            if browser::shell_had_focus() {
                browser::focus("host");
            }
            checks.load(&form)
        });
    }
    // When an audit ends, focus moves to the verdict so keyboard and
    // screen-reader users hear it; once the verdict is painted, the whole
    // report is drawn (see PageState::settled), and then published for
    // scripts as window.__relaycheckReport.
    {
        let dispatcher = state.dispatcher();
        use_effect_with((state.run, state.phase), move |&(run, phase)| {
            if matches!(phase, Phase::Finished | Phase::Failed) {
                browser::focus("verdict-title");
            }
            if phase == Phase::Finished {
                browser::after_next_paint(move || dispatcher.dispatch(PageAction::SettleReport { run }));
            }
        });
    }
    {
        let report = state.report.clone().filter(|_| state.settled);
        use_effect_with((state.run, state.settled), move |_| {
            if let Some(report) = report {
                browser::expose_report(&report);
            }
        });
    }

    let on_change = act(checks, &state, |c, _, form| c.edit(form));
    let on_approach_pointer = act(checks, &state, |c, s, _: PointerEvent| c.warm_up(&s.form));
    let on_approach_focus = act(checks, &state, |c, s, _: FocusEvent| c.warm_up(&s.form));
    let on_run = act(checks, &state, |c, s, ()| c.check(&s.form, s.form.target()));
    let on_cancel = act(checks, &state, |c, _, ()| c.cancel());
    let on_find_mx = act(checks, &state, |c, s, ()| c.find_mx(&s.form));
    let on_pick_lab = act(checks, &state, |c, s, t: relay_core::wire::LabTarget| {
        c.audit_server(&s.form, Target { host: t.host, port: t.port })
    });
    let on_test_mx = act(checks, &state, |c, s, host| c.audit_server(&s.form, Target { host, port: s.form.port }));
    let on_test_domain = act(checks, &state, |c, s, name| c.audit_whole_domain(&s.form, name));
    let on_copy = act(checks, &state, |c, s, ()| c.copy_transcript(s));
    let on_download = act(checks, &state, |c, s, ()| c.download_report(s));
    let on_run_again = act(checks, &state, |c, s, ()| c.run_again(s));
    let on_copy_domain = act(checks, &state, |c, s, ()| c.copy_domain(s));
    let on_download_domain = act(checks, &state, |c, s, ()| c.download_domain(s));

    let running = state.running();
    let domain_link = match &state.domain {
        Some(DomainView::Done(answer)) => {
            browser::link_to(&state.form, &Target { host: answer.1.domain.clone(), ..state.form.target() })
        }
        _ => String::new(),
    };
    let current_link = state.target.as_ref().map(|t| browser::link_to(&state.form, t)).unwrap_or_default();

    html! {
        <>
            <header class="top">
                <div class="wrap">
                    <h1>{ "relaycheck" }</h1>
                    <p class="lede">
                        { "Does your mail server relay mail for strangers? relaycheck does the classic manual test — connect, " }
                        <code>{ "HELO" }</code>{ ", " }<code>{ "MAIL FROM" }</code>{ " an outside address, " }<code>{ "RCPT TO" }</code>
                        { format!(" another — and {} relay tricks more, explains every reply, and never sends a message.", relay_tricks()) }
                    </p>
                </div>
            </header>
            <main class={classes!("wrap", state.drawing().then_some("drawing"))}>
                // Coming to the form or the lab opens the audit socket ahead of the check.
                <div onpointerover={on_approach_pointer} onfocusin={on_approach_focus}>
                    { target_form(&target_form::Props { values: &state.form, running, on_change: &on_change,
                        on_run: &on_run, on_cancel: &on_cancel, on_find_mx: &on_find_mx }) }
                    { lab_targets(&state.lab, running, &on_pick_lab) }
                </div>
                { mx_lookup(state.mx.as_ref(), &mx_hosts::Props { disabled: running, on_test: &on_test_mx, on_test_domain: &on_test_domain }) }
                { domain_report(state.domain.as_ref(), &Actions { on_download: &on_download_domain, on_copy: &on_copy_domain,
                    permalink: &domain_link, notice: state.notice.as_deref() }) }
                if state.phase == Phase::Failed {
                    { error_notice(state.error.as_deref().unwrap_or_default()) }
                }
                if state.phase == Phase::Cancelled {
                    <p class="help" role="status">{ "Cancelled. Nothing more was sent." }</p>
                }
                if running {
                    { progress(&state.progress_text(), state.probes.len(), state.total) }
                }
                if let Some(report) = &state.report {
                    { verdict_banner(report) }
                }
                { step_list(&state.steps) }
                if let Some(report) = state.report.as_ref().filter(|_| state.settled) {
                    { findings(report) }
                    { advice(report) }
                }
                if !state.probes.is_empty() {
                    { probe_matrix(&state.probes) }
                }
                if state.phase == Phase::Finished && state.settled {
                    { report_actions(&report_actions::Props { permalink: &current_link, on_copy: &on_copy, on_download: &on_download,
                        on_run_again: &on_run_again, notice: state.notice.as_deref() }) }
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

//! The reducer, natively: `cargo test -p relaycheck-frontend`.

use std::rc::Rc;

use relay_core::domain::summary::{DomainSummary, TargetSummary};
use relay_core::{Config, TlsMode, Verdict};
use yew::Reducible;

use super::fixture::closed_report;
use super::*;

fn target() -> Target {
    Target { host: "mx.example.org".into(), port: 25 }
}

fn page() -> Rc<PageState> {
    Rc::new(PageState::new(FormValues::new("http://127.0.0.1:8025".into())))
}

fn row(host: &str, verdict: Option<&str>) -> TargetSummary {
    let verdict = verdict.map_or("null".to_string(), |v| format!("\"{v}\""));
    serde_json::from_str(&format!(r#"{{"mx_host":"{host}","address":"192.0.2.1","verdict":{verdict}}}"#)).unwrap()
}

#[test]
fn a_run_fills_in_and_late_events_of_an_older_run_change_nothing() {
    let report = closed_report();
    let total = report.probes.len();
    let state = page().reduce(PageAction::StartRun { run: 1, target: target() });
    assert_eq!(state.phase, Phase::Running);
    assert!(state.running());
    assert_eq!(state.progress_text(), "Starting: connecting");
    let state = state.reduce(PageAction::RecordStep { run: 1, step: report.steps[0].clone() });
    let state = state.reduce(PageAction::RecordProbe { run: 1, probe: report.probes[0].clone(), total });
    assert_eq!((state.steps.len(), state.probes.len(), state.total), (1, 1, total));
    assert!(state.progress_text().starts_with(&format!("Probe 2 of {total}")), "{}", state.progress_text());

    // A newer run starts; the old one's late events change nothing.
    let state = state.reduce(PageAction::StartRun { run: 2, target: target() });
    assert!(state.steps.is_empty() && state.probes.is_empty() && state.total == 0);
    let state = state.reduce(PageAction::RecordStep { run: 1, step: report.steps[1].clone() });
    let state = state.reduce(PageAction::Fail { run: 1, message: "late".into() });
    assert!(state.steps.is_empty());
    assert_eq!((state.phase, state.error.as_deref()), (Phase::Running, None));

    let state = state.reduce(PageAction::Finish { run: 2, report: Rc::new(report.clone()) });
    assert_eq!(state.phase, Phase::Finished);
    assert!(!state.running());
    // The verdict is drawn first, over what had been drawn (nothing, here);
    // once it is painted, the whole report.
    assert!(state.steps.is_empty() && !state.settled);
    let state = state.reduce(PageAction::SettleReport { run: 2 });
    assert_eq!(state.probes.len(), total);
    assert_eq!(state.steps.len(), report.steps.len());
    assert!(state.transcript_text().contains("RCPT TO:<relaycheck@example.net>"));
    // Nothing after the verdict: a finished run takes no more events.
    let after = state.clone().reduce(PageAction::RecordStep { run: 2, step: report.steps[0].clone() });
    assert_eq!(after.steps.len(), report.steps.len());
}

#[test]
fn a_batch_is_applied_in_order_as_one_state() {
    let report = closed_report();
    let total = report.probes.len();
    let state = page().reduce(PageAction::StartRun { run: 7, target: target() });
    let mut batch: Vec<PageAction> =
        report.steps.iter().map(|step| PageAction::RecordStep { run: 7, step: step.clone() }).collect();
    batch.extend(report.transcript.iter().map(|line| PageAction::AppendLine { run: 7, line: line.clone() }));
    batch.extend(report.probes.iter().map(|probe| PageAction::RecordProbe { run: 7, probe: probe.clone(), total }));
    // One stale action inside the batch is skipped, the others are not.
    batch.push(PageAction::RecordStep { run: 6, step: report.steps[0].clone() });
    let state = state.reduce(PageAction::ApplyAll(batch));
    assert_eq!(*state.steps, report.steps);
    assert_eq!(*state.transcript, report.transcript);
    assert_eq!(*state.probes, report.probes);
    assert_eq!(state.phase, Phase::Running);

    // The verdict arriving in the same batch as its last events.
    let state = page().reduce(PageAction::StartRun { run: 8, target: target() }).reduce(PageAction::ApplyAll(vec![
        PageAction::RecordProbe { run: 8, probe: report.probes[0].clone(), total },
        PageAction::Finish { run: 8, report: Rc::new(report.clone()) },
    ]));
    assert_eq!((state.phase, state.probes.len()), (Phase::Finished, 1));
    assert_eq!(state.report.as_ref().map(|r| r.verdict), Some(report.verdict));
    let state = state.reduce(PageAction::SettleReport { run: 8 });
    assert_eq!((state.phase, state.probes.len()), (Phase::Finished, total));
}

#[test]
fn failing_and_cancelling_say_why_and_silence_the_run() {
    let failed = page()
        .reduce(PageAction::StartRun { run: 3, target: target() })
        .reduce(PageAction::Fail { run: 3, message: "The bridge cannot be reached.".into() });
    assert_eq!((failed.phase, failed.error.as_deref()), (Phase::Failed, Some("The bridge cannot be reached.")));
    assert!(!failed.running());

    let report = closed_report();
    let cancelled =
        page().reduce(PageAction::StartRun { run: 4, target: target() }).reduce(PageAction::Cancel { run: 5 });
    assert_eq!(cancelled.phase, Phase::Cancelled);
    let late = cancelled.reduce(PageAction::Finish { run: 4, report: Rc::new(report) });
    assert_eq!((late.phase, late.report.is_none()), (Phase::Cancelled, true));
    // Cancelling when nothing runs changes no verdict.
    let idle = page().reduce(PageAction::Cancel { run: 1 });
    assert_eq!(idle.phase, Phase::Idle);
}

#[test]
fn a_domain_audit_fills_its_rows_and_keeps_them_when_it_fails() {
    let state = page().reduce(PageAction::StartDomain { run: 1, message: "Looking up…".into() });
    assert!(state.running());
    assert_eq!(state.domain, Some(DomainView::Starting("Looking up…".into())));
    let rows = vec![row("mx1.example.org", None), row("mx2.example.org", None)];
    let state = state.reduce(PageAction::PlanDomain { run: 1, domain: "example.org".into(), rows });
    let state =
        state.reduce(PageAction::FinishDomainRow { run: 1, index: 1, row: row("mx2.example.org", Some("closed")) });
    // Out of range, or of another run: nothing happens.
    let state = state.reduce(PageAction::FinishDomainRow { run: 1, index: 9, row: row("x", Some("open")) });
    let state = state.reduce(PageAction::FinishDomainRow { run: 0, index: 0, row: row("x", Some("open")) });
    let Some(DomainView::Live(name, rows)) = &state.domain else { panic!("{:?}", state.domain) };
    assert_eq!(name, "example.org");
    assert_eq!(rows.iter().map(|r| r.verdict).collect::<Vec<_>>(), vec![None, Some(Verdict::Closed)]);

    let failed = state.clone().reduce(PageAction::FailDomain { run: 1, message: "The bridge stopped.".into() });
    let Some(DomainView::Failed(message, Some((name, rows)))) = &failed.domain else { panic!("{:?}", failed.domain) };
    assert_eq!((message.as_str(), name.as_str(), rows.len()), ("The bridge stopped.", "example.org", 2));
    assert!(!failed.running());

    let summary: DomainSummary = serde_json::from_str(
        r#"{"domain":"example.org","verdict":"closed","reason":"Closed everywhere.","targets":[]}"#,
    )
    .unwrap();
    let done = state.reduce(PageAction::FinishDomain { run: 1, json: "{}".into(), summary: summary.clone() });
    assert_eq!(done.domain, Some(DomainView::Done(Rc::new(("{}".into(), summary)))));
    assert!(!done.running());

    // Cancelling a domain audit removes it; its late rows do not bring it back.
    let cancelled = page()
        .reduce(PageAction::StartDomain { run: 2, message: "…".into() })
        .reduce(PageAction::Cancel { run: 3 })
        .reduce(PageAction::PlanDomain { run: 2, domain: "example.org".into(), rows: vec![] });
    assert_eq!(cancelled.domain, None);
}

#[test]
fn a_new_check_keeps_the_form_the_lab_and_the_mx_list() {
    let form = FormValues { host: "example.org".into(), ..FormValues::new("http://b".into()) };
    let lab =
        relay_core::wire::LabTarget { name: "closed".into(), label: "c".into(), host: "127.0.0.1".into(), port: 2525 };
    let state = page()
        .reduce(PageAction::Edit(form.clone()))
        .reduce(PageAction::ShowLab(vec![lab.clone()]))
        .reduce(PageAction::LookUpMx("example.org".into()))
        .reduce(PageAction::ShowMx { domain: "example.org".into(), hosts: vec![] })
        .reduce(PageAction::Notify("Transcript copied.".into()))
        .reduce(PageAction::StartRun { run: 1, target: target() });
    assert_eq!(state.form, form);
    assert_eq!(*state.lab, vec![lab]);
    assert_eq!(state.mx, Some(MxView::Hosts("example.org".into(), Rc::default())));
    assert_eq!(state.notice, None, "a new check clears the last notice");
    let failed = state.reduce(PageAction::FailMx("No such domain.".into()));
    assert_eq!(failed.mx, Some(MxView::Failed("No such domain.".into())));
}

#[test]
fn the_form_makes_the_engines_settings() {
    let form = FormValues::new("http://127.0.0.1:8025".into());
    assert_eq!(
        form.config(&Target { host: String::new(), port: 25 }),
        Err("Enter the mail server's name or address first.".into())
    );
    let config = form.config(&Target { host: "mx.example.org".into(), port: 465 }).unwrap();
    assert!(config.implicit_tls, "port 465 is TLS from the first byte");
    assert!(!form.config(&target()).unwrap().implicit_tls);
    let odd = FormValues { from_domain: "not a domain".into(), ..form.clone() };
    let error = odd.config(&target()).unwrap_err();
    assert!(error.ends_with('.') && error.chars().next().unwrap().is_uppercase(), "{error}");

    // A link carries only what differs from the defaults.
    let params = form.permalink_params(&target(), "http://127.0.0.1:8025");
    assert_eq!(params, vec![("host", "mx.example.org".into()), ("port", "25".into()), ("run", "1".into())]);
    let tls = FormValues { tls: TlsMode::Always, bridge: "https://other".into(), ..form };
    let params = tls.permalink_params(&target(), "http://127.0.0.1:8025");
    assert!(params.contains(&("tls", "always".into())) && params.contains(&("bridge", "https://other".into())));
}

#[test]
fn names_addresses_and_domains() {
    assert!(may_be_domain("example.org"));
    assert!(may_be_domain(" mx.example.org. "));
    assert!(!may_be_domain("localhost"));
    assert!(!may_be_domain("192.0.2.1"));
    assert!(!may_be_domain("[2001:db8::1]"));
    // The page says as many tricks as the engine tries, beyond the manual test.
    let config = Config::default();
    let plan = relay_core::probe::plan(&relay_core::probe::PlanInput {
        config: &config,
        address: "192.0.2.1".parse().unwrap(),
        server_name: Some("mx.example.org"),
        audited_domain: None,
    });
    assert_eq!(relay_tricks() + 1, plan.len());
    assert!(relay_tricks() >= 16, "at least nmap's forms");
}

#[test]
fn the_verdict_comes_first_then_the_whole_report_once_painted_and_only_its_own_run_says_so() {
    let state = page();
    assert!(!state.drawing(), "an idle page lays out everything");
    let state = state.reduce(PageAction::StartRun { run: 3, target: target() });
    assert!(state.drawing(), "a running audit lays out only what is on screen");
    let state = state.reduce(PageAction::Finish { run: 3, report: Rc::new(closed_report()) });
    assert!(state.drawing(), "the verdict is painted before the rest is laid out");
    // An older run's paint says nothing of this one.
    let state = state.reduce(PageAction::SettleReport { run: 2 });
    assert!(state.drawing());
    let state = state.reduce(PageAction::SettleReport { run: 3 });
    assert!(!state.drawing() && state.phase == Phase::Finished);
    assert_eq!(*state.probes, closed_report().probes);
    // A second paint of the same report changes nothing.
    let again = state.clone().reduce(PageAction::SettleReport { run: 3 });
    assert!(again.settled && again.probes == state.probes);
    // The next audit draws the same way again.
    let state = state.reduce(PageAction::StartRun { run: 4, target: target() });
    assert!(state.drawing() && !state.settled);
}

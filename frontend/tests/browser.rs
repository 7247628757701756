//! The page's reducer and components, in headless Chromium
//! (wasm-bindgen-test; scripts/test runs them).

use std::rc::Rc;
use std::time::Duration;

use relay_core::{Config, Reply, Report, Session, Step, StepKind, Tone};
use relaycheck_frontend::components::probe_matrix::{self, ProbeMatrix};
use relaycheck_frontend::components::step_panel::{self, StepPanel};
use relaycheck_frontend::components::verdict_banner::{self, VerdictBanner};
use relaycheck_frontend::state::{AuditAction, AuditState, Phase, Target};
use wasm_bindgen_test::*;
use yew::Reducible;

wasm_bindgen_test_configure!(run_in_browser);

/// A real report: a session driven by a scripted closed server, the way the
/// page drives one, so the components draw what the engine makes.
fn closed_report() -> Report {
    let mut session = Session::new(Config::default(), "mx.example.org", 25, Duration::ZERO);
    let mut now = Duration::ZERO;
    loop {
        while let Some(event) = session.poll_event() {
            if let relay_core::Event::Connect(id) = event {
                now += Duration::from_millis(1);
                session.handle_connected(id, "192.0.2.25".parse().unwrap(), now);
                session.handle_input(id, b"220 mx.example.org ESMTP Postfix\r\n", now);
            }
        }
        let mut sent_any = false;
        while let Some(t) = session.poll_transmit() {
            sent_any = true;
            let text = String::from_utf8(t.data).unwrap();
            let mut answer = String::new();
            for line in text.lines() {
                let reply = match line.split(' ').next().unwrap() {
                    "EHLO" => "250-mx.example.org\r\n250 PIPELINING",
                    "RCPT" => "554 5.7.1 Relay access denied",
                    "QUIT" => "221 2.0.0 Bye",
                    _ => "250 2.0.0 Ok",
                };
                answer.push_str(reply);
                answer.push_str("\r\n");
            }
            now += Duration::from_millis(1);
            session.handle_input(t.connection, answer.as_bytes(), now);
        }
        if session.is_finished() || !sent_any {
            break;
        }
    }
    assert!(session.is_finished(), "the scripted audit finished");
    session.report()
}

fn target() -> Target {
    Target { host: "mx.example.org".into(), port: 25 }
}

#[wasm_bindgen_test]
fn reducer_follows_a_run_and_ignores_stale_events() {
    let report = closed_report();
    let state = Rc::new(AuditState::default());
    let state = state.reduce(AuditAction::Start { run: 1, target: target() });
    assert_eq!(state.phase, Phase::Running);
    let state = state.reduce(AuditAction::Step { run: 1, step: report.steps[0].clone() });
    let state =
        state.reduce(AuditAction::Probe { run: 1, probe: report.probes[0].clone(), total: report.probes.len() });
    assert_eq!((state.steps.len(), state.probes.len(), state.total), (1, 1, report.probes.len()));
    assert!(
        state.progress_text().starts_with(&format!("Probe 2 of {}", report.probes.len())),
        "{}",
        state.progress_text()
    );

    // A newer run starts; the old one's late events change nothing.
    let state = state.reduce(AuditAction::Start { run: 2, target: target() });
    let state = state.reduce(AuditAction::Step { run: 1, step: report.steps[1].clone() });
    assert!(state.steps.is_empty());

    let state = state.reduce(AuditAction::Finished { run: 2, report: Rc::new(report.clone()) });
    assert_eq!(state.phase, Phase::Finished);
    assert_eq!(state.probes.len(), report.probes.len());
    assert!(state.transcript_text().contains("RCPT TO:<relaycheck@example.net>"));

    let failed = Rc::new(AuditState::default())
        .reduce(AuditAction::Start { run: 3, target: target() })
        .reduce(AuditAction::Failed { run: 3, message: "The bridge cannot be reached.".into() });
    assert_eq!((failed.phase, failed.error.as_deref()), (Phase::Failed, Some("The bridge cannot be reached.")));
    let cancelled = Rc::new(AuditState::default())
        .reduce(AuditAction::Start { run: 4, target: target() })
        .reduce(AuditAction::Cancel);
    assert_eq!(cancelled.phase, Phase::Cancelled);
}

/// Renders a component into a fresh element and waits for yew to draw it.
async fn render<C: yew::BaseComponent>(props: C::Properties) -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    yew::Renderer::<C>::with_root_and_props(root.clone(), props).render();
    yew::platform::time::sleep(Duration::from_millis(20)).await;
    root
}

#[wasm_bindgen_test]
async fn step_panel_draws_the_exchange_like_a_terminal() {
    let step = Step {
        kind: StepKind::Recipient,
        connection: 1,
        probe: Some("manual".into()),
        sent: Some("RCPT TO:<relaycheck@example.net>".into()),
        reply: Some(Reply::new(554, vec!["5.7.1 <relaycheck@example.net>: Relay access denied".into()])),
        at_ms: 3.0,
        took_ms: 0.4,
        tone: Tone::Good,
        meaning: "The server refused to relay.".into(),
        details: vec![],
    };
    let root = render::<StepPanel>(step_panel::Props { step }).await;
    let li = root.query_selector("[data-testid=step]").unwrap().expect("a step");
    assert_eq!(li.get_attribute("data-kind").as_deref(), Some("recipient"));
    assert_eq!(li.get_attribute("data-tone").as_deref(), Some("good"));
    let terminal = root.query_selector(".terminal").unwrap().unwrap().text_content().unwrap();
    assert!(terminal.contains("→ RCPT TO:<relaycheck@example.net>"), "{terminal}");
    assert!(terminal.contains("← 554 5.7.1 <relaycheck@example.net>: Relay access denied"), "{terminal}");
    assert!(root.text_content().unwrap().contains("0.4 ms"));
}

#[wasm_bindgen_test]
async fn verdict_and_matrix_show_the_report() {
    let report = Rc::new(closed_report());
    let root = render::<VerdictBanner>(verdict_banner::Props { report: report.clone() }).await;
    let verdict = root.query_selector("[data-testid=verdict]").unwrap().unwrap();
    assert_eq!(verdict.get_attribute("data-verdict").as_deref(), Some("closed"));
    assert!(verdict.text_content().unwrap().contains("Not an open relay"));
    assert!(verdict.text_content().unwrap().contains("Relaying is prohibited"));

    let root = render::<ProbeMatrix>(probe_matrix::Props { probes: report.probes.clone() }).await;
    let rows = root.query_selector_all("[data-testid=probe-matrix] tbody tr").unwrap();
    assert_eq!(rows.length() as usize, report.probes.len());
    assert!(report.probes.len() >= 20);
    for i in 0..rows.length() {
        let row: web_sys::Element = wasm_bindgen::JsCast::dyn_into(rows.item(i).unwrap()).unwrap();
        assert_eq!(row.get_attribute("data-verdict").as_deref(), Some("denied"));
    }
}

//! The page's components, in headless Chromium (wasm-bindgen-test;
//! scripts/test runs them). The reducer's tests run natively (src/state/tests.rs).

use std::rc::Rc;
use std::time::Duration;

use relay_core::{Reply, Step, StepKind, Tone};
use relaycheck_frontend::components::probe_matrix::{self, ProbeMatrix};
use relaycheck_frontend::components::step_panel::{self, StepPanel};
use relaycheck_frontend::components::verdict_banner::{self, VerdictBanner};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "../src/state/fixture.rs"]
mod fixture;
use fixture::closed_report;

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

    let root = render::<ProbeMatrix>(probe_matrix::Props { probes: Rc::new(report.probes.clone()) }).await;
    let rows = root.query_selector_all("[data-testid=probe-matrix] tbody tr").unwrap();
    assert_eq!(rows.length() as usize, report.probes.len());
    assert!(report.probes.len() >= 20);
    for i in 0..rows.length() {
        let row: web_sys::Element = wasm_bindgen::JsCast::dyn_into(rows.item(i).unwrap()).unwrap();
        assert_eq!(row.get_attribute("data-verdict").as_deref(), Some("denied"));
    }
}

#[wasm_bindgen_test]
fn the_static_form_gives_way_and_what_was_typed_stays() {
    let document = web_sys::window().unwrap().document().unwrap();
    let shell = document.create_element("div").unwrap();
    shell.set_id("shell");
    shell.set_inner_html(
        r#"<form><input id="host" value=" mx.example.org "><select id="port"><option value="25">25</option><option value="587" selected>587</option></select></form>"#,
    );
    document.body().unwrap().append_child(&shell).unwrap();
    relaycheck_frontend::services::browser::retire_shell();
    assert!(document.get_element_by_id("shell").is_none(), "the static form is gone");
    let form = relaycheck_frontend::services::browser::form_from_url();
    assert_eq!((form.host.as_str(), form.port), ("mx.example.org", 587));
    assert!(!relaycheck_frontend::services::browser::shell_had_focus());
}

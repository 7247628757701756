//! The page's components, in headless Chromium (wasm-bindgen-test;
//! scripts/test runs them). The reducer's tests run natively (src/state/tests.rs).

use std::rc::Rc;
use std::time::Duration;

use relay_core::{Reply, Step, StepKind, Tone};
use relaycheck_frontend::components::{probe_matrix, step_panel, verdict_banner};
use wasm_bindgen_test::*;
use yew::{function_component, Html, Properties};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "../src/state/fixture.rs"]
mod fixture;
use fixture::closed_report;

/// One of the page's parts (plain functions returning [`Html`]), drawn alone.
#[derive(Properties)]
struct PartProps {
    draw: Rc<dyn Fn() -> Html>,
}

impl PartialEq for PartProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.draw, &other.draw)
    }
}

#[function_component(Part)]
fn part(props: &PartProps) -> Html {
    (props.draw)()
}

/// Renders a part of the page into a fresh element and waits for yew to draw it.
async fn render(draw: impl Fn() -> Html + 'static) -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    yew::Renderer::<Part>::with_root_and_props(root.clone(), PartProps { draw: Rc::new(draw) }).render();
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
    let root = render(move || step_panel::step_panel(&step)).await;
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
    let shown = report.clone();
    let root = render(move || verdict_banner::verdict_banner(&shown)).await;
    let verdict = root.query_selector("[data-testid=verdict]").unwrap().unwrap();
    assert_eq!(verdict.get_attribute("data-verdict").as_deref(), Some("closed"));
    assert!(verdict.text_content().unwrap().contains("Not an open relay"));
    assert!(verdict.text_content().unwrap().contains("Relaying is prohibited"));

    let shown = report.clone();
    let root = render(move || probe_matrix::probe_matrix(&shown.probes)).await;
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

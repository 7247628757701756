//! The form: server, port, and an "advanced" fold for the outside domains,
//! when to use TLS, and the bridge's address.

use relay_core::TlsMode;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

pub use crate::state::FormValues;

pub struct Props<'a> {
    pub values: &'a FormValues,
    pub running: bool,
    pub on_change: &'a Callback<FormValues>,
    pub on_run: &'a Callback<()>,
    pub on_cancel: &'a Callback<()>,
    pub on_find_mx: &'a Callback<()>,
}

/// Ports offered to people; a permalink may carry another (the lab's).
const PORTS: [(u16, &str); 3] =
    [(25, "25: mail exchange (MX)"), (587, "587: submission"), (465, "465: submission over TLS")];

const TLS_CHOICES: [(TlsMode, &str); 3] = [
    (TlsMode::Auto, "When the server demands it (and read its TLS facts)"),
    (TlsMode::Always, "Always, before the first sender"),
    (TlsMode::Never, "Never: plain text only"),
];

pub fn target_form(props: &Props) -> Html {
    let field = |apply: fn(&mut FormValues, String)| {
        let values = props.values.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let mut next = values.clone();
            apply(&mut next, input.value());
            on_change.emit(next);
        })
    };
    let choice = |apply: fn(&mut FormValues, &str)| {
        let values = props.values.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            let mut next = values.clone();
            apply(&mut next, &select.value());
            on_change.emit(next);
        })
    };
    let on_port = choice(|f, v| f.port = v.parse().unwrap_or(f.port));
    let on_tls = choice(|f, v| f.tls = v.parse().unwrap_or(f.tls));
    let on_submit = {
        let on_run = props.on_run.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_run.emit(());
        })
    };
    let on_cancel = props.on_cancel.reform(|_: MouseEvent| ());
    let on_find_mx = props.on_find_mx.reform(|_: MouseEvent| ());
    let v = &props.values;
    let custom_port = !PORTS.iter().any(|(p, _)| *p == v.port);
    html! {
        <form class="target-form" onsubmit={on_submit} aria-label="Server to check">
            <div class="row">
                <div class="field grow">
                    <label for="host">{ "Mail server or domain" }</label>
                    <input id="host" name="host" type="text" inputmode="url" autocomplete="off" spellcheck="false"
                        placeholder="mx.example.org or example.org" required=true
                        value={v.host.clone()} oninput={field(|f, s| f.host = s.trim().to_string())}
                        aria-describedby="host-help" />
                    <p id="host-help" class="help">{ "A server name or address, or a domain to list its mail servers (MX)." }</p>
                </div>
                <div class="field">
                    <label for="port">{ "Port" }</label>
                    <select id="port" name="port" onchange={on_port}>
                        { for PORTS.iter().map(|(p, label)| html! {
                            <option value={p.to_string()} selected={*p == v.port}>{ *label }</option>
                        }) }
                        if custom_port {
                            <option value={v.port.to_string()} selected=true>{ v.port.to_string() }</option>
                        }
                    </select>
                </div>
            </div>
            <details id="advanced" class="advanced">
                <summary>{ "Advanced" }</summary>
                <div class="row">
                    <div class="field grow">
                        <label for="from-domain">{ "Outside sender's domain" }</label>
                        <input id="from-domain" type="text" spellcheck="false" value={v.from_domain.clone()}
                            oninput={field(|f, s| f.from_domain = s.trim().to_string())} />
                    </div>
                    <div class="field grow">
                        <label for="to-domain">{ "Outside recipient's domain" }</label>
                        <input id="to-domain" type="text" spellcheck="false" value={v.to_domain.clone()}
                            oninput={field(|f, s| f.to_domain = s.trim().to_string())} />
                    </div>
                </div>
                <div class="field">
                    <label for="tls">{ "TLS" }</label>
                    <select id="tls" name="tls" onchange={on_tls} aria-describedby="tls-help">
                        { for TLS_CHOICES.iter().map(|(mode, label)| html! {
                            <option value={mode.as_str()} selected={*mode == v.tls}>{ *label }</option>
                        }) }
                    </select>
                    <p id="tls-help" class="help">
                        { "The bridge speaks TLS with the server itself, so it still reads every command this page sends. Port 465 is TLS from the first byte." }
                    </p>
                </div>
                <div class="field">
                    <label for="bridge-url">{ "Bridge" }</label>
                    <input id="bridge-url" type="url" spellcheck="false" value={v.bridge.clone()}
                        oninput={field(|f, s| f.bridge = s.trim().to_string())} aria-describedby="bridge-help" />
                    <p id="bridge-help" class="help">
                        { "Browsers cannot open port 25 themselves; the bridge (ws-bridge serve) does it for this page. It is this page's own server unless you run your own." }
                    </p>
                </div>
            </details>
            <div class="buttons">
                <button id="run" type="submit" class="primary" disabled={props.running}>{ "Check for open relay" }</button>
                <button id="find-mx" type="button" disabled={props.running || v.host.is_empty()} onclick={on_find_mx}>
                    { "List the domain's mail servers" }
                </button>
                <button id="cancel" type="button" disabled={!props.running} onclick={on_cancel}>{ "Cancel" }</button>
            </div>
        </form>
    }
}

//! What the browser offers: the clock, the URL, the clipboard, downloads.

use relay_core::Report;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// Milliseconds from the page's monotonic clock.
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Runs `f` once the browser has painted what the DOM holds now: a task
/// queued from the next animation frame runs after that frame's paint.
pub fn after_next_paint(f: impl FnOnce() + 'static) {
    let Some(window) = web_sys::window() else { return f() };
    let frame = Closure::once_into_js(move || gloo_timers::callback::Timeout::new(0, f).forget());
    let _ = window.request_animation_frame(frame.unchecked_ref());
}

/// The websocket base of a bridge's http(s) URL: `https://x` → `wss://x`.
pub fn ws_base(http_url: &str) -> String {
    let url = http_url.trim().trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_string()
    }
}

/// This page's origin (`http://127.0.0.1:8025`): the default bridge.
pub fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// One query parameter of the page's URL.
pub fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name).filter(|v| !v.is_empty())
}

/// A link that reopens this check: the page's address with the check's
/// settings as query parameters.
pub fn permalink(params: &[(&str, String)]) -> String {
    let base = web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?))
        })
        .unwrap_or_default();
    let query: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", js_sys::encode_uri_component(v)))
        .collect();
    format!("{base}?{}", query.join("&"))
}

pub fn copy_to_clipboard(text: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
}

/// Offers `text` as a file download.
pub fn download(file_name: &str, mime: &str, text: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    if let Ok(anchor) = document.create_element("a") {
        let _ = anchor.set_attribute("href", &url);
        let _ = anchor.set_attribute("download", file_name);
        if let Ok(a) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(anchor) {
            a.click();
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// JSON text indented for people, by the browser's own JSON (a pretty
/// printer in the WASM would cost more than the rest of the download).
pub fn indent_json(json: &str) -> String {
    js_sys::JSON::parse(json)
        .ok()
        .and_then(|value| {
            js_sys::JSON::stringify_with_replacer_and_space(&value, &JsValue::NULL, &JsValue::from(2)).ok()
        })
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| json.to_string())
}

/// Puts the finished report on `window.__relaycheckReport` as a plain JS
/// object, for scripts and tests (the same schema as `check --json`).
pub fn expose_report(report: &Report) {
    // Through JSON text, which the page writes for its download anyway: one
    // serialiser of the report in the WASM, not two.
    let value = serde_json::to_string(report).ok().and_then(|json| js_sys::JSON::parse(&json).ok());
    if let (Some(window), Some(value)) = (web_sys::window(), value) {
        let _ = js_sys::Reflect::set(&window, &JsValue::from_str("__relaycheckReport"), &value);
    }
}

/// Moves keyboard focus to the element with this id (the verdict's title,
/// so keyboard and screen-reader users hear it).
pub fn focus(id: &str) {
    let element = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id));
    if let Some(Ok(element)) = element.map(wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>) {
        let _ = element.focus();
    }
}

thread_local! {
    /// What was typed in index.html's static form before the page took over:
    /// the host, the port, and whether the host field had the focus.
    static SHELL: std::cell::RefCell<Option<(String, String, bool)>> = const { std::cell::RefCell::new(None) };
}

/// Removes index.html's static form (`#shell`), keeping what was typed in it.
pub fn retire_shell() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let Some(shell) = document.get_element_by_id("shell") else { return };
    let value = |id: &str| {
        let element = document.get_element_by_id(id);
        element.and_then(|e| js_sys::Reflect::get(&e, &JsValue::from_str("value")).ok()).and_then(|v| v.as_string())
    };
    let focused = document.active_element().is_some_and(|e| e.id() == "host");
    let typed = (value("host").unwrap_or_default(), value("port").unwrap_or_default(), focused);
    SHELL.with(|s| *s.borrow_mut() = Some(typed));
    shell.remove();
}

/// Whether the user was typing in the static form when the page took over
/// (the page's own field then gets the focus).
pub fn shell_had_focus() -> bool {
    SHELL.with(|s| s.borrow().as_ref().is_some_and(|(_, _, focused)| *focused))
}

/// The form as the static form or a permalink left it, or the defaults.
pub fn form_from_url() -> crate::state::FormValues {
    let defaults = crate::state::FormValues::new(query_param("bridge").unwrap_or_else(origin));
    // Typed before the page took over: that, else the permalink's.
    let typed = SHELL.with(|s| s.borrow().clone()).filter(|(host, _, _)| !host.trim().is_empty());
    let typed_host = typed.as_ref().map(|(host, _, _)| host.trim().to_string());
    let typed_port = typed.as_ref().and_then(|(_, port, _)| port.parse().ok());
    crate::state::FormValues {
        host: typed_host.or_else(|| query_param("host")).unwrap_or_default(),
        port: typed_port.or_else(|| query_param("port").and_then(|p| p.parse().ok())).unwrap_or(defaults.port),
        from_domain: query_param("from").unwrap_or(defaults.from_domain),
        to_domain: query_param("to").unwrap_or(defaults.to_domain),
        tls: query_param("tls").and_then(|t| t.parse().ok()).unwrap_or(defaults.tls),
        bridge: defaults.bridge,
    }
}

/// A link that reopens the check of `target` with the form's settings.
pub fn link_to(form: &crate::state::FormValues, target: &crate::state::Target) -> String {
    permalink(&form.permalink_params(target, &origin()))
}

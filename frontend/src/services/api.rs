//! The bridge's JSON API: MX hosts of a domain, the audit of a whole
//! domain, and the built-in lab.

use std::ops::ControlFlow;

use relay_core::domain::progress;
use relay_core::domain::summary::Progress;
use relay_core::wire::{ApiError, LabAnswer, LabTarget, MxAnswer};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

/// The browser's `fetch`, straight: `GET`, or `POST` of a JSON body.
async fn fetch(url: &str, post: Option<(&str, &str)>) -> Result<Response, JsValue> {
    let init = web_sys::RequestInit::new();
    if let Some((body, accept)) = post {
        init.set_method("POST");
        let headers = web_sys::Headers::new()?;
        headers.set("Content-Type", "application/json")?;
        headers.set("Accept", accept)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(body));
    }
    let window = web_sys::window().ok_or(JsValue::NULL)?;
    Ok(JsFuture::from(window.fetch_with_str_and_init(url, &init)).await?.unchecked_into())
}

/// Reads an answer as text, then as JSON: one set of deserialisers in the
/// WASM (`from_str`), whatever the source.
async fn read<T: DeserializeOwned>(response: &Response) -> Result<T, String> {
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    let text = text.ok_or("The bridge's answer could not be read.")?;
    serde_json::from_str(&text).map_err(|e| format!("The bridge answered oddly: {e}"))
}

/// The sentence of a refused request ([`ApiError`]), or its status.
async fn refusal(response: &Response) -> String {
    match read::<ApiError>(response).await {
        Ok(e) => e.error.message,
        Err(_) => format!("The bridge answered {}.", response.status()),
    }
}

/// The MX hosts of `domain`, or a sentence saying why not.
pub async fn mx_hosts(bridge_http: &str, domain: &str) -> Result<MxAnswer, String> {
    let url = format!("{}/api/mx?domain={}", bridge_http.trim_end_matches('/'), js_sys::encode_uri_component(domain));
    let response = fetch(&url, None)
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to look up mail servers."))?;
    if response.ok() {
        read(&response).await
    } else {
        Err(refusal(&response).await)
    }
}

/// What a domain audit asks the bridge for: the body of `POST /api/check`.
#[derive(serde::Serialize)]
pub struct DomainQuery<'a> {
    pub domain: &'a str,
    pub port: u16,
    pub from_domain: &'a str,
    pub to_domain: &'a str,
    /// `never`, `auto` or `always`, as the page's TLS choice says.
    pub tls: &'a str,
}

/// The hosted audit of a whole domain (`POST /api/check` with
/// `{"domain":…}`), streamed: `on_progress` hears each line as it comes
/// (the rows, each row as it finishes, then the report) and says whether
/// it still wants the rest: on `Break` the answer is dropped, and the
/// bridge stops the audit. An error is a sentence saying why it stopped.
pub async fn check_domain(
    bridge_http: &str,
    query: &DomainQuery<'_>,
    mut on_progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<(), String> {
    let url = format!("{}/api/check", bridge_http.trim_end_matches('/'));
    let domain = query.domain;
    let body = serde_json::to_string(query).map_err(|e| format!("The request could not be made: {e}"))?;
    let lost = || format!("The bridge at {bridge_http} stopped answering before the audit of {domain} finished.");
    let response = fetch(&url, Some((&body, progress::MEDIA_TYPE)))
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to audit {domain}."))?;
    if !response.ok() {
        return Err(refusal(&response).await);
    }
    let reader: web_sys::ReadableStreamDefaultReader = response.body().ok_or_else(lost)?.get_reader().unchecked_into();
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|_| lost())?;
        let value = js_sys::Reflect::get(&chunk, &"value".into()).unwrap_or(JsValue::UNDEFINED);
        if !value.is_undefined() {
            buffer.extend(js_sys::Uint8Array::new(&value).to_vec());
        }
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            // Read as text, as the rest of the page reads JSON: one set of
            // deserialisers in the WASM, not one per kind of input.
            let line = std::str::from_utf8(&line).map_err(|e| format!("The bridge answered oddly: {e}"))?;
            let line = serde_json::from_str(line).map_err(|e| format!("The bridge answered oddly: {e}"))?;
            if on_progress(line).is_break() {
                let _ = reader.cancel();
                return Ok(());
            }
        }
        let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
        if done {
            return Ok(());
        }
    }
}

/// The lab's targets; empty when the bridge runs without `--lab`.
pub async fn lab_targets(bridge_http: &str) -> Vec<LabTarget> {
    let url = format!("{}/api/lab", bridge_http.trim_end_matches('/'));
    match fetch(&url, None).await {
        Ok(r) if r.ok() => read::<LabAnswer>(&r).await.map(|a| a.targets).unwrap_or_default(),
        _ => Vec::new(),
    }
}

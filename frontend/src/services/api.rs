//! The bridge's JSON API: MX hosts of a domain, the audit of a whole
//! domain, and the built-in lab.

use std::ops::ControlFlow;

use gloo_net::http::{Request, Response};
use relay_core::domain::progress;
use relay_core::domain::summary::Progress;
use relay_core::wire::{ApiError, LabAnswer, LabTarget, MxAnswer};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Reads an answer as text, then as JSON: one set of deserialisers in the
/// WASM (`from_str`), whatever the source.
async fn read<T: DeserializeOwned>(response: &Response) -> Result<T, String> {
    let text = response.text().await.map_err(|e| format!("The bridge answered oddly: {e}"))?;
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
    let response = Request::get(&url)
        .send()
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to look up mail servers."))?;
    if response.ok() {
        read(&response).await
    } else {
        Err(refusal(&response).await)
    }
}

/// The hosted audit of a whole domain (`POST /api/check` with
/// `{"domain":…}`), streamed: `on_progress` hears each line as it comes
/// (the rows, each row as it finishes, then the report) and says whether
/// it still wants the rest: on `Break` the answer is dropped, and the
/// bridge stops the audit. An error is a sentence saying why it stopped.
pub async fn check_domain(
    bridge_http: &str,
    domain: &str,
    port: u16,
    from_domain: &str,
    to_domain: &str,
    mut on_progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<(), String> {
    let url = format!("{}/api/check", bridge_http.trim_end_matches('/'));
    #[derive(serde::Serialize)]
    struct DomainQuery<'a> {
        domain: &'a str,
        port: u16,
        from_domain: &'a str,
        to_domain: &'a str,
    }
    let body = DomainQuery { domain, port, from_domain, to_domain };
    let request = Request::post(&url)
        .header("Accept", progress::MEDIA_TYPE)
        .json(&body)
        .map_err(|e| format!("The request could not be made: {e}"))?;
    let lost = || format!("The bridge at {bridge_http} stopped answering before the audit of {domain} finished.");
    let response = request
        .send()
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
    match Request::get(&url).send().await {
        Ok(r) if r.ok() => read::<LabAnswer>(&r).await.map(|a| a.targets).unwrap_or_default(),
        _ => Vec::new(),
    }
}

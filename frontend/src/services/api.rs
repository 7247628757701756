//! The bridge's JSON API: MX hosts of a domain, the audit of a whole
//! domain, and the built-in lab.

use std::ops::ControlFlow;

use gloo_net::http::Request;
use relay_core::domain::progress;
use relay_core::domain::summary::Progress;
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MxAddress {
    pub address: String,
    pub allowed: bool,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MxHost {
    pub preference: u16,
    pub exchange: String,
    pub implicit: bool,
    pub addresses: Vec<MxAddress>,
    pub allowed: bool,
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct MxAnswer {
    hosts: Vec<MxHost>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LabTarget {
    pub name: String,
    pub label: String,
    pub host: String,
    pub port: u16,
}

#[derive(Deserialize)]
struct LabAnswer {
    targets: Vec<LabTarget>,
}

#[derive(Deserialize)]
struct ApiError {
    error: ApiErrorBody,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    message: String,
}

/// The MX hosts of `domain`, or a sentence saying why not.
pub async fn mx_hosts(bridge_http: &str, domain: &str) -> Result<Vec<MxHost>, String> {
    let url = format!("{}/api/mx?domain={}", bridge_http.trim_end_matches('/'), js_sys::encode_uri_component(domain));
    let response = Request::get(&url)
        .send()
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to look up mail servers."))?;
    if response.ok() {
        let answer: MxAnswer = response.json().await.map_err(|e| format!("The bridge answered oddly: {e}"))?;
        Ok(answer.hosts)
    } else {
        let error: Result<ApiError, _> = response.json().await;
        Err(error.map(|e| e.error.message).unwrap_or_else(|_| format!("The bridge answered {}.", response.status())))
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
        let error: Result<ApiError, _> = response.json().await;
        return Err(error
            .map(|e| e.error.message)
            .unwrap_or_else(|_| format!("The bridge answered {}.", response.status())));
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
        Ok(r) if r.ok() => r.json::<LabAnswer>().await.map(|a| a.targets).unwrap_or_default(),
        _ => Vec::new(),
    }
}

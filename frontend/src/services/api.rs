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

/// An answer's text, read whole; `None` if it could not be read.
async fn text(response: &Response) -> Option<String> {
    match response.text() {
        Ok(promise) => JsFuture::from(promise).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    }
}

/// A `GET` answer: whether it is a success, its status and its text. One
/// asynchronous reader for every kind of answer; what it says is read
/// afterwards ([`parse`]), so the page has no waiting code per type.
async fn get(url: &str) -> Result<(bool, u16, Option<String>), JsValue> {
    let response = fetch(url, None).await?;
    Ok((response.ok(), response.status(), text(&response).await))
}

/// Reads an answer's text as JSON: one set of deserialisers in the WASM
/// (`from_str`), whatever the source.
fn parse<T: DeserializeOwned>(text: Option<String>) -> Result<T, String> {
    let text = text.ok_or("The bridge's answer could not be read.")?;
    serde_json::from_str(&text).map_err(|e| format!("The bridge answered oddly: {e}"))
}

/// The sentence of a refused request ([`ApiError`]), or its status.
fn refusal(text: Option<String>, status: u16) -> String {
    match parse::<ApiError>(text) {
        Ok(e) => e.error.message,
        Err(_) => format!("The bridge answered {status}."),
    }
}

/// The MX hosts of `domain`, or a sentence saying why not.
pub async fn mx_hosts(bridge_http: &str, domain: &str) -> Result<MxAnswer, String> {
    let url = format!("{}/api/mx?domain={}", bridge_http.trim_end_matches('/'), js_sys::encode_uri_component(domain));
    let (ok, status, text) = get(&url)
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to look up mail servers."))?;
    if ok {
        parse(text)
    } else {
        Err(refusal(text, status))
    }
}

/// What a domain audit asks the bridge for: the body of `POST /api/check`.
pub struct DomainQuery<'a> {
    pub domain: &'a str,
    pub port: u16,
    pub from_domain: &'a str,
    pub to_domain: &'a str,
    /// `never`, `auto` or `always`, as the page's TLS choice says.
    pub tls: &'a str,
}

impl DomainQuery<'_> {
    /// The JSON body, as serde would write the struct (its fields in
    /// order), from the string writer the page has anyway: a serialiser
    /// of its own for this struct would cost the page more.
    pub fn to_json(&self) -> String {
        let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
        format!(
            r#"{{"domain":{},"port":{},"from_domain":{},"to_domain":{},"tls":{}}}"#,
            text(self.domain),
            self.port,
            text(self.from_domain),
            text(self.to_domain),
            text(self.tls)
        )
    }
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
    let body = query.to_json();
    let lost = || format!("The bridge at {bridge_http} stopped answering before the audit of {domain} finished.");
    let response = fetch(&url, Some((&body, progress::MEDIA_TYPE)))
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to audit {domain}."))?;
    if !response.ok() {
        return Err(refusal(text(&response).await, response.status()));
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
    match get(&url).await {
        Ok((true, _, text)) => parse::<LabAnswer>(text).map(|a| a.targets).unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::DomainQuery;

    #[test]
    fn the_domain_query_is_the_json_serde_would_write() {
        let query = DomainQuery {
            domain: "a\"b\\c.example",
            port: 587,
            from_domain: "x.test",
            to_domain: "é.test",
            tls: "auto",
        };
        assert_eq!(
            query.to_json(),
            r#"{"domain":"a\"b\\c.example","port":587,"from_domain":"x.test","to_domain":"é.test","tls":"auto"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&query.to_json()).unwrap();
        assert_eq!(value["domain"], "a\"b\\c.example");
    }
}

//! The bridge's JSON API: MX hosts of a domain, the audit of a whole
//! domain, and the built-in lab.

use gloo_net::http::Request;
use serde::Deserialize;

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
/// `{"domain":…}`): every mail server at every address, or a sentence
/// saying why not.
pub async fn check_domain(
    bridge_http: &str,
    domain: &str,
    port: u16,
    from_domain: &str,
    to_domain: &str,
) -> Result<(String, relay_core::domain::summary::DomainSummary), String> {
    let url = format!("{}/api/check", bridge_http.trim_end_matches('/'));
    #[derive(serde::Serialize)]
    struct DomainQuery<'a> {
        domain: &'a str,
        port: u16,
        from_domain: &'a str,
        to_domain: &'a str,
    }
    let body = DomainQuery { domain, port, from_domain, to_domain };
    let request = Request::post(&url).json(&body).map_err(|e| format!("The request could not be made: {e}"))?;
    let response = request
        .send()
        .await
        .map_err(|_| format!("The bridge at {bridge_http} cannot be reached to audit {domain}."))?;
    if response.ok() {
        // The text is what the JSON download gives; the page draws from the
        // summary read out of it.
        let text = response.text().await.map_err(|e| format!("The bridge answered oddly: {e}"))?;
        let summary = serde_json::from_str(&text).map_err(|e| format!("The bridge answered oddly: {e}"))?;
        Ok((text, summary))
    } else {
        let error: Result<ApiError, _> = response.json().await;
        Err(error.map(|e| e.error.message).unwrap_or_else(|_| format!("The bridge answered {}.", response.status())))
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

//! The hosted JSON API: the same engine, run server-side under the same
//! policy and limits as websocket sessions.
//!
//! - `GET /api/check?host=&port=` → the report of `ws-bridge check --json`
//! - `GET /api/mx?domain=` → MX hosts, their addresses, and whether the
//!   policy lets the bridge reach each
//! - `GET /api/lab` → the built-in lab's targets, when `--lab` is on
//! - `GET /healthz`, `GET /metrics`

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use relay_core::{Config, ErrorCode};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use relay_core::wire::sentence;

#[derive(Deserialize)]
pub struct CheckParams {
    host: Option<String>,
    port: Option<String>,
    from_domain: Option<String>,
    to_domain: Option<String>,
}

/// An API error: a stable code, a sentence, and a fitting HTTP status.
fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    let status = match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::OriginNotAllowed | ErrorCode::PortNotAllowed | ErrorCode::AddressDenied => StatusCode::FORBIDDEN,
        ErrorCode::TooManySessions
        | ErrorCode::TooManySessionsFromYou
        | ErrorCode::RateLimited
        | ErrorCode::DestinationRateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::UnknownHost | ErrorCode::NoAddress => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, Json(json!({ "error": { "code": code.as_str(), "message": message.into() } }))).into_response()
}

pub async fn check(
    Query(params): Query<CheckParams>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(app): State<Arc<App>>,
) -> Response {
    let client = app.client_ip(peer.ip(), &headers);
    let host = params.host.unwrap_or_default().trim().trim_start_matches('[').trim_end_matches(']').to_string();
    let Some(port) =
        params.port.as_deref().map_or(Some(25), |p| p.trim().parse::<u16>().ok()).filter(|_| !host.is_empty())
    else {
        return error(ErrorCode::BadRequest, "Give the mail server as ?host=NAME&port=25.");
    };
    let defaults = Config::default();
    let config = Config {
        from_domain: params.from_domain.unwrap_or(defaults.from_domain.clone()),
        to_domain: params.to_domain.unwrap_or(defaults.to_domain.clone()),
        reply_timeout: app.reply_timeout,
        ..defaults
    };
    if let Err(e) = config.validate() {
        return error(ErrorCode::BadRequest, sentence(&e.to_string()));
    }
    let _permit = match app.limits.admit(client) {
        Ok(p) => p,
        Err(code) => {
            app.metrics.refused(code.as_str());
            return error(code, code.default_message());
        }
    };
    let addresses = match checked_addresses(&app, &host, port).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    let destination = addresses[0];
    let report = crate::audit::run(config, &host, port, addresses, |_| {}).await;
    let verdict = match report.verdict {
        relay_core::Verdict::Open => "open",
        relay_core::Verdict::Closed => "closed",
        relay_core::Verdict::Inconclusive => "inconclusive",
        relay_core::Verdict::Blocked => "blocked",
    };
    app.metrics.audited(verdict);
    tracing::info!(
        %client,
        %destination,
        outcome = verdict,
        connections = report.connections,
        duration_ms = report.elapsed_ms as u64,
        "hosted audit"
    );
    Json(report).into_response()
}

/// Resolves and checks `host` exactly as a websocket session does.
async fn checked_addresses(app: &App, host: &str, port: u16) -> Result<Vec<SocketAddr>, Response> {
    if let Err(e) = app.policy.check_port(port) {
        if !app.policy.is_allow_target(host, port) {
            app.metrics.refused(ErrorCode::PortNotAllowed.as_str());
            return Err(error(ErrorCode::PortNotAllowed, sentence(&e.to_string())));
        }
    }
    let resolved = app.resolver.lookup_ip(host).await.map_err(|e| {
        app.metrics.refused(e.error_code().as_str());
        error(e.error_code(), sentence(&e.to_string()))
    })?;
    let checked = app.policy.check(host, port, &resolved).map_err(|e| {
        let code = if e.code() == "no_address" { ErrorCode::NoAddress } else { ErrorCode::AddressDenied };
        app.metrics.refused(code.as_str());
        error(code, sentence(&e.to_string()))
    })?;
    if let Some(&first) = checked.first() {
        if !app.limits.allow_destination(first) {
            app.metrics.refused(ErrorCode::DestinationRateLimited.as_str());
            return Err(error(ErrorCode::DestinationRateLimited, ErrorCode::DestinationRateLimited.default_message()));
        }
    }
    Ok(checked.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
}

#[derive(Deserialize)]
pub struct MxParams {
    domain: Option<String>,
}

pub async fn mx(Query(params): Query<MxParams>, State(app): State<Arc<App>>) -> Response {
    let domain = params.domain.unwrap_or_default().trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return error(ErrorCode::BadRequest, "Give the mail domain as ?domain=example.org.");
    }
    let hosts = match app.resolver.lookup_mx(&domain).await {
        Ok(hosts) => hosts,
        Err(e) => return error(e.error_code(), sentence(&e.to_string())),
    };
    let hosts: Vec<_> = hosts
        .iter()
        .map(|h| {
            let addresses: Vec<_> = h
                .addresses
                .iter()
                .map(|&ip| {
                    let verdict = app.policy.check(&h.exchange, 25, &[ip]);
                    json!({
                        "address": ip.to_string(),
                        "allowed": verdict.is_ok(),
                        "reason": verdict.err().map(|e| sentence(&e.to_string())),
                    })
                })
                .collect();
            json!({
                "preference": h.preference,
                "exchange": h.exchange,
                "implicit": h.implicit,
                "addresses": addresses,
                "allowed": !h.addresses.is_empty() && app.policy.check(&h.exchange, 25, &h.addresses).is_ok(),
                "error": h.error,
            })
        })
        .collect();
    Json(json!({ "domain": domain, "hosts": hosts })).into_response()
}

pub async fn lab(State(app): State<Arc<App>>) -> Response {
    let targets: Vec<_> = app
        .lab_targets
        .iter()
        .map(|(policy, addr)| {
            json!({
                "name": policy.server_name(),
                "label": policy.description(),
                "host": addr.ip().to_string(),
                "port": addr.port(),
            })
        })
        .collect();
    Json(json!({ "lab": !app.lab_targets.is_empty(), "targets": targets })).into_response()
}

pub async fn healthz(State(app): State<Arc<App>>) -> Response {
    let shutting_down = *app.shutdown.borrow();
    let status = if shutting_down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = json!({
        "status": if shutting_down { "shutting_down" } else { "ok" },
        "sessions": app.limits.active_sessions(),
        "page": crate::assets::page_present(),
        "lab": !app.lab_targets.is_empty(),
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

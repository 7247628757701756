//! The hosted JSON API: the same engine, run server-side under the same
//! policy and limits as websocket sessions.
//!
//! - `POST /api/check` with `{"host":…,"port":…}` → the report of
//!   `ws-bridge check --json`; every connection it opens passes the same
//!   destination function and limits as a websocket session
//!   ([`crate::serve::destination`])
//! - `POST /api/check` with `{"domain":…,"port":…}` → the domain report
//!   (every MX host at every address, relay-core's `domain` module), each
//!   target's every connection under the same admission
//! - `GET /api/mx?domain=` → MX hosts, their addresses, and whether the
//!   policy lets the bridge reach each
//! - `GET /api/lab` → the built-in lab's targets, when `--lab` is on
//! - `GET /healthz`, `GET /metrics`

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use relay_core::domain::progress::{self, Progress};
use relay_core::domain::{self, Item, MailServers};
use relay_core::{Config, DomainReport, ErrorCode, Target};
use serde::Deserialize;
use serde_json::json;

use relay_core::wire::{sentence, ApiError, LabAnswer, LabTarget, MxAddressAnswer, MxAnswer, MxHostAnswer};
use tokio::net::TcpStream;

use crate::audit::Dial;
use crate::resolve::ResolveError;
use crate::serve::app::App;
use crate::serve::destination::{self, DestinationError};
use crate::serve::limits::{DestinationPermit, Permit};

/// The body of `POST /api/check`.
#[derive(Deserialize)]
pub struct CheckParams {
    host: Option<String>,
    /// A mail domain: every MX host at every address, instead of `host`.
    domain: Option<String>,
    /// A number or a string of digits; 25 when left out.
    port: Option<serde_json::Value>,
    from_domain: Option<String>,
    to_domain: Option<String>,
    /// When to move into TLS: "never", "auto" (the default) or "always".
    tls: Option<String>,
    /// TLS from the first byte; by default on port 465 only.
    implicit_tls: Option<bool>,
    /// Run the audit again even if its result is in the cache (a stricter
    /// per-destination limit applies).
    #[serde(default)]
    fresh: bool,
}

/// An API error: a stable code, a sentence, and a fitting HTTP status.
/// Every refusal is counted in `/metrics` by its code.
pub fn refuse(app: &App, code: ErrorCode, message: impl Into<String>) -> Response {
    app.metrics.refused(code.as_str());
    error(code, message)
}

pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    let status = match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::OriginNotAllowed | ErrorCode::PortNotAllowed | ErrorCode::AddressDenied | ErrorCode::OptedOut => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::HostNotAllowed => StatusCode::MISDIRECTED_REQUEST,
        ErrorCode::TooManySessions
        | ErrorCode::TooManySessionsFromYou
        | ErrorCode::RateLimited
        | ErrorCode::DestinationRateLimited
        | ErrorCode::DestinationBusy => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::UnknownHost | ErrorCode::NoAddress => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::SessionTooLong => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, Json(ApiError::new(code, message))).into_response()
}

/// `GET /api/check` is refused: an `<img>` or a link on any site could
/// otherwise make each of its visitors run an audit.
pub async fn check_get(State(app): State<Arc<App>>) -> Response {
    let mut response = refuse(
        &app,
        ErrorCode::BadRequest,
        "Ask for a hosted audit with POST /api/check and a JSON body such as {\"host\":\"mx.example.org\",\"port\":25}.",
    );
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

/// A hosted audit's connections (of every target, for a domain): each one
/// charged to the client's rate (the first was charged when the request was
/// admitted) and passed through the bridge's destination function, as a
/// websocket session is.
struct HostedAudit {
    app: Arc<App>,
    client: IpAddr,
    dialled: AtomicUsize,
    connected: AtomicUsize,
    /// The first refusal by a limit, for the answer when nothing connected.
    refusal: Mutex<Option<DestinationError>>,
}

/// One target's dial: its host name (for the policy's allow-targets and
/// the log) within the request's [`HostedAudit`].
struct HostedDial {
    audit: Arc<HostedAudit>,
    host: String,
    port: u16,
}

impl Dial for HostedDial {
    type Hold = DestinationPermit;

    async fn dial(&self, targets: Vec<SocketAddr>) -> Result<(TcpStream, SocketAddr, DestinationPermit), String> {
        let audit = &self.audit;
        let ips: Vec<IpAddr> = targets.iter().map(SocketAddr::ip).collect();
        let result = if audit.dialled.fetch_add(1, Ordering::SeqCst) > 0 {
            match audit.app.limits.charge_client(audit.client) {
                Ok(()) => audit.app.connect(&self.host, self.port, &ips).await,
                Err(code) => Err(DestinationError::Limited(code)),
            }
        } else {
            audit.app.connect(&self.host, self.port, &ips).await
        };
        match result {
            Ok(c) => {
                audit.connected.fetch_add(1, Ordering::SeqCst);
                Ok((c.stream, c.peer, c.permit))
            }
            Err(e) => {
                let sentence = e.sentence();
                if let DestinationError::Limited(code) = e {
                    audit.app.metrics.refused(code.as_str());
                    audit.refusal.lock().expect("refusal").get_or_insert(e);
                }
                Err(sentence)
            }
        }
    }
}

/// `POST /api/check` with a JSON body `{"host":…, "port":…,
/// "from_domain":…, "to_domain":…}`. A JSON body cannot be sent across
/// sites without a CORS preflight, which the bridge never grants; a
/// request that names another site's page as its Origin is refused too.
pub async fn check(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let client = app.client_ip(peer.ip(), &headers);
    if !app.origin_allowed(&headers) {
        return refuse(&app, ErrorCode::OriginNotAllowed, ErrorCode::OriginNotAllowed.default_message());
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        let mut response = refuse(
            &app,
            ErrorCode::BadRequest,
            "Send the audit's parameters as a JSON body (Content-Type: application/json).",
        );
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    let params: CheckParams = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return refuse(&app, ErrorCode::BadRequest, sentence(&format!("the body is not the JSON expected: {e}")))
        }
    };
    let port = match &params.port {
        None => None,
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => Some(String::new()),
    };
    // A host, or a mail domain: every MX host at every address.
    let (name, is_domain) = match (params.domain, params.host) {
        (Some(_), Some(_)) => {
            return refuse(&app, ErrorCode::BadRequest, "Give either a host or a domain, not both.");
        }
        (Some(domain), None) => (Some(domain.trim().trim_end_matches('.').to_ascii_lowercase()), true),
        (None, host) => (host, false),
    };
    let (host, port) = match destination::parse(name.as_deref(), port.as_deref()) {
        Ok(hp) => hp,
        Err(e) => return refuse(&app, e.code(), e.sentence()),
    };
    let tls = (params.tls.as_deref(), params.implicit_tls.unwrap_or(port == 465));
    let config = match audit_config(&app, params.from_domain, params.to_domain, tls) {
        Ok(c) => c,
        Err(why) => return refuse(&app, ErrorCode::BadRequest, why),
    };
    // A domain's own senders are forged too: its provider's MX may trust them.
    let config = if is_domain && relay_core::config::is_domain(&host) {
        Config { audited_domain: Some(host.clone()), ..config }
    } else {
        config
    };
    if is_domain {
        let stream = accepts(&headers, progress::MEDIA_TYPE);
        return check_domain(app, client, host, port, config, stream).await;
    }
    let _permit = match app.limits.admit(client) {
        Ok(p) => p,
        Err(code) => return refuse(&app, code, code.default_message()),
    };
    let target = match app.destination(&host, port).await {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(%client, outcome = e.code().as_str(), detail = %e.log_detail(), "hosted audit refused");
            return refuse(&app, e.code(), e.sentence());
        }
    };
    let cache_key = crate::serve::cache::key(&host, port, &config);
    if let Some(answer) = app.from_cache(&cache_key, params.fresh, target.resolved[0]).await {
        tracing::info!(%client, %host, port, "hosted audit answered from the cache");
        return answer;
    }
    let addresses: Vec<SocketAddr> = target.resolved.iter().map(|&ip| SocketAddr::new(ip, port)).collect();
    let destination = addresses[0];
    let hosted = Arc::new(HostedAudit {
        app: Arc::clone(&app),
        client,
        dialled: AtomicUsize::new(0),
        connected: AtomicUsize::new(0),
        refusal: Mutex::new(None),
    });
    let dial = Arc::new(HostedDial { audit: Arc::clone(&hosted), host: host.clone(), port });
    // The audit runs in a task of its own, aborted with every connection
    // it holds if this request is dropped (the client went away) or the
    // audit outlives a session's lifetime.
    let lifetime = app.limits.config.session_lifetime;
    let mut audit = {
        let dial = Arc::clone(&dial);
        AbortOnDrop(tokio::spawn(async move { crate::audit::run(config, &host, port, addresses, dial, |_| {}).await }))
    };
    let report = match tokio::time::timeout(lifetime, &mut audit.0).await {
        Ok(Ok(report)) => report,
        Ok(Err(_)) => return refuse(&app, ErrorCode::Internal, ErrorCode::Internal.default_message()),
        Err(_) => return refuse(&app, ErrorCode::SessionTooLong, ErrorCode::SessionTooLong.default_message()),
    };
    if hosted.connected.load(Ordering::SeqCst) == 0 {
        if let Some(e) = hosted.refusal.lock().expect("refusal").take() {
            return error(e.code(), e.sentence());
        }
    }
    let verdict = verdict_name(report.verdict);
    app.metrics.audited(verdict);
    tracing::info!(
        %client,
        %destination,
        outcome = verdict,
        connections = report.connections,
        duration_ms = report.elapsed_ms as u64,
        "hosted audit"
    );
    let complete = hosted.connected.load(Ordering::SeqCst) > 0 && hosted.refusal.lock().expect("refusal").is_none();
    app.fresh_answer(&cache_key, &report, complete).await
}

/// The audit's settings from the request's outside domains and TLS choice
/// (`tls`, and whether TLS starts at the first byte) (the defaults when left
/// out), or the sentence that names what cannot work.
fn audit_config(
    app: &App,
    from_domain: Option<String>,
    to_domain: Option<String>,
    (tls, implicit_tls): (Option<&str>, bool),
) -> Result<Config, String> {
    let defaults = Config::default();
    let tls = match tls {
        None => defaults.tls,
        Some(choice) => choice.parse::<relay_core::tls::TlsMode>().map_err(|e| sentence(&e))?,
    };
    let config = Config {
        from_domain: from_domain.unwrap_or(defaults.from_domain.clone()),
        to_domain: to_domain.unwrap_or(defaults.to_domain.clone()),
        fallback_to_domain: app.probe_domain.clone(),
        reply_timeout: app.reply_timeout,
        tls,
        implicit_tls,
        ..defaults
    };
    config.validate().map_err(|e| sentence(&e.to_string()))?;
    Ok(config)
}

/// The domain audit of `POST /api/check` with `{"domain":…}`: every MX
/// host at every address (relay-core's `domain::plan`), under the same
/// admission as everything else: one admission for the request, then every
/// TCP connection of every target through the destination function and
/// charged to the client. Addresses the policy refuses stay in the report
/// as targets with the reason, their address hidden.
///
/// Answered in one piece, or, when the request accepts
/// `application/x-ndjson`, as [`Progress`] lines: the rows first, each row
/// as its audit finishes, then the report. Either way, an audit that
/// outlives a session's lifetime ends with the rows it finished and the
/// others marked unfinished, never with nothing.
async fn check_domain(
    app: Arc<App>,
    client: IpAddr,
    domain: String,
    port: u16,
    config: Config,
    stream: bool,
) -> Response {
    let permit = match app.limits.admit(client) {
        Ok(p) => p,
        Err(code) => return refuse(&app, code, code.default_message()),
    };
    // A domain whose owner opted out is not looked at at all; an MX host or
    // address that is on the list is listed, not audited.
    if let Err(e) = app.check_optout(&domain, &[]).await {
        return refuse(&app, e.code(), e.sentence());
    }
    let optouts = app.optout_list().await;
    let hosts: Vec<domain::MxHost> = match app.resolver.lookup_mx(&domain).await {
        Ok(hosts) => hosts,
        Err(ResolveError::NullMx { .. }) => {
            let report = DomainReport::new(&domain, &MailServers::NullMx, Vec::new());
            if !stream {
                return Json(report).into_response();
            }
            let lines =
                [Progress::Planned { domain, targets: Vec::new() }, Progress::Done { report: Box::new(report) }];
            return ndjson(Body::from(lines.iter().map(Progress::to_line).collect::<String>()));
        }
        Err(e) => return refuse(&app, e.error_code(), sentence(&e.to_string())),
    };
    if let Err(e) = app.policy.check_port(port) {
        if !hosts.iter().any(|h| app.policy.is_allow_target(&h.exchange, port)) {
            let e = DestinationError::from(e);
            return refuse(&app, e.code(), e.sentence());
        }
    }
    let items: Vec<Item> = domain::plan(&hosts)
        .into_iter()
        .map(|item| match item {
            Item::Audit(p) => match app.policy.check(&p.mx_host, port, &[p.address]) {
                Ok(_) => match crate::store::optout::find(&optouts, &p.mx_host, &[p.address]) {
                    None => Item::Audit(p),
                    Some(entry) => {
                        let e = DestinationError::OptedOut(entry.clone());
                        app.metrics.refused(e.code().as_str());
                        let why = format!("not audited: {}", e.sentence());
                        let address = Some(p.address.to_string());
                        Item::Skip(Box::new(Target::skipped(&p.mx_host, p.preference, p.implicit, address, &why)))
                    }
                },
                Err(e) => {
                    app.metrics.refused(e.code().as_str());
                    let why = format!("not audited: {}", sentence(&e.to_string()));
                    Item::Skip(Box::new(Target::skipped(
                        &p.mx_host,
                        p.preference,
                        p.implicit,
                        Some("hidden".into()),
                        &why,
                    )))
                }
            },
            Item::Skip(mut t) => {
                // An address beyond a cap is shown only if it could be audited.
                let ip = t.address.as_deref().and_then(|a| a.parse::<IpAddr>().ok());
                if ip.is_some_and(|ip| app.policy.check(&t.mx_host, port, &[ip]).is_err()) {
                    t.address = Some("hidden".into());
                }
                Item::Skip(t)
            }
        })
        .collect();
    let mut run = DomainRun::start(app, client, domain, MailServers::Hosts(hosts), port, config, items, permit);
    if stream {
        let first = Progress::Planned { domain: run.domain.clone(), targets: run.rows.clone() };
        // The run lives in the body's stream: a caller that hangs up drops
        // it, and with it the audit and every connection.
        let lines = futures_util::stream::unfold((Some(first), Some(run)), |(first, run)| async move {
            if let Some(first) = first {
                return Some((Ok::<_, std::convert::Infallible>(first.to_line()), (None, run)));
            }
            let mut run = run?;
            let line = match run.next().await {
                Some((index, target)) => {
                    let line = Progress::Finished { index, target: Box::new(target) }.to_line();
                    return Some((Ok(line), (None, Some(run))));
                }
                None => match run.finish() {
                    Ok(report) => Progress::Done { report: Box::new(report) },
                    Err(code) => Progress::Failed { code, message: code.default_message().into() },
                },
            };
            Some((Ok(line.to_line()), (None, None)))
        });
        return ndjson(Body::from_stream(lines));
    }
    while run.next().await.is_some() {}
    let app = Arc::clone(&run.app);
    match run.finish() {
        Ok(report) => Json(report).into_response(),
        Err(code) => refuse(&app, code, code.default_message()),
    }
}

/// Whether the request's `Accept` header names `media` (parameters and
/// quality values aside).
fn accepts(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| m.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(media))
}

fn ndjson(body: Body) -> Response {
    ([(header::CONTENT_TYPE, progress::MEDIA_TYPE), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// A hosted domain audit under way: its rows (filled in as audits finish),
/// and the task that runs them, aborted with every connection it holds when
/// this is dropped or the session's lifetime runs out.
struct DomainRun {
    app: Arc<App>,
    client: IpAddr,
    domain: String,
    servers: MailServers,
    /// Every row in plan order; an audited row holds its pending target
    /// until it finishes.
    rows: Vec<Target>,
    planned: Vec<Option<domain::Planned>>,
    left: usize,
    finished: tokio::sync::mpsc::UnboundedReceiver<(usize, Target)>,
    deadline: tokio::time::Instant,
    out_of_time: bool,
    hosted: Arc<HostedAudit>,
    task: AbortOnDrop<()>,
    _permit: Permit,
}

impl DomainRun {
    #[allow(clippy::too_many_arguments)]
    fn start(
        app: Arc<App>,
        client: IpAddr,
        domain: String,
        servers: MailServers,
        port: u16,
        config: Config,
        items: Vec<Item>,
        permit: Permit,
    ) -> DomainRun {
        let rows = items
            .iter()
            .map(|item| match item {
                Item::Audit(p) => Target::pending(p),
                Item::Skip(t) => (**t).clone(),
            })
            .collect();
        let planned: Vec<Option<domain::Planned>> = items
            .iter()
            .map(|item| match item {
                Item::Audit(p) => Some(p.clone()),
                Item::Skip(_) => None,
            })
            .collect();
        let left = planned.iter().flatten().count();
        let hosted = Arc::new(HostedAudit {
            app: Arc::clone(&app),
            client,
            dialled: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            refusal: Mutex::new(None),
        });
        let (tx, finished) = tokio::sync::mpsc::unbounded_channel();
        let task = {
            let hosted = Arc::clone(&hosted);
            AbortOnDrop(tokio::spawn(async move {
                let dial_for = |p: &domain::Planned| {
                    Arc::new(HostedDial { audit: Arc::clone(&hosted), host: p.mx_host.clone(), port })
                };
                let on_done = |index: usize, target: &Target| {
                    let _ = tx.send((index, target.clone()));
                };
                crate::domain::run_all(&config, port, items, dial_for, on_done).await;
            }))
        };
        let deadline = tokio::time::Instant::now() + app.limits.config.session_lifetime;
        DomainRun {
            app,
            client,
            domain,
            servers,
            rows,
            planned,
            left,
            finished,
            deadline,
            out_of_time: false,
            hosted,
            task,
            _permit: permit,
        }
    }

    /// The next row to finish, with its index; `None` when every row has,
    /// or the session's lifetime ran out (the audit is then stopped).
    async fn next(&mut self) -> Option<(usize, Target)> {
        if self.left == 0 || self.out_of_time {
            return None;
        }
        match tokio::time::timeout_at(self.deadline, self.finished.recv()).await {
            Ok(Some((index, target))) => {
                self.left -= 1;
                self.rows[index] = target.clone();
                Some((index, target))
            }
            Ok(None) => None, // the task ended early: see `finish`
            Err(_) => {
                self.out_of_time = true;
                self.task.0.abort();
                None
            }
        }
    }

    /// The domain's report, rows cut short by the lifetime marked
    /// unfinished; an error if the audit's task failed.
    fn finish(mut self) -> Result<DomainReport, ErrorCode> {
        if self.left > 0 && !self.out_of_time {
            return Err(ErrorCode::Internal);
        }
        let lifetime = self.app.limits.config.session_lifetime;
        let why = format!(
            "not finished: this bridge gives a hosted audit at most {}",
            relay_core::narration::human_ms(lifetime)
        );
        for (row, planned) in self.rows.iter_mut().zip(&self.planned) {
            if let Some(p) = planned {
                if row.report.is_none() {
                    *row = Target::unfinished(p, &why);
                }
            }
        }
        for r in self.rows.iter().filter_map(|t| t.report.as_ref()) {
            self.app.metrics.audited(verdict_name(r.verdict));
        }
        let rows = std::mem::take(&mut self.rows);
        let report = DomainReport::new(&self.domain, &self.servers, rows);
        tracing::info!(
            client = %self.client,
            domain = %self.domain,
            outcome = verdict_name(report.verdict),
            targets = report.targets.len(),
            unfinished = report.targets.iter().filter(|t| t.unfinished).count(),
            connections = self.hosted.dialled.load(Ordering::SeqCst),
            "hosted domain audit"
        );
        Ok(report)
    }
}

fn verdict_name(verdict: relay_core::Verdict) -> &'static str {
    match verdict {
        relay_core::Verdict::Open => "open",
        relay_core::Verdict::Closed => "closed",
        relay_core::Verdict::Inconclusive => "inconclusive",
        relay_core::Verdict::Blocked => "blocked",
    }
}

/// A task aborted when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Deserialize)]
pub struct MxParams {
    domain: Option<String>,
}

/// `GET /api/mx?domain=`: under the same admission as a session (the
/// client's rate and concurrency), since each call is up to 21 DNS
/// queries. Denied addresses are named by their kind, never shown.
pub async fn mx(
    Query(params): Query<MxParams>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(app): State<Arc<App>>,
) -> Response {
    if !app.origin_allowed(&headers) {
        return refuse(&app, ErrorCode::OriginNotAllowed, ErrorCode::OriginNotAllowed.default_message());
    }
    let domain = params.domain.unwrap_or_default().trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return refuse(&app, ErrorCode::BadRequest, "Give the mail domain as ?domain=example.org.");
    }
    let client = app.client_ip(peer.ip(), &headers);
    let _permit = match app.limits.admit(client) {
        Ok(p) => p,
        Err(code) => return refuse(&app, code, code.default_message()),
    };
    let hosts = match app.resolver.lookup_mx(&domain).await {
        Ok(hosts) => hosts,
        Err(e) => return refuse(&app, e.error_code(), sentence(&e.to_string())),
    };
    // What the owners opted out of is not allowed either, said in words.
    let optouts = app.optout_list().await;
    let opted_out = |host: &str, ips: &[IpAddr]| {
        crate::store::optout::find(&optouts, &domain, &[]).or_else(|| crate::store::optout::find(&optouts, host, ips))
    };
    let hosts: Vec<_> = hosts
        .iter()
        .map(|h| {
            let addresses: Vec<_> = h
                .addresses
                .iter()
                .map(|&ip| match app.policy.check(&h.exchange, 25, &[ip]) {
                    Ok(_) if opted_out(&h.exchange, &[ip]).is_some() => {
                        let why = ErrorCode::OptedOut.default_message();
                        MxAddressAnswer { address: ip.to_string(), allowed: false, reason: Some(why.to_string()) }
                    }
                    Ok(_) => MxAddressAnswer { address: ip.to_string(), allowed: true, reason: None },
                    Err(e) => MxAddressAnswer {
                        address: "hidden".into(),
                        allowed: false,
                        reason: Some(sentence(&e.to_string())),
                    },
                })
                .collect();
            MxHostAnswer {
                preference: h.preference,
                exchange: h.exchange.clone(),
                implicit: h.implicit,
                addresses,
                allowed: !h.addresses.is_empty()
                    && app.policy.check(&h.exchange, 25, &h.addresses).is_ok()
                    && opted_out(&h.exchange, &h.addresses).is_none(),
                error: h.error.clone(),
            }
        })
        .collect();
    Json(MxAnswer { domain, hosts }).into_response()
}

pub async fn lab(State(app): State<Arc<App>>) -> Response {
    let targets: Vec<_> = app
        .lab_targets
        .iter()
        .map(|(policy, addr)| LabTarget {
            name: policy.server_name().to_string(),
            label: policy.description().to_string(),
            host: addr.ip().to_string(),
            port: addr.port(),
        })
        .collect();
    Json(LabAnswer { lab: !app.lab_targets.is_empty(), targets }).into_response()
}

pub async fn healthz(State(app): State<Arc<App>>) -> Response {
    let shutting_down = *app.shutdown.borrow();
    let status = if shutting_down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = json!({
        "status": if shutting_down { "shutting_down" } else { "ok" },
        "sessions": app.limits.active_sessions(),
        "page": crate::serve::assets::page_present(),
        "lab": !app.lab_targets.is_empty(),
        // "memory", "redis", or "redis-unreachable-local-fallback".
        "store": app.limits.store.probe().await.as_str(),
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

//! The result cache of hosted audits: an audit of the same server, port and
//! options within `--cache-ttl` is answered from the store with
//! `cached: true` and its age in seconds (`age_s`); a fresh answer says
//! `cached: false`. A fresh run (`"fresh": true`) of a server whose result
//! is cached is charged to a stricter per-destination bucket
//! (`--fresh-per-destination` an hour). `ws-bridge check` never comes here.

use std::net::IpAddr;

use axum::response::{IntoResponse, Response};
use axum::Json;
use relay_core::{Config, ErrorCode};
use serde_json::Value;

use crate::serve::app::App;
use crate::serve::limits::group;

/// The cache's key for an audit: the server as asked for, its port, and the
/// options that change what is asked (the outside domains, when to move
/// into TLS, TLS from the first byte).
pub fn key(host: &str, port: u16, config: &Config) -> String {
    let implicit = if config.implicit_tls { ":implicit" } else { "" };
    format!(
        "audit:{}:{port}:{}:{}:tls={}{implicit}",
        host.to_ascii_lowercase(),
        config.from_domain,
        config.to_domain,
        config.tls.as_str()
    )
}

/// The answer to a hosted audit: the report, and whether it came from the cache.
fn answer(mut report: Value, cached: bool, age_s: u64) -> Response {
    if let Value::Object(fields) = &mut report {
        fields.insert("cached".into(), Value::Bool(cached));
        fields.insert("age_s".into(), Value::from(age_s));
    }
    Json(report).into_response()
}

const FRESH_REFUSED: &str = "This mail server was audited afresh too many times in the last hour; \
     the result of a few minutes ago is still good, or try again later.";

impl App {
    /// The cached answer to this audit, or, for a fresh run that its bucket
    /// refuses, the refusal; `None` when the audit is to run.
    pub async fn from_cache(&self, key: &str, fresh: bool, destination: IpAddr) -> Option<Response> {
        if self.cache_ttl.is_zero() {
            return None;
        }
        let cached = self.limits.store.cache_get(key).await?;
        if fresh {
            let bucket = format!("fresh:{}", group(destination));
            if self.limits.store.take(&bucket, self.fresh_rate).await {
                return None;
            }
            return Some(crate::serve::api::refuse(self, ErrorCode::DestinationRateLimited, FRESH_REFUSED));
        }
        let report: Value = serde_json::from_str(&cached.value).ok()?;
        Some(answer(report, true, cached.age.as_secs()))
    }

    /// Answers with a fresh report, kept in the cache when it is a whole
    /// answer (`complete`: it connected and no limit of ours cut it short).
    pub async fn fresh_answer(&self, key: &str, report: &impl serde::Serialize, complete: bool) -> Response {
        let report = serde_json::to_value(report).unwrap_or(Value::Null);
        if complete && !self.cache_ttl.is_zero() {
            self.limits.store.cache_put(key, &report.to_string(), self.cache_ttl).await;
        }
        answer(report, false, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_server_its_port_and_the_options() {
        let config = Config::default();
        assert_eq!(key("MX.Example.org", 25, &config), key("mx.example.org", 25, &config));
        assert_ne!(key("mx.example.org", 25, &config), key("mx.example.org", 587, &config));
        let other = Config { to_domain: "example.com".into(), ..Config::default() };
        assert_ne!(key("mx.example.org", 25, &config), key("mx.example.org", 25, &other));
    }
}

//! Counters for `GET /metrics`, in Prometheus's text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    sessions_total: AtomicU64,
    sessions_active: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    /// Refusals and session ends, by their stable code.
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    /// Hosted audits by verdict.
    audits: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn session_started(&self) {
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
        self.sessions_active.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_ended(&self, bytes_up: u64, bytes_down: u64) {
        self.sessions_active.fetch_sub(1, Ordering::Relaxed);
        self.bytes_up.fetch_add(bytes_up, Ordering::Relaxed);
        self.bytes_down.fetch_add(bytes_down, Ordering::Relaxed);
    }

    pub fn refused(&self, code: &'static str) {
        *self.refusals.lock().expect("metrics").entry(code).or_insert(0) += 1;
    }

    pub fn audited(&self, verdict: &'static str) {
        *self.audits.lock().expect("metrics").entry(verdict).or_insert(0) += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        counter(
            "relaycheck_sessions_total",
            "Websocket sessions accepted.",
            "counter",
            self.sessions_total.load(Ordering::Relaxed),
        );
        counter(
            "relaycheck_sessions_active",
            "Websocket sessions running now.",
            "gauge",
            self.sessions_active.load(Ordering::Relaxed),
        );
        counter(
            "relaycheck_bytes_up_total",
            "Bytes forwarded from pages to mail servers.",
            "counter",
            self.bytes_up.load(Ordering::Relaxed),
        );
        counter(
            "relaycheck_bytes_down_total",
            "Bytes forwarded from mail servers to pages.",
            "counter",
            self.bytes_down.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP relaycheck_refusals_total Sessions refused or ended by the bridge, by reason.");
        let _ = writeln!(out, "# TYPE relaycheck_refusals_total counter");
        for (code, n) in self.refusals.lock().expect("metrics").iter() {
            let _ = writeln!(out, "relaycheck_refusals_total{{reason=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP relaycheck_audits_total Hosted audits (/api/check), by verdict.");
        let _ = writeln!(out, "# TYPE relaycheck_audits_total counter");
        for (verdict, n) in self.audits.lock().expect("metrics").iter() {
            let _ = writeln!(out, "relaycheck_audits_total{{verdict=\"{verdict}\"}} {n}");
        }
        out
    }
}

//! The driver of a domain audit: every address relay-core's
//! [`relay_core::domain::plan`] lists is audited by a [`Session`](relay_core::Session)
//! of its own, all of them at once (one at a time per address), and each
//! result lands in its place.
//! `ws-bridge check` dials straight from this machine; the hosted API dials
//! through the bridge's destination function, one connection at a time, so
//! a domain audit counts as the connections it opens.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use relay_core::domain::{Item, Planned};
use relay_core::{Config, Target};
use tokio::sync::Semaphore;

use crate::audit::{self, Dial};

/// Audits every [`Item::Audit`] of `items` in parallel (but one at a time
/// per address), each at its one address and port `port`, with the dial `dial_for` gives it; returns the
/// targets in `items`' order. `on_done` sees each target as it finishes,
/// with its index in `items`.
/// Dropping the future aborts every audit and every connection.
pub async fn run_all<D: Dial>(
    config: &Config,
    port: u16,
    items: Vec<Item>,
    dial_for: impl Fn(&Planned) -> Arc<D>,
    mut on_done: impl FnMut(usize, &Target),
) -> Vec<Target> {
    let mut slots: Vec<Option<Target>> = Vec::with_capacity(items.len());
    let mut tasks = tokio::task::JoinSet::new();
    // One audit at a time per address: two MX names often share one, and a
    // server audited twice at once could take us for a flood.
    let mut turns: HashMap<IpAddr, Arc<Semaphore>> = HashMap::new();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Item::Skip(target) => slots.push(Some(*target)),
            Item::Audit(planned) => {
                slots.push(None);
                let dial = dial_for(&planned);
                let config = config.clone();
                let turn = Arc::clone(turns.entry(planned.address).or_insert_with(|| Arc::new(Semaphore::new(1))));
                tasks.spawn(async move {
                    let _turn = turn.acquire_owned().await.expect("never closed");
                    let addresses = vec![SocketAddr::new(planned.address, port)];
                    let report = audit::run(config, &planned.mx_host, port, addresses, dial, |_| {}).await;
                    let target = Target::audited(
                        &planned.mx_host,
                        planned.preference,
                        planned.implicit,
                        planned.address,
                        report,
                    );
                    (index, target)
                });
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, target)) => {
                on_done(index, &target);
                slots[index] = Some(target);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {} // cancelled: the runtime is shutting down
        }
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use relay_core::domain::{plan, MxHost as Host};
    use relaycheck_tests::sink::Sink;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_audit_at_a_time_per_address_and_the_targets_in_order() {
        let sink = Sink::start().await;
        let config = Config::default();
        let host = |name: &str| Host {
            preference: 10,
            exchange: name.into(),
            addresses: vec![sink.addr.ip()],
            implicit: false,
            error: None,
        };
        let dial = |_: &Planned| Arc::new(audit::Direct::new(&config, 1));
        let alone = run_all(&config, sink.addr.port(), plan(&[host("a.test")]), dial, |_, _| {}).await;
        assert_eq!(alone.len(), 1);
        let peak_alone = sink.peak.load(Ordering::SeqCst);
        assert!(peak_alone >= 1);

        let hosts = [host("b.test"), host("c.test"), host("d.test")];
        let mut finished = 0;
        let targets = run_all(&config, sink.addr.port(), plan(&hosts), dial, |_, _| finished += 1).await;
        assert_eq!(finished, 3);
        let names: Vec<&str> = targets.iter().map(|t| t.mx_host.as_str()).collect();
        assert_eq!(names, ["b.test", "c.test", "d.test"]);
        assert!(targets.iter().all(|t| t.verdict() == Some(relay_core::Verdict::Closed)));
        // In turn, the peak stays about one audit's (a closing connection of
        // one audit may overlap the next's first); side by side it would triple.
        let peak = sink.peak.load(Ordering::SeqCst);
        assert!(
            peak < 2 * peak_alone,
            "three names at one address are audited in turn, never side by side: peak {peak}, one audit {peak_alone}"
        );
    }
}

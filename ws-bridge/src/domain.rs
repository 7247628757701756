//! The driver of a domain audit: every address relay-core's
//! [`domain::plan`] lists is audited by a [`Session`](relay_core::Session)
//! of its own, all of them at once, and each result lands in its place.
//! `ws-bridge check` dials straight from this machine; the hosted API dials
//! through the bridge's destination function, one connection at a time, so
//! a domain audit counts as the connections it opens.

use std::net::SocketAddr;
use std::sync::Arc;

use relay_core::domain::{self, Item, Planned};
use relay_core::{Config, Target};

use crate::audit::{self, Dial};
use crate::resolve::MxHost;

/// The resolver's view of a mail server, as relay-core's domain module takes it.
pub fn mx_host(host: &MxHost) -> domain::MxHost {
    domain::MxHost {
        preference: host.preference,
        exchange: host.exchange.clone(),
        addresses: host.addresses.clone(),
        implicit: host.implicit,
        error: host.error.clone(),
    }
}

/// Audits every [`Item::Audit`] of `items` in parallel, each at its one
/// address and port `port`, with the dial `dial_for` gives it; returns the
/// targets in `items`' order. `on_done` sees each target as it finishes.
/// Dropping the future aborts every audit and every connection.
pub async fn run_all<D: Dial>(
    config: &Config,
    port: u16,
    items: Vec<Item>,
    dial_for: impl Fn(&Planned) -> Arc<D>,
    mut on_done: impl FnMut(&Target),
) -> Vec<Target> {
    let mut slots: Vec<Option<Target>> = Vec::with_capacity(items.len());
    let mut tasks = tokio::task::JoinSet::new();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Item::Skip(target) => slots.push(Some(*target)),
            Item::Audit(planned) => {
                slots.push(None);
                let dial = dial_for(&planned);
                let config = config.clone();
                tasks.spawn(async move {
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
                on_done(&target);
                slots[index] = Some(target);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {} // cancelled: the runtime is shutting down
        }
    }
    slots.into_iter().flatten().collect()
}

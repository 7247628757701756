//! Which probes go on which connection, and how many connections an audit
//! may open: the plan's queue, the connection budget, retries and the limits
//! learned from the server. The session asks; this file keeps the counts.
//!
//! Probes travel in groups, one group per connection, so that the refusals
//! one connection collects stay under the server's error limits (Postfix
//! slows down after 10 errors, Exim hangs up after 3 syntax errors). A group
//! is a list of indexes into the session's probe list.

use std::collections::VecDeque;

use crate::config::Config;

/// A probe is asked at most this often over the wire with the same sender:
/// once, and once more after a drop.
pub(crate) const MAX_ATTEMPTS: u8 = 2;

/// No audit opens more connections than this, whatever the server does: a
/// server that drops every connection after one probe and refuses our
/// senders would otherwise be worth about 150. What is left then ends "lost",
/// and the verdict says so.
pub(crate) const HARD_CAP: usize = 60;

/// What the scheduler says about opening one more connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// Open one for the next group.
    Open,
    /// Enough are open; wait for one to finish.
    Wait,
    /// Nothing waits, or the budget is spent while connections are open.
    Nothing,
    /// The budget is spent and none is open: what waits can never be asked.
    Exhausted,
}

pub(crate) struct Schedule {
    /// Probe groups waiting for a connection of their own.
    queue: VecDeque<Vec<usize>>,
    /// Probes that travel alone, on a connection that greets for them (a
    /// forged greeting): always a group of one.
    alone: Vec<usize>,
    /// Connections the audit may open in all.
    max_connections: usize,
    /// Connections given back to the budget because the server turned them away.
    refunds: usize,
    /// Probes per connection: the configured number, or fewer once a server
    /// showed that it hangs up after fewer.
    per_connection: usize,
    configured_per_connection: usize,
    /// Connections open at once; 1 once the server turned one away.
    parallel: usize,
    /// The server turned a connection away: connections carry more groups.
    limited: bool,
    configured_parallel: usize,
    spare: usize,
}

impl Schedule {
    /// A schedule for a plan of `planned` probes. Before the banner names the
    /// server, only the plan's size is known (it does not depend on the
    /// server), which is enough to open the other connections early.
    pub fn new(config: &Config, planned: usize) -> Schedule {
        let per = config.probes_per_connection.max(1);
        Schedule {
            queue: VecDeque::new(),
            alone: Vec::new(),
            max_connections: planned.div_ceil(per) + config.spare_connections,
            refunds: 0,
            per_connection: per,
            configured_per_connection: per,
            parallel: config.parallel_connections.max(1),
            limited: false,
            configured_parallel: config.parallel_connections.max(1),
            spare: config.spare_connections,
        }
    }

    /// Queues the whole plan: `relay` probes, then `controls` control
    /// recipients after them in the session's list. The controls come right
    /// after the manual test's group, on connections of their own: refused
    /// controls are errors too, and a connection with four probes whose
    /// senders are all refused already makes eight (Postfix slows down at 10).
    /// With enough connections side by side they cost no round trip.
    /// `alone` are relay probes that each need a connection of their own.
    pub fn plan(&mut self, relay: usize, controls: usize, alone: Vec<usize>) {
        self.alone = alone;
        let probes: Vec<usize> = (0..relay).collect();
        let controls: Vec<usize> = (relay..relay + controls).collect();
        let mut groups = self.groups(probes).into_iter();
        let first = groups.next();
        self.queue = first.into_iter().chain(self.groups(controls)).chain(groups).collect();
        self.max_connections = self.max_connections.max(self.queue.len() + self.spare);
    }

    /// Cuts probes into groups of the size this server takes, each probe
    /// that travels alone a group of its own, after the others.
    fn groups(&self, probes: Vec<usize>) -> VecDeque<Vec<usize>> {
        let (alone, together): (Vec<usize>, Vec<usize>) = probes.into_iter().partition(|p| self.alone.contains(p));
        together.chunks(self.per_connection).map(<[usize]>::to_vec).chain(alone.into_iter().map(|p| vec![p])).collect()
    }

    pub fn next_group(&mut self) -> Option<Vec<usize>> {
        self.queue.pop_front()
    }

    /// How many probes wait for a connection.
    pub fn waiting(&self) -> usize {
        self.queue.iter().map(Vec::len).sum()
    }

    /// `n` connections more in the budget, after waiting out a server's
    /// connection rate limit (once an audit).
    pub fn refund(&mut self, n: usize) {
        self.max_connections += n;
        self.parallel = 1;
    }

    /// Whether the server turned a connection away.
    pub fn is_limited(&self) -> bool {
        self.limited
    }

    /// The next group without a greeting of its own, cut to at most `room`
    /// probes (the rest waits), for a connection that has served already.
    pub fn next_plain_group_within(&mut self, room: usize) -> Option<Vec<usize>> {
        if room == 0 {
            return None;
        }
        let i = self.queue.iter().position(|g| g.iter().all(|p| !self.alone.contains(p)))?;
        let group = &mut self.queue[i];
        if group.len() <= room {
            return self.queue.remove(i);
        }
        let rest = group.split_off(room);
        let taken = std::mem::replace(group, rest);
        Some(taken)
    }

    /// The next group that greets its own way, for a connection that will
    /// greet again for it.
    pub fn next_alone(&mut self) -> Option<Vec<usize>> {
        let i = self.queue.iter().position(|g| g.iter().any(|p| self.alone.contains(p)))?;
        self.queue.remove(i)
    }

    /// Whether a group waits that greets its own way.
    pub fn has_alone(&self) -> bool {
        self.queue.iter().any(|g| g.iter().any(|p| self.alone.contains(p)))
    }

    /// Whether a group waits that needs no greeting of its own.
    pub fn has_plain_group(&self) -> bool {
        self.queue.iter().any(|g| g.iter().all(|p| !self.alone.contains(p)))
    }

    /// The next group that needs no greeting of its own, for a connection
    /// that has greeted already.
    pub fn next_plain_group(&mut self) -> Option<Vec<usize>> {
        let i = self.queue.iter().position(|g| g.iter().all(|p| !self.alone.contains(p)))?;
        self.queue.remove(i)
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Everything still waiting, which will never be asked.
    pub fn drain(&mut self) -> Vec<usize> {
        self.queue.drain(..).flatten().collect()
    }

    /// Whether to open another connection, given how many were opened in all
    /// and how many are active.
    pub fn opening(&self, opened: usize, active: usize) -> Opening {
        if self.queue.is_empty() {
            Opening::Nothing
        } else if active >= self.parallel {
            Opening::Wait
        } else if opened >= self.max_connections.min(HARD_CAP) {
            if active == 0 {
                Opening::Exhausted
            } else {
                Opening::Nothing
            }
        } else {
            Opening::Open
        }
    }

    /// A connection was turned away at the door: the server limits
    /// connections from us, so go on one at a time. It asked nothing, so it
    /// does not count against the budget (but only so often: a server that
    /// turns every connection away must still end the audit).
    pub fn turned_away(&mut self) {
        self.parallel = 1;
        self.limited = true;
        if self.refunds < self.configured_parallel {
            self.refunds += 1;
            self.max_connections += 1;
        }
    }

    /// The server hung up after `answered` probes of a group (an error
    /// limit, as with "421 Too many errors"): give later connections no more.
    pub fn learn_limit(&mut self, answered: usize) {
        self.per_connection = self.per_connection.min(answered.max(1));
    }

    /// Probes to ask anew (with another sender) go last, regrouped with what
    /// waits; the budget grows by the connections they need, which stays
    /// bounded: a probe changes its sender at most twice.
    pub fn add(&mut self, probes: Vec<usize>, opened: usize) {
        let waiting: Vec<usize> = self.queue.drain(..).flatten().chain(probes).collect();
        self.queue = self.groups(waiting);
        self.max_connections = self.max_connections.max(opened + self.queue.len());
    }

    /// Probes to ask again on a connection of another kind (inside TLS, once
    /// the server demanded it) go first. They were not lost, so the budget
    /// grows by the connections they need; a probe moves into TLS once.
    pub fn again(&mut self, probes: Vec<usize>, opened: usize) {
        let waiting: Vec<usize> = probes.into_iter().chain(self.queue.drain(..).flatten()).collect();
        self.queue = self.groups(waiting);
        self.max_connections = self.max_connections.max(opened + self.queue.len());
    }

    /// One connection more in the budget, for reading the server's TLS
    /// facts; `false` when the hard cap leaves no room for it.
    pub fn one_more(&mut self, opened: usize) -> bool {
        if opened + 1 >= HARD_CAP {
            return false;
        }
        self.max_connections += 1;
        true
    }

    /// Probes lost with a connection go first; what waits is regrouped to
    /// the size this server takes, so retries share connections.
    pub fn requeue(&mut self, retry: Vec<usize>, opened: usize) {
        let waiting: Vec<usize> = retry.into_iter().chain(self.queue.drain(..).flatten()).collect();
        self.queue = self.groups(waiting);
        if self.per_connection < self.configured_per_connection {
            // A server with a lower limit needs more connections for the
            // same probes; each probe is still retried once at most, so this
            // stays bounded.
            self.max_connections = self.max_connections.max(opened + self.queue.len());
        }
    }
}

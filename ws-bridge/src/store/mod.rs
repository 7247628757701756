//! What the bridges of one fleet share, behind one small interface
//! ([`Store`]): the per-destination limits (a connect rate and a cap on
//! connections open at once), the result cache, and the owners' opt-out
//! list.
//!
//! Two stores: [`memory::MemoryStore`], the default (one bridge, nothing to
//! install), and [`redis::RedisStore`] (`--redis redis://HOST:PORT`), which
//! falls back to a memory store with its limits divided by the fleet's size
//! while Redis cannot be reached, and goes back to Redis by itself.
//!
//! Every operation is atomic in the store (one lock in memory, one Lua
//! script or one command in Redis) and every key has a time to live, so
//! nothing grows without bound except the opt-out list, which only an
//! operator grows.

use std::time::Duration;

pub mod memory;
pub mod optout;
pub mod redis;

pub use optout::OptOut;

/// A rate: `count` per `period`, refilled evenly (a token bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn per_minute(count: u32) -> Rate {
        Rate { count, period: Duration::from_secs(60) }
    }

    /// This rate shared by `n` bridges (never below one per period).
    pub fn divided(self, n: u32) -> Rate {
        Rate { count: (self.count / n.max(1)).max(1), period: self.period }
    }
}

/// The limits one destination is held to, from everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestinationLimit {
    /// New connections per period.
    pub rate: Rate,
    /// Connections open at once.
    pub max_open: usize,
    /// How long a place is kept when its holder never gives it back (a
    /// bridge that died): longer than any connection may last.
    pub lease: Duration,
}

impl DestinationLimit {
    /// These limits for one of `n` bridges (never below one).
    pub fn divided(self, n: u32) -> DestinationLimit {
        DestinationLimit {
            rate: self.rate.divided(n),
            max_open: (self.max_open / n.max(1) as usize).max(1),
            lease: self.lease,
        }
    }
}

/// One place under a destination's concurrency cap; give it back with
/// [`Store::release`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub(crate) key: String,
    pub(crate) id: String,
    /// Taken from the local fallback, not from the shared store.
    pub(crate) local: bool,
}

/// Why a destination was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// As many connections as allowed are open now.
    Busy,
    /// Its rate is spent for now.
    RateLimited,
}

/// A result kept in the cache, and how old it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    pub value: String,
    pub age: Duration,
}

/// Which store is answering, as `/healthz` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreState {
    Memory,
    Redis,
    /// Redis cannot be reached: local limits divided by the fleet's size.
    RedisUnreachable,
}

impl StoreState {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreState::Memory => "memory",
            StoreState::Redis => "redis",
            StoreState::RedisUnreachable => "redis-unreachable-local-fallback",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {url} cannot be reached: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the opt-out file {path} cannot be used: {detail}")]
    File { path: String, detail: String },
}

/// What the bridges of a fleet share. Limits and the cache never fail (a
/// store that cannot reach its backend answers from a stricter local
/// fallback); the opt-out list's changes can.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which store answered last.
    fn state(&self) -> StoreState;

    /// Which store answers now, asking the shared one (for `/healthz`).
    async fn probe(&self) -> StoreState {
        self.state()
    }

    /// One more connection to the destination `key`: charged to its rate
    /// and held under its cap until [`Store::release`]. A busy destination
    /// is not charged.
    async fn admit(&self, key: &str, limit: DestinationLimit) -> Result<Lease, Refusal>;

    /// Gives a place back; never waits (a shared store does it in the
    /// background, and a lost release expires with its lease).
    fn release(&self, lease: Lease);

    /// Takes one token from the bucket `key` (such as the fresh runs of
    /// one destination), or says it is empty.
    async fn take(&self, key: &str, rate: Rate) -> bool;

    async fn cache_get(&self, key: &str) -> Option<Cached>;

    async fn cache_put(&self, key: &str, value: &str, ttl: Duration);

    /// Adds an entry; false when it was there already.
    async fn optout_add(&self, entry: &OptOut) -> Result<bool, StoreError>;

    /// Removes an entry; false when it was not there.
    async fn optout_remove(&self, entry: &OptOut) -> Result<bool, StoreError>;

    /// The whole list, sorted (a shared store that cannot be reached
    /// answers with the list it last saw, if any).
    async fn optout_list(&self) -> Result<Vec<OptOut>, StoreError>;
}

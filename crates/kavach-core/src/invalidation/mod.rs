//! Invalidation: the broadcaster trait (callback-based so it needs no async runtime), the
//! in-process broadcaster, and the bounded revocation list a gate keeps for scopes it hears.

pub mod revocations;

use std::sync::Arc;

use crate::store::StoreFuture;
use crate::verdict::InvalidationScope;

/// Called for every scope published on a broadcaster (by anyone, this process included).
pub type ScopeListener = Arc<dyn Fn(&InvalidationScope) + Send + Sync>;

pub trait InvalidationBroadcaster: Send + Sync {
    /// Publish a scope to every subscriber (and, for network broadcasters, every replica).
    fn publish<'a>(&'a self, scope: &'a InvalidationScope) -> StoreFuture<'a, ()>;
    /// Register a listener; returns an id for `unsubscribe`. Late subscribers miss earlier
    /// messages.
    fn subscribe(&self, listener: ScopeListener) -> u64;
    fn unsubscribe(&self, id: u64);
    fn subscriber_count(&self) -> usize;
    fn is_in_process(&self) -> bool;
}

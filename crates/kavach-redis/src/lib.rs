//! Redis implementations of Kavach's shared state, so replicas behind a load balancer agree:
//! sliding-window rate limits ([`RedisRateLimitStore`]), session state ([`RedisSessionStore`])
//! and invalidation broadcast ([`RedisBroadcaster`]). Standalone Redis and Redis Cluster.
//!
//! Every store fails closed: a connection problem or a command timeout is a
//! [`kavach_core::store::StoreError`], which the gate turns into a Refuse. Nothing here retries a
//! write on its own after a timeout (a retried hit could be counted twice, which is safe, but a
//! retried permit count could exceed a cap); recovery means the next call reconnects. The one
//! exception is a revocation the broadcaster could not publish: publishing it twice is
//! harmless, so it is kept and published once Redis answers ([`broadcaster`]).

pub mod broadcaster;
pub mod connect;
mod direct;
pub mod error;
mod keys;
mod known;
pub mod loop_hooks;
mod publisher;
pub mod rate_limit;
mod revocation_log;
pub mod session;
pub mod speed_layers;
mod unsent;

pub use broadcaster::{
    BroadcasterOptions, RedisBroadcaster, DEFAULT_CHANNEL, DEFAULT_REVOCATION_TTL_SECONDS,
};
pub use connect::{ConnectOptions, RedisConn, ScriptLoad, Target};
pub use error::RedisStoreError;
pub use loop_hooks::{set_loop_hooks, LoopHooks};
pub use rate_limit::RedisRateLimitStore;
pub use session::RedisSessionStore;

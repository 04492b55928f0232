//! Redis-backed coordination of swarmcord's gateway replicas.
//!
//! Several replicas of one gateway service each own a group of Discord shards. This crate is
//! what lets them share the work safely:
//!
//! - [`ShardLeases`], [`Lease`] and [`LeaseKeeper`]: **no shard ever has two owners** (a shard
//!   being a shard id of one shard count). A replica takes a shard's lease (set only if free,
//!   with a TTL) before connecting it, renews it in the background and is told (through a
//!   [`CancellationToken`](tokio_util::sync::CancellationToken)) to stop using the shard as
//!   soon as it cannot prove it still owns it. When Swarm starts a
//!   new task before the old one has stopped, the new one waits for the lease instead of
//!   double-connecting. The lease value (the owning gateway id) is also the shard-ownership
//!   registry that other services use to route gateway commands ([`ShardLeases::owner`]).
//! - [`RedisQueue`]: a cluster-wide implementation of twilight's identify
//!   [`Queue`](twilight_gateway::queue::Queue): at most one IDENTIFY per
//!   `shard_id % max_concurrency` bucket per interval across every replica, and no identify at
//!   all when the day's session-start budget is down to its reserve (resuming is unaffected).
//! - [`SessionStore`]: the gateway sessions of every shard, saved at least every second, so a
//!   restarted replica resumes instead of identifying.
//! - [`GatewayRegistry`]: which gateway replicas are alive, their reply queues and shards.
//! - [`Resharding`]: the shard count the cluster runs and the record of a change of it in
//!   progress.
//!
//! Every key lives under the cluster prefix of a [`Keys`](swarmcord_protocol::keys::Keys).
//! Every operation takes a [`redis::aio::ConnectionManager`] (see [`connect`]), which reconnects
//! by itself, and returns a [`CoordError`] on failure. Neither errors nor logs ever contain the
//! Redis URL (it may hold a password).

pub mod assign;
mod error;
mod lease;
mod queue;
mod registry;
mod reshard;
mod session;

use std::time::Duration;

pub use error::CoordError;
pub use lease::{DEFAULT_LEASE_TTL, Lease, LeaseKeeper, ShardLeases};
pub use queue::{DEFAULT_IDENTIFY_INTERVAL, RedisQueue, SessionStartLimit, default_reserve};
pub use redis::aio::ConnectionManager;
pub use registry::{DEFAULT_GATEWAY_TTL, GatewayInfo, GatewayRegistry};
pub use reshard::{Begun, Phase, Reshard, Resharding};
pub use session::{DEFAULT_SESSION_TTL, SavedSession, SessionStore};

/// Result of every fallible operation in this crate.
pub type Result<T, E = CoordError> = std::result::Result<T, E>;

/// Opens a self-reconnecting connection to the Redis server at `url`.
///
/// Each command times out after 2 s and each connection attempt after 2 s, so a hung server
/// shows up as an error instead of a stall. The URL never appears in the error.
pub async fn connect(url: &str) -> Result<ConnectionManager> {
    open(url, manager_config()).await
}

/// [`connect`] for request paths that must answer during an outage (a worker running a
/// command): a command sent while Redis is unreachable fails after a single reconnect
/// attempt (at once when Redis refuses connections) instead of waiting through the whole
/// retry cycle, about 3 s per command; the next command tries to reconnect again.
pub async fn connect_failing_fast(url: &str) -> Result<ConnectionManager> {
    open(url, manager_config().set_number_of_retries(0)).await
}

async fn open(url: &str, config: redis::aio::ConnectionManagerConfig) -> Result<ConnectionManager> {
    let client = redis::Client::open(url).map_err(|_| CoordError::InvalidUrl)?;
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|error| CoordError::redis("connect", error))
}

fn manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        // Reconnect attempts back off to at most 500 ms (the default grows to 3.2 s): after an
        // outage, renewals must reach Redis as soon as it is back, or leases are given up
        // although Redis is there again.
        .set_max_delay(Duration::from_millis(500))
}

/// Milliseconds of `duration`, saturating, at least 1 (Redis rejects 0 as an expiry).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Duration of a Redis `PTTL`-style integer (negative → zero).
pub(crate) fn from_millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A random extra delay of 1..=`max_ms` milliseconds, to de-synchronise pollers.
pub(crate) fn jitter(max_ms: u64) -> Duration {
    Duration::from_millis(rand::random_range(1..=max_ms.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_convert_to_redis_millis() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(from_millis(-2), Duration::ZERO);
        assert_eq!(from_millis(250), Duration::from_millis(250));
        let j = jitter(10);
        assert!(j >= Duration::from_millis(1) && j <= Duration::from_millis(10));
    }

    #[test]
    fn reserve_is_five_percent_with_a_floor_of_five() {
        assert_eq!(default_reserve(1000), 50);
        assert_eq!(default_reserve(100), 5);
        assert_eq!(default_reserve(0), 5);
    }

    #[tokio::test]
    async fn invalid_urls_are_not_echoed() {
        let error = connect("not a url with secret-password").await.unwrap_err();
        assert!(matches!(error, CoordError::InvalidUrl));
        assert!(!error.to_string().contains("secret-password"));
    }
}

//! Redis key names shared by gateways and workers.
//!
//! Every key starts with a configurable cluster prefix (default `swarmcord`), so several bots
//! (or test runs) can share one Redis.

/// Key builder for one cluster prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Self::new("swarmcord")
    }
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Lease of a shard: value = owning gateway id, with a TTL renewed by the owner.
    pub fn shard_lease(&self, shard_id: u32) -> String {
        format!("{}:shard:{shard_id}:owner", self.prefix)
    }

    /// Persisted gateway session of a shard (hash: `session_id`, `seq`, `resume_url`,
    /// `shard_count`).
    pub fn shard_session(&self, shard_id: u32) -> String {
        format!("{}:shard:{shard_id}:session", self.prefix)
    }

    /// The shard count the cluster runs (a number): set by the first gateway that claims
    /// shards, changed only by a completed resharding.
    pub fn shard_count(&self) -> String {
        format!("{}:shards:count", self.prefix)
    }

    /// The resharding in progress, if any (hash: `from`, `to`, `phase`, `since_ms`).
    pub fn reshard(&self) -> String {
        format!("{}:reshard", self.prefix)
    }

    /// Registered gateway replicas (hash: gateway id → JSON with its reply queue and shards).
    ///
    /// An entry is live only while its heartbeat in [`Keys::gateway_heartbeats`] is in the
    /// future; readers skip (and clean up) the others.
    pub fn gateways(&self) -> String {
        format!("{}:gateways", self.prefix)
    }

    /// Heartbeats of the registered gateways (sorted set: gateway id → expiry, in Redis server
    /// time as Unix milliseconds).
    pub fn gateway_heartbeats(&self) -> String {
        format!("{}:gateways:heartbeats", self.prefix)
    }

    /// Last identify time of a `max_concurrency` bucket (cluster-wide identify queue).
    pub fn identify_bucket(&self, bucket: u32) -> String {
        format!("{}:identify:bucket:{bucket}", self.prefix)
    }

    /// Cluster-wide count of session starts left, as last read from `GET /gateway/bot` (hash:
    /// `remaining`, `total`, `reset_at_ms`; expires when Discord resets the count).
    pub fn session_starts(&self) -> String {
        format!("{}:identify:session-starts", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed() {
        let keys = Keys::new("bot1");
        assert_eq!(keys.shard_lease(3), "bot1:shard:3:owner");
        assert_eq!(keys.shard_session(3), "bot1:shard:3:session");
        assert_eq!(keys.identify_bucket(0), "bot1:identify:bucket:0");
        assert_eq!(Keys::default().gateways(), "swarmcord:gateways");
        assert_eq!(keys.gateway_heartbeats(), "bot1:gateways:heartbeats");
    }
}

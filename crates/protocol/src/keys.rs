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

    /// Lease of shard `shard_id` of `shard_count`: value = owning gateway id, with a TTL
    /// renewed by the owner.
    pub fn shard_lease(&self, shard_id: u32, shard_count: u32) -> String {
        shard_key(&self.prefix, shard_id, shard_count, "owner")
    }

    /// Persisted gateway session of shard `shard_id` of `shard_count` (hash: `session_id`,
    /// `seq`, `resume_url`, `shard_count`).
    pub fn shard_session(&self, shard_id: u32, shard_count: u32) -> String {
        shard_key(&self.prefix, shard_id, shard_count, "session")
    }

    /// `{prefix}:cache`: the prefix of every key of the cache (`swarmcord-cache`'s layout).
    pub fn cache_base(&self) -> String {
        format!("{}:cache", self.prefix)
    }

    /// The keys of shard `shard_id` in the format of versions that keyed a shard by its id
    /// alone, with the keys they become (see [`LegacyShardKeys`]).
    pub fn legacy_shard(&self, shard_id: u32, shard_count: u32) -> LegacyShardKeys {
        let cache = self.cache_base();
        let legacy = |base: &str, name: &str| format!("{base}:shard:{shard_id}:{name}");
        LegacyShardKeys {
            lease: legacy(&self.prefix, "owner"),
            session: (
                legacy(&self.prefix, "session"),
                self.shard_session(shard_id, shard_count),
            ),
            cache: ["guilds", "session"].map(|name| {
                (
                    legacy(&cache, name),
                    shard_key(&cache, shard_id, shard_count, name),
                )
            }),
        }
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

/// `{base}:shard:{shard_count}:{shard_id}:{name}`: a key of one shard. The shard count comes
/// first, so that the keys of one shard count (a cohort, while resharding runs two) share a
/// prefix; shard 3 of 4 and shard 3 of 8 are different shards.
pub fn shard_key(base: &str, shard_id: u32, shard_count: u32, name: &str) -> String {
    format!("{base}:shard:{shard_count}:{shard_id}:{name}")
}

/// The keys of one shard as versions before the shard count was part of a shard's keys wrote
/// them (`{base}:shard:{shard_id}:{name}`), paired with their current names. A replica that
/// takes a shard's lease moves these (see `swarmcord-coord`'s leases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyShardKeys {
    /// The old lease key: while it exists, an older replica owns the shard.
    pub lease: String,
    /// The old session hash and the current one.
    pub session: (String, String),
    /// The cache's old bookkeeping keys of the shard (guild set, session marker) and the
    /// current ones.
    pub cache: [(String, String); 2],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed() {
        let keys = Keys::new("bot1");
        assert_eq!(keys.shard_lease(3, 8), "bot1:shard:8:3:owner");
        assert_eq!(keys.shard_session(3, 8), "bot1:shard:8:3:session");
        let legacy = keys.legacy_shard(3, 8);
        assert_eq!(legacy.lease, "bot1:shard:3:owner");
        assert_eq!(legacy.session.0, "bot1:shard:3:session");
        assert_eq!(legacy.session.1, keys.shard_session(3, 8));
        assert_eq!(
            legacy.cache[0],
            (
                "bot1:cache:shard:3:guilds".to_owned(),
                "bot1:cache:shard:8:3:guilds".to_owned()
            )
        );
        assert_eq!(legacy.cache[1].1, "bot1:cache:shard:8:3:session");
        assert_eq!(keys.identify_bucket(0), "bot1:identify:bucket:0");
        assert_eq!(Keys::default().gateways(), "swarmcord:gateways");
        assert_eq!(keys.gateway_heartbeats(), "bot1:gateways:heartbeats");
    }
}

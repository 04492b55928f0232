//! The registry of live gateway replicas.
//!
//! Each replica stores its [`GatewayInfo`] in the hash [`Keys::gateways`] and a heartbeat (an
//! expiry in Redis server time) in the sorted set [`Keys::gateway_heartbeats`]. Entries whose
//! heartbeat has passed are skipped by readers and cleaned up by writers. Expiry uses the Redis
//! server's clock, so clock skew between hosts does not matter.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use swarmcord_protocol::keys::Keys;
use tokio_util::sync::CancellationToken;

use crate::{CoordError, Result, millis};

/// Default heartbeat TTL of a registered gateway.
pub const DEFAULT_GATEWAY_TTL: Duration = Duration::from_secs(15);

/// Redis server time in Unix milliseconds, as a Lua snippet defining `now`.
const NOW: &str = "local t = redis.call('TIME')\n\
                   local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// Removes expired entries. KEYS: gateways, heartbeats.
const CLEANUP: &str = "local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)\n\
                       for _, id in ipairs(dead) do redis.call('HDEL', KEYS[1], id) end\n\
                       redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n";

/// KEYS: gateways, heartbeats. ARGV: id, info JSON, TTL ms.
static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{CLEANUP}\
         redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n\
         redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])\n\
         return 1\n"
    ))
});

/// KEYS: gateways, heartbeats. ARGV: id, `"started_at_ms":<n>` of the instance. Removes the
/// entry only if that instance wrote it (a replacement with the same id keeps its entry).
static DEREGISTER_INSTANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local info = redis.call('HGET', KEYS[1], ARGV[1])\n\
         if info and not string.find(info, ARGV[2], 1, true) then return 0 end\n\
         redis.call('HDEL', KEYS[1], ARGV[1])\n\
         redis.call('ZREM', KEYS[2], ARGV[1])\n\
         return 1\n",
    )
});

/// KEYS: gateways, heartbeats. Returns `[id, info, id, info, …]` of live entries.
static LIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{CLEANUP}\
         local out = {{}}\n\
         for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do\n\
           local info = redis.call('HGET', KEYS[1], id)\n\
           if info then table.insert(out, id); table.insert(out, info) end\n\
         end\n\
         return out\n"
    ))
});

/// What a gateway replica tells the others about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// The AMQP queue its gateway commands go to (`gateway.<id>`).
    pub reply_queue: String,
    /// The shards it owns (or is starting).
    pub shards: Vec<u32>,
    /// When it started, in Unix milliseconds.
    pub started_at_ms: u64,
    /// Average heartbeat round trip of each of its shards, in milliseconds (absent until a
    /// shard has measured one). Read by the `ping` command.
    #[serde(default)]
    pub heartbeat_latency_ms: std::collections::BTreeMap<u32, u64>,
    /// `Some(shard count)` when the replica claims its shards (`GATEWAY_SHARDS=auto`): the
    /// replicas with the same count share the shards ([`crate::assign`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<u32>,
    /// The shards it holds that are connected and received every guild their `READY`
    /// announced (a resharding switches to the new shard set once all of them are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loaded: Vec<u32>,
    /// A new shard set connecting during a resharding: it does not forward yet, so commands
    /// for its shards go to the other set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// The registry of live gateway replicas.
#[derive(Clone)]
pub struct GatewayRegistry {
    conn: ConnectionManager,
    keys: Keys,
    ttl: Duration,
}

impl fmt::Debug for GatewayRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayRegistry")
            .field("prefix", &self.keys.prefix())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl GatewayRegistry {
    /// A registry whose entries live [`DEFAULT_GATEWAY_TTL`] after their last heartbeat.
    pub fn new(conn: ConnectionManager, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            ttl: DEFAULT_GATEWAY_TTL,
        }
    }

    /// Entries live `ttl` after their last heartbeat.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The heartbeat TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Registers (or updates) `gateway_id` and refreshes its heartbeat for one TTL.
    pub async fn register(&self, gateway_id: &str, info: &GatewayInfo) -> Result<()> {
        let json = serde_json::to_string(info).map_err(|e| CoordError::Encode {
            what: "gateway info",
            reason: e.to_string(),
        })?;
        REGISTER
            .key(self.keys.gateways())
            .key(self.keys.gateway_heartbeats())
            .arg(gateway_id)
            .arg(json)
            .arg(millis(self.ttl))
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("gateway registration", error))
    }

    /// Removes `gateway_id` from the registry.
    pub async fn deregister(&self, gateway_id: &str) -> Result<()> {
        redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(self.keys.gateways())
            .arg(gateway_id)
            .ignore()
            .cmd("ZREM")
            .arg(self.keys.gateway_heartbeats())
            .arg(gateway_id)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("gateway deregistration", error))
    }

    /// Removes `gateway_id` from the registry if the entry is still the one of the instance
    /// that started at `started_at_ms`: a replacement that registered under the same id in the
    /// meantime keeps its entry. Returns whether an entry was removed.
    pub async fn deregister_instance(&self, gateway_id: &str, started_at_ms: u64) -> Result<bool> {
        let removed: i64 = DEREGISTER_INSTANCE
            .key(self.keys.gateways())
            .key(self.keys.gateway_heartbeats())
            .arg(gateway_id)
            .arg(format!("\"started_at_ms\":{started_at_ms},"))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("gateway deregistration", error))?;
        Ok(removed == 1)
    }

    /// The live gateways, sorted by id. Entries that cannot be decoded are logged and skipped.
    pub async fn gateways(&self) -> Result<Vec<(String, GatewayInfo)>> {
        let flat: Vec<String> = LIVE
            .key(self.keys.gateways())
            .key(self.keys.gateway_heartbeats())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("gateway registry read", error))?;
        let mut live = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let [id, json] = pair else { continue };
            match serde_json::from_str::<GatewayInfo>(json) {
                Ok(info) => live.push((id.clone(), info)),
                Err(error) => {
                    tracing::warn!(gateway_id = %id, %error, "skipping malformed gateway entry");
                }
            }
        }
        live.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(live)
    }

    /// The live entry of `gateway_id`, if any.
    pub async fn gateway(&self, gateway_id: &str) -> Result<Option<GatewayInfo>> {
        Ok(self
            .gateways()
            .await?
            .into_iter()
            .find(|(id, _)| id == gateway_id)
            .map(|(_, info)| info))
    }

    /// Registers `gateway_id` and heartbeats every `ttl / 3` until `cancel` fires, then
    /// deregisters it. Registration errors are logged and retried.
    pub async fn keep_registered(
        &self,
        gateway_id: &str,
        info: &GatewayInfo,
        cancel: CancellationToken,
    ) {
        let period = (self.ttl / 3).max(Duration::from_millis(10));
        loop {
            if let Err(error) = self.register(gateway_id, info).await {
                tracing::warn!(gateway_id, %error, "gateway heartbeat failed; retrying");
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(period) => {}
            }
        }
        if let Err(error) = self
            .deregister_instance(gateway_id, info.started_at_ms)
            .await
        {
            tracing::warn!(gateway_id, %error, "could not deregister gateway; it expires by itself");
        }
    }
}

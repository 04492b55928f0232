//! Guild settings read through a copy in Redis.
//!
//! Every message needs its guild's prefix; reading it from MongoDB each time would put a
//! database round trip on every event. Workers share a copy of each guild's settings in Redis
//! (`{prefix}:settings:guild:{id}`, JSON, expiring after [`SETTINGS_TTL`]):
//!
//! - a reader that misses loads the settings from MongoDB and stores them with `SET NX`, so it
//!   never overwrites a newer copy written meanwhile;
//! - a writer changes MongoDB first, then stores the settings MongoDB returned with a plain
//!   `SET`, so the next read on any replica sees the change.
//!
//! When Redis is unavailable, reads go to MongoDB directly; when MongoDB is unavailable, the
//! error reaches the caller (who falls back to defaults or says "settings unavailable").

use std::time::Duration;

use redis::aio::ConnectionManager;
use swarmcord_store::{GuildSettings, Store, StoreError};

/// How long a copy lives in Redis (a bound on staleness if a writer died between its MongoDB
/// write and its Redis write).
pub const SETTINGS_TTL: Duration = Duration::from_secs(10 * 60);

/// Guild settings shared by the workers: MongoDB, read through a copy in Redis.
#[derive(Clone)]
pub struct SharedSettings {
    store: Store,
    redis: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for SharedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSettings")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedSettings {
    /// Settings from `store`, copied under `{redis_prefix}:settings:…`.
    pub fn new(store: Store, redis: ConnectionManager, redis_prefix: impl Into<String>) -> Self {
        Self {
            store,
            redis,
            prefix: redis_prefix.into(),
        }
    }

    /// The store behind the copies.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn key(&self, guild_id: u64) -> String {
        format!("{}:settings:guild:{guild_id}", self.prefix)
    }

    /// The guild's settings (defaults when it has none).
    pub async fn guild(&self, guild_id: u64) -> Result<GuildSettings, StoreError> {
        let key = self.key(guild_id);
        let mut redis = self.redis.clone();
        let copy: Result<Option<String>, _> =
            redis::cmd("GET").arg(&key).query_async(&mut redis).await;
        match copy {
            Ok(Some(raw)) => match serde_json::from_str::<GuildSettings>(&raw) {
                Ok(settings) if settings.guild_id == guild_id => return Ok(settings),
                _ => tracing::warn!(guild_id, "ignoring an unreadable settings copy"),
            },
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "settings copies unavailable; reading MongoDB"),
        }
        let settings = self.store.guild_settings().get(guild_id).await?;
        self.put(&key, &settings, true).await;
        Ok(settings)
    }

    /// Records settings that were just written to MongoDB (pass what the store returned).
    pub async fn remember(&self, settings: &GuildSettings) {
        self.put(&self.key(settings.guild_id), settings, false)
            .await;
    }

    async fn put(&self, key: &str, settings: &GuildSettings, only_if_absent: bool) {
        let Ok(raw) = serde_json::to_string(settings) else {
            return;
        };
        let mut command = redis::cmd("SET");
        command
            .arg(key)
            .arg(raw)
            .arg("PX")
            .arg(u64::try_from(SETTINGS_TTL.as_millis()).unwrap_or(u64::MAX));
        if only_if_absent {
            command.arg("NX");
        }
        let mut redis = self.redis.clone();
        let stored: Result<Option<String>, _> = command.query_async(&mut redis).await;
        if let Err(error) = stored {
            tracing::debug!(%error, "could not store a settings copy");
        }
    }
}

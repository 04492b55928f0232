//! The gateway side: turns dispatches into Redis commands and applies them in order.
//!
//! [`CacheWriter::prepare`] parses one dispatch into an [`Update`] (a list of commands; never
//! fails: a malformed payload is logged, counted and, when it names a guild, turned into a
//! purge of that guild so that nothing stale is ever read). [`CacheWriter::apply`] sends the
//! updates of many events as **one pipeline**: Redis executes a connection's commands in the
//! order sent, so the updates land in event order, and the caller publishes the events only
//! after `apply` returned — a worker that receives event E reads a cache that includes E.
//!
//! Every update is idempotent (set-to-value, delete, add-to-set, counted-once member changes),
//! so a batch can be repeated after an error, and events replayed by a RESUME do no harm.

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{Cmd, RedisResult, Value};
use serde::Serialize;
use swarmcord_protocol::backoff::Backoff;
use twilight_model::id::Id;
use twilight_model::id::marker::GuildMarker;

use crate::config::{CacheConfig, Resource};
use crate::error::CacheError;
use crate::keys::CacheKeys;
use crate::scripts::Scripts;
use crate::wire;

mod plan;
mod shard;

/// The cache updates of one dispatch.
#[derive(Debug, Default)]
pub struct Update {
    cmds: Vec<Cmd>,
    /// Index (in `cmds`) of the command whose reply is the entity's previous state.
    previous_at: Option<usize>,
    previous: Option<Vec<u8>>,
}

impl Update {
    /// Whether the dispatch changes nothing in the cache.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Redis commands in this update.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// After [`CacheWriter::apply`]: the entity's state before this event, in the cache's
    /// encoding (a [`CachedMember`](crate::CachedMember) for `GUILD_MEMBER_UPDATE`, …), if the
    /// event is an update or delete, the entity was cached, and
    /// [`CacheConfig::previous_state`] is on (always for `GUILD_UPDATE`,
    /// `GUILD_MEMBER_ADD`/`REMOVE` and `VOICE_STATE_UPDATE`, whose scripts return it anyway).
    pub fn previous(&self) -> Option<&[u8]> {
        self.previous.as_deref()
    }

    /// Entity writes in this update: fields set in hashes, members added to sets, keys set,
    /// entries deleted, scripts run (one each) — the unit of the cache benchmark's rates.
    pub fn writes(&self) -> usize {
        self.cmds
            .iter()
            .map(|c| {
                let args = c.args_iter().len();
                match c.args_iter().next() {
                    Some(redis::Arg::Simple(name)) if name == b"HSET" => args.saturating_sub(2) / 2,
                    Some(redis::Arg::Simple(name)) if name == b"SADD" || name == b"SREM" => {
                        args.saturating_sub(2)
                    }
                    Some(redis::Arg::Simple(name)) if name == b"DEL" => args.saturating_sub(1),
                    _ => 1,
                }
            })
            .sum()
    }

    fn push(&mut self, cmd: Cmd) -> &mut Self {
        self.cmds.push(cmd);
        self
    }

    fn push_previous(&mut self, cmd: Cmd) {
        self.previous_at = Some(self.cmds.len());
        self.cmds.push(cmd);
    }
}

/// What one [`CacheWriter::apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Commands sent.
    pub commands: usize,
    /// Commands Redis refused (logged and counted; the batch is not repeated for them).
    pub failed: usize,
}

/// Applies dispatches to the cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CacheWriter {
    redis: ConnectionManager,
    keys: CacheKeys,
    config: CacheConfig,
    scripts: Scripts,
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail (no maps with non-string keys, no I/O).
    serde_json::to_vec(value).unwrap_or_default()
}

fn cmd(name: &str) -> Cmd {
    redis::cmd(name)
}

impl CacheWriter {
    /// A writer using `redis` (a dedicated connection is best: large batches then never delay
    /// other traffic such as lease renewals).
    pub fn new(redis: ConnectionManager, config: CacheConfig) -> Self {
        Self {
            keys: CacheKeys::new(&config.prefix),
            redis,
            config,
            scripts: Scripts::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The key layout.
    pub fn keys(&self) -> &CacheKeys {
        &self.keys
    }

    fn on(&self, resource: Resource) -> bool {
        self.config.resources.contains(resource)
    }

    /// Whether dispatches of type `kind` can change the cache (with this configuration).
    pub fn handles(&self, kind: &str) -> bool {
        let r = self.config.resources;
        if r.is_empty() {
            return false;
        }
        match kind {
            "READY" | "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => true,
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "CHANNEL_DELETE" => {
                r.contains(Resource::Channels)
            }
            "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" | "GUILD_ROLE_DELETE" => {
                r.contains(Resource::Roles)
            }
            "GUILD_MEMBER_ADD"
            | "GUILD_MEMBER_UPDATE"
            | "GUILD_MEMBER_REMOVE"
            | "GUILD_MEMBERS_CHUNK" => r.contains(Resource::Members) || r.contains(Resource::Users),
            "USER_UPDATE" => r.contains(Resource::Users),
            "GUILD_EMOJIS_UPDATE" => r.contains(Resource::Emojis),
            "VOICE_STATE_UPDATE" => r.contains(Resource::VoiceStates),
            "PRESENCE_UPDATE" => r.contains(Resource::Presences),
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" | "MESSAGE_DELETE_BULK" => {
                r.contains(Resource::Messages)
            }
            _ => false,
        }
    }

    /// Turns one dispatch from shard `shard_id` of `shard_count` into cache updates. Never
    /// fails: a payload that cannot be read is logged and counted
    /// (`swarmcord_cache_errors_total{kind="malformed"}`), and if it names a guild, that guild
    /// is purged (it will be rebuilt by its next `GUILD_CREATE`), so no stale entry survives a
    /// missed update.
    pub fn prepare(&self, shard_id: u32, shard_count: u32, kind: &str, payload: &[u8]) -> Update {
        if !self.handles(kind) {
            return Update::default();
        }
        match self.plan(shard_id, shard_count, kind, payload) {
            Ok(update) => {
                metrics::counter!("swarmcord_cache_events_total", "event" => kind.to_owned())
                    .increment(1);
                update
            }
            Err(error) => {
                metrics::counter!("swarmcord_cache_errors_total", "kind" => "malformed")
                    .increment(1);
                let guild = serde_json::from_slice::<wire::HasGuildId>(payload)
                    .map(|g| g.guild_id)
                    .ok()
                    .or_else(|| {
                        // Guild events carry the guild's id as `id`.
                        kind.starts_with("GUILD_")
                            .then(|| serde_json::from_slice::<wire::GuildId>(payload).ok())
                            .flatten()
                            .map(|g| g.id)
                    });
                tracing::warn!(
                    event = kind,
                    %error,
                    purged_guild = guild.map(Id::get),
                    "malformed dispatch: not cached (the event is still forwarded)"
                );
                let mut update = Update::default();
                if let Some(guild) = guild {
                    update.push(self.purge(guild));
                }
                update
            }
        }
    }

    /// `HSET key field value`, or the script that also returns the previous value when previous
    /// states are asked for (a Lua call costs Redis several times a plain `HSET`).
    fn set_field(&self) -> Cmd {
        if self.config.previous_state {
            self.scripts.hset_old.call(1)
        } else {
            cmd("HSET")
        }
    }

    /// `HDEL key field`, or the script that returns the deleted value.
    fn del_field(&self) -> Cmd {
        if self.config.previous_state {
            self.scripts.hdel_old.call(1)
        } else {
            cmd("HDEL")
        }
    }

    fn purge(&self, guild: Id<GuildMarker>) -> Cmd {
        let mut c = self.scripts.purge_guild.call(0);
        c.arg(self.keys.base()).arg(guild.get());
        c
    }

    /// Applies `updates` in order as one pipeline and fills in their previous states.
    ///
    /// `Err` means the connection failed (nothing or only a prefix may have been applied):
    /// repeat the call — every update is idempotent. Commands that Redis refuses one by one
    /// (which only a corrupted key of the wrong type can cause) are logged, counted and
    /// reported in [`Applied::failed`].
    pub async fn apply(&self, updates: &mut [Update]) -> Result<Applied, CacheError> {
        let commands: usize = updates.iter().map(Update::len).sum();
        if commands == 0 {
            return Ok(Applied::default());
        }
        let started = Instant::now();
        let mut pipe = redis::pipe();
        for update in updates.iter() {
            for c in &update.cmds {
                pipe.add_command(c.clone());
            }
        }
        pipe.ignore_errors();
        let mut redis = self.redis.clone();
        let mut replies: Vec<RedisResult<Value>> = Vec::new();
        for attempt in 0..2 {
            replies = pipe.query_async(&mut redis).await.map_err(|e| {
                metrics::counter!("swarmcord_cache_errors_total", "kind" => "redis").increment(1);
                CacheError::redis("cache write", e)
            })?;
            let missing_script = replies.iter().any(|r| {
                r.as_ref().is_err_and(|e| {
                    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
                })
            });
            if !missing_script || attempt == 1 {
                break;
            }
            self.load_scripts().await?;
        }
        let mut failed = 0;
        let mut replies = replies.into_iter();
        for update in updates.iter_mut() {
            for i in 0..update.cmds.len() {
                match replies.next() {
                    Some(Ok(value)) if update.previous_at == Some(i) => {
                        update.previous = match value {
                            Value::BulkString(bytes) => Some(bytes),
                            _ => None,
                        };
                    }
                    Some(Ok(_)) | None => {}
                    Some(Err(error)) => {
                        failed += 1;
                        tracing::error!(%error, "Redis refused a cache command");
                    }
                }
            }
        }
        if failed > 0 {
            metrics::counter!("swarmcord_cache_errors_total", "kind" => "command")
                .increment(u64::try_from(failed).unwrap_or(u64::MAX));
        }
        metrics::counter!("swarmcord_cache_commands_total")
            .increment(u64::try_from(commands).unwrap_or(u64::MAX));
        metrics::histogram!("swarmcord_cache_write_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(Applied { commands, failed })
    }

    /// Loads the Lua scripts (done by [`CacheWriter::apply`] on demand; call it at start-up to
    /// find a broken Redis early).
    pub async fn load_scripts(&self) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        for script in self.scripts.all() {
            pipe.add_command(script.load()).ignore();
        }
        let mut redis = self.redis.clone();
        pipe.query_async::<()>(&mut redis)
            .await
            .map_err(|e| CacheError::redis("SCRIPT LOAD", e))
    }

    /// Applies `updates`, retrying with a growing pause (50 ms to 1 s) while Redis is
    /// unreachable, until it succeeds or `give_up` returns true (then `Err`).
    pub async fn apply_until(
        &self,
        updates: &mut [Update],
        mut give_up: impl FnMut() -> bool,
    ) -> Result<Applied, CacheError> {
        let mut pause = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let mut logged = false;
        loop {
            match self.apply(updates).await {
                Ok(applied) => {
                    if logged {
                        tracing::info!("cache writes succeed again");
                    }
                    return Ok(applied);
                }
                Err(error) => {
                    if give_up() {
                        return Err(error);
                    }
                    if !logged {
                        tracing::warn!(%error, "cache write failed; holding the events back and retrying");
                        logged = true;
                    }
                    tokio::time::sleep(pause.next_delay()).await;
                }
            }
        }
    }
}

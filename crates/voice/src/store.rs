//! The voice state in Redis: per guild, enough to rebuild its player on any node.
//!
//! | key | type | content |
//! |---|---|---|
//! | `{p}:voice:guild:{g}` | hash | `node`, `text_channel`, `voice_channel`, `volume`, `paused`, `loop`, `current` (entry), `current_id`, `position_ms`, `position_at_ms`, `vs_session`, `vs_token`, `vs_endpoint`, `vs_channel` (the bot's Discord voice connection) |
//! | `{p}:voice:guild:{g}:queue` | list | upcoming entries, `"{id}|{json}"` |
//! | `{p}:voice:guild:{g}:seq` | counter | entry ids |
//! | `{p}:voice:guilds` | set | guilds with a player |
//! | `{p}:voice:users:{g}` | hash | user id → voice channel id (from `VOICE_STATE_UPDATE`) |
//! | `{p}:voice:node:{n}:session` | string | the node's Lavalink session id (the cluster has one per node) |
//! | `{p}:voice:node:{n}:owner` | string, TTL | lease: which replica holds the node's WebSocket |
//! | `{p}:voice:node:{n}:alive` | string, short TTL | the owner's heartbeat while the node's WebSocket is open (value: the owner); deleted the moment the socket drops |
//! | `{p}:voice:node:{n}:stats` | hash, TTL 10 min | load only, from the node's `stats` op (once a minute): `players`, `penalty`, `updated_at_ms` |
//!
//! Queue steps are Lua scripts, so concurrent commands and track-end events on several replicas
//! cannot interleave: [`VoiceStore::advance`] moves on only if the current entry is still the one
//! that ended (compare-and-set on its id), which makes each track end advance the queue once.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::AsyncCommands as _;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::model::Track;

/// A Redis operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceStoreError {
    /// Redis failed or is unreachable.
    #[error("voice state unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored value does not parse (written by an incompatible version).
    #[error("voice state is corrupt: {0}")]
    Corrupt(String),
}

type Result<T> = std::result::Result<T, VoiceStoreError>;

/// Unix milliseconds now.
pub use swarmcord_protocol::time::unix_ms as now_ms;

mod state;

pub use state::{Advance, Entry, GuildVoice, LoopMode, NodeLoad, VoiceConnection};

/// Sets `current` to the entry if nothing plays (returns 0), else appends it (returns the
/// queue length). KEYS: guild, queue, guilds. ARGV: encoded entry, entry id, now, guild id.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('HEXISTS', KEYS[1], 'current_id') == 1 then
          return redis.call('RPUSH', KEYS[2], ARGV[1])
        end
        redis.call('HSET', KEYS[1], 'current', ARGV[1], 'current_id', ARGV[2],
          'position_ms', 0, 'position_at_ms', ARGV[3])
        redis.call('SADD', KEYS[3], ARGV[4])
        return 0
        ",
    )
});

/// Moves to the next entry if `current_id` is still ARGV[1]. KEYS: guild, queue, seq.
/// ARGV: expected id, now, skip (1 ignores loop=track). Returns {'stale'} | {'finished'} |
/// {'next', raw}. A skip un-pauses (the user asked for the next track, to hear it), and so does
/// the end of the queue (the next `play` starts a new queue); a track that ended by itself
/// leaves the pause as the user last set it.
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local id = redis.call('HGET', KEYS[1], 'current_id')
        if not id or id ~= ARGV[1] then return {'stale'} end
        local raw = redis.call('HGET', KEYS[1], 'current')
        local json = string.sub(raw, string.len(id) + 2)
        local mode = redis.call('HGET', KEYS[1], 'loop') or 'off'
        local nxt
        if mode == 'track' and ARGV[3] ~= '1' then
          nxt = redis.call('INCR', KEYS[3]) .. '|' .. json
        else
          if mode == 'queue' then
            redis.call('RPUSH', KEYS[2], redis.call('INCR', KEYS[3]) .. '|' .. json)
          end
          nxt = redis.call('LPOP', KEYS[2])
        end
        if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'paused', 0) end
        if not nxt then
          redis.call('HDEL', KEYS[1], 'current', 'current_id')
          redis.call('HSET', KEYS[1], 'position_ms', 0, 'position_at_ms', ARGV[2], 'paused', 0)
          return {'finished'}
        end
        local bar = string.find(nxt, '|', 1, true)
        redis.call('HSET', KEYS[1], 'current', nxt, 'current_id', string.sub(nxt, 1, bar - 1),
          'position_ms', 0, 'position_at_ms', ARGV[2])
        return {'next', nxt}
        ",
    )
});

/// Replaces the queue with ARGV if its length is still `#ARGV` (a concurrent change wins).
static REPLACE_QUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('LLEN', KEYS[1]) ~= #ARGV then return 0 end
        redis.call('DEL', KEYS[1])
        if #ARGV > 0 then redis.call('RPUSH', KEYS[1], unpack(ARGV)) end
        return 1
        ",
    )
});

/// Sets the position only while `current_id` is ARGV[1] (a late update of an ended track
/// must not move the next one).
static POSITION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('HGET', KEYS[1], 'current_id') ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'position_ms', ARGV[2], 'position_at_ms', ARGV[3])
        return 1
        ",
    )
});

/// Takes or renews a lease. KEYS: lease. ARGV: owner, ttl ms. Returns 1 when held.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local v = redis.call('GET', KEYS[1])
        if v == false then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        if v == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        ",
    )
});

/// Deletes KEYS[1] if its value is still ARGV[1] (a lease, a heartbeat).
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        ",
    )
});

/// The voice state in Redis (cheap to clone).
#[derive(Clone)]
pub struct VoiceStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for VoiceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl VoiceStore {
    /// The store under the cluster's key `prefix`.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
        }
    }

    fn guild_key(&self, guild: u64) -> String {
        format!("{}:voice:guild:{guild}", self.prefix)
    }

    fn queue_key(&self, guild: u64) -> String {
        format!("{}:voice:guild:{guild}:queue", self.prefix)
    }

    fn seq_key(&self, guild: u64) -> String {
        format!("{}:voice:guild:{guild}:seq", self.prefix)
    }

    fn guilds_key(&self) -> String {
        format!("{}:voice:guilds", self.prefix)
    }

    fn users_key(&self, guild: u64) -> String {
        format!("{}:voice:users:{guild}", self.prefix)
    }

    fn node_key(&self, node: &str, what: &str) -> String {
        format!("{}:voice:node:{node}:{what}", self.prefix)
    }

    /// The guild's player state, `None` if it has none.
    pub async fn guild(&self, guild: u64) -> Result<Option<GuildVoice>> {
        let map: HashMap<String, String> = self.conn.clone().hgetall(self.guild_key(guild)).await?;
        if map.is_empty() {
            return Ok(None);
        }
        GuildVoice::from_hash(guild, &map).map(Some)
    }

    /// Sets fields of the guild's hash (and lists the guild among those with a player).
    pub async fn set(&self, guild: u64, fields: &[(&str, String)]) -> Result<()> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(self.guild_key(guild), fields)
            .ignore()
            .sadd(self.guilds_key(), guild)
            .ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Sets the guild's fields only if it has a player state already; returns whether it had.
    pub async fn set_if_exists(&self, guild: u64, fields: &[(&str, String)]) -> Result<bool> {
        let exists: bool = self.conn.clone().exists(self.guild_key(guild)).await?;
        if exists {
            let _: () = self
                .conn
                .clone()
                .hset_multiple(self.guild_key(guild), fields)
                .await?;
        }
        Ok(exists)
    }

    /// Forgets the guild's player, queue and voice connection.
    pub async fn delete(&self, guild: u64) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&[self.guild_key(guild), self.queue_key(guild)])
            .ignore()
            .srem(self.guilds_key(), guild)
            .ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Every guild with a player state.
    pub async fn guilds(&self) -> Result<Vec<u64>> {
        Ok(self.conn.clone().smembers(self.guilds_key()).await?)
    }

    /// A new entry for `track` with a fresh id.
    pub async fn new_entry(&self, guild: u64, track: Track, requester: u64) -> Result<Entry> {
        let id: u64 = self.conn.clone().incr(self.seq_key(guild), 1).await?;
        Ok(Entry {
            id: id.to_string(),
            track,
            requester: requester.to_string(),
        })
    }

    /// Plays `entry` now if nothing plays (`Ok(0)`: the caller starts it on the node), else
    /// appends it to the queue (`Ok(n)`: its 1-based place in the queue).
    pub async fn enqueue(&self, guild: u64, entry: &Entry) -> Result<u64> {
        Ok(ENQUEUE
            .key(self.guild_key(guild))
            .key(self.queue_key(guild))
            .key(self.guilds_key())
            .arg(entry.encode())
            .arg(&entry.id)
            .arg(now_ms())
            .arg(guild)
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Moves past `ended` (the id of the entry that ended or is skipped) if it is still the
    /// current one. `skip` ignores loop=track.
    pub async fn advance(&self, guild: u64, ended: &str, skip: bool) -> Result<Advance> {
        let reply: Vec<String> = ADVANCE
            .key(self.guild_key(guild))
            .key(self.queue_key(guild))
            .key(self.seq_key(guild))
            .arg(ended)
            .arg(now_ms())
            .arg(if skip { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await?;
        match reply.first().map(String::as_str) {
            Some("stale") => Ok(Advance::Stale),
            Some("finished") => Ok(Advance::Finished),
            Some("next") => reply
                .get(1)
                .ok_or_else(|| VoiceStoreError::Corrupt("advance without entry".to_owned()))
                .and_then(|raw| Entry::decode(raw))
                .map(|e| Advance::Next(Box::new(e))),
            _ => Err(VoiceStoreError::Corrupt(format!(
                "advance answered {reply:?}"
            ))),
        }
    }

    /// Clears the queue and the current entry, and the pause with them (Lavalink un-pauses a
    /// stopped player; the next `play` starts a new queue).
    pub async fn clear(&self, guild: u64) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(self.queue_key(guild))
            .ignore()
            .hdel(self.guild_key(guild), &["current", "current_id"])
            .ignore()
            .hset(self.guild_key(guild), "paused", 0)
            .ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Entries `start..start+count` of the queue and its total length.
    pub async fn queue(
        &self,
        guild: u64,
        start: usize,
        count: usize,
    ) -> Result<(Vec<Entry>, usize)> {
        let stop = isize::try_from(start + count).unwrap_or(isize::MAX) - 1;
        let start = isize::try_from(start).unwrap_or(isize::MAX);
        let mut pipe = redis::pipe();
        pipe.lrange(self.queue_key(guild), start, stop)
            .llen(self.queue_key(guild));
        let (raw, len): (Vec<String>, usize) = pipe.query_async(&mut self.conn.clone()).await?;
        let entries = raw
            .iter()
            .map(|r| Entry::decode(r))
            .collect::<Result<_>>()?;
        Ok((entries, len))
    }

    /// Shuffles the queue; returns its length (unchanged if it changed meanwhile).
    pub async fn shuffle(&self, guild: u64) -> Result<usize> {
        use rand::seq::SliceRandom as _;
        let mut raw: Vec<String> = self
            .conn
            .clone()
            .lrange(self.queue_key(guild), 0, -1)
            .await?;
        raw.shuffle(&mut rand::rng());
        let _: i64 = REPLACE_QUEUE
            .key(self.queue_key(guild))
            .arg(&raw)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(raw.len())
    }

    /// Records the position of entry `entry_id` (ignored if another entry plays now).
    pub async fn record_position(
        &self,
        guild: u64,
        entry_id: &str,
        position_ms: u64,
        at_ms: u64,
    ) -> Result<bool> {
        let set: i64 = POSITION
            .key(self.guild_key(guild))
            .arg(entry_id)
            .arg(position_ms)
            .arg(at_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(set == 1)
    }

    /// Records which voice channel a user is in (`None`: none).
    pub async fn set_user_channel(
        &self,
        guild: u64,
        user: u64,
        channel: Option<u64>,
    ) -> Result<()> {
        let mut conn = self.conn.clone();
        match channel {
            Some(channel) => {
                let _: () = conn.hset(self.users_key(guild), user, channel).await?;
            }
            None => {
                let _: () = conn.hdel(self.users_key(guild), user).await?;
            }
        }
        Ok(())
    }

    /// The voice channel a user is in, as last seen.
    pub async fn user_channel(&self, guild: u64, user: u64) -> Result<Option<u64>> {
        Ok(self.conn.clone().hget(self.users_key(guild), user).await?)
    }

    /// The node's Lavalink session id.
    pub async fn node_session(&self, node: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .clone()
            .get(self.node_key(node, "session"))
            .await?)
    }

    /// Stores the node's Lavalink session id (kept a day: resuming needs it after restarts).
    pub async fn set_node_session(&self, node: &str, session: &str) -> Result<()> {
        let _: () = self
            .conn
            .clone()
            .set_ex(self.node_key(node, "session"), session, 86_400)
            .await?;
        Ok(())
    }

    /// Writes the node's load (kept 10 minutes: `stats` come once a minute, and an old figure
    /// is still a better guess than none).
    pub async fn write_load(&self, node: &str, load: &NodeLoad) -> Result<()> {
        let key = self.node_key(node, "stats");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &key,
                &[
                    ("players", load.players.to_string()),
                    ("penalty", load.penalty.to_string()),
                    ("updated_at_ms", load.updated_at_ms.to_string()),
                ],
            )
            .ignore()
            .pexpire(&key, 600_000)
            .ignore();
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// The node's last known load, `None` if none was written (lately).
    pub async fn load(&self, node: &str) -> Result<Option<NodeLoad>> {
        let map: HashMap<String, String> = self
            .conn
            .clone()
            .hgetall(self.node_key(node, "stats"))
            .await?;
        if map.is_empty() {
            return Ok(None);
        }
        let get = |k: &str| map.get(k).map(String::as_str).unwrap_or_default();
        Ok(Some(NodeLoad {
            players: get("players").parse().unwrap_or(0),
            penalty: get("penalty").parse().unwrap_or(0.0),
            updated_at_ms: get("updated_at_ms").parse().unwrap_or(0),
        }))
    }

    /// The owner's heartbeat: `owner`'s WebSocket to `node` is open. Lives `ttl` unless
    /// renewed.
    pub async fn heartbeat(&self, node: &str, owner: &str, ttl: Duration) -> Result<()> {
        let _: () = self
            .conn
            .clone()
            .pset_ex(
                self.node_key(node, "alive"),
                owner,
                u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            )
            .await?;
        Ok(())
    }

    /// `owner` lost its WebSocket to `node`: the node is unavailable from now on (unless
    /// another owner's heartbeat is the current one).
    pub async fn node_down(&self, node: &str, owner: &str) -> Result<()> {
        let _: i64 = RELEASE
            .key(self.node_key(node, "alive"))
            .arg(owner)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Whether a node's owner holds an open WebSocket to it (its heartbeat is current).
    pub async fn node_alive(&self, node: &str) -> Result<bool> {
        Ok(self
            .conn
            .clone()
            .exists(self.node_key(node, "alive"))
            .await?)
    }

    /// Takes or renews the lease of `node` for `owner`; returns whether `owner` holds it.
    pub async fn lease(&self, node: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let held: i64 = LEASE
            .key(self.node_key(node, "owner"))
            .arg(owner)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease of `node` up, if `owner` holds it.
    pub async fn release(&self, node: &str, owner: &str) -> Result<()> {
        let _: i64 = RELEASE
            .key(self.node_key(node, "owner"))
            .arg(owner)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrackInfo;

    fn entry(id: &str, length: u64) -> Entry {
        Entry {
            id: id.to_owned(),
            track: Track {
                encoded: format!("enc{id}"),
                info: TrackInfo {
                    identifier: id.to_owned(),
                    is_seekable: true,
                    author: "a".into(),
                    length,
                    is_stream: false,
                    title: "t|with bar".into(),
                    uri: None,
                },
                user_data: serde_json::Value::Null,
            },
            requester: "9".into(),
        }
    }

    #[test]
    fn entries_round_trip_and_positions_extrapolate() {
        let e = entry("12", 10_000);
        let back = Entry::decode(&e.encode()).unwrap();
        assert_eq!(back, e);
        assert!(Entry::decode("no-bar").is_err());
        assert!(Entry::decode("1|{").is_err());
        let mut g = GuildVoice {
            current: Some(e),
            position_ms: 1_000,
            position_at_ms: 5_000,
            ..GuildVoice::default()
        };
        assert_eq!(g.position_now(7_500), 3_500);
        assert_eq!(g.position_now(100_000), 10_000, "capped at the length");
        g.paused = true;
        assert_eq!(g.position_now(7_500), 1_000);
        assert!(g.full_update(0).get("voice").is_none());
        g.voice = VoiceConnection {
            session_id: Some("s".into()),
            token: Some("t".into()),
            endpoint: Some("e".into()),
            channel_id: Some(4),
        };
        let update = g.full_update(0);
        assert_eq!(update["voice"]["channelId"], "4");
        assert_eq!(update["track"]["userData"]["entry"], "12");
        assert_eq!(update["position"], 1_000);
    }

    #[test]
    fn loop_modes_parse() {
        assert_eq!(LoopMode::parse("ALL"), Some(LoopMode::Queue));
        assert_eq!(LoopMode::parse("track"), Some(LoopMode::Track));
        assert_eq!(LoopMode::parse("off"), Some(LoopMode::Off));
        assert_eq!(LoopMode::parse("sometimes"), None);
    }
}

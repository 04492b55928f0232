//! Persisted gateway sessions, so a restarted gateway resumes instead of identifying.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use swarmcord_protocol::keys::Keys;
use twilight_gateway::Session;

use crate::{CoordError, Result, millis};

/// Default lifetime of a saved session that nobody refreshes: a session that old cannot be
/// resumed anyway.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(300);

const SESSION_ID: &str = "session_id";
const SEQUENCE: &str = "seq";
const RESUME_URL: &str = "resume_url";
const SHARD_COUNT: &str = "shard_count";

/// Saves sessions only where the shard's lease is held by ARGV[1]. KEYS: per shard, the
/// session key then the lease key. ARGV: owner, TTL ms, then per shard session id, sequence,
/// shard count, resume URL (empty: none). Returns 1 (saved) or 0 (refused) per shard.
static SAVE_IF_OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for i = 1, #KEYS / 2 do
  local session, lease = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 2 + 4 * (i - 1)
  if redis.call('GET', lease) == ARGV[1] then
    redis.call('HSET', session, 'session_id', ARGV[a + 1], 'seq', ARGV[a + 2], 'shard_count', ARGV[a + 3])
    if ARGV[a + 4] == '' then
      redis.call('HDEL', session, 'resume_url')
    else
      redis.call('HSET', session, 'resume_url', ARGV[a + 4])
    end
    redis.call('PEXPIRE', session, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
",
    )
});

/// What a gateway needs to resume a shard's session in another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSession {
    /// Discord's session id.
    pub session_id: String,
    /// The last sequence number the gateway confirmed (forwarded and cached).
    pub sequence: u64,
    /// `READY.resume_gateway_url`, if known.
    pub resume_url: Option<String>,
    /// The shard count the session was opened with (a session is only valid for that count).
    pub shard_count: u32,
}

impl SavedSession {
    /// A saved session from twilight's [`Session`], with the shard's resume URL and shard count.
    pub fn from_session(session: &Session, resume_url: Option<&str>, shard_count: u32) -> Self {
        Self {
            session_id: session.id().to_owned(),
            sequence: session.sequence(),
            resume_url: resume_url.map(ToOwned::to_owned),
            shard_count,
        }
    }

    /// twilight's [`Session`], for `ConfigBuilder::session`.
    pub fn to_session(&self) -> Session {
        Session::new(self.sequence, self.session_id.clone())
    }

    fn decode(shard_id: u32, fields: &HashMap<String, String>) -> Result<Option<Self>> {
        if fields.is_empty() {
            return Ok(None);
        }
        let what = || format!("session of shard {shard_id}");
        let get = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| CoordError::malformed(what(), format!("no `{name}` field")))
        };
        Ok(Some(Self {
            session_id: get(SESSION_ID)?.clone(),
            sequence: get(SEQUENCE)?
                .parse()
                .map_err(|e| CoordError::malformed(what(), format!("`{SEQUENCE}`: {e}")))?,
            resume_url: fields.get(RESUME_URL).cloned(),
            shard_count: get(SHARD_COUNT)?
                .parse()
                .map_err(|e| CoordError::malformed(what(), format!("`{SHARD_COUNT}`: {e}")))?,
        }))
    }
}

/// The session store: one hash per shard ([`Keys::shard_session`], a shard being a shard id
/// of a shard count) that expires unless saved again within the TTL. A session is saved under
/// the shard count it was opened with ([`SavedSession::shard_count`]).
#[derive(Clone)]
pub struct SessionStore {
    conn: ConnectionManager,
    keys: Keys,
    ttl: Duration,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("prefix", &self.keys.prefix())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    /// A store keeping sessions for [`DEFAULT_SESSION_TTL`] after their last save.
    pub fn new(conn: ConnectionManager, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            ttl: DEFAULT_SESSION_TTL,
        }
    }

    /// Keeps sessions for `ttl` after their last save.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a saved session lives without being saved again.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn add_save(&self, pipe: &mut redis::Pipeline, shard_id: u32, session: &SavedSession) {
        let key = self.keys.shard_session(shard_id, session.shard_count);
        pipe.cmd("HSET")
            .arg(&key)
            .arg(SESSION_ID)
            .arg(&session.session_id)
            .arg(SEQUENCE)
            .arg(session.sequence)
            .arg(SHARD_COUNT)
            .arg(session.shard_count)
            .ignore();
        match &session.resume_url {
            Some(url) => pipe.cmd("HSET").arg(&key).arg(RESUME_URL).arg(url).ignore(),
            None => pipe.cmd("HDEL").arg(&key).arg(RESUME_URL).ignore(),
        };
        pipe.cmd("PEXPIRE").arg(&key).arg(millis(self.ttl)).ignore();
    }

    /// Saves (replaces) the session of `shard_id` (of the session's shard count) and refreshes
    /// its TTL.
    pub async fn save(&self, shard_id: u32, session: &SavedSession) -> Result<()> {
        self.save_many([(shard_id, session)]).await
    }

    /// Saves the sessions of many shards in one atomic round trip.
    pub async fn save_many<'a, I>(&self, sessions: I) -> Result<()>
    where
        I: IntoIterator<Item = (u32, &'a SavedSession)>,
    {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut any = false;
        for (shard_id, session) in sessions {
            self.add_save(&mut pipe, shard_id, session);
            any = true;
        }
        if !any {
            return Ok(());
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session save", error))
    }

    /// Saves the sessions of many shards atomically, each only if `owner` holds the shard's
    /// lease ([`Keys::shard_lease`]): a replica that lost a shard (frozen, partitioned) cannot
    /// overwrite the session its new owner saves. Returns the shards whose save was refused.
    pub async fn save_many_if_owner<'a, I>(&self, owner: &str, sessions: I) -> Result<Vec<u32>>
    where
        I: IntoIterator<Item = (u32, &'a SavedSession)>,
    {
        let mut invocation = SAVE_IF_OWNER.prepare_invoke();
        invocation.arg(owner).arg(millis(self.ttl));
        let mut shards = Vec::new();
        for (shard_id, session) in sessions {
            invocation
                .key(self.keys.shard_session(shard_id, session.shard_count))
                .key(self.keys.shard_lease(shard_id, session.shard_count))
                .arg(&session.session_id)
                .arg(session.sequence)
                .arg(session.shard_count)
                .arg(session.resume_url.as_deref().unwrap_or(""));
            shards.push(shard_id);
        }
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let saved: Vec<i64> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session save", error))?;
        Ok(shards
            .into_iter()
            .zip(saved)
            .filter(|(_, saved)| *saved == 0)
            .map(|(shard_id, _)| shard_id)
            .collect())
    }

    /// The saved session of shard `shard_id` of `shard_count`, if any.
    pub async fn load(&self, shard_id: u32, shard_count: u32) -> Result<Option<SavedSession>> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.shard_session(shard_id, shard_count))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session load", error))?;
        SavedSession::decode(shard_id, &fields)
    }

    /// The saved sessions of many shards of `shard_count` in one round trip, one entry per
    /// shard. A malformed entry is logged and returned as `None` (the shard then identifies).
    pub async fn load_many(
        &self,
        shard_count: u32,
        shard_ids: &[u32],
    ) -> Result<Vec<Option<SavedSession>>> {
        if shard_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for &shard_id in shard_ids {
            pipe.cmd("HGETALL")
                .arg(self.keys.shard_session(shard_id, shard_count));
        }
        let all: Vec<HashMap<String, String>> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session load", error))?;
        Ok(shard_ids
            .iter()
            .zip(all)
            .map(
                |(&shard_id, fields)| match SavedSession::decode(shard_id, &fields) {
                    Ok(session) => session,
                    Err(error) => {
                        tracing::warn!(shard_id, %error, "ignoring malformed saved session");
                        None
                    }
                },
            )
            .collect())
    }

    /// Forgets the session of shard `shard_id` of `shard_count` (after Discord invalidated
    /// it).
    pub async fn clear(&self, shard_id: u32, shard_count: u32) -> Result<()> {
        self.delete_many(shard_count, &[shard_id]).await.map(drop)
    }

    /// Forgets the sessions of many shards of `shard_count` in one round trip (the shards of
    /// a shard count that is retired); returns how many existed.
    pub async fn delete_many(&self, shard_count: u32, shard_ids: &[u32]) -> Result<usize> {
        if shard_ids.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = shard_ids
            .iter()
            .map(|&shard_id| self.keys.shard_session(shard_id, shard_count))
            .collect();
        redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|error| CoordError::redis("session delete", error))
    }
}

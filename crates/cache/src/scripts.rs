//! The Lua scripts that make multi-key updates atomic and idempotent.
//!
//! Every script takes the cache base (`{prefix}:cache`) as its first argument and builds the
//! keys it needs from it, so the cache needs a standalone Redis (or a single Redis Cluster
//! slot), which is what swarmcord deploys. Scripts are loaded once and called with `EVALSHA`;
//! after a Redis restart (`NOSCRIPT`) the writer loads them again and repeats the batch, which
//! is safe because every update is idempotent.

use redis::{Cmd, Script};

/// One script: its source (for `SCRIPT LOAD`) and SHA1 (for `EVALSHA`).
#[derive(Debug, Clone)]
pub(crate) struct Lua {
    code: String,
    sha: String,
}

impl Lua {
    fn new(code: &str) -> Self {
        Self {
            sha: Script::new(code).get_hash().to_owned(),
            code: code.to_owned(),
        }
    }

    /// `EVALSHA sha numkeys` — the caller adds the keys and arguments.
    pub(crate) fn call(&self, numkeys: usize) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(numkeys);
        cmd
    }

    /// `SCRIPT LOAD code`.
    pub(crate) fn load(&self) -> Cmd {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(&self.code);
        cmd
    }
}

/// Removes everything cached for guild `g` (`purge(p, g)`), shared by several scripts.
const PURGE_FN: &str = r"
local function purge(p, g)
  local mk = p .. ':g:' .. g .. ':members'
  local members = redis.call('HKEYS', mk)
  for _, u in ipairs(members) do
    local k = p .. ':u:' .. u .. ':guilds'
    redis.call('SREM', k, g)
    if redis.call('SCARD', k) == 0 then redis.call('HDEL', p .. ':users', u) end
  end
  local ck = p .. ':g:' .. g .. ':channels'
  for _, c in ipairs(redis.call('SMEMBERS', ck)) do
    redis.call('HDEL', p .. ':channels', c)
    redis.call('DEL', p .. ':vc:' .. c)
  end
  redis.call('DEL', mk, ck, p .. ':g:' .. g .. ':roles', p .. ':g:' .. g .. ':emojis',
    p .. ':g:' .. g .. ':voice', p .. ':g:' .. g .. ':presences')
  redis.call('HDEL', p .. ':guilds', g)
  redis.call('HDEL', p .. ':member_counts', g)
  redis.call('SREM', p .. ':unavailable', g)
end
";

/// The scripts, with their SHA1 for `EVALSHA`.
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    /// ARGV: base, guild → purges the guild.
    pub(crate) purge_guild: Lua,
    /// ARGV: base, the shard's guild set → purges every guild of the set, then the set.
    pub(crate) purge_shard: Lua,
    /// KEYS: hash; ARGV: field, value → sets, returns the previous value.
    pub(crate) hset_old: Lua,
    /// KEYS: hash; ARGV: field → deletes, returns the previous value.
    pub(crate) hdel_old: Lua,
    /// ARGV: base, guild, json → replaces a cached guild's fields, keeping `joined_at` and
    /// `large` (which `GUILD_UPDATE` does not carry); nothing if the guild is not cached.
    pub(crate) guild_update: Lua,
    /// ARGV: base, guild, user, member json → adds a member; counts it once.
    pub(crate) member_add: Lua,
    /// ARGV: base, guild, user → removes a member, its voice state and presence; uncounts it
    /// once; forgets the user when it is in no cached guild any more. Returns the old member.
    pub(crate) member_remove: Lua,
    /// ARGV: base, guild, user, state json or "", channel or "" → moves the user between
    /// voice-channel occupant sets. Returns the previous state.
    pub(crate) voice: Lua,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        let with_purge = |body: &str| Lua::new(&format!("{PURGE_FN}\n{body}"));
        Self {
            purge_guild: with_purge("purge(ARGV[1], ARGV[2]) return 1"),
            purge_shard: with_purge(
                r"
local k = ARGV[2]
local guilds = redis.call('SMEMBERS', k)
for _, g in ipairs(guilds) do purge(ARGV[1], g) end
redis.call('DEL', k)
return #guilds",
            ),
            hset_old: Lua::new(
                r"
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old",
            ),
            hdel_old: Lua::new(
                r"
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then redis.call('HDEL', KEYS[1], ARGV[1]) end
return old",
            ),
            guild_update: Lua::new(
                r#"
local k = ARGV[1] .. ':guilds'
local old = redis.call('HGET', k, ARGV[2])
if not old then return false end
local new = ARGV[3]
local extra = ''
local joined = string.match(old, '"j":"([^"]*)"')
if joined then extra = extra .. ',"j":"' .. joined .. '"' end
if string.find(old, '"lg":true', 1, true) then extra = extra .. ',"lg":true' end
if extra ~= '' then new = string.sub(new, 1, -2) .. extra .. '}' end
redis.call('HSET', k, ARGV[2], new)
return old"#,
            ),
            member_add: Lua::new(
                r"
local p, g, u = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', p .. ':g:' .. g .. ':members', u)
redis.call('HSET', p .. ':g:' .. g .. ':members', u, ARGV[4])
redis.call('SADD', p .. ':u:' .. u .. ':guilds', g)
if not old and redis.call('HEXISTS', p .. ':member_counts', g) == 1 then
  redis.call('HINCRBY', p .. ':member_counts', g, 1)
end
return old",
            ),
            member_remove: Lua::new(
                r"
local p, g, u = ARGV[1], ARGV[2], ARGV[3]
local mk = p .. ':g:' .. g .. ':members'
local old = redis.call('HGET', mk, u)
if old then
  redis.call('HDEL', mk, u)
  if redis.call('HEXISTS', p .. ':member_counts', g) == 1 then
    redis.call('HINCRBY', p .. ':member_counts', g, -1)
  end
end
local uk = p .. ':u:' .. u .. ':guilds'
redis.call('SREM', uk, g)
if redis.call('SCARD', uk) == 0 then redis.call('HDEL', p .. ':users', u) end
local vk = p .. ':g:' .. g .. ':voice'
local state = redis.call('HGET', vk, u)
if state then
  local c = cjson.decode(state)['c']
  if c then redis.call('SREM', p .. ':vc:' .. c, u) end
  redis.call('HDEL', vk, u)
end
redis.call('HDEL', p .. ':g:' .. g .. ':presences', u)
return old",
            ),
            voice: Lua::new(
                r"
local p, g, u = ARGV[1], ARGV[2], ARGV[3]
local vk = p .. ':g:' .. g .. ':voice'
local old = redis.call('HGET', vk, u)
if old then
  local c = cjson.decode(old)['c']
  if c then redis.call('SREM', p .. ':vc:' .. c, u) end
end
if ARGV[5] ~= '' then
  redis.call('HSET', vk, u, ARGV[4])
  redis.call('SADD', p .. ':vc:' .. ARGV[5], u)
else
  redis.call('HDEL', vk, u)
end
return old",
            ),
        }
    }

    /// Every script, for `SCRIPT LOAD`.
    pub(crate) fn all(&self) -> [&Lua; 8] {
        [
            &self.purge_guild,
            &self.purge_shard,
            &self.hset_old,
            &self.hdel_old,
            &self.guild_update,
            &self.member_add,
            &self.member_remove,
            &self.voice,
        ]
    }
}

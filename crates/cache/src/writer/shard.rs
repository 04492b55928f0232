//! A shard's bookkeeping in the cache: the set of guilds it cached ([`CacheKeys::shard_guilds`])
//! and the session that last rebuilt them ([`CacheKeys::shard_session`]), apart from the
//! guilds' data.
//!
//! While the bot is resharded, a shard of the new shard count reads its events without
//! forwarding or caching them (the old count's shards do); [`CacheWriter::prepare_bookkeeping`]
//! records what it must so that its bookkeeping is right the moment it takes over.
//! [`CacheWriter::forget_shard`] drops a retired shard's bookkeeping.
//!
//! [`CacheKeys::shard_guilds`]: crate::CacheKeys::shard_guilds
//! [`CacheKeys::shard_session`]: crate::CacheKeys::shard_session

use twilight_model::id::Id;
use twilight_model::id::marker::GuildMarker;

use super::{CacheWriter, Update, cmd};
use crate::wire;

impl CacheWriter {
    /// An update that reads which session last rebuilt shard `shard_id` of `shard_count` (see
    /// [`CacheKeys::shard_session`](crate::CacheKeys::shard_session)); after
    /// [`CacheWriter::apply`], [`Update::previous`] holds it. Put it first in a batch: if it
    /// is not the session the shard is in, the cache lost data (Redis restarted empty) and
    /// the shard must re-identify to rebuild it.
    pub fn session_check(&self, shard_id: u32, shard_count: u32) -> Update {
        let mut u = Update::default();
        u.push_previous(
            cmd("GET")
                .arg(self.keys.shard_session(shard_id, shard_count))
                .clone(),
        );
        u
    }

    /// An update that deletes the bookkeeping of shard `shard_id` of `shard_count` (its guild
    /// set and session marker) and nothing else: the guilds' data stays, since another shard
    /// (of another shard count) may own it now.
    pub fn forget_shard(&self, shard_id: u32, shard_count: u32) -> Update {
        let mut u = Update::default();
        u.push(
            cmd("DEL")
                .arg(self.keys.shard_guilds(shard_id, shard_count))
                .arg(self.keys.shard_session(shard_id, shard_count))
                .clone(),
        );
        u
    }

    /// The bookkeeping part of [`CacheWriter::prepare`] alone: for `READY`, `GUILD_CREATE` and
    /// `GUILD_DELETE` from shard `shard_id` of `shard_count`, the updates of that shard's guild
    /// set and session marker, and never anything about the guilds themselves; nothing for
    /// other events (or with the cache off).
    ///
    /// What a shard that reads events but does not forward them records, so that once it
    /// forwards, its `READY` bookkeeping and session check are those of a shard that cached
    /// all along. A payload that cannot be read is logged and counted like in `prepare`, and
    /// yields nothing.
    pub fn prepare_bookkeeping(
        &self,
        shard_id: u32,
        shard_count: u32,
        kind: &str,
        payload: &[u8],
    ) -> Update {
        let mut u = Update::default();
        if self.config.resources.is_empty() {
            return u;
        }
        let parsed = match kind {
            "READY" => serde_json::from_slice::<wire::Ready>(payload).map(|ready| {
                u.push(
                    cmd("DEL")
                        .arg(self.keys.shard_guilds(shard_id, shard_count))
                        .clone(),
                );
                self.record_ready(&mut u, shard_id, shard_count, &ready);
            }),
            "GUILD_CREATE" | "GUILD_DELETE" => serde_json::from_slice::<wire::GuildId>(payload)
                .map(|guild| {
                    // An unavailable guild stays in its shard's set (like in `prepare`).
                    let kept = kind == "GUILD_CREATE" || guild.unavailable == Some(true);
                    self.record_guild(&mut u, shard_id, shard_count, guild.id, kept);
                }),
            _ => Ok(()),
        };
        if let Err(error) = parsed {
            metrics::counter!("swarmcord_cache_errors_total", "kind" => "malformed").increment(1);
            tracing::warn!(
                event = kind,
                %error,
                shard_id,
                shard_count,
                "malformed dispatch: shard bookkeeping not updated"
            );
            return Update::default();
        }
        u
    }

    /// The bookkeeping of a `READY`: the guilds it announces join the shard's set (emptied
    /// before by the caller), and its session becomes the shard's marker.
    pub(super) fn record_ready(
        &self,
        u: &mut Update,
        shard_id: u32,
        shard_count: u32,
        ready: &wire::Ready,
    ) {
        if !ready.guilds.is_empty() {
            let ids: Vec<u64> = ready.guilds.iter().map(|g| g.id.get()).collect();
            u.push(
                cmd("SADD")
                    .arg(self.keys.shard_guilds(shard_id, shard_count))
                    .arg(&ids)
                    .clone(),
            );
        }
        if let Some(session) = &ready.session_id {
            u.push(
                cmd("SET")
                    .arg(self.keys.shard_session(shard_id, shard_count))
                    .arg(session)
                    .clone(),
            );
        }
    }

    /// Adds `guild` to the shard's set (`member`) or removes it.
    pub(super) fn record_guild(
        &self,
        u: &mut Update,
        shard_id: u32,
        shard_count: u32,
        guild: Id<GuildMarker>,
        member: bool,
    ) {
        u.push(
            cmd(if member { "SADD" } else { "SREM" })
                .arg(self.keys.shard_guilds(shard_id, shard_count))
                .arg(guild.get())
                .clone(),
        );
    }
}

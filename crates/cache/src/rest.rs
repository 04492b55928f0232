//! A reader that asks Discord's REST API when the cache has no entry, and remembers the answer.
//!
//! Remembered REST answers are kept apart from the gateway-fed entries
//! (`{prefix}:cache:rest:…`, plain strings with a time-to-live), because an answer fetched
//! before a gateway update but stored after it would otherwise overwrite newer data — and a
//! deleted entity could come back. The time-to-live bounds how old such an answer can be.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use twilight_http::Client;
use twilight_http::error::ErrorType;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, RoleMarker, UserMarker};

use crate::error::CacheError;
use crate::model::{CachedChannel, CachedMember, CachedRole, CachedUser};
use crate::permissions::{self, PermissionInputs, PermissionLookup, Unknown};
use crate::reader::{CacheReader, decode};
use crate::wire;

/// Default time-to-live of REST answers.
pub const DEFAULT_REST_TTL: Duration = Duration::from_secs(60);

/// [`CacheReader`] plus Discord REST for what the cache lacks.
#[derive(Debug, Clone)]
pub struct FallbackReader {
    cache: CacheReader,
    http: Arc<Client>,
    ttl: Duration,
}

/// Where an answer came from (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The gateway-fed cache.
    Cache,
    /// An earlier REST answer this reader remembered, still within its time-to-live.
    RememberedRest,
    /// Discord, just now.
    Rest,
}

fn rest_error(operation: &'static str, error: twilight_http::Error) -> Option<CacheError> {
    if let ErrorType::Response { status, .. } = error.kind()
        && status.get() == 404
    {
        return None;
    }
    Some(CacheError::Rest {
        operation,
        source: Box::new(error),
    })
}

impl FallbackReader {
    /// Reads `cache` first, then asks `http`; REST answers are kept for `ttl`
    /// ([`DEFAULT_REST_TTL`] is a good start).
    pub fn new(cache: CacheReader, http: Arc<Client>, ttl: Duration) -> Self {
        Self { cache, http, ttl }
    }

    /// The cache-only reader.
    pub fn cache(&self) -> &CacheReader {
        &self.cache
    }

    async fn remembered<T: DeserializeOwned>(
        &self,
        what: &'static str,
        key: &str,
    ) -> Result<Option<T>, CacheError> {
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.cache.connection())
            .await
            .map_err(|e| CacheError::redis("GET", e))?;
        decode(what, raw)
    }

    async fn remember<T: Serialize>(&self, key: &str, value: &T) -> Result<(), CacheError> {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("PX")
            .arg(
                u64::try_from(self.ttl.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
            .query_async::<()>(&mut self.cache.connection())
            .await
            .map_err(|e| CacheError::redis("SET", e))
    }

    pub(crate) async fn fetch(
        &self,
        operation: &'static str,
        request: impl Future<Output = Result<twilight_http::Response<impl Sized>, twilight_http::Error>>,
    ) -> Result<Option<Vec<u8>>, CacheError> {
        metrics::counter!("swarmcord_cache_rest_fallbacks_total", "entity" => operation)
            .increment(1);
        match request.await {
            Ok(response) => response
                .bytes()
                .await
                .map(Some)
                .map_err(|e| CacheError::Rest {
                    operation,
                    source: Box::new(e),
                }),
            Err(error) => match rest_error(operation, error) {
                None => Ok(None),
                Some(error) => Err(error),
            },
        }
    }

    /// An earlier REST answer under `key`, else `request`'s answer, kept under `key`;
    /// `None` when Discord says there is no such entity.
    async fn remembered_or_fetched<T: Serialize + DeserializeOwned>(
        &self,
        what: &'static str,
        key: &str,
        request: impl Future<Output = Result<twilight_http::Response<impl Sized>, twilight_http::Error>>,
    ) -> Result<Option<(T, Source)>, CacheError> {
        if let Some(value) = self.remembered(what, key).await? {
            return Ok(Some((value, Source::RememberedRest)));
        }
        let Some(bytes) = self.fetch(what, request).await? else {
            return Ok(None);
        };
        let value: T = serde_json::from_slice(&bytes).map_err(|source| CacheError::Decode {
            what: "REST answer",
            source,
        })?;
        self.remember(key, &value).await?;
        Ok(Some((value, Source::Rest)))
    }

    /// A member: cache, then an earlier REST answer, then `GET /guilds/{g}/members/{u}`.
    /// `None` if Discord says there is no such member.
    pub async fn member(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Result<Option<(CachedMember, Source)>, CacheError> {
        if let Some(member) = self.cache.member(guild, user).await? {
            return Ok(Some((member, Source::Cache)));
        }
        let key = self.cache.keys().rest_member(guild, user);
        if let Some(member) = self.remembered("member", &key).await? {
            return Ok(Some((member, Source::RememberedRest)));
        }
        let Some(bytes) = self
            .fetch("member", self.http.guild_member(guild, user).into_future())
            .await?
        else {
            return Ok(None);
        };
        let member: wire::Member =
            serde_json::from_slice(&bytes).map_err(|source| CacheError::Decode {
                what: "REST member",
                source,
            })?;
        let cached = member.cached();
        self.remember(&key, &cached).await?;
        self.remember(&self.cache.keys().rest_user(user), &member.user)
            .await?;
        Ok(Some((cached, Source::Rest)))
    }

    /// A user: cache, then an earlier REST answer, then `GET /users/{id}`.
    pub async fn user(
        &self,
        user: Id<UserMarker>,
    ) -> Result<Option<(CachedUser, Source)>, CacheError> {
        if let Some(cached) = self.cache.user(user).await? {
            return Ok(Some((cached, Source::Cache)));
        }
        let key = self.cache.keys().rest_user(user);
        self.remembered_or_fetched("user", &key, self.http.user(user).into_future())
            .await
    }

    /// A channel: cache, then an earlier REST answer, then `GET /channels/{id}`.
    pub async fn channel(
        &self,
        channel: Id<ChannelMarker>,
    ) -> Result<Option<(CachedChannel, Source)>, CacheError> {
        if let Some(cached) = self.cache.channel(channel).await? {
            return Ok(Some((cached, Source::Cache)));
        }
        let key = self.cache.keys().rest_channel(channel);
        self.remembered_or_fetched("channel", &key, self.http.channel(channel).into_future())
            .await
    }

    /// A member's permissions in a channel: from the cache when it can tell, else from what
    /// Discord's REST API says about whatever the cache lacks — the member, the guild's owner
    /// and roles, the channel — each answer kept for the time-to-live. The only REST
    /// permission path of the workspace. [`PermissionLookup::Unknown`] when Discord does not
    /// know one of them or the channel is in another guild; `Err` when Redis or Discord
    /// failed. Both mean: deny.
    pub async fn member_permissions_in_channel(
        &self,
        guild: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
    ) -> Result<PermissionLookup, CacheError> {
        let lookup = match self
            .cache
            .permission_inputs(guild, Some(channel), user)
            .await?
        {
            Ok(inputs) => {
                count_lookup("cache");
                return Ok(PermissionLookup::Known(inputs.compute()));
            }
            Err((Unknown::ChannelNotInGuild, _)) => {
                PermissionLookup::Unknown(Unknown::ChannelNotInGuild)
            }
            Err((Unknown::MemberNotCached, Some(mut inputs))) => {
                count_lookup("rest");
                match self.member(guild, user).await? {
                    Some((member, _)) => {
                        inputs.member = member;
                        PermissionLookup::Known(inputs.compute())
                    }
                    None => PermissionLookup::Unknown(Unknown::MemberNotCached),
                }
            }
            Err(_) => {
                count_lookup("rest");
                self.rest_permissions(guild, channel, user).await?
            }
        };
        Ok(lookup)
    }

    /// [`member_permissions_in_channel`](Self::member_permissions_in_channel) for a check that
    /// denies whatever is not known: the permissions, or `None` when they are unknown or the
    /// lookup failed (logged at debug level).
    pub async fn known_permissions_in_channel(
        &self,
        guild: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
    ) -> Option<Permissions> {
        match self
            .member_permissions_in_channel(guild, channel, user)
            .await
        {
            Ok(lookup) => {
                tracing::debug!(?lookup, "permissions looked up");
                lookup.known()
            }
            Err(error) => {
                tracing::debug!(%error, "permissions unavailable");
                None
            }
        }
    }

    /// Permissions from REST answers (or earlier ones still kept) when the cache lacks the
    /// guild, its roles or the channel.
    async fn rest_permissions(
        &self,
        guild: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
    ) -> Result<PermissionLookup, CacheError> {
        let Some((owner_id, roles)) = self.owner_and_roles(guild).await? else {
            return Ok(PermissionLookup::Unknown(Unknown::GuildNotCached));
        };
        let Some((channel, _)) = self.channel(channel).await? else {
            return Ok(PermissionLookup::Unknown(Unknown::ChannelNotCached));
        };
        if channel.guild_id != Some(guild) {
            return Ok(PermissionLookup::Unknown(Unknown::ChannelNotInGuild));
        }
        let Some((member, _)) = self.member(guild, user).await? else {
            return Ok(PermissionLookup::Unknown(Unknown::MemberNotCached));
        };
        let roles: Vec<(Id<RoleMarker>, Permissions)> =
            roles.iter().map(|r| (r.id, r.permissions)).collect();
        Ok(PermissionLookup::Known(permissions::compute(
            &PermissionInputs {
                guild_id: guild,
                owner_id,
                roles: &roles,
                user_id: user,
                member_roles: &member.roles,
                overwrites: Some(&channel.overwrites),
                timed_out: permissions::timed_out(member.communication_disabled_until.as_deref()),
            },
        )))
    }

    /// The guild's owner and complete role list: from the cache when it has the guild and
    /// `@everyone`, else an earlier REST answer, else `GET /guilds/{id}` (kept for the
    /// time-to-live); `None` when Discord does not know the guild.
    pub(crate) async fn owner_and_roles(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<Option<(Id<UserMarker>, Vec<CachedRole>)>, CacheError> {
        let everyone: Id<RoleMarker> = guild.cast();
        if let Some(cached) = self.cache.guild(guild).await? {
            let roles = self.cache.roles(guild).await?;
            if roles.iter().any(|r| r.id == everyone) {
                return Ok(Some((cached.owner_id, roles)));
            }
        }
        let key = self.cache.keys().rest_guild(guild);
        let guild: Option<(RestGuild, Source)> = self
            .remembered_or_fetched("guild", &key, self.http.guild(guild).into_future())
            .await?;
        Ok(guild.map(|(guild, _)| (guild.owner_id, guild.roles)))
    }
}

/// The part of `GET /guilds/{id}` permissions and the role hierarchy need.
#[derive(Serialize, Deserialize)]
struct RestGuild {
    owner_id: Id<UserMarker>,
    roles: Vec<CachedRole>,
}

/// Counts a permission lookup by where it was answered (`cache` or `rest`).
fn count_lookup(source: &'static str) {
    metrics::counter!("swarmcord_worker_permission_lookups_total", "source" => source).increment(1);
}

//! The bot: what a worker does with each forwarded Discord event.
//!
//! [`Bot`] implements [`swarmcord_consumer::Handler`]. For a `MESSAGE_CREATE` it reads the
//! guild's prefix from MongoDB (falling back to the default prefix when the store is
//! unavailable, so commands that need no settings keep working), computes the author's
//! permissions in the channel from Discord REST (unknown → every permission check fails),
//! runs the command framework, and sends the reply with a nonce derived from the event's
//! identity and `enforce_nonce`, so that a redelivered event never produces a second reply.

pub mod builtin;
pub mod permissions;
pub mod reply;

use std::collections::HashSet;
use std::sync::Arc;

use swarmcord_commands::{Dispatcher, InvocationContext};
use swarmcord_consumer::{BoxFuture, Event, Handler, HandlerError};
use swarmcord_store::Store;
use twilight_http::Client;
use twilight_model::channel::Message;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, RoleMarker, UserMarker};

/// Settings of the bot.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Redis key prefix (the cluster's).
    pub redis_prefix: String,
    /// Prefix of servers that set none.
    pub default_prefix: String,
    /// Bot owners (bypass permission checks and cooldowns).
    pub owners: HashSet<u64>,
}

/// How long the outcome of a handled command is remembered for redeliveries.
const HANDLED_TTL_MS: u64 = 15 * 60 * 1000;

/// What a command answered, kept in Redis so that a redelivered event re-sends the same
/// reply (deduplicated by its nonce) instead of running the command a second time.
#[derive(serde::Serialize, serde::Deserialize)]
struct Handled {
    content: String,
    embeds: Vec<twilight_model::channel::message::Embed>,
}

/// The bot's event handler.
pub struct Bot {
    http: Arc<Client>,
    redis: redis::aio::ConnectionManager,
    redis_prefix: String,
    dispatcher: Arc<Dispatcher>,
    store: Store,
    user_id: Id<UserMarker>,
    config: BotConfig,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("bot_id", &self.user_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// A bot answering as `bot_id`.
    pub fn new(
        http: Arc<Client>,
        dispatcher: Arc<Dispatcher>,
        store: Store,
        redis: redis::aio::ConnectionManager,
        bot_id: Id<UserMarker>,
        config: BotConfig,
    ) -> Self {
        Self {
            redis_prefix: config.redis_prefix.clone(),
            redis,
            http,
            dispatcher,
            store,
            user_id: bot_id,
            config,
        }
    }

    async fn on_message(&self, event: &Event) -> Result<(), HandlerError> {
        let message: Message = serde_json::from_slice(&event.body).map_err(|error| {
            HandlerError::Reject(format!("MESSAGE_CREATE payload does not parse: {error}"))
        })?;
        if message.author.bot || message.webhook_id.is_some() {
            return Ok(());
        }
        tracing::debug!(message_id = message.id.get(), "message from a user");
        let prefix = match message.guild_id {
            Some(guild_id) => match self.store.guild_settings().get(guild_id.get()).await {
                Ok(settings) => settings
                    .prefix
                    .unwrap_or_else(|| self.config.default_prefix.clone()),
                Err(error) => {
                    tracing::warn!(%error, "guild settings unavailable; using the default prefix");
                    self.config.default_prefix.clone()
                }
            },
            None => self.config.default_prefix.clone(),
        };
        tracing::debug!(%prefix, "prefix resolved");
        // A redelivered event whose command already ran (the worker died before acknowledging
        // it): send the same reply again — the nonce makes Discord return the first message —
        // and do not run the command twice (it may have opened a prompt or banned someone).
        let handled_key = format!("{}:handled:{}", self.redis_prefix, event.headers.event_id());
        let reply_key = format!("{}:reply", event.headers.event_id());
        let mut redis = self.redis.clone();
        let previous: Option<String> = redis::cmd("GET")
            .arg(&handled_key)
            .query_async(&mut redis)
            .await
            .unwrap_or(None);
        if let Some(handled) = previous.and_then(|raw| serde_json::from_str::<Handled>(&raw).ok()) {
            tracing::debug!("command already handled; re-sending its reply");
            let reply = swarmcord_commands::Reply {
                content: handled.content,
                embeds: handled.embeds,
                ..Default::default()
            };
            reply::send(
                &self.http,
                message.channel_id,
                Some(message.id),
                &reply,
                &reply_key,
            )
            .await?;
            return Ok(());
        }
        let is_owner = self.config.owners.contains(&message.author.id.get());
        // Permissions cost REST calls: only look them up for what may be a command.
        let looks_like_command = message.content.starts_with(prefix.as_str())
            || message.content.starts_with(&format!("<@{}>", self.user_id))
            || message
                .content
                .starts_with(&format!("<@!{}>", self.user_id));
        let member_permissions = match (message.guild_id, looks_like_command) {
            (Some(guild_id), true) => {
                let roles = message
                    .member
                    .as_ref()
                    .map(|m| m.roles.clone())
                    .unwrap_or_default();
                self.permissions(guild_id, message.channel_id, message.author.id, &roles)
                    .await
            }
            (None, _) => Some(Permissions::all() - Permissions::ADMINISTRATOR),
            (Some(_), false) => None,
        };
        let ctx = InvocationContext {
            user_id: message.author.id,
            guild_id: message.guild_id,
            channel_id: message.channel_id,
            is_owner,
            member_permissions,
        };
        tracing::debug!(?member_permissions, "permissions resolved");
        let Some(reply) = self
            .dispatcher
            .handle_message(&ctx, &message.content, &[prefix.as_str()], self.user_id)
            .await
        else {
            tracing::debug!("not a command");
            return Ok(());
        };
        tracing::debug!(prompt = reply.prompt.is_some(), "replying");
        let handled = Handled {
            content: reply.content.clone(),
            embeds: reply.embeds.clone(),
        };
        if let Ok(raw) = serde_json::to_string(&handled) {
            let stored: Result<(), redis::RedisError> = redis::cmd("SET")
                .arg(&handled_key)
                .arg(raw)
                .arg("PX")
                .arg(HANDLED_TTL_MS)
                .query_async(&mut redis)
                .await;
            if let Err(error) = stored {
                tracing::warn!(%error, "could not record a handled command");
            }
        }
        reply::send(
            &self.http,
            message.channel_id,
            Some(message.id),
            &reply,
            &reply_key,
        )
        .await?;
        Ok(())
    }

    /// The author's permissions in the channel, or `None` when any lookup failed.
    async fn permissions(
        &self,
        guild_id: Id<GuildMarker>,
        channel_id: Id<ChannelMarker>,
        user_id: Id<UserMarker>,
        member_roles: &[Id<RoleMarker>],
    ) -> Option<Permissions> {
        let guild = self.http.guild(guild_id).await.ok()?.model().await.ok()?;
        let channel = self
            .http
            .channel(channel_id)
            .await
            .ok()?
            .model()
            .await
            .ok()?;
        let overwrites = channel.permission_overwrites.unwrap_or_default();
        Some(permissions::compute(&permissions::PermissionInputs {
            guild_id,
            owner_id: guild.owner_id,
            roles: &guild.roles,
            user_id,
            member_roles,
            overwrites: &overwrites,
        }))
    }

    /// Claims timed-out prompts and tells their users (call periodically from one task per
    /// worker; each timeout is claimed by exactly one replica).
    pub async fn sweep_prompt_timeouts(&self) {
        for (expired, reply) in self.dispatcher.sweep_timeouts(50).await {
            let key = format!(
                "timeout:{}:{}:{}",
                expired.channel_id, expired.user_id, expired.state.expires_at
            );
            if let Err(error) =
                reply::send(&self.http, expired.channel_id, None, &reply, &key).await
            {
                tracing::warn!(%error, "could not send a prompt timeout message");
            }
        }
    }
}

impl Handler for Bot {
    fn handle(&self, event: Event) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(async move {
            match event.kind.as_str() {
                "MESSAGE_CREATE" => self.on_message(&event).await,
                _ => Ok(()),
            }
        })
    }
}

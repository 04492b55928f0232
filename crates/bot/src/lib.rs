//! The bot: what a worker does with each forwarded Discord event.
//!
//! [`Bot`] implements [`swarmcord_stream::Handler`]:
//!
//! - `MESSAGE_CREATE`: reads the guild's prefix and disabled commands ([`settings`]: a copy in
//!   Redis in front of MongoDB; the default prefix when the store is unavailable, so commands
//!   that need no settings keep working), computes the author's permissions in the channel
//!   only when the command needs them — from the gateways' Redis cache ([`swarmcord_cache`]),
//!   or from Discord REST when the cache cannot tell (unknown → every permission check
//!   fails) — runs the command framework, and sends the reply with a nonce derived from the
//!   event's identity and `enforce_nonce`, so that a redelivered event never produces a second
//!   reply;
//! - `INTERACTION_CREATE`: slash commands, answered within Discord's 3-second deadline
//!   ([`interaction`]: deferred automatically when the command is slow).
//!
//! Both are first checked against what Discord guarantees ([`validate`]: size, content length,
//! snowflake ids); an event breaking it is dead-lettered with the reason, never acted on.
//!
//! Either way the answer is remembered per event before it is sent, so a redelivered event
//! re-sends it instead of running the command again.

mod handled;
pub mod interaction;
mod questions;
pub mod reply;
mod responder;
pub mod settings;
pub mod validate;
pub mod voice;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarmcord_commands::{CommandSpec, Dispatcher, InvocationContext, Reply};
use swarmcord_stream::{BoxFuture, Event, Handler, HandlerError};
use twilight_http::Client;
use twilight_model::channel::Message;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use crate::handled::HandledLog;
use crate::settings::SharedSettings;

/// The events the voice feature needs.
pub const VOICE_EVENTS: [&str; 3] = ["VOICE_STATE_UPDATE", "VOICE_SERVER_UPDATE", "READY"];

/// Settings of the bot.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Redis key prefix (the cluster's).
    pub redis_prefix: String,
    /// Prefix of servers that set none.
    pub default_prefix: String,
    /// Bot owners (bypass permission checks and cooldowns).
    pub owners: HashSet<u64>,
    /// How long after the gateway received a slash command the bot answers "thinking…" if
    /// the command has not finished (Discord's deadline for a first answer is 3 s).
    pub interaction_defer_after: Duration,
}

/// Where an event came from, for the command context.
pub(crate) fn source_of(event: &Event) -> swarmcord_commands::EventSource {
    swarmcord_commands::EventSource {
        gateway_id: event.headers.gateway_id.clone(),
        shard_id: event.headers.shard_id,
        received_at_ms: event.headers.received_at_ms,
    }
}

/// Counts a finished command and records its duration.
pub(crate) fn record_command(command: &str, source: &'static str, started: Instant) {
    let command = command.to_owned();
    metrics::counter!("swarmcord_worker_commands_total", "command" => command.clone(), "source" => source)
        .increment(1);
    metrics::histogram!("swarmcord_worker_command_seconds", "command" => command, "source" => source)
        .record(started.elapsed().as_secs_f64());
}

/// An extra handler of one event type (the SDK's typed event handlers), run after the bot's
/// own handling of the event.
pub type Listener =
    Arc<dyn Fn(Event) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// The bot's event handler.
pub struct Bot {
    http: Arc<Client>,
    /// Sends the interaction callbacks (see [`Bot::with_callback_client`]).
    callbacks: Arc<Client>,
    cache: swarmcord_cache::FallbackReader,
    handled: HandledLog,
    questions: questions::Questions,
    dispatcher: Arc<Dispatcher>,
    settings: SharedSettings,
    user_id: Id<UserMarker>,
    config: BotConfig,
    voice: Option<swarmcord_voice::Music>,
    listeners: HashMap<String, Vec<Listener>>,
    components: swarmcord_commands::ComponentRouter,
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
        cache: swarmcord_cache::FallbackReader,
        dispatcher: Arc<Dispatcher>,
        settings: SharedSettings,
        redis: redis::aio::ConnectionManager,
        bot_id: Id<UserMarker>,
        config: BotConfig,
    ) -> Self {
        Self {
            questions: questions::Questions::new(redis.clone(), &config.redis_prefix),
            handled: HandledLog::new(redis, &config.redis_prefix),
            callbacks: Arc::clone(&http),
            http,
            cache,
            dispatcher,
            settings,
            user_id: bot_id,
            config,
            voice: None,
            listeners: HashMap::new(),
            components: swarmcord_commands::ComponentRouter::default(),
        }
    }

    /// Sends the interaction callbacks (the first answer, "thinking…", autocomplete choices)
    /// with `client` instead of the bot's client: one without twilight's in-process limiter,
    /// which would queue a callback behind the command's own REST call (an unknown bucket
    /// without a channel, guild or webhook in its path) and make it miss Discord's 3 s.
    #[must_use]
    pub fn with_callback_client(mut self, client: Arc<Client>) -> Self {
        self.callbacks = client;
        self
    }

    /// Handles clicks on message components with `components` (by `custom_id`).
    #[must_use]
    pub fn with_components(mut self, components: swarmcord_commands::ComponentRouter) -> Self {
        self.components = components;
        self
    }

    /// Runs `listeners` (by event type) for every event of their type, after the bot's own
    /// handling and in registration order; the event is acknowledged once all succeeded.
    #[must_use]
    pub fn with_listeners(mut self, listeners: HashMap<String, Vec<Listener>>) -> Self {
        self.listeners = listeners;
        self
    }

    /// The event types the bot has something to do with: messages and interactions (commands),
    /// the voice events when music is on, and every type with a listener.
    pub fn event_types(&self) -> Vec<String> {
        let mut types = vec!["MESSAGE_CREATE".to_owned(), "INTERACTION_CREATE".to_owned()];
        if self.voice.is_some() {
            types.extend(VOICE_EVENTS.iter().map(|&e| e.to_owned()));
        }
        let mut listened: Vec<&String> = self.listeners.keys().collect();
        listened.sort();
        for name in listened {
            if !types.contains(name) {
                types.push(name.clone());
            }
        }
        types
    }

    /// Handles the voice events (`VOICE_STATE_UPDATE`, `VOICE_SERVER_UPDATE`, `READY`) with
    /// `music` (see [`voice`]).
    #[must_use]
    pub fn with_voice(mut self, music: swarmcord_voice::Music) -> Self {
        self.voice = Some(music);
        self
    }

    /// The commands a guild switched off (none in DMs, or when the settings are unavailable:
    /// disabling is a preference, not a permission).
    async fn disabled_commands(&self, guild_id: Option<Id<GuildMarker>>) -> Vec<String> {
        let Some(guild_id) = guild_id else {
            return Vec::new();
        };
        match self.settings.guild(guild_id.get()).await {
            Ok(settings) => settings.disabled_commands,
            Err(error) => {
                tracing::warn!(%error, "guild settings unavailable; no command is disabled");
                Vec::new()
            }
        }
    }

    async fn on_message(&self, event: &Event) -> Result<(), HandlerError> {
        let message: Message = serde_json::from_slice(&event.body).map_err(|error| {
            HandlerError::reject("MESSAGE_CREATE payload does not parse").with_source(error)
        })?;
        if message.author.bot || message.webhook_id.is_some() {
            return Ok(());
        }
        tracing::debug!(message_id = message.id.get(), "message from a user");
        let (prefix, disabled_commands) = match message.guild_id {
            Some(guild_id) => match self.settings.guild(guild_id.get()).await {
                Ok(settings) => (
                    settings
                        .prefix
                        .unwrap_or_else(|| self.config.default_prefix.clone()),
                    settings.disabled_commands,
                ),
                Err(error) => {
                    tracing::warn!(%error, "guild settings unavailable; using the default prefix");
                    (self.config.default_prefix.clone(), Vec::new())
                }
            },
            None => (self.config.default_prefix.clone(), Vec::new()),
        };
        tracing::debug!(%prefix, "prefix resolved");
        // A redelivered event whose command already ran (the worker died before acknowledging
        // it): send the same reply again — the nonce makes Discord return the first message —
        // and do not run the command twice (it may have opened a prompt or banned someone).
        let event_id = event.headers.event_id();
        let reply_key = format!("{event_id}:reply");
        if let Some(reply) = self.handled.get(&event_id).await {
            tracing::debug!("command already handled; re-sending its reply");
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
        let found =
            self.dispatcher
                .command_for_message(&message.content, &[prefix.as_str()], self.user_id);
        let needs_bot_permissions = found.is_some_and(CommandSpec::needs_bot_permissions);
        let command = found.map(|spec| (spec.name.clone(), spec.needs_member_permissions()));
        // Permissions cost REST calls: only look them up for a command that needs them.
        let member_permissions = match (message.guild_id, &command) {
            (Some(guild_id), Some((_, true))) => {
                self.permissions(guild_id, message.channel_id, message.author.id)
                    .await
            }
            (None, _) => Some(Permissions::all() - Permissions::ADMINISTRATOR),
            (Some(_), _) => None,
        };
        let ctx = InvocationContext {
            user_id: message.author.id,
            guild_id: message.guild_id,
            channel_id: message.channel_id,
            is_owner: self.config.owners.contains(&message.author.id.get()),
            member_permissions,
            bot_permissions: match message.guild_id {
                Some(guild_id) if needs_bot_permissions => {
                    self.permissions(guild_id, message.channel_id, self.user_id)
                        .await
                }
                _ => None,
            },
            disabled_commands,
            source: Some(source_of(event)),
        };
        tracing::debug!(?member_permissions, "permissions resolved");
        let started = Instant::now();
        let Some(reply) = self
            .dispatcher
            .handle_message(&ctx, &message.content, &[prefix.as_str()], self.user_id)
            .await
        else {
            tracing::debug!("not a command");
            return Ok(());
        };
        match &command {
            Some((name, _)) => record_command(name, "prefix", started),
            None => record_command("prompt", "answer", started),
        }
        let reply = if reply.modal.is_some() {
            // Forms open only from interactions.
            Reply::text("This opens a form: use the slash command instead.")
        } else {
            reply
        };
        tracing::debug!(prompt = reply.prompt.is_some(), "replying");
        self.handled.put(&event_id, &reply).await;
        let sent = reply::send(
            &self.http,
            message.channel_id,
            Some(message.id),
            &reply,
            &reply_key,
        )
        .await?;
        if let Some(sent) = sent {
            self.questions
                .remember(
                    message.channel_id,
                    message.author.id,
                    &reply,
                    questions::Place::Message(sent.id),
                )
                .await;
        }
        Ok(())
    }

    /// A member's permissions in the channel (see
    /// [`swarmcord_cache::FallbackReader::known_permissions_in_channel`]: the cache, else
    /// Discord REST); `None` when neither can tell.
    async fn permissions(
        &self,
        guild_id: Id<GuildMarker>,
        channel_id: Id<ChannelMarker>,
        user_id: Id<UserMarker>,
    ) -> Option<Permissions> {
        self.cache
            .known_permissions_in_channel(guild_id, channel_id, user_id)
            .await
    }

    /// Claims timed-out prompts, tells their users and disables the buttons of the questions
    /// that had some (call periodically from one task per worker; each timeout is claimed by
    /// exactly one replica).
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
            self.questions.expire(&self.http, &expired).await;
        }
    }
}

impl Handler for Bot {
    fn handle(&self, event: Event) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(async move {
            validate::check(&event.kind, &event.body).map_err(HandlerError::reject)?;
            match event.kind.as_str() {
                "MESSAGE_CREATE" => self.on_message(&event).await?,
                "INTERACTION_CREATE" => self.on_interaction(&event).await?,
                "VOICE_STATE_UPDATE" | "VOICE_SERVER_UPDATE" | "READY" => {
                    if let Some(music) = &self.voice {
                        voice::handle(music, self.user_id, &event).await?;
                    }
                }
                _ => {}
            }
            if let Some(listeners) = self.listeners.get(&event.kind) {
                for listener in listeners {
                    listener(event.clone()).await?;
                }
            }
            Ok(())
        })
    }
}

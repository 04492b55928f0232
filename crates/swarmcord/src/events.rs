//! Typed event handlers: `worker.on::<MemberAdd>(welcome)` runs `welcome` for every
//! `GUILD_MEMBER_ADD` the gateways forward, with the event parsed once with twilight-model.
//!
//! Handlers have the same delivery guarantees as commands: the event is acknowledged after
//! every handler of it returned `Ok`; an [`EventError::retry`] (or a Discord 5xx, a timeout, an
//! unavailable database) runs the event again later, up to `WORKER_MAX_ATTEMPTS`; an
//! [`EventError::reject`] (or a payload that does not parse) dead-letters it with the reason.
//! A retried event runs all its handlers again: make side effects idempotent with
//! [`EventContext::event_id`] (for example as the key of [`Services::send`]).
//!
//! [`Services::send`]: crate::Services::send

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use swarmcord_bot::Listener;
use swarmcord_stream::{Event, HandlerError, HandlerErrorType};
use twilight_model::gateway::payload::incoming as gw;

use crate::context::{EventContext, MissingData, Services};

/// A gateway dispatch event a handler can be registered for.
pub trait DispatchEvent: DeserializeOwned + Send + 'static {
    /// The event's name as Discord sends it (`t`), e.g. `GUILD_MEMBER_ADD`.
    const NAME: &'static str;
}

macro_rules! dispatch_events {
    ($($ty:ident => $name:literal,)*) => {
        $(impl DispatchEvent for gw::$ty {
            const NAME: &'static str = $name;
        })*
    };
}

dispatch_events! {
    AutoModerationActionExecution => "AUTO_MODERATION_ACTION_EXECUTION",
    BanAdd => "GUILD_BAN_ADD",
    BanRemove => "GUILD_BAN_REMOVE",
    ChannelCreate => "CHANNEL_CREATE",
    ChannelDelete => "CHANNEL_DELETE",
    ChannelPinsUpdate => "CHANNEL_PINS_UPDATE",
    ChannelUpdate => "CHANNEL_UPDATE",
    GuildAuditLogEntryCreate => "GUILD_AUDIT_LOG_ENTRY_CREATE",
    GuildCreate => "GUILD_CREATE",
    GuildDelete => "GUILD_DELETE",
    GuildEmojisUpdate => "GUILD_EMOJIS_UPDATE",
    GuildScheduledEventCreate => "GUILD_SCHEDULED_EVENT_CREATE",
    GuildScheduledEventDelete => "GUILD_SCHEDULED_EVENT_DELETE",
    GuildScheduledEventUpdate => "GUILD_SCHEDULED_EVENT_UPDATE",
    GuildUpdate => "GUILD_UPDATE",
    InteractionCreate => "INTERACTION_CREATE",
    InviteCreate => "INVITE_CREATE",
    InviteDelete => "INVITE_DELETE",
    MemberAdd => "GUILD_MEMBER_ADD",
    MemberChunk => "GUILD_MEMBERS_CHUNK",
    MemberRemove => "GUILD_MEMBER_REMOVE",
    MemberUpdate => "GUILD_MEMBER_UPDATE",
    MessageCreate => "MESSAGE_CREATE",
    MessageDelete => "MESSAGE_DELETE",
    MessageDeleteBulk => "MESSAGE_DELETE_BULK",
    MessagePollVoteAdd => "MESSAGE_POLL_VOTE_ADD",
    MessagePollVoteRemove => "MESSAGE_POLL_VOTE_REMOVE",
    MessageUpdate => "MESSAGE_UPDATE",
    PresenceUpdate => "PRESENCE_UPDATE",
    ReactionAdd => "MESSAGE_REACTION_ADD",
    ReactionRemove => "MESSAGE_REACTION_REMOVE",
    ReactionRemoveAll => "MESSAGE_REACTION_REMOVE_ALL",
    ReactionRemoveEmoji => "MESSAGE_REACTION_REMOVE_EMOJI",
    Ready => "READY",
    RoleCreate => "GUILD_ROLE_CREATE",
    RoleDelete => "GUILD_ROLE_DELETE",
    RoleUpdate => "GUILD_ROLE_UPDATE",
    ThreadCreate => "THREAD_CREATE",
    ThreadDelete => "THREAD_DELETE",
    ThreadUpdate => "THREAD_UPDATE",
    TypingStart => "TYPING_START",
    UserUpdate => "USER_UPDATE",
    VoiceServerUpdate => "VOICE_SERVER_UPDATE",
    VoiceStateUpdate => "VOICE_STATE_UPDATE",
    WebhooksUpdate => "WEBHOOKS_UPDATE",
}

/// Why an event handler failed, and what to do with the event.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EventError {
    retry: bool,
    message: String,
}

impl EventError {
    /// A transient failure: handle the event again later.
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self {
            retry: true,
            message: error.to_string(),
        }
    }

    /// The event can never be handled: dead-letter it with this reason.
    pub fn reject(error: impl std::fmt::Display) -> Self {
        Self {
            retry: false,
            message: error.to_string(),
        }
    }

    /// Whether the event will be handled again.
    pub fn is_retry(&self) -> bool {
        self.retry
    }
}

impl From<EventError> for HandlerError {
    fn from(error: EventError) -> Self {
        if error.retry {
            Self::retry(error.message)
        } else {
            Self::reject(error.message)
        }
    }
}

impl From<HandlerError> for EventError {
    fn from(error: HandlerError) -> Self {
        match error.kind() {
            HandlerErrorType::Retry => Self::retry(error.reason()),
            _ => Self::reject(error),
        }
    }
}

/// Discord refusing the request (4xx) is final; anything else (5xx, network, timeout) may
/// pass later.
impl From<twilight_http::Error> for EventError {
    fn from(error: twilight_http::Error) -> Self {
        match error.kind() {
            twilight_http::error::ErrorType::Response { status, .. }
                if status.is_client_error() =>
            {
                Self::reject(format!("Discord refused the request: {error}"))
            }
            _ => Self::retry(format!("Discord REST failed: {error}")),
        }
    }
}

/// An unreachable database is transient; invalid input or data is not.
impl From<swarmcord_store::StoreError> for EventError {
    fn from(error: swarmcord_store::StoreError) -> Self {
        if error.is_unavailable() {
            Self::retry(error)
        } else {
            Self::reject(error)
        }
    }
}

impl From<MissingData> for EventError {
    fn from(error: MissingData) -> Self {
        Self::reject(error)
    }
}

/// A handler of events of type `E`: any `async fn(EventContext, E) -> Result<(), EventError>`
/// (or a closure returning such a future).
pub trait EventHandler<E>: Send + Sync + 'static {
    /// Handles one event.
    fn call(
        &self,
        ctx: EventContext,
        event: E,
    ) -> swarmcord_stream::BoxFuture<'static, Result<(), EventError>>;
}

impl<E, F, Fut> EventHandler<E> for F
where
    F: Fn(EventContext, E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), EventError>> + Send + 'static,
{
    fn call(
        &self,
        ctx: EventContext,
        event: E,
    ) -> swarmcord_stream::BoxFuture<'static, Result<(), EventError>> {
        Box::pin(self(ctx, event))
    }
}

/// The raw form of an event, for [`Worker::on_raw`](crate::Worker::on_raw).
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// The event type, e.g. `GUILD_MEMBER_ADD`.
    pub kind: String,
    /// Discord's `d` payload, as JSON.
    pub body: bytes::Bytes,
}

type BoxedHandler = Arc<
    dyn Fn(Services, Event) -> swarmcord_stream::BoxFuture<'static, Result<(), HandlerError>>
        + Send
        + Sync,
>;

/// The event handlers registered on a worker, by event name.
#[derive(Default, Clone)]
pub(crate) struct EventHandlers {
    handlers: Vec<(String, BoxedHandler)>,
}

impl EventHandlers {
    pub(crate) fn typed<E: DispatchEvent>(&mut self, handler: impl EventHandler<E>) {
        let handler = Arc::new(handler);
        self.handlers.push((
            E::NAME.to_owned(),
            Arc::new(move |services, event: Event| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let parsed: E = serde_json::from_slice(&event.body).map_err(|error| {
                        HandlerError::reject(format!("{} payload does not parse", E::NAME))
                            .with_source(error)
                    })?;
                    let ctx = EventContext::new(services, event);
                    handler.call(ctx, parsed).await.map_err(HandlerError::from)
                })
            }),
        ));
    }

    pub(crate) fn raw(&mut self, name: &str, handler: impl EventHandler<RawEvent>) {
        let handler = Arc::new(handler);
        self.handlers.push((
            name.to_owned(),
            Arc::new(move |services, event: Event| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let raw = RawEvent {
                        kind: event.kind.clone(),
                        body: event.body.clone(),
                    };
                    handler
                        .call(EventContext::new(services, event), raw)
                        .await
                        .map_err(HandlerError::from)
                })
            }),
        ));
    }

    /// The handlers bound to `services`, as the bot runs them.
    pub(crate) fn bind(self, services: &Services) -> HashMap<String, Vec<Listener>> {
        let mut listeners: HashMap<String, Vec<Listener>> = HashMap::new();
        for (name, handler) in self.handlers {
            let services = services.clone();
            let listener: Listener = Arc::new(move |event| handler(services.clone(), event));
            listeners.entry(name).or_default().push(listener);
        }
        listeners
    }
}

/// Whether `name` looks like a Discord event name (`UPPER_SNAKE_CASE`, at most 64 bytes).
pub(crate) fn is_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

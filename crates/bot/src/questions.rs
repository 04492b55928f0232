//! Questions with buttons (a prompt asked with components, like `ban`'s confirmation): where
//! each was sent, so that when its prompt times out the sweeper disables the buttons and users
//! see the question expired before they click.
//!
//! The record lives in Redis under `{prefix}:prompt:asked:{channel}:{user}:{deadline}` (the
//! prompt's identity), kept as long as the prompt state: whichever replica's sweeper claims
//! the timeout finds it, also after the replica that asked died.

use redis::aio::ConnectionManager;
use swarmcord_commands::Reply;
use swarmcord_commands::prompt::{Expired, STATE_GRACE, now_ms};
use twilight_http::Client;
use twilight_model::channel::message::Component;
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, ChannelMarker, MessageMarker, UserMarker};

/// Where a question's components are.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Place {
    /// A channel message (a prefix command's reply, or a component's message that was updated).
    Message(Id<MessageMarker>),
    /// The original response of an interaction (edited through its token, valid 15 minutes).
    Original {
        /// The bot's application.
        application_id: Id<ApplicationMarker>,
        /// The interaction token.
        token: String,
    },
}

/// A remembered question.
#[derive(serde::Serialize, serde::Deserialize)]
struct Asked {
    place: Place,
    /// The question's components, already disabled.
    components: Vec<Component>,
}

/// The `{prefix}:prompt:asked:…` records.
#[derive(Clone)]
pub(crate) struct Questions {
    redis: ConnectionManager,
    prefix: String,
}

impl Questions {
    pub(crate) fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, channel: Id<ChannelMarker>, user: Id<UserMarker>, deadline: u64) -> String {
        format!("{}:prompt:asked:{channel}:{user}:{deadline}", self.prefix)
    }

    /// Remembers where `reply` was sent when it opened a prompt and has components (nothing
    /// otherwise). A Redis failure is logged: the buttons then stay enabled after the timeout,
    /// and a click answers that the question expired.
    pub(crate) async fn remember(
        &self,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
        reply: &Reply,
        place: Place,
    ) {
        let Some(prompt) = &reply.prompt else { return };
        if reply.components.is_empty() || prompt.expires_at == 0 {
            return;
        }
        let asked = Asked {
            place,
            components: swarmcord_commands::builders::disabled(&reply.components),
        };
        let Ok(raw) = serde_json::to_string(&asked) else {
            return;
        };
        let ttl = prompt.expires_at.saturating_sub(now_ms())
            + u64::try_from(STATE_GRACE.as_millis()).unwrap_or(u64::MAX);
        let mut redis = self.redis.clone();
        let stored: Result<(), redis::RedisError> = redis::cmd("SET")
            .arg(self.key(channel, user, prompt.expires_at))
            .arg(raw)
            .arg("PX")
            .arg(ttl.max(1))
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "could not remember where a question was asked");
        }
    }

    /// Disables the buttons of the question whose prompt `expired` (claimed by this replica's
    /// sweeper, so exactly one replica does it).
    pub(crate) async fn expire(&self, http: &Client, expired: &Expired) {
        let key = self.key(
            expired.channel_id,
            expired.user_id,
            expired.state.expires_at,
        );
        let mut redis = self.redis.clone();
        let raw: Option<String> = match redis::cmd("GETDEL").arg(&key).query_async(&mut redis).await
        {
            Ok(raw) => raw,
            Err(error) => {
                tracing::warn!(%error, "could not read where a question was asked");
                return;
            }
        };
        let Some(asked) = raw.and_then(|raw| serde_json::from_str::<Asked>(&raw).ok()) else {
            return;
        };
        let edit = async {
            match &asked.place {
                Place::Message(message) => http
                    .update_message(expired.channel_id, *message)
                    .components(Some(&asked.components))
                    .await
                    .map(drop),
                Place::Original {
                    application_id,
                    token,
                } => http
                    .interaction(*application_id)
                    .update_response(token)
                    .components(Some(&asked.components))
                    .await
                    .map(drop),
            }
        };
        match tokio::time::timeout(std::time::Duration::from_secs(10), edit).await {
            Ok(Ok(())) => {
                tracing::debug!(
                    channel = expired.channel_id.get(),
                    "expired question's buttons disabled"
                );
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not disable an expired question's buttons");
            }
            Err(_elapsed) => tracing::warn!("disabling an expired question's buttons timed out"),
        }
    }
}

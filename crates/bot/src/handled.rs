//! What a command answered, remembered per event so that a redelivered event re-sends the same
//! answer instead of running the command a second time (it may have opened a prompt or banned
//! someone).

use redis::aio::ConnectionManager;
use swarmcord_commands::Reply;

/// How long the outcome of a handled command is remembered for redeliveries (longer than any
/// redelivery delay, and than an interaction token's 15 minutes).
const HANDLED_TTL_MS: u64 = 16 * 60 * 1000;

/// A stored outcome.
#[derive(serde::Serialize, serde::Deserialize)]
struct Handled {
    content: String,
    embeds: Vec<twilight_model::channel::message::Embed>,
    #[serde(default)]
    ephemeral: bool,
    #[serde(default)]
    components: Vec<twilight_model::channel::message::Component>,
    #[serde(default)]
    update: bool,
    #[serde(default)]
    modal: Option<swarmcord_commands::Modal>,
    #[serde(default)]
    allowed_mentions: Option<twilight_model::channel::message::AllowedMentions>,
    #[serde(default)]
    attachments: Vec<twilight_model::http::attachment::Attachment>,
}

/// The `{prefix}:handled:{event_id}` records.
#[derive(Clone)]
pub(crate) struct HandledLog {
    redis: ConnectionManager,
    prefix: String,
}

impl HandledLog {
    pub(crate) fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, event_id: &str) -> String {
        format!("{}:handled:{event_id}", self.prefix)
    }

    /// The answer already given to this event, if any. A Redis failure reads as "none": the
    /// command runs, and the reply nonce still prevents a second message.
    pub(crate) async fn get(&self, event_id: &str) -> Option<Reply> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.key(event_id))
            .query_async(&mut redis)
            .await
            .unwrap_or(None);
        let handled: Handled = serde_json::from_str(&raw?).ok()?;
        Some(Reply {
            content: handled.content,
            embeds: handled.embeds,
            ephemeral: handled.ephemeral,
            prompt: None,
            components: handled.components,
            update: handled.update,
            modal: handled.modal,
            allowed_mentions: handled.allowed_mentions,
            attachments: handled.attachments,
        })
    }

    /// Remembers the answer to this event (before it is sent).
    pub(crate) async fn put(&self, event_id: &str, reply: &Reply) {
        let handled = Handled {
            content: reply.content.clone(),
            embeds: reply.embeds.clone(),
            ephemeral: reply.ephemeral,
            components: reply.components.clone(),
            update: reply.update,
            modal: reply.modal.clone(),
            allowed_mentions: reply.allowed_mentions.clone(),
            attachments: reply.attachments.clone(),
        };
        let Ok(raw) = serde_json::to_string(&handled) else {
            return;
        };
        let mut redis = self.redis.clone();
        let stored: Result<(), redis::RedisError> = redis::cmd("SET")
            .arg(self.key(event_id))
            .arg(raw)
            .arg("PX")
            .arg(HANDLED_TTL_MS)
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "could not record a handled command");
        }
    }
}

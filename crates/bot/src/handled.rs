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
    #[serde(default, with = "files")]
    attachments: Vec<twilight_model::http::attachment::Attachment>,
}

/// Attachments as stored, with their bytes: twilight's `Attachment` skips the file when
/// serialized (its JSON is the `attachments` metadata of a multipart request), so the bytes are
/// kept beside it in base64.
mod files {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use twilight_model::http::attachment::Attachment;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        #[serde(flatten)]
        meta: Attachment,
        bytes: String,
    }

    pub(super) fn serialize<S: Serializer>(files: &[Attachment], s: S) -> Result<S::Ok, S::Error> {
        files
            .iter()
            .map(|file| Stored {
                meta: file.clone(),
                bytes: STANDARD.encode(&file.file),
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Attachment>, D::Error> {
        Vec::<Stored>::deserialize(d)?
            .into_iter()
            .map(|stored| {
                let mut file = stored.meta;
                file.file = STANDARD
                    .decode(stored.bytes)
                    .map_err(serde::de::Error::custom)?;
                Ok(file)
            })
            .collect()
    }
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

#[cfg(test)]
mod tests {
    use twilight_model::http::attachment::Attachment;

    use super::Handled;

    #[test]
    fn stored_answers_keep_the_bytes_of_their_files() {
        let mut file = Attachment::from_bytes("roll.txt".to_owned(), b"2d6: 3 + 5".to_vec(), 7);
        file.description = Some("the dice".to_owned());
        let handled = Handled {
            content: "here".to_owned(),
            embeds: Vec::new(),
            ephemeral: false,
            components: Vec::new(),
            update: false,
            modal: None,
            allowed_mentions: None,
            attachments: vec![file.clone()],
        };
        let raw = serde_json::to_string(&handled).expect("serializes");
        let back: Handled = serde_json::from_str(&raw).expect("deserializes");
        assert_eq!(back.attachments, vec![file]);
    }
}

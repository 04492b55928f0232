//! Message bodies shared by channel messages, interaction responses and follow-up webhooks:
//! parsing, Discord's validation, mentions and the JSON rendering of stored messages.

use serde_json::{Value, json};

use super::error::{ApiError, FormErrors, max_length_error};
use crate::discord::world::{Message, World};
use crate::util::unix_ms;

/// `SUPPRESS_EMBEDS`.
pub(super) const FLAG_SUPPRESS_EMBEDS: u64 = 1 << 2;
/// `EPHEMERAL`.
pub(crate) const FLAG_EPHEMERAL: u64 = 1 << 6;
/// `LOADING` (a deferred interaction response).
pub(super) const FLAG_LOADING: u64 = 1 << 7;
/// `SUPPRESS_NOTIFICATIONS`.
pub(super) const FLAG_SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// `IS_COMPONENTS_V2`.
pub(super) const FLAG_COMPONENTS_V2: u64 = 1 << 15;

/// Flags a bot may set when creating a channel message.
pub(super) const CHANNEL_CREATE_FLAGS: u64 =
    FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2;
/// Flags an interaction response or follow-up may set.
pub(super) const INTERACTION_FLAGS: u64 = CHANNEL_CREATE_FLAGS | FLAG_EPHEMERAL;

/// The message fields of a create or edit body. `Some` means the field was present (`null`
/// counts as present and empty, which is how edits clear a field).
#[derive(Debug, Default, Clone)]
pub(super) struct MessageBody {
    pub(super) content: Option<String>,
    pub(super) embeds: Option<Vec<Value>>,
    pub(super) components: Option<Vec<Value>>,
    pub(super) flags: Option<u64>,
    pub(super) allowed_mentions: Option<Value>,
    pub(super) message_reference: Option<Value>,
    /// `nonce` (a string or an integer, at most 25 characters).
    pub(super) nonce: Option<String>,
    /// `enforce_nonce`: the same author and nonce within a few minutes returns the first message.
    pub(super) enforce_nonce: bool,
    /// Stickers, attachments or a poll: content other than text, embeds and components.
    pub(super) has_other_content: bool,
    /// The uploaded files (`files[n]` parts of a multipart body).
    pub(super) uploads: Vec<Value>,
    /// The ids of existing attachments an edit keeps (`None`: the edit lists none, all stay).
    pub(super) kept_attachments: Option<Vec<u64>>,
}

fn list(
    errors: &mut FormErrors,
    body: &serde_json::Map<String, Value>,
    key: &'static str,
) -> Option<Vec<Value>> {
    match body.get(key)? {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => Some(items.clone()),
        _ => {
            errors.add(
                &[key],
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            );
            None
        }
    }
}

impl MessageBody {
    /// Parses and validates the documented limits (50035 with Discord's nested `errors`).
    pub(super) fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut errors = FormErrors::default();
        let map = match body {
            Value::Null => return Ok(Self::default()),
            Value::Object(map) => map,
            _ => {
                errors.add(
                    &[],
                    "DICT_TYPE_CONVERT",
                    "Only dictionaries may be used in a DictType",
                );
                return Err(errors.into_error());
            }
        };
        let mut out = Self::default();
        match map.get("content") {
            None => {}
            Some(Value::Null) => out.content = Some(String::new()),
            Some(Value::String(s)) => out.content = Some(s.clone()),
            Some(other) => errors.add(
                &["content"],
                "BASE_TYPE_STRING",
                &format!("Could not interpret \"{other}\" as string."),
            ),
        }
        out.embeds = list(&mut errors, map, "embeds");
        out.components = list(&mut errors, map, "components");
        match map.get("flags") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64().is_some() => out.flags = n.as_u64(),
            Some(other) => errors.add(
                &["flags"],
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{other}\" is not int."),
            ),
        }
        out.allowed_mentions = map
            .get("allowed_mentions")
            .filter(|v| v.is_object())
            .cloned();
        out.message_reference = map
            .get("message_reference")
            .filter(|v| v.is_object())
            .cloned();
        match map.get("nonce") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() <= 25 => out.nonce = Some(s.clone()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => out.nonce = Some(n.to_string()),
            Some(_) => errors.add(
                &["nonce"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ),
        }
        out.enforce_nonce = map
            .get("enforce_nonce")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let non_empty = |key: &str| match map.get(key) {
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::Object(_)) => true,
            _ => false,
        };
        out.uploads = super::attachments::uploads(&mut errors, map);
        out.kept_attachments = super::attachments::kept(map, &out.uploads);
        out.has_other_content = non_empty("sticker_ids")
            || non_empty("attachments")
            || non_empty("poll")
            || !out.uploads.is_empty();
        out.validate(&mut errors);
        errors.check()?;
        Ok(out)
    }

    fn validate(&self, errors: &mut FormErrors) {
        if let Some(content) = &self.content
            && content.chars().count() > 2000
        {
            max_length_error(errors, &["content"], 2000);
        }
        if let Some(embeds) = &self.embeds {
            if embeds.len() > 10 {
                max_length_error(errors, &["embeds"], 10);
            }
            for (i, embed) in embeds.iter().enumerate() {
                let index = i.to_string();
                let text_len = |key: &str| embed[key].as_str().map_or(0, |s| s.chars().count());
                if !embed.is_object() {
                    errors.add(
                        &["embeds", &index],
                        "DICT_TYPE_CONVERT",
                        "Only dictionaries may be used in a DictType",
                    );
                    continue;
                }
                if text_len("title") > 256 {
                    max_length_error(errors, &["embeds", &index, "title"], 256);
                }
                if text_len("description") > 4096 {
                    max_length_error(errors, &["embeds", &index, "description"], 4096);
                }
                if embed["fields"].as_array().is_some_and(|f| f.len() > 25) {
                    max_length_error(errors, &["embeds", &index, "fields"], 25);
                }
            }
        }
        if let Some(components) = &self.components {
            if self.flags.unwrap_or(0) & FLAG_COMPONENTS_V2 == 0 {
                super::components::check_message(errors, components);
            } else if components.len() > 40 {
                max_length_error(errors, &["components"], 40);
            }
        }
    }

    /// Whether a new message from this body would be empty (Discord's 50006).
    pub(super) fn is_empty(&self) -> bool {
        self.content.as_deref().unwrap_or("").is_empty()
            && self.embeds.as_ref().is_none_or(Vec::is_empty)
            && self.components.as_ref().is_none_or(Vec::is_empty)
            && !self.has_other_content
    }

    /// The user mentions in `content` that `allowed_mentions` lets through and that exist.
    pub(super) fn mentions(&self, world: &World) -> Vec<u64> {
        let content = self.content.as_deref().unwrap_or("");
        let allowed = self.allowed_mentions.as_ref();
        let allow = |id: u64| match allowed {
            None => true,
            Some(am) => {
                let parse_users = am["parse"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|v| v == "users"));
                parse_users
                    || am["users"].as_array().is_some_and(|u| {
                        // Snowflakes may be strings or integers (Discord's ID serialization).
                        u.iter().any(|v| crate::util::snowflake(v) == Some(id))
                    })
            }
        };
        let mut out = Vec::new();
        for id in parse_user_mentions(content) {
            if world.users.contains_key(&id) && allow(id) && !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }
}

/// `<@id>` and `<@!id>` user mentions in `content`.
pub(super) fn parse_user_mentions(content: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let inner = rest.strip_prefix('!').unwrap_or(rest);
        if let Some(end) = inner.find('>')
            && let Ok(id) = inner[..end].parse::<u64>()
        {
            out.push(id);
        }
    }
    out
}

/// Where a new message goes and who sends it.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_field_names)]
pub(super) struct Origin {
    pub(super) channel_id: u64,
    pub(super) guild_id: Option<u64>,
    pub(super) author_id: u64,
    pub(super) webhook_id: Option<u64>,
    pub(super) interaction_id: Option<u64>,
}

/// Discord adds `"type": "rich"` to embeds that do not name a type.
fn normalize_embeds(embeds: &[Value]) -> Vec<Value> {
    embeds
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if e.get("type").is_none()
                && let Some(map) = e.as_object_mut()
            {
                map.insert("type".to_owned(), json!("rich"));
            }
            e
        })
        .collect()
}

/// Components as Discord stores them: every component gets an `id`.
fn numbered(components: &[Value]) -> Vec<Value> {
    let mut components = components.to_vec();
    super::components::assign_ids(&mut components);
    components
}

/// A new message (not stored yet) from a validated body.
pub(super) fn build(
    world: &World,
    id: u64,
    origin: Origin,
    body: &MessageBody,
    allowed_flags: u64,
    reference: Option<Value>,
) -> Message {
    Message {
        id,
        channel_id: origin.channel_id,
        guild_id: origin.guild_id,
        author_id: origin.author_id,
        content: body.content.clone().unwrap_or_default(),
        embeds: normalize_embeds(body.embeds.as_deref().unwrap_or_default()),
        components: numbered(body.components.as_deref().unwrap_or_default()),
        attachments: super::attachments::attachment_objects(
            origin.channel_id,
            id,
            &[],
            &body.uploads,
        ),
        timestamp_ms: unix_ms(),
        edited_ms: None,
        mentions: body.mentions(world),
        flags: body.flags.unwrap_or(0) & allowed_flags,
        webhook_id: origin.webhook_id,
        interaction_id: origin.interaction_id,
        reference,
    }
}

/// Applies an edit body to a stored message. Only `editable_flags` can change; a `LOADING`
/// (deferred) message stops loading and is not marked edited, as on Discord.
pub(super) fn apply_edit(
    world: &mut World,
    message_id: u64,
    body: &MessageBody,
    editable_flags: u64,
) -> Result<(), ApiError> {
    let mentions = body.content.as_ref().map(|_| body.mentions(world));
    let message = world
        .messages
        .get_mut(&message_id)
        .ok_or_else(ApiError::unknown_message)?;
    let mut edited = message.clone();
    if let Some(content) = &body.content {
        edited.content.clone_from(content);
    }
    if let Some(embeds) = &body.embeds {
        edited.embeds = normalize_embeds(embeds);
    }
    if let Some(components) = &body.components {
        edited.components = numbered(components);
    }
    if let Some(flags) = body.flags {
        edited.flags = (edited.flags & !editable_flags) | (flags & editable_flags);
    }
    if let Some(kept) = &body.kept_attachments {
        edited
            .attachments
            .retain(|a| crate::util::snowflake(&a["id"]).is_some_and(|id| kept.contains(&id)));
    }
    let added = super::attachments::attachment_objects(
        edited.channel_id,
        message_id,
        &edited.attachments,
        &body.uploads,
    );
    edited.attachments.extend(added);
    if let Some(mentions) = mentions {
        edited.mentions = mentions;
    }
    let was_loading = edited.flags & FLAG_LOADING != 0;
    if edited.content.is_empty()
        && edited.embeds.is_empty()
        && edited.components.is_empty()
        && edited.attachments.is_empty()
        && !body.has_other_content
    {
        return Err(ApiError::empty_message());
    }
    if was_loading {
        edited.flags &= !FLAG_LOADING;
    } else {
        edited.edited_ms = Some(unix_ms());
    }
    *message = edited;
    Ok(())
}

/// The REST (`gateway == false`) or `MESSAGE_CREATE`/`MESSAGE_UPDATE` JSON of a stored message,
/// with what the world model leaves out: the interaction a response answers (type 20 for slash
/// commands) and `referenced_message` for replies.
pub(crate) fn render(world: &World, message: &Message, gateway: bool) -> Value {
    let mut v = if gateway {
        message.to_gateway_json(world, false)
    } else {
        message.to_json(world, false)
    };
    if let Some(interaction) = message
        .interaction_id
        .and_then(|id| world.interactions.get(&id))
    {
        let payload = &interaction.payload;
        let kind = payload["type"].as_u64().unwrap_or(2);
        if kind == 2 {
            v["type"] = json!(20);
        }
        let user = if payload["member"]["user"].is_object() {
            payload["member"]["user"].clone()
        } else {
            payload["user"].clone()
        };
        let mut metadata = json!({
            "id": interaction.id.to_string(),
            "type": kind,
            "user": user.clone(),
            "authorizing_integration_owners": payload["authorizing_integration_owners"].clone(),
        });
        if let Some(original) = interaction.original_message.filter(|id| *id != message.id) {
            metadata["original_response_message_id"] = json!(original.to_string());
        }
        v["interaction_metadata"] = metadata;
        v["interaction"] = json!({
            "id": interaction.id.to_string(),
            "type": kind,
            "name": payload["data"]["name"].as_str().unwrap_or_default(),
            "user": user,
        });
    }
    if let Some(reference) = &message.reference {
        let referenced = reference["message_id"]
            .as_str()
            .and_then(|id| id.parse::<u64>().ok())
            .and_then(|id| world.messages.get(&id))
            .map_or(Value::Null, |m| m.to_json(world, false));
        v["referenced_message"] = referenced;
    }
    v
}

/// The `MESSAGE_DELETE` payload.
pub(super) fn delete_payload(message: &Message) -> Value {
    let mut v = json!({"id": message.id.to_string(), "channel_id": message.channel_id.to_string()});
    if let Some(guild_id) = message.guild_id {
        v["guild_id"] = json!(guild_id.to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_parsed() {
        assert_eq!(
            parse_user_mentions("hi <@1> and <@!22> <@x> <@3"),
            vec![1, 22]
        );
    }

    #[test]
    fn content_limit_uses_characters() {
        let ok = MessageBody::parse(&json!({"content": "é".repeat(2000)}));
        assert!(ok.is_ok());
        let err = MessageBody::parse(&json!({"content": "a".repeat(2001)})).expect_err("too long");
        assert_eq!(err.code, 50035);
        assert_eq!(
            err.body()["errors"]["content"]["_errors"][0]["code"],
            "BASE_TYPE_MAX_LENGTH"
        );
        assert!(
            MessageBody::parse(&json!({"content": ""}))
                .expect("valid")
                .is_empty()
        );
    }
}

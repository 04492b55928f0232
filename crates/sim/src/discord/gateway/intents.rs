//! Which intent each dispatch needs, and the message content a bot without
//! `MESSAGE_CONTENT` does not see.

use serde_json::{Value, json};

/// The intent a dispatch needs, as documented ("Gateway Intents"). `None`: always sent.
pub(super) fn intent_for(event: &str, in_guild: bool) -> Option<u64> {
    let bit = match event {
        "GUILD_CREATE"
        | "GUILD_UPDATE"
        | "GUILD_DELETE"
        | "GUILD_ROLE_CREATE"
        | "GUILD_ROLE_UPDATE"
        | "GUILD_ROLE_DELETE"
        | "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "CHANNEL_PINS_UPDATE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_LIST_SYNC"
        | "THREAD_MEMBER_UPDATE"
        | "STAGE_INSTANCE_CREATE"
        | "STAGE_INSTANCE_UPDATE"
        | "STAGE_INSTANCE_DELETE" => 0,
        "GUILD_MEMBER_ADD"
        | "GUILD_MEMBER_UPDATE"
        | "GUILD_MEMBER_REMOVE"
        | "THREAD_MEMBERS_UPDATE" => 1,
        "GUILD_AUDIT_LOG_ENTRY_CREATE" | "GUILD_BAN_ADD" | "GUILD_BAN_REMOVE" => 2,
        "GUILD_EMOJIS_UPDATE" | "GUILD_STICKERS_UPDATE" | "GUILD_SOUNDBOARD_SOUND_CREATE" => 3,
        "GUILD_INTEGRATIONS_UPDATE"
        | "INTEGRATION_CREATE"
        | "INTEGRATION_UPDATE"
        | "INTEGRATION_DELETE" => 4,
        "WEBHOOKS_UPDATE" => 5,
        "INVITE_CREATE" | "INVITE_DELETE" => 6,
        "VOICE_STATE_UPDATE" | "VOICE_CHANNEL_EFFECT_SEND" => 7,
        "PRESENCE_UPDATE" => 8,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" | "MESSAGE_DELETE_BULK" => {
            if in_guild {
                9
            } else {
                12
            }
        }
        "MESSAGE_REACTION_ADD"
        | "MESSAGE_REACTION_REMOVE"
        | "MESSAGE_REACTION_REMOVE_ALL"
        | "MESSAGE_REACTION_REMOVE_EMOJI" => {
            if in_guild {
                10
            } else {
                13
            }
        }
        "TYPING_START" => {
            if in_guild {
                11
            } else {
                14
            }
        }
        "GUILD_SCHEDULED_EVENT_CREATE"
        | "GUILD_SCHEDULED_EVENT_UPDATE"
        | "GUILD_SCHEDULED_EVENT_DELETE" => 16,
        "AUTO_MODERATION_RULE_CREATE"
        | "AUTO_MODERATION_RULE_UPDATE"
        | "AUTO_MODERATION_RULE_DELETE" => 20,
        "AUTO_MODERATION_ACTION_EXECUTION" => 21,
        _ => return None,
    };
    Some(1 << bit)
}

/// Whether Discord would blank the content of this message for this session: guild messages,
/// without `MESSAGE_CONTENT`, not mentioning the bot and not written by it.
pub(super) fn needs_content_strip(
    event: &str,
    guild_id: Option<u64>,
    intents: u64,
    data: &Value,
    bot_id: u64,
) -> bool {
    if !matches!(event, "MESSAGE_CREATE" | "MESSAGE_UPDATE")
        || guild_id.is_none()
        || intents & (1 << 15) != 0
    {
        return false;
    }
    let bot = bot_id.to_string();
    let by_bot = data["author"]["id"].as_str() == Some(bot.as_str());
    let mentions_bot = data["mentions"]
        .as_array()
        .is_some_and(|m| m.iter().any(|u| u["id"].as_str() == Some(bot.as_str())));
    !by_bot && !mentions_bot
}

pub(super) fn strip_content(data: &Value) -> Value {
    let mut v = data.clone();
    if let Some(obj) = v.as_object_mut() {
        for key in ["embeds", "attachments", "components"] {
            if obj.contains_key(key) {
                obj.insert(key.to_owned(), json!([]));
            }
        }
        if obj.contains_key("content") {
            obj.insert("content".to_owned(), json!(""));
        }
        obj.remove("poll");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_match_documentation() {
        assert_eq!(intent_for("MESSAGE_CREATE", true), Some(1 << 9));
        assert_eq!(intent_for("MESSAGE_CREATE", false), Some(1 << 12));
        assert_eq!(intent_for("GUILD_MEMBER_ADD", true), Some(1 << 1));
        assert_eq!(intent_for("INTERACTION_CREATE", true), None);
        assert_eq!(intent_for("READY", false), None);
    }

    #[test]
    fn content_is_stripped_without_message_content_intent() {
        let data = json!({"author": {"id": "5"}, "content": "hi", "embeds": [{}], "mentions": []});
        assert!(needs_content_strip(
            "MESSAGE_CREATE",
            Some(1),
            1 << 9,
            &data,
            9
        ));
        assert!(!needs_content_strip(
            "MESSAGE_CREATE",
            Some(1),
            (1 << 9) | (1 << 15),
            &data,
            9
        ));
        assert!(!needs_content_strip(
            "MESSAGE_CREATE",
            None,
            1 << 12,
            &data,
            9
        ));
        let mention = json!({"author": {"id": "5"}, "content": "hi", "mentions": [{"id": "9"}]});
        assert!(!needs_content_strip(
            "MESSAGE_CREATE",
            Some(1),
            1 << 9,
            &mention,
            9
        ));
        assert_eq!(strip_content(&data)["content"], "");
        assert_eq!(strip_content(&data)["embeds"], json!([]));
    }
}

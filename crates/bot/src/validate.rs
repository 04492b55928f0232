//! What Discord itself guarantees about the events that run commands, checked before a
//! command runs: an event breaking it is poison (a forged or corrupted message) and is
//! dead-lettered with the reason instead of being acted on.
//!
//! - size: a `MESSAGE_CREATE` or `INTERACTION_CREATE` is at most [`MAX_EVENT_BYTES`] (a real
//!   one — 4,000 characters of content, 6,000 of embeds, a referenced message — stays far
//!   below);
//! - message content: at most [`MAX_CONTENT_CHARS`] characters (Discord's limit with Nitro);
//! - ids (`id`, `channel_id`, `guild_id`, `application_id`, `webhook_id`, `author.id`,
//!   `user.id`, `member.user.id`): snowflake strings, non-zero, at most `i64::MAX`, and not
//!   created more than a day after this worker's clock (`u64::MAX` would be in 2154).

/// Largest `MESSAGE_CREATE` / `INTERACTION_CREATE` body acted on, in bytes.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Longest message content Discord accepts, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Discord's epoch (2015-01-01), in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// How far ahead of this worker's clock an id's timestamp may be (clock skew).
const FUTURE_SLACK_MS: u64 = 24 * 3600 * 1000;
/// The id fields checked, as paths into the payload.
const ID_PATHS: [&[&str]; 8] = [
    &["id"],
    &["channel_id"],
    &["guild_id"],
    &["application_id"],
    &["webhook_id"],
    &["author", "id"],
    &["user", "id"],
    &["member", "user", "id"],
];

/// Checks an event of type `kind` that may run a command; other types pass unchecked.
/// The error is the reason to dead-letter it with.
pub fn check(kind: &str, body: &[u8]) -> Result<(), String> {
    check_at(kind, body, swarmcord_commands::prompt::now_ms())
}

fn check_at(kind: &str, body: &[u8], now_ms: u64) -> Result<(), String> {
    if kind != "MESSAGE_CREATE" && kind != "INTERACTION_CREATE" {
        return Ok(());
    }
    if body.len() > MAX_EVENT_BYTES {
        return Err(format!(
            "{kind} of {} bytes is larger than any Discord sends ({MAX_EVENT_BYTES})",
            body.len()
        ));
    }
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("{kind} is not JSON: {error}"))?;
    for path in ID_PATHS {
        let value = path.iter().try_fold(&payload, |v, key| v.get(key));
        match value {
            None | Some(serde_json::Value::Null) => {}
            Some(value) => snowflake(value, now_ms)
                .map_err(|why| format!("{kind} {}: {why}", path.join(".")))?,
        }
    }
    if kind == "MESSAGE_CREATE"
        && let Some(content) = payload.get("content")
    {
        let chars = content
            .as_str()
            .ok_or_else(|| format!("{kind} content is not a string"))?
            .chars()
            .count();
        if chars > MAX_CONTENT_CHARS {
            return Err(format!(
                "{kind} content of {chars} characters is longer than Discord allows ({MAX_CONTENT_CHARS})"
            ));
        }
    }
    Ok(())
}

/// Whether `value` is a snowflake Discord could have made by `now_ms` (plus a day of skew).
fn snowflake(value: &serde_json::Value, now_ms: u64) -> Result<(), String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{value} is not a snowflake string"))?;
    let id: u64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a snowflake"))?;
    if id == 0 || i64::try_from(id).is_err() {
        return Err(format!("{id} is out of the snowflake range"));
    }
    let created_ms = (id >> 22) + DISCORD_EPOCH_MS;
    if created_ms > now_ms.saturating_add(FUTURE_SLACK_MS) {
        return Err(format!("{id} would be created in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01.
    const NOW: u64 = 1_767_225_600_000;

    fn message(id: &str, content: &str) -> Vec<u8> {
        serde_json::json!({
            "id": id, "channel_id": "1100000000000000000", "guild_id": "1100000000000000001",
            "author": {"id": "1100000000000000002"}, "content": content,
            "member": {"roles": []}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_real_message_passes() {
        assert_eq!(
            check_at(
                "MESSAGE_CREATE",
                &message("1200000000000000000", "!ping"),
                NOW
            ),
            Ok(())
        );
        let long = "é".repeat(MAX_CONTENT_CHARS);
        assert_eq!(
            check_at(
                "MESSAGE_CREATE",
                &message("1200000000000000000", &long),
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn poison_messages_are_refused_with_a_reason() {
        let reason = |body: &[u8]| check_at("MESSAGE_CREATE", body, NOW).unwrap_err();
        let too_long = "a".repeat(MAX_CONTENT_CHARS + 1);
        assert!(reason(&message("1200000000000000000", &too_long)).contains("4001 characters"));
        assert!(reason(&message(&u64::MAX.to_string(), "!ping")).contains("id: "));
        assert!(
            reason(&message(&i64::MAX.to_string(), "!ping")).contains("future"),
            "in range but from 2084"
        );
        assert!(reason(&message("0", "!ping")).contains("out of the snowflake range"));
        assert!(reason(&message("12ab", "!ping")).contains("not a snowflake"));
        let huge = message("1200000000000000000", &"a".repeat(MAX_EVENT_BYTES));
        assert!(reason(&huge).contains("larger than any Discord sends"));
        let author = br#"{"id":"1200000000000000000","author":{"id":18446744073709551615}}"#;
        assert!(reason(author).contains("author.id"));
    }

    #[test]
    fn interactions_are_checked_and_other_events_pass() {
        let forged =
            br#"{"id":"1200000000000000000","member":{"user":{"id":"18446744073709551615"}}}"#;
        assert!(
            check_at("INTERACTION_CREATE", forged, NOW)
                .unwrap_err()
                .contains("member.user.id")
        );
        assert_eq!(check_at("GUILD_CREATE", forged, NOW), Ok(()));
    }
}

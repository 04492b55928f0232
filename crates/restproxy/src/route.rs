//! Which rate-limit bucket a request belongs to, computed the way Discord keys them.
//!
//! Discord's per-route limits apply to a *route* (method + path with the ids replaced) and its
//! *major parameter*: the channel id under `/channels/{id}`, the guild id under `/guilds/{id}`,
//! the webhook id and token under `/webhooks/{id}/{token}`, the interaction id under
//! `/interactions/{id}/{token}`. Two requests share a bucket when both agree. Like twilight's
//! `Path` and nirn-proxy's bucket paths, every other id is masked, the emoji and everything after
//! `reactions` collapse into one route (Discord limits reactions per message, not per emoji), and
//! deleting a message older than 14 days has a bucket of its own.
//!
//! Interaction callbacks and webhook routes carrying a token are not bound to the bot's global
//! limit (Discord's documentation: "Interaction endpoints are not bound to the bot's Global Rate
//! Limit"; webhooks with a token are authenticated by the token, not the bot).

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Age from which a message deletion falls into the "old message" bucket.
const OLD_MESSAGE_MS: u64 = 14 * 24 * 3600 * 1000;

/// The bucket key of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    /// `METHOD /template`, ids masked (`POST /channels/{id}/messages`); also the metric label.
    pub route: String,
    /// The major parameter (`""` for routes without one).
    pub major: String,
    /// Whether the request counts towards the bot's global limit.
    pub global: bool,
}

impl RouteKey {
    /// The key of `method path` (`path` without the query; with or without `/api/v{n}`).
    /// `now_ms` (Unix milliseconds) decides whether a deleted message is "old".
    pub fn of(method: &str, path: &str, now_ms: u64) -> Self {
        let path = strip_api_prefix(path);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut template = Vec::with_capacity(segments.len());
        let mut major = String::new();
        let mut global = true;
        let mut index = 0;
        while index < segments.len() {
            let segment = segments[index];
            let previous = index.checked_sub(1).map(|i| segments[i]);
            match (index, segments[0]) {
                (1, "channels" | "guilds") if is_id(segment) => {
                    segment.clone_into(&mut major);
                    template.push("{id}");
                }
                (1, "webhooks") if is_id(segment) => {
                    segment.clone_into(&mut major);
                    template.push("{id}");
                    if let Some(token) = segments.get(2) {
                        major = format!("{segment}/{token}");
                        template.push("{token}");
                        global = false;
                        index += 1;
                    }
                }
                (1, "interactions") if is_id(segment) => {
                    segment.clone_into(&mut major);
                    template.push("{id}");
                    if segments.get(2).is_some() {
                        template.push("{token}");
                        global = false;
                        index += 1;
                    }
                }
                _ if previous == Some("reactions") => {
                    // The emoji and everything after it: one bucket per message.
                    template.push("*");
                    break;
                }
                _ if previous == Some("invites") || previous == Some("templates") => {
                    template.push("{code}");
                }
                _ if is_id(segment) => template.push("{id}"),
                _ => template.push(segment),
            }
            index += 1;
        }
        let mut route = format!("{} /{}", method.to_ascii_uppercase(), template.join("/"));
        if method.eq_ignore_ascii_case("DELETE")
            && segments.len() == 4
            && segments[0] == "channels"
            && segments[2] == "messages"
            && is_old_message(segments[3], now_ms)
        {
            route.push_str(" (old)");
        }
        Self {
            route,
            major,
            global,
        }
    }
}

/// `path` without a leading `/api` or `/api/v{n}`.
pub fn strip_api_prefix(path: &str) -> &str {
    let rest = path.strip_prefix("/api").unwrap_or(path);
    if let Some(after) = rest.strip_prefix("/v") {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && (after.len() == digits || after.as_bytes()[digits] == b'/') {
            return &after[digits..];
        }
    }
    rest
}

/// A snowflake (or any all-digit segment).
fn is_id(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

fn is_old_message(id: &str, now_ms: u64) -> bool {
    let Ok(id) = id.parse::<u64>() else {
        return false;
    };
    let created = (id >> 22) + DISCORD_EPOCH_MS;
    now_ms.saturating_sub(created) > OLD_MESSAGE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;

    fn key(method: &str, path: &str) -> (String, String, bool) {
        let k = RouteKey::of(method, path, NOW);
        (k.route, k.major, k.global)
    }

    #[test]
    fn major_parameters_are_kept_and_other_ids_masked() {
        assert_eq!(
            key("post", "/api/v10/channels/123/messages"),
            ("POST /channels/{id}/messages".into(), "123".into(), true)
        );
        assert_eq!(
            key("GET", "/api/v10/guilds/9/members/77"),
            ("GET /guilds/{id}/members/{id}".into(), "9".into(), true)
        );
        assert_eq!(
            key("GET", "/api/v10/users/@me"),
            ("GET /users/@me".into(), String::new(), true)
        );
        assert_eq!(
            key("GET", "/gateway/bot"),
            ("GET /gateway/bot".into(), String::new(), true)
        );
        // Same route, other channel: another bucket; other message in one channel: same bucket.
        assert_ne!(
            RouteKey::of("GET", "/channels/1/messages/5", NOW),
            RouteKey::of("GET", "/channels/2/messages/5", NOW)
        );
        assert_eq!(
            RouteKey::of("GET", "/channels/1/messages/5", NOW),
            RouteKey::of("GET", "/channels/1/messages/6", NOW)
        );
    }

    #[test]
    fn webhooks_and_interactions_are_keyed_by_id_and_exempt_from_the_global_limit() {
        assert_eq!(
            key("POST", "/api/v10/webhooks/5/abc-token/messages/@original"),
            (
                "POST /webhooks/{id}/{token}/messages/@original".into(),
                "5/abc-token".into(),
                false
            )
        );
        assert_eq!(
            key("POST", "/api/v10/interactions/42/tok/callback"),
            (
                "POST /interactions/{id}/{token}/callback".into(),
                "42".into(),
                false
            )
        );
        // A webhook without its token is authenticated by the bot: global.
        assert!(RouteKey::of("GET", "/webhooks/5", NOW).global);
    }

    #[test]
    fn reactions_collapse_and_old_deletions_have_their_own_bucket() {
        let a = RouteKey::of(
            "PUT",
            "/channels/1/messages/2/reactions/%F0%9F%91%8D/@me",
            NOW,
        );
        let b = RouteKey::of("PUT", "/channels/1/messages/3/reactions/x:4/@me", NOW);
        assert_eq!(a, b);
        assert_eq!(a.route, "PUT /channels/{id}/messages/{id}/reactions/*");
        let recent = ((NOW - DISCORD_EPOCH_MS) << 22).to_string();
        let old = ((NOW - DISCORD_EPOCH_MS - OLD_MESSAGE_MS - 1000) << 22).to_string();
        assert_eq!(
            RouteKey::of("DELETE", &format!("/channels/1/messages/{recent}"), NOW).route,
            "DELETE /channels/{id}/messages/{id}"
        );
        assert_eq!(
            RouteKey::of("DELETE", &format!("/channels/1/messages/{old}"), NOW).route,
            "DELETE /channels/{id}/messages/{id} (old)"
        );
        assert_eq!(key("GET", "/invites/abcdef").0, "GET /invites/{code}");
    }

    #[test]
    fn api_prefixes_are_stripped() {
        assert_eq!(strip_api_prefix("/api/v10/users/@me"), "/users/@me");
        assert_eq!(strip_api_prefix("/api/v9"), "");
        assert_eq!(strip_api_prefix("/api/users/@me"), "/users/@me");
        assert_eq!(strip_api_prefix("/api/vx/a"), "/vx/a");
        assert_eq!(strip_api_prefix("/channels/1"), "/channels/1");
        assert_eq!(key("GET", "").0, "GET /");
    }
}

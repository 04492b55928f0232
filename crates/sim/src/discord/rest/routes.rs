//! The route table: which `METHOD path-template` is which endpoint, how it authenticates and
//! which rate-limit bucket it falls into.

use axum::http::Method;

/// Every endpoint the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    GetGateway,
    GetGatewayBot,
    GetCurrentUser,
    GetCurrentApplication,
    GetUser,
    CreateDm,
    GetChannel,
    UpdateChannel,
    DeleteChannel,
    PutOverwrite,
    DeleteOverwrite,
    GetMessages,
    CreateMessage,
    GetMessage,
    UpdateMessage,
    DeleteMessage,
    BulkDeleteMessages,
    AddOwnReaction,
    RemoveOwnReaction,
    RemoveUserReaction,
    GetReactions,
    RemoveAllReactions,
    StartThreadFromMessage,
    StartThread,
    JoinThread,
    LeaveThread,
    AddThreadMember,
    RemoveThreadMember,
    GetThreadMember,
    GetThreadMembers,
    GetGuild,
    GetGuildChannels,
    GetGuildRoles,
    GetMembers,
    GetMember,
    RemoveMember,
    UpdateMember,
    AddMemberRole,
    RemoveMemberRole,
    CreateRole,
    UpdateRole,
    DeleteRole,
    GetBans,
    GetBan,
    CreateBan,
    DeleteBan,
    GetCommands,
    SetCommands,
    CreateCommand,
    GetCommand,
    UpdateCommand,
    DeleteCommand,
    InteractionCallback,
    ExecuteWebhook,
    GetWebhookMessage,
    UpdateWebhookMessage,
    DeleteWebhookMessage,
}

/// How a route authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Auth {
    /// `Authorization: Bot <token>`.
    Bot,
    /// Nothing (e.g. `GET /gateway`).
    None,
    /// The interaction/webhook token in the path.
    PathToken,
}

impl Endpoint {
    pub(super) fn auth(self) -> Auth {
        match self {
            Self::GetGateway => Auth::None,
            Self::InteractionCallback
            | Self::ExecuteWebhook
            | Self::GetWebhookMessage
            | Self::UpdateWebhookMessage
            | Self::DeleteWebhookMessage => Auth::PathToken,
            _ => Auth::Bot,
        }
    }

    /// Whether the global rate limit applies (interaction endpoints are exempt, as documented).
    pub(super) fn global_limited(self) -> bool {
        self.auth() == Auth::Bot
    }
}

/// One row of the table.
struct RouteDef {
    method: Method,
    template: &'static str,
    endpoint: Endpoint,
}

const fn def(method: Method, template: &'static str, endpoint: Endpoint) -> RouteDef {
    RouteDef {
        method,
        template,
        endpoint,
    }
}

/// Checked in order: the first row whose method and template match wins.
static ROUTES: &[RouteDef] = &[
    def(Method::GET, "gateway", Endpoint::GetGateway),
    def(Method::GET, "gateway/bot", Endpoint::GetGatewayBot),
    def(Method::GET, "users/@me", Endpoint::GetCurrentUser),
    def(
        Method::GET,
        "applications/@me",
        Endpoint::GetCurrentApplication,
    ),
    def(
        Method::GET,
        "oauth2/applications/@me",
        Endpoint::GetCurrentApplication,
    ),
    def(Method::POST, "users/@me/channels", Endpoint::CreateDm),
    def(Method::GET, "users/{user_id}", Endpoint::GetUser),
    def(Method::GET, "channels/{channel_id}", Endpoint::GetChannel),
    def(
        Method::PATCH,
        "channels/{channel_id}",
        Endpoint::UpdateChannel,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}",
        Endpoint::DeleteChannel,
    ),
    def(
        Method::PUT,
        "channels/{channel_id}/permissions/{overwrite_id}",
        Endpoint::PutOverwrite,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/permissions/{overwrite_id}",
        Endpoint::DeleteOverwrite,
    ),
    def(
        Method::GET,
        "channels/{channel_id}/messages",
        Endpoint::GetMessages,
    ),
    def(
        Method::POST,
        "channels/{channel_id}/messages",
        Endpoint::CreateMessage,
    ),
    def(
        Method::GET,
        "channels/{channel_id}/messages/{message_id}",
        Endpoint::GetMessage,
    ),
    def(
        Method::PATCH,
        "channels/{channel_id}/messages/{message_id}",
        Endpoint::UpdateMessage,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/messages/{message_id}",
        Endpoint::DeleteMessage,
    ),
    def(
        Method::POST,
        "channels/{channel_id}/messages/bulk-delete",
        Endpoint::BulkDeleteMessages,
    ),
    def(
        Method::PUT,
        "channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
        Endpoint::AddOwnReaction,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
        Endpoint::RemoveOwnReaction,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}",
        Endpoint::RemoveUserReaction,
    ),
    def(
        Method::GET,
        "channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
        Endpoint::GetReactions,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
        Endpoint::RemoveAllReactions,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/messages/{message_id}/reactions",
        Endpoint::RemoveAllReactions,
    ),
    def(
        Method::POST,
        "channels/{channel_id}/messages/{message_id}/threads",
        Endpoint::StartThreadFromMessage,
    ),
    def(
        Method::POST,
        "channels/{channel_id}/threads",
        Endpoint::StartThread,
    ),
    def(
        Method::PUT,
        "channels/{channel_id}/thread-members/@me",
        Endpoint::JoinThread,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/thread-members/@me",
        Endpoint::LeaveThread,
    ),
    def(
        Method::PUT,
        "channels/{channel_id}/thread-members/{user_id}",
        Endpoint::AddThreadMember,
    ),
    def(
        Method::DELETE,
        "channels/{channel_id}/thread-members/{user_id}",
        Endpoint::RemoveThreadMember,
    ),
    def(
        Method::GET,
        "channels/{channel_id}/thread-members/{user_id}",
        Endpoint::GetThreadMember,
    ),
    def(
        Method::GET,
        "channels/{channel_id}/thread-members",
        Endpoint::GetThreadMembers,
    ),
    def(Method::GET, "guilds/{guild_id}", Endpoint::GetGuild),
    def(
        Method::GET,
        "guilds/{guild_id}/channels",
        Endpoint::GetGuildChannels,
    ),
    def(
        Method::GET,
        "guilds/{guild_id}/roles",
        Endpoint::GetGuildRoles,
    ),
    def(
        Method::GET,
        "guilds/{guild_id}/members",
        Endpoint::GetMembers,
    ),
    def(
        Method::GET,
        "guilds/{guild_id}/members/{user_id}",
        Endpoint::GetMember,
    ),
    def(
        Method::DELETE,
        "guilds/{guild_id}/members/{user_id}",
        Endpoint::RemoveMember,
    ),
    def(
        Method::PATCH,
        "guilds/{guild_id}/members/{user_id}",
        Endpoint::UpdateMember,
    ),
    def(
        Method::PUT,
        "guilds/{guild_id}/members/{user_id}/roles/{role_id}",
        Endpoint::AddMemberRole,
    ),
    def(
        Method::DELETE,
        "guilds/{guild_id}/members/{user_id}/roles/{role_id}",
        Endpoint::RemoveMemberRole,
    ),
    def(
        Method::POST,
        "guilds/{guild_id}/roles",
        Endpoint::CreateRole,
    ),
    def(
        Method::PATCH,
        "guilds/{guild_id}/roles/{role_id}",
        Endpoint::UpdateRole,
    ),
    def(
        Method::DELETE,
        "guilds/{guild_id}/roles/{role_id}",
        Endpoint::DeleteRole,
    ),
    def(Method::GET, "guilds/{guild_id}/bans", Endpoint::GetBans),
    def(
        Method::GET,
        "guilds/{guild_id}/bans/{user_id}",
        Endpoint::GetBan,
    ),
    def(
        Method::PUT,
        "guilds/{guild_id}/bans/{user_id}",
        Endpoint::CreateBan,
    ),
    def(
        Method::DELETE,
        "guilds/{guild_id}/bans/{user_id}",
        Endpoint::DeleteBan,
    ),
    def(
        Method::GET,
        "applications/{application_id}/commands",
        Endpoint::GetCommands,
    ),
    def(
        Method::PUT,
        "applications/{application_id}/commands",
        Endpoint::SetCommands,
    ),
    def(
        Method::POST,
        "applications/{application_id}/commands",
        Endpoint::CreateCommand,
    ),
    def(
        Method::GET,
        "applications/{application_id}/commands/{command_id}",
        Endpoint::GetCommand,
    ),
    def(
        Method::PATCH,
        "applications/{application_id}/commands/{command_id}",
        Endpoint::UpdateCommand,
    ),
    def(
        Method::DELETE,
        "applications/{application_id}/commands/{command_id}",
        Endpoint::DeleteCommand,
    ),
    def(
        Method::GET,
        "applications/{application_id}/guilds/{guild_id}/commands",
        Endpoint::GetCommands,
    ),
    def(
        Method::PUT,
        "applications/{application_id}/guilds/{guild_id}/commands",
        Endpoint::SetCommands,
    ),
    def(
        Method::POST,
        "applications/{application_id}/guilds/{guild_id}/commands",
        Endpoint::CreateCommand,
    ),
    def(
        Method::GET,
        "applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
        Endpoint::GetCommand,
    ),
    def(
        Method::PATCH,
        "applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
        Endpoint::UpdateCommand,
    ),
    def(
        Method::DELETE,
        "applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
        Endpoint::DeleteCommand,
    ),
    def(
        Method::POST,
        "interactions/{interaction_id}/{interaction_token}/callback",
        Endpoint::InteractionCallback,
    ),
    def(
        Method::POST,
        "webhooks/{webhook_id}/{webhook_token}",
        Endpoint::ExecuteWebhook,
    ),
    def(
        Method::GET,
        "webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        Endpoint::GetWebhookMessage,
    ),
    def(
        Method::PATCH,
        "webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        Endpoint::UpdateWebhookMessage,
    ),
    def(
        Method::DELETE,
        "webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        Endpoint::DeleteWebhookMessage,
    ),
];

/// A resolved request path.
#[derive(Debug)]
pub(super) struct Matched {
    pub(super) endpoint: Endpoint,
    pub(super) method: Method,
    pub(super) template: &'static str,
    pub(super) params: Vec<(&'static str, String)>,
}

impl Matched {
    /// A path parameter (always present for the endpoint's own template).
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The route's major parameter, as Discord documents: `channel_id`, `guild_id`,
    /// `webhook_id` + `webhook_token`; interaction callbacks are keyed by interaction.
    pub(super) fn major(&self) -> String {
        let first = self.template.split('/').next().unwrap_or_default();
        match first {
            "channels" => self.param("channel_id").unwrap_or_default().to_owned(),
            "guilds" => self.param("guild_id").unwrap_or_default().to_owned(),
            "webhooks" => format!(
                "{}/{}",
                self.param("webhook_id").unwrap_or_default(),
                self.param("webhook_token").unwrap_or_default()
            ),
            "interactions" => self.param("interaction_id").unwrap_or_default().to_owned(),
            _ => String::new(),
        }
    }
}

/// Why a path did not resolve.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoMatch {
    /// No template has this shape.
    NotFound,
    /// Some template matches, but not with this method.
    MethodNotAllowed,
}

fn match_template(
    template: &'static str,
    segments: &[&str],
) -> Option<Vec<(&'static str, String)>> {
    let parts: Vec<&'static str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            params.push((name, percent_decode(segment)));
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Resolves `method path` (path without the `/api/v10/` prefix and without the query).
pub(super) fn resolve(method: &Method, path: &str) -> Result<Matched, NoMatch> {
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = trimmed.split('/').collect();
    let mut shape_matched = false;
    for route in ROUTES {
        let Some(params) = match_template(route.template, &segments) else {
            continue;
        };
        if route.method == *method {
            return Ok(Matched {
                endpoint: route.endpoint,
                method: route.method.clone(),
                template: route.template,
                params,
            });
        }
        shape_matched = true;
    }
    Err(if shape_matched {
        NoMatch::MethodNotAllowed
    } else {
        NoMatch::NotFound
    })
}

/// Decodes `%XX` escapes (as in `X-Audit-Log-Reason` and path segments); invalid escapes are
/// kept verbatim and invalid UTF-8 is replaced.
pub(super) fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| char::from(b).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into decoded pairs (`+` is a space, as in forms).
pub(super) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&key.replace('+', " ")),
                percent_decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_templates_and_methods() {
        let m = resolve(&Method::POST, "/channels/5/messages").expect("matches");
        assert_eq!(m.endpoint, Endpoint::CreateMessage);
        assert_eq!(m.param("channel_id"), Some("5"));
        assert_eq!(m.major(), "5");
        assert_eq!(
            resolve(&Method::GET, "/users/@me")
                .expect("matches")
                .endpoint,
            Endpoint::GetCurrentUser
        );
        assert_eq!(
            resolve(&Method::GET, "/users/7").expect("matches").endpoint,
            Endpoint::GetUser
        );
        assert_eq!(
            resolve(&Method::PUT, "/channels/5/messages").unwrap_err(),
            NoMatch::MethodNotAllowed
        );
        assert_eq!(
            resolve(&Method::GET, "/nope/5").unwrap_err(),
            NoMatch::NotFound
        );
        let w = resolve(&Method::PATCH, "/webhooks/1/tok/messages/@original").expect("matches");
        assert_eq!(w.major(), "1/tok");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("spam%20and%20%C3%A9ggs"), "spam and éggs");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            parse_query("limit=5&wait=true"),
            vec![
                ("limit".to_owned(), "5".to_owned()),
                ("wait".to_owned(), "true".to_owned())
            ]
        );
    }
}

//! `serverinfo`, `userinfo` (also the "User info" user context menu) and `channelinfo`: read from the gateways' Redis cache, with Discord
//! REST for what the cache does not hold (a guild not received yet, a member of a large guild).

use std::time::Duration;

use swarmcord::cache::CachedChannel;
use swarmcord::commands::precondition::BoxFuture;
use swarmcord::commands::{
    ArgSpec, Args, Command, CommandError, CommandKind, CommandSpec, CooldownScope,
    InvocationContext, Reply, Target,
};
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::GuildMarker;

use swarmcord::{Setup, SetupError};

use super::{Services, created_at, embed, is_status, listed};

pub(super) fn register(setup: &mut Setup<'_>, services: &Services) -> Result<(), SetupError> {
    setup.command_impl(
        CommandSpec::builder("serverinfo")
            .alias("guildinfo")
            .description("Show this server's details")
            .category("General")
            .guild_only()
            .cooldown(CooldownScope::Channel, 3, Duration::from_secs(10))
            .build()?,
        ServerInfo(services.clone()),
    )?;
    setup.command_impl(
        CommandSpec::builder("userinfo")
            .alias("whois")
            .description("Show a user's details (yours by default)")
            .category("General")
            .cooldown(CooldownScope::User, 5, Duration::from_secs(10))
            .arg(ArgSpec::user("user").describe("who").optional())
            .build()?,
        UserInfo(services.clone()),
    )?;
    // The same details from a user's context menu (right-click → Apps → User info).
    setup.command_impl(
        CommandSpec::context_menu(CommandKind::User, "User info")
            .description("Show this user's details")
            .category("General")
            .cooldown(CooldownScope::User, 5, Duration::from_secs(10))
            .build()?,
        UserInfo(services.clone()),
    )?;
    setup.command_impl(
        CommandSpec::builder("channelinfo")
            .description("Show a channel's details (this one by default)")
            .category("General")
            .guild_only()
            .cooldown(CooldownScope::User, 5, Duration::from_secs(10))
            .arg(ArgSpec::channel("channel").describe("which").optional())
            .build()?,
        ChannelInfo(services.clone()),
    )?;
    Ok(())
}

fn rest_failure(error: &swarmcord::http::Error) -> CommandError {
    if is_status(error, 404) || is_status(error, 403) {
        CommandError::user("Discord doesn't know that (or won't show it to me).")
    } else {
        CommandError::internal(error.to_string())
    }
}

fn cache_failure(error: &swarmcord::cache::CacheError) -> CommandError {
    CommandError::internal(error.to_string())
}

/// Discord's timestamps (`2021-01-01T00:00:00.000000+00:00`) as `<t:…:D>`, or as given.
fn discord_date(iso: &str) -> String {
    swarmcord::model::util::Timestamp::parse(iso)
        .map_or_else(|_| iso.to_owned(), |t| format!("<t:{}:D>", t.as_secs()))
}

struct ServerInfo(Services);

impl ServerInfo {
    /// From the cache: `None` when the guild is not cached.
    async fn cached(&self, guild_id: Id<GuildMarker>) -> Result<Option<Reply>, CommandError> {
        let cache = self.0.cache.cache();
        let Some(guild) = cache.guild(guild_id).await.map_err(|e| cache_failure(&e))? else {
            return Ok(None);
        };
        let channels = cache
            .guild_channels(guild_id)
            .await
            .map_err(|e| cache_failure(&e))?;
        let roles = cache.roles(guild_id).await.map_err(|e| cache_failure(&e))?;
        let members = cache
            .member_ids(guild_id)
            .await
            .map_err(|e| cache_failure(&e))?;
        let fields = vec![
            ("Owner", format!("<@{}>", guild.owner_id)),
            ("Members", members.len().to_string()),
            ("Channels", channels.len().to_string()),
            ("Roles", roles.len().to_string()),
            ("Boost tier", guild.premium_tier.to_string()),
            ("Created", format!("<t:{}:D>", created_at(guild_id.get()))),
            ("ID", guild_id.to_string()),
        ];
        Ok(Some(
            Reply::text(format!("**{}**", guild.name)).with_embed(embed(&guild.name, fields)),
        ))
    }

    /// From Discord REST.
    async fn fetched(&self, guild_id: Id<GuildMarker>) -> Result<Reply, CommandError> {
        let http = &self.0.http;
        let guild = http
            .guild(guild_id)
            .with_counts(true)
            .await
            .map_err(|e| rest_failure(&e))?
            .model()
            .await
            .map_err(|e| CommandError::internal(e.to_string()))?;
        let channels = http
            .guild_channels(guild_id)
            .await
            .map_err(|e| rest_failure(&e))?
            .model()
            .await
            .map_err(|e| CommandError::internal(e.to_string()))?;
        let members = guild
            .approximate_member_count
            .or(guild.member_count)
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        let fields = vec![
            ("Owner", format!("<@{}>", guild.owner_id)),
            ("Members", members),
            ("Channels", channels.len().to_string()),
            ("Roles", guild.roles.len().to_string()),
            ("Created", format!("<t:{}:D>", created_at(guild_id.get()))),
            ("ID", guild_id.to_string()),
        ];
        Ok(Reply::text(format!("**{}**", guild.name)).with_embed(embed(&guild.name, fields)))
    }
}

impl Command for ServerInfo {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        _args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let guild_id = crate::guild(ctx)?;
            match self.cached(guild_id).await {
                Ok(Some(reply)) => Ok(reply),
                Ok(None) => self.fetched(guild_id).await,
                Err(error) => {
                    tracing::debug!(%error, "cache unavailable; asking Discord");
                    self.fetched(guild_id).await
                }
            }
        })
    }
}

struct UserInfo(Services);

impl Command for UserInfo {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let user_id = args
                .user("user")
                .or_else(|| args.target().and_then(Target::user_id))
                .unwrap_or(ctx.user_id);
            let reader = &self.0.cache;
            let Some((user, _)) = reader.user(user_id).await.map_err(|e| cache_failure(&e))? else {
                return Err(CommandError::user("Discord doesn't know that user."));
            };
            let mut fields = vec![
                ("User", format!("<@{user_id}>")),
                ("Bot", if user.bot { "yes" } else { "no" }.to_owned()),
                ("Created", format!("<t:{}:D>", created_at(user_id.get()))),
                ("ID", user_id.to_string()),
            ];
            if let Some(guild_id) = ctx.guild_id {
                match reader.member(guild_id, user_id).await {
                    Ok(Some((member, source))) => {
                        if let Some(joined) = &member.joined_at {
                            fields.push(("Joined", discord_date(joined)));
                        }
                        let roles = listed(&member.roles, " ", |r| format!("<@&{r}>"));
                        fields.push(("Roles", roles));
                        tracing::debug!(?source, "member read");
                    }
                    Ok(None) => fields.push(("Member", "not in this server".to_owned())),
                    Err(error) => return Err(cache_failure(&error)),
                }
            }
            let name = user
                .global_name
                .clone()
                .unwrap_or_else(|| user.name.clone());
            Ok(Reply::text(format!("**{name}**")).with_embed(embed(&name, fields)))
        })
    }
}

struct ChannelInfo(Services);

fn kind_name(kind: u8) -> &'static str {
    match kind {
        0 => "text",
        2 => "voice",
        4 => "category",
        5 => "announcement",
        13 => "stage",
        15 => "forum",
        16 => "media",
        _ => "other",
    }
}

fn channel_fields(channel: &CachedChannel) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("Channel", format!("<#{}>", channel.id)),
        ("Type", kind_name(channel.kind).to_owned()),
        ("Created", format!("<t:{}:D>", created_at(channel.id.get()))),
        ("ID", channel.id.to_string()),
    ];
    if let Some(parent) = channel.parent_id {
        fields.push(("Category", format!("<#{parent}>")));
    }
    if let Some(topic) = channel.topic.as_deref().filter(|t| !t.is_empty()) {
        fields.push(("Topic", topic.to_owned()));
    }
    if let Some(slowmode) = channel.rate_limit_per_user.filter(|s| *s > 0) {
        fields.push(("Slow mode", format!("{slowmode} s")));
    }
    if let Some(limit) = channel.user_limit.filter(|l| *l > 0) {
        fields.push(("User limit", limit.to_string()));
    }
    fields.push(("Overwrites", channel.overwrites.len().to_string()));
    fields
}

impl Command for ChannelInfo {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let channel_id = args.channel("channel").unwrap_or(ctx.channel_id);
            let Some((channel, source)) = self
                .0
                .cache
                .channel(channel_id)
                .await
                .map_err(|e| cache_failure(&e))?
            else {
                return Err(CommandError::user("I can't find that channel."));
            };
            if channel.guild_id != ctx.guild_id {
                return Err(CommandError::user("That channel is not in this server."));
            }
            tracing::debug!(?source, "channel read");
            let name = channel
                .name
                .clone()
                .unwrap_or_else(|| channel.id.to_string());
            let title = format!("#{name}");
            Ok(Reply::text(format!("**{title}**"))
                .with_embed(embed(&title, channel_fields(&channel))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_channel_kinds() {
        assert_eq!(
            discord_date("2021-01-01T00:00:00.000000+00:00"),
            "<t:1609459200:D>"
        );
        assert_eq!(discord_date("garbage"), "garbage");
        assert_eq!(kind_name(0), "text");
        assert_eq!(kind_name(2), "voice");
        assert_eq!(kind_name(99), "other");
    }
}

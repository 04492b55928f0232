//! `serverinfo` and `userinfo`, read from Discord REST.

use std::time::Duration;

use swarmcord_commands::precondition::BoxFuture;
use swarmcord_commands::{
    ArgSpec, Args, Command, CommandError, CommandSpec, CooldownScope, Dispatcher,
    InvocationContext, Reply,
};

use super::{Services, SetupError, created_at, embed, is_status};

pub(super) fn register(dispatcher: &mut Dispatcher, services: &Services) -> Result<(), SetupError> {
    dispatcher.register(
        CommandSpec::builder("serverinfo")
            .alias("guildinfo")
            .description("Show this server's details")
            .category("General")
            .guild_only()
            .cooldown(CooldownScope::Channel, 3, Duration::from_secs(10))
            .build()?,
        ServerInfo(services.clone()),
    )?;
    dispatcher.register(
        CommandSpec::builder("userinfo")
            .alias("whois")
            .description("Show a user's details (yours by default)")
            .category("General")
            .cooldown(CooldownScope::User, 5, Duration::from_secs(10))
            .arg(ArgSpec::user("user").describe("who").optional())
            .build()?,
        UserInfo(services.clone()),
    )?;
    Ok(())
}

fn rest_failure(error: &twilight_http::Error) -> CommandError {
    if is_status(error, 404) || is_status(error, 403) {
        CommandError::user("Discord doesn't know that (or won't show it to me).")
    } else {
        CommandError::internal(error.to_string())
    }
}

struct ServerInfo(Services);

impl Command for ServerInfo {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        _args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let Some(guild_id) = ctx.guild_id else {
                return Err(CommandError::user("This command only works in a server."));
            };
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
            let user_id = args.user("user").unwrap_or(ctx.user_id);
            let http = &self.0.http;
            let user = http
                .user(user_id)
                .await
                .map_err(|e| rest_failure(&e))?
                .model()
                .await
                .map_err(|e| CommandError::internal(e.to_string()))?;
            let mut fields = vec![
                ("User", format!("<@{user_id}>")),
                ("Bot", if user.bot { "yes" } else { "no" }.to_owned()),
                ("Created", format!("<t:{}:D>", created_at(user_id.get()))),
                ("ID", user_id.to_string()),
            ];
            if let Some(guild_id) = ctx.guild_id {
                match http.guild_member(guild_id, user_id).await {
                    Ok(response) => {
                        let member = response
                            .model()
                            .await
                            .map_err(|e| CommandError::internal(e.to_string()))?;
                        if let Some(joined) = member.joined_at {
                            fields.push(("Joined", format!("<t:{}:D>", joined.as_secs())));
                        }
                        let roles = if member.roles.is_empty() {
                            "none".to_owned()
                        } else {
                            member
                                .roles
                                .iter()
                                .map(|r| format!("<@&{r}>"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        };
                        fields.push(("Roles", roles));
                    }
                    Err(error) if is_status(&error, 404) => {
                        fields.push(("Member", "not in this server".to_owned()));
                    }
                    Err(error) => return Err(rest_failure(&error)),
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

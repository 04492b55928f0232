//! The bot's built-in commands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarmcord_commands::precondition::BoxFuture;
use swarmcord_commands::{
    ArgSpec, Args, Command, CommandError, CommandSpec, CooldownScope, Dispatcher,
    InvocationContext, RegistryError, Reply, SpecError,
};
use swarmcord_store::{Store, StoreError};
use twilight_http::Client;
use twilight_model::guild::Permissions;

/// A built-in command could not be declared (a bug caught at start-up).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// An invalid declaration.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A name clash.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Registers every built-in command.
pub fn register(
    dispatcher: &mut Dispatcher,
    http: Arc<Client>,
    store: Store,
    default_prefix: String,
) -> Result<(), SetupError> {
    let spec = |builder: swarmcord_commands::spec::CommandSpecBuilder| builder.build();
    dispatcher.register(
        spec(
            CommandSpec::builder("ping")
                .description("Check that the bot answers, with the Discord REST round trip")
                .category("General")
                .cooldown(CooldownScope::Channel, 5, Duration::from_secs(10)),
        )?,
        Ping {
            http: Arc::clone(&http),
        },
    )?;
    dispatcher.register(
        spec(
            CommandSpec::builder("prefix")
                .description("Show or change this server's command prefix")
                .category("Settings")
                .guild_only()
                .arg(
                    ArgSpec::string("new")
                        .describe("the new prefix (1 to 16 characters)")
                        .optional(),
                ),
        )?,
        Prefix {
            store: store.clone(),
            default_prefix,
        },
    )?;
    dispatcher.register(
        spec(
            CommandSpec::builder("ban")
                .description("Ban a member, after you confirm")
                .category("Moderation")
                .guild_only()
                .permissions(Permissions::BAN_MEMBERS)
                .arg(ArgSpec::user("user").describe("who to ban"))
                .arg(
                    ArgSpec::rest("reason")
                        .describe("why (shown in the audit log)")
                        .optional(),
                ),
        )?,
        Ban {
            http,
            store: store.clone(),
        },
    )?;
    dispatcher.register(
        spec(
            CommandSpec::builder("infractions")
                .description("List the moderation actions of this server, or of one member")
                .category("Moderation")
                .guild_only()
                .permissions(Permissions::BAN_MEMBERS)
                .arg(
                    ArgSpec::user("user")
                        .describe("only this member")
                        .optional(),
                ),
        )?,
        Infractions { store },
    )?;
    Ok(())
}

/// Words that confirm a prompt.
const YES: [&str; 4] = ["yes", "y", "confirm", "ok"];

struct Ban {
    http: Arc<Client>,
    store: Store,
}

impl Command for Ban {
    fn run<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let Some(user) = args.user("user") else {
                return Err(CommandError::user("Tell me who to ban."));
            };
            let reason = args.string("reason").map(str::to_owned);
            let question = format!(
                "Ban <@{user}>{}? Answer `yes` to confirm (anything else, or `cancel`, aborts).",
                reason
                    .as_deref()
                    .map(|r| format!(" for \"{r}\""))
                    .unwrap_or_default()
            );
            let data = serde_json::json!({"user": user.get().to_string(), "reason": reason});
            let state = swarmcord_commands::PromptState::new("ban", question.clone())
                .next(1, data, question);
            Ok(Reply::ask(state))
        })
    }

    fn on_answer<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        state: swarmcord_commands::PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            if !YES.contains(&answer.trim().to_lowercase().as_str()) {
                return Ok(Reply::text("Not banned."));
            }
            let user = state.data["user"]
                .as_str()
                .and_then(|u| u.parse::<u64>().ok())
                .and_then(twilight_model::id::Id::new_checked);
            let (Some(guild_id), Some(user)) = (ctx.guild_id, user) else {
                return Err(CommandError::internal("ban prompt without a guild or user"));
            };
            let reason = state.data["reason"].as_str().map(str::to_owned);
            let audit = format!(
                "by {}: {}",
                ctx.user_id,
                reason.as_deref().unwrap_or("no reason given")
            );
            let request = self.http.create_ban(guild_id, user);
            let request = twilight_http::request::AuditLogReason::reason(request, &audit);
            if let Err(error) = request.await {
                if let twilight_http::error::ErrorType::Response { status, .. } = error.kind()
                    && status.get() == 403
                {
                    return Err(CommandError::user(
                        "I am not allowed to ban that member (check my role and permissions).",
                    ));
                }
                return Err(CommandError::internal(error.to_string()));
            }
            // The prompt's deadline makes the id unique per conversation and stable on retries.
            let id = format!("ban:{guild_id}:{user}:{}", state.expires_at);
            let mut infraction = swarmcord_store::Infraction::new(
                id,
                guild_id.get(),
                user.get(),
                ctx.user_id.get(),
                swarmcord_store::InfractionKind::Ban,
            );
            if let Some(reason) = &reason {
                infraction = infraction.with_reason(reason.clone());
            }
            let note = match self.store.infractions().record(&infraction).await {
                Ok(_) => String::new(),
                Err(error) => {
                    tracing::warn!(%error, "could not record the ban");
                    " (the ban could not be recorded: settings are unavailable)".to_owned()
                }
            };
            Ok(Reply::text(format!("Banned <@{user}>.{note}")))
        })
    }
}

struct Infractions {
    store: Store,
}

impl Command for Infractions {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let Some(guild_id) = ctx.guild_id else {
                return Err(CommandError::user("This command only works in a server."));
            };
            let user = args.user("user").map(twilight_model::id::Id::get);
            let list = self
                .store
                .infractions()
                .list(guild_id.get(), user, 10, None)
                .await
                .map_err(|e| unavailable(&e))?;
            if list.is_empty() {
                return Ok(Reply::text("No infractions."));
            }
            let lines: Vec<String> = list
                .iter()
                .map(|i| {
                    format!(
                        "{:?} <@{}> by <@{}>: {}",
                        i.kind,
                        i.user_id,
                        i.moderator_id,
                        i.reason.as_deref().unwrap_or("no reason")
                    )
                })
                .collect();
            Ok(Reply::text(lines.join("\n")))
        })
    }
}

struct Ping {
    http: Arc<Client>,
}

impl Command for Ping {
    fn run<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        _args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let started = Instant::now();
            let rest = match self.http.current_user().await {
                Ok(_) => format!("{} ms", started.elapsed().as_millis()),
                Err(_) => "unreachable".to_owned(),
            };
            Ok(Reply::text(format!(
                "Pong! Discord REST round trip: {rest}."
            )))
        })
    }
}

struct Prefix {
    store: Store,
    default_prefix: String,
}

fn unavailable(error: &StoreError) -> CommandError {
    if error.is_unavailable() {
        CommandError::user("Settings are unavailable right now; try again in a moment.")
    } else if error.is_invalid() {
        CommandError::user(error.to_string())
    } else {
        CommandError::internal(error.to_string())
    }
}

impl Command for Prefix {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let Some(guild_id) = ctx.guild_id else {
                return Err(CommandError::user("This command only works in a server."));
            };
            let repo = self.store.guild_settings();
            let Some(new) = args.string("new") else {
                let settings = repo
                    .get(guild_id.get())
                    .await
                    .map_err(|e| unavailable(&e))?;
                let prefix = settings
                    .prefix
                    .unwrap_or_else(|| self.default_prefix.clone());
                return Ok(Reply::text(format!("The prefix here is `{prefix}`.")));
            };
            let allowed = ctx.is_owner
                || ctx
                    .member_permissions
                    .is_some_and(|p| p.contains(Permissions::MANAGE_GUILD));
            if !allowed {
                return Err(CommandError::user(
                    "You need the Manage Server permission to change the prefix.",
                ));
            }
            let settings = repo
                .set_prefix(guild_id.get(), Some(new))
                .await
                .map_err(|e| unavailable(&e))?;
            let prefix = settings
                .prefix
                .unwrap_or_else(|| self.default_prefix.clone());
            Ok(Reply::text(format!("The prefix is now `{prefix}`.")))
        })
    }
}

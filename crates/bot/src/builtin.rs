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
        Ping { http },
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
            store,
            default_prefix,
        },
    )?;
    Ok(())
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

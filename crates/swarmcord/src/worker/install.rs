//! What the bot declares, installed: commands, components and plugins into the dispatcher and
//! the component router, and the slash command list published to Discord.

use std::sync::Arc;

use swarmcord_commands::{ComponentRouter, Cooldowns, Dispatcher, Prompts};

use crate::CommandDef;
use crate::components::HandlerFn;
use crate::config::SlashCommands;
use crate::context::Services;
use crate::plugin::{Plugin, Setup, SetupError};

/// The dispatcher and the component router with every plugin's and the author's handlers,
/// bound to `services`.
pub(super) fn install(
    services: &Services,
    redis: &swarmcord_coord::ConnectionManager,
    plugins: Vec<Box<dyn Plugin>>,
    commands: Vec<CommandDef>,
    handlers: Vec<(String, Arc<HandlerFn>)>,
) -> Result<(Dispatcher, ComponentRouter), SetupError> {
    let prefix = services.redis_prefix().to_owned();
    let mut dispatcher = Dispatcher::new(
        Cooldowns::new(redis.clone(), prefix.clone()),
        Prompts::new(redis.clone(), prefix),
    );
    let mut components = ComponentRouter::default();
    let mut setup = Setup {
        services,
        dispatcher: &mut dispatcher,
        components: &mut components,
    };
    for plugin in plugins {
        plugin.install(&mut setup)?;
    }
    for command in commands {
        setup.command(command)?;
    }
    for (name, handler) in handlers {
        setup.components.register(
            &name,
            crate::components::FnComponent::new(services.clone(), handler),
        )?;
    }
    if !components.contains(swarmcord_commands::component::HELP_MENU) {
        setup_help_menu(services, &mut components)?;
    }
    Ok((dispatcher, components))
}

/// The built-in help's category menu (unless the bot registered its own `help` component).
fn setup_help_menu(
    services: &Services,
    components: &mut ComponentRouter,
) -> Result<(), SetupError> {
    components.register(
        swarmcord_commands::component::HELP_MENU,
        crate::components::FnComponent::new(
            services.clone(),
            crate::components::boxed(crate::components::help_menu),
        ),
    )?;
    Ok(())
}

/// Publishes the slash command list (a bulk overwrite: idempotent, so every replica may do it
/// at start-up). A failure is logged: prefix commands keep working, and the next start retries.
pub(super) async fn register_slash_commands(
    http: &twilight_http::Client,
    // For bot accounts the application id is the bot's user id.
    application_id: twilight_model::id::Id<twilight_model::id::marker::ApplicationMarker>,
    dispatcher: &Dispatcher,
    target: &SlashCommands,
) {
    let commands = dispatcher.registry().to_application_commands();
    let client = http.interaction(application_id);
    let result = match target {
        SlashCommands::Off => return,
        SlashCommands::Global => client.set_global_commands(&commands).await.map(drop),
        SlashCommands::Guilds(guilds) => {
            let mut result = Ok(());
            for guild in guilds
                .iter()
                .filter_map(|g| twilight_model::id::Id::new_checked(*g))
            {
                result = client.set_guild_commands(guild, &commands).await.map(drop);
                if result.is_err() {
                    break;
                }
            }
            result
        }
    };
    match result {
        Ok(()) => tracing::info!(count = commands.len(), %target, "slash commands registered"),
        Err(error) => tracing::error!(%error, %target, "could not register the slash commands"),
    }
}

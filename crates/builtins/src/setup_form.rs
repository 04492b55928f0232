//! `setup` as a form: the wizard's question carries a button that opens a modal pre-filled with
//! the server's settings (prefix, mod-log channel, locale); the submission is validated as a
//! whole and stored only when every value is acceptable.
//!
//! Neither the button nor the form has state: the guild comes with the interaction, and the
//! member's permissions are the ones Discord computed for it, checked again on submission.

use swarmcord::commands::{CommandError, Modal, ModalInput, Reply};
use swarmcord::components::{button, row};
use swarmcord::model::channel::message::Component;
use swarmcord::model::channel::message::component::ButtonStyle;
use swarmcord::model::guild::Permissions;
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::GuildMarker;
use swarmcord::{ComponentContext, Setup, SetupError};

use super::settings::{check_channel, describe, parse_channel};
use super::{Services, unavailable};

/// Handler name of the button that opens the form.
const OPEN: &str = "setup-form";
/// Handler name of the form's submission.
const SAVE: &str = "setup-save";

/// The button under the wizard's first question.
pub(crate) fn open_button() -> Component {
    row([button(OPEN, "Use a form instead", ButtonStyle::Primary)])
}

/// Registers the button's and the form's handlers.
pub(crate) fn register(setup: &mut Setup<'_>, services: &Services) -> Result<(), SetupError> {
    let opening = services.clone();
    setup.component(OPEN, move |ctx: ComponentContext| {
        let services = opening.clone();
        async move { open(&services, &ctx).await }
    })?;
    let saving = services.clone();
    setup.component(SAVE, move |ctx: ComponentContext| {
        let services = saving.clone();
        async move { save(&services, &ctx).await }
    })?;
    Ok(())
}

/// The guild, if the member may change its settings (Manage Server, or a bot owner).
fn allowed(ctx: &ComponentContext) -> Result<Id<GuildMarker>, CommandError> {
    let guild = ctx
        .guild_id()
        .ok_or_else(|| CommandError::user("This only works in a server."))?;
    let may = ctx.is_owner()
        || ctx
            .member_permissions()
            .is_some_and(|p| p.contains(Permissions::MANAGE_GUILD));
    if may {
        Ok(guild)
    } else {
        Err(CommandError::user(
            "You need the Manage Server permission to change the settings.",
        ))
    }
}

/// Opens the form, pre-filled with the current settings.
async fn open(services: &Services, ctx: &ComponentContext) -> Result<Reply, CommandError> {
    let guild = allowed(ctx)?;
    let settings = services
        .settings
        .guild(guild.get())
        .await
        .map_err(|e| unavailable(&e))?;
    let prefix = settings
        .prefix
        .unwrap_or_else(|| services.default_prefix.clone());
    let mut mod_log = ModalInput::new("mod_log", "Mod-log channel id (empty: none)", false)
        .optional()
        .length(0, 20);
    if let Some(channel) = settings.mod_log_channel {
        mod_log = mod_log.value(&channel.to_string());
    }
    let mut locale = ModalInput::new("locale", "Locale, e.g. en-US (empty: default)", false)
        .optional()
        .length(0, 10);
    if let Some(current) = &settings.locale {
        locale = locale.value(current);
    }
    let modal = Modal::new(SAVE, "Server settings")
        .input(
            ModalInput::new("prefix", "Command prefix", false)
                .length(1, 16)
                .value(&prefix),
        )
        .input(mod_log)
        .input(locale);
    Ok(Reply::modal(modal))
}

/// The submitted values, checked: all of them or nothing is stored.
struct Submitted {
    prefix: String,
    mod_log: Option<u64>,
    locale: Option<String>,
}

async fn validate(
    services: &Services,
    guild: Id<GuildMarker>,
    ctx: &ComponentContext,
) -> Result<Submitted, CommandError> {
    let refuse = |what: String| CommandError::user(format!("{what}; nothing was changed."));
    let prefix = ctx.field("prefix").unwrap_or_default().trim().to_owned();
    swarmcord::store::validate_prefix(&prefix).map_err(|e| refuse(e.to_string()))?;
    let mod_log = match ctx
        .field("mod_log")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(raw) => {
            let channel = parse_channel(raw).ok_or_else(|| {
                refuse(format!("`{}` is not a channel id", raw.replace('`', "'")))
            })?;
            check_channel(services, guild, channel)
                .await
                .map_err(|e| match e {
                    CommandError::User(problem) => refuse(problem.trim_end_matches('.').to_owned()),
                    other => other,
                })?;
            Some(channel.get())
        }
    };
    let locale = ctx
        .field("locale")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if let Some(locale) = &locale {
        swarmcord::store::validate_locale(locale).map_err(|e| refuse(e.to_string()))?;
    }
    Ok(Submitted {
        prefix,
        mod_log,
        locale,
    })
}

/// Stores a submitted form and closes the typed wizard it replaces.
async fn save(services: &Services, ctx: &ComponentContext) -> Result<Reply, CommandError> {
    let guild = allowed(ctx)?;
    let submitted = validate(services, guild, ctx).await?;
    let repo = services.settings.store().guild_settings();
    repo.set_prefix(guild.get(), Some(&submitted.prefix))
        .await
        .map_err(|e| unavailable(&e))?;
    repo.set_mod_log(guild.get(), submitted.mod_log)
        .await
        .map_err(|e| unavailable(&e))?;
    let settings = repo
        .set_locale(guild.get(), submitted.locale.as_deref())
        .await
        .map_err(|e| unavailable(&e))?;
    services.settings.remember(&settings).await;
    // The typed wizard is answered by the form: close it if it is still open.
    let prompts = services.sdk.prompts();
    if let Ok(Some(open)) = prompts.pending(ctx.channel_id(), ctx.user_id()).await
        && open.command == "setup"
    {
        let _ = prompts.take(ctx.channel_id(), ctx.user_id()).await;
    }
    let reply = Reply::text(format!(
        "All set!\n{}",
        describe(&settings, &services.default_prefix)
    ));
    // From the wizard's button: the question becomes the answer (and loses its button).
    Ok(if ctx.message_id().is_some() {
        reply.update_message()
    } else {
        reply
    })
}

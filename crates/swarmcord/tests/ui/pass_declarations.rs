use std::time::Duration;

use swarmcord::model::id::Id;
use swarmcord::model::id::marker::{ChannelMarker, RoleMarker, UserMarker};
use swarmcord::{CommandError, Context, PromptState, Reply};

/// Rolls dice.
#[swarmcord::command(slash, prefix, cooldown = "user:1/2s")]
async fn roll(_ctx: &Context, #[description = "dice like 2d6"] dice: String) -> Result<Reply, CommandError> {
    Ok(Reply::text(dice))
}

/// Every argument type.
#[swarmcord::command(prefix, guild_only, permissions(BAN_MEMBERS, KICK_MEMBERS), aliases("e", "ev"))]
async fn every(
    ctx: Context,
    #[min = 1] #[max = 10] a: i64,
    b: u8,
    c: f64,
    d: bool,
    e: Id<UserMarker>,
    f: Id<ChannelMarker>,
    g: Id<RoleMarker>,
    h: Option<Duration>,
    #[rename = "why"] #[rest] reason: Option<String>,
) -> String {
    format!("{} {a} {b} {c} {d} {e} {f} {g} {h:?} {reason:?}", ctx.user_id())
}

/// Asks a question.
#[swarmcord::command(name = "ask-me", on_answer = answered)]
async fn ask(_ctx: &Context) -> Reply {
    Reply::ask(PromptState::new("ask-me", "Sure?"))
}

async fn answered(_ctx: &Context, _state: PromptState, answer: String) -> Result<String, CommandError> {
    Ok(format!("You said {answer}"))
}

/// Shows the settings.
#[swarmcord::command]
async fn show(_ctx: &Context) -> &'static str {
    "ok"
}

/// Sets the log channel.
#[swarmcord::command(bot_permissions = "MANAGE_WEBHOOKS | VIEW_CHANNEL")]
async fn set(_ctx: &Context, channel: Id<ChannelMarker>) -> String {
    format!("<#{channel}>")
}

/// The log channel.
#[swarmcord::command(subcommands(set))]
async fn log(_ctx: &Context) -> &'static str {
    "pick one"
}

/// Settings.
#[swarmcord::command(
    subcommands(show, log),
    default_member_permissions = "",
    contexts(guild, bot_dm, private_channel),
    integration_types(guild_install, user_install),
    nsfw,
    bot_permissions(SEND_MESSAGES),
    localize(locale = "fr", name = "reglages", description = "Réglages"),
    localize(locale = "de", description = "Einstellungen")
)]
async fn settings(_ctx: &Context) -> &'static str {
    "use a subcommand"
}

/// Shows a user.
#[swarmcord::command(user_context = "User info")]
async fn user_info(_ctx: &Context, user: swarmcord::model::user::User) -> String {
    user.name
}

/// Quotes a message.
#[swarmcord::command(message_context = "Quote it", guild_only)]
async fn quote(_ctx: &Context, message: Id<swarmcord::model::id::marker::MessageMarker>) -> String {
    message.to_string()
}

fn main() {
    let _ = swarmcord::Worker::from_env().command(roll).command(every).command(ask());
    assert_eq!(settings().name(), Some("settings"));
    assert_eq!(user_info().name(), Some("User info"));
    assert_eq!(quote().name(), Some("Quote it"));
    assert_eq!(roll().name(), Some("roll"));
    assert_eq!(ask().name(), Some("ask-me"));
}

//! The default bot — every built-in command, music included when `LAVALINK_NODES` is set — plus
//! what a bot author typically adds: state shared by the handlers (`.data`), a command that asks
//! for confirmation (state in Redis: any replica continues it), and an event handler that posts
//! to the server's mod-log channel. Run it like `worker`; `scripts/sandbox.sh --bot full-bot`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use swarmcord::model::gateway::payload::incoming::MemberRemove;
use swarmcord::model::id::Id;
use swarmcord::{CommandError, Context, EventContext, EventError, PromptState, Reply};
use swarmcord_builtins::Builtins;

/// What every handler of this replica shares.
#[derive(Debug)]
struct About {
    version: &'static str,
    started: SystemTime,
}

/// What this bot is, and how the cluster is doing.
#[swarmcord::command(slash, prefix, cooldown = "channel:2/10s")]
async fn about(ctx: &Context) -> Result<String, CommandError> {
    let about = ctx.data::<About>()?;
    let uptime = about.started.elapsed().unwrap_or(Duration::ZERO).as_secs();
    let gateways = ctx.gateways().gateways().await.map_or(0, |g| g.len());
    Ok(format!(
        "full-bot {}: this worker has been up {uptime} s; {gateways} gateway(s) online.",
        about.version
    ))
}

/// Forgets this server's settings (prefix, mod-log, disabled commands), after you confirm.
#[swarmcord::command(slash, prefix, guild_only, permissions(MANAGE_GUILD), on_answer = forget_confirmed)]
async fn forget(_ctx: &Context) -> Reply {
    Reply::ask(PromptState::new(
        "forget",
        "Forget this server's settings? Answer `yes` to confirm.",
    ))
}

async fn forget_confirmed(
    ctx: &Context,
    _state: PromptState,
    answer: String,
) -> Result<String, CommandError> {
    if !answer.trim().eq_ignore_ascii_case("yes") {
        return Ok("Nothing was forgotten.".to_owned());
    }
    let guild = ctx.guild_id().map_or(0, Id::get);
    ctx.store()
        .guild_settings()
        .delete(guild)
        .await
        .map_err(swarmcord::store_error)?;
    // The settings are read through a copy in Redis: write the defaults there too.
    ctx.settings()
        .remember(&swarmcord::store::GuildSettings::new(guild))
        .await;
    Ok("Forgotten: this server uses the defaults again.".to_owned())
}

/// Notes in the mod-log channel that a member left (once, however often the event is
/// delivered).
async fn farewell(ctx: EventContext, left: MemberRemove) -> Result<(), EventError> {
    let settings = ctx.settings().guild(left.guild_id.get()).await?;
    let Some(channel) = settings.mod_log_channel.and_then(Id::new_checked) else {
        return Ok(());
    };
    let text = format!("**left** <@{}> ({})", left.user.id, left.user.name);
    ctx.send(channel, &Reply::text(text), &ctx.event_id())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let shared = About {
        version: env!("CARGO_PKG_VERSION"),
        started: SystemTime::now(),
    };
    swarmcord::Worker::from_env()
        .plugin(Builtins::all())
        .command(about)
        .command(forget)
        .on::<MemberRemove>(farewell)
        .data(shared)
        .launch()
        .await
}

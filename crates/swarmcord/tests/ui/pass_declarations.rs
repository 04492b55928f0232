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

fn main() {
    let _ = swarmcord::Worker::from_env().command(roll).command(every).command(ask());
    assert_eq!(roll().name(), Some("roll"));
    assert_eq!(ask().name(), Some("ask-me"));
}

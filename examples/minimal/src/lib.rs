//! A minimal bot on swarmcord: `/roll 2d6`, a welcome message when someone joins, and data of
//! its own in MongoDB (each guild's welcome channel, and every join, counted per guild).
//!
//! [`bot`] adds them to a worker: `src/main.rs` runs it, `tests/bot.rs` tests it against the
//! simulator, a gateway and the test services.

use mongodb::bson::doc;
use serde::{Deserialize, Serialize};
use swarmcord::model::gateway::payload::incoming::MemberAdd;
use swarmcord::model::id::{Id, marker::ChannelMarker};
use swarmcord::{CommandError, Context, EventContext, EventError, Reply, Worker};

/// Rolls dice: `!roll 2` rolls two six-sided dice, `!roll 3 20` three twenty-sided ones.
#[swarmcord::command(slash, prefix, cooldown = "user:3/5s")]
async fn roll(
    _ctx: &Context,
    #[arg(description = "how many dice", min = 1, max = 20)] count: u32,
    #[arg(description = "sides per die (6)", min = 2, max = 1000)] sides: Option<u32>,
) -> String {
    let sides = sides.unwrap_or(6);
    let rolls: Vec<u32> = (0..count).map(|_| rand::random_range(1..=sides)).collect();
    let total: u32 = rolls.iter().sum();
    format!("🎲 {count}d{sides}: {rolls:?} = **{total}**")
}

/// Where a guild welcomes its new members.
#[derive(Debug, Serialize, Deserialize)]
struct WelcomeChannel {
    #[serde(rename = "_id")]
    guild_id: String,
    channel_id: String,
}

/// One member joining, stored once per event: a retried event finds its join already there.
#[derive(Debug, Serialize, Deserialize)]
struct Join {
    #[serde(rename = "_id")]
    event: String,
    guild_id: String,
    user_id: String,
}

/// Sets the channel where new members are welcomed.
#[swarmcord::command(slash, prefix, guild_only, permissions(MANAGE_GUILD))]
async fn welcome(
    ctx: &Context,
    #[description = "the channel"] channel: Id<ChannelMarker>,
) -> Result<Reply, CommandError> {
    let guild = ctx.guild_id().map(|g| g.to_string()).unwrap_or_default();
    let setting = WelcomeChannel {
        guild_id: guild.clone(),
        channel_id: channel.to_string(),
    };
    ctx.store()
        .collection::<WelcomeChannel>("welcome_channels")
        .run("set welcome channel", |c| async move {
            c.replace_one(doc! { "_id": guild }, setting)
                .upsert(true)
                .await
        })
        .await
        .map_err(swarmcord::store_error)?;
    Ok(Reply::text(format!(
        "New members will be welcomed in <#{channel}>."
    )))
}

/// Counts the join and welcomes the member in the guild's welcome channel, if it set one.
async fn greet(ctx: EventContext, member: MemberAdd) -> Result<(), EventError> {
    let (guild, user) = (member.guild_id.to_string(), member.user.id.to_string());
    let join = Join {
        event: ctx.event_id(),
        guild_id: guild.clone(),
        user_id: user.clone(),
    };
    let joins = ctx.store().collection::<Join>("joins");
    let recorded = joins
        .run("record join", |c| async move { c.insert_one(join).await })
        .await;
    if let Err(error) = recorded
        && !error.is_duplicate_key()
    {
        return Err(error.into());
    }
    let filter = doc! { "guild_id": &guild };
    let count = joins
        .run(
            "count joins",
            |c| async move { c.count_documents(filter).await },
        )
        .await?;
    let channels = ctx.store().collection::<WelcomeChannel>("welcome_channels");
    let Some(setting) = channels
        .run("welcome channel", |c| async move {
            c.find_one(doc! { "_id": guild }).await
        })
        .await?
    else {
        return Ok(());
    };
    let Some(channel) = setting.channel_id.parse().ok().and_then(Id::new_checked) else {
        return Err(EventError::reject(
            "the stored welcome channel is not a channel id",
        ));
    };
    let text = format!("Welcome <@{user}>! You are member #{count} to join since I arrived.");
    ctx.send(channel, &Reply::text(text), &ctx.event_id())
        .await?;
    Ok(())
}

/// The bot: its commands and handlers on `worker`.
pub fn bot(worker: Worker) -> Worker {
    worker.command(roll).command(welcome).on::<MemberAdd>(greet)
}

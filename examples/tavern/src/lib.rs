//! The tavern: a bot on swarmcord that shows what `examples/minimal` does not — an argument with
//! a fixed list of choices (`#[derive(swarmcord::Choice)]`), a confirmation button that any
//! replica answers (also after a restart) and that re-checks who clicks, a form (modal), a
//! reaction handler (which needs `GUILD_MESSAGE_REACTIONS` in the gateways' intents), and a
//! per-server document in MongoDB.
//!
//! [`bot`] adds them to a worker: `src/main.rs` runs it, `tests/bot.rs` tests each behaviour
//! against the simulator, a gateway and the test services.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use swarmcord::components::{ButtonStyle, button, row};
use swarmcord::model::channel::message::EmojiReactionType;
use swarmcord::model::gateway::payload::incoming::ReactionAdd;
use swarmcord::model::guild::Permissions;
use swarmcord::model::id::Id;
use swarmcord::mongodb::bson::doc;
use swarmcord::mongodb::options::ReturnDocument;
use swarmcord::store::Collection;
use swarmcord::{
    CommandError, ComponentContext, Context, EventContext, EventError, Modal, Reply, Worker,
};

/// A drink on the menu: `!order cider`, or a menu for `/order`.
#[derive(swarmcord::Choice)]
enum Drink {
    Beer,
    Cider,
    #[choice(name = "Still water", value = "water")]
    StillWater,
}

/// Orders drinks for the table.
#[swarmcord::command(slash, prefix, guild_only, cooldown = "user:2/10s")]
async fn order(
    ctx: &Context,
    #[arg(description = "what to drink")] drink: Drink,
    #[arg(description = "how many (1)", min = 1, max = 10)] count: Option<u32>,
    #[arg(description = "for whom", rest)] note: Option<String>,
) -> Result<String, CommandError> {
    let count = count.unwrap_or(1);
    let name = match drink {
        Drink::Beer => "beer",
        Drink::Cider => "cider",
        Drink::StillWater => "water",
    };
    let total = add_to_tab(ctx, i64::from(count)).await?;
    let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
    Ok(format!(
        "{count} × {name}{note} coming up. The tab is at {total} drinks."
    ))
}

/// A server's tab: drinks ordered since it was last closed.
#[derive(Serialize, Deserialize)]
struct Tab {
    #[serde(rename = "_id")]
    guild: String,
    #[serde(default)]
    drinks: i64,
}

/// The tabs, one document per server.
fn tabs(ctx: &Context) -> Collection<Tab> {
    ctx.store().collection::<Tab>("tabs")
}

/// Adds `count` drinks to the server's tab; returns the new total.
async fn add_to_tab(ctx: &Context, count: i64) -> Result<i64, CommandError> {
    let guild = ctx.guild_id().map(|g| g.to_string()).unwrap_or_default();
    let tab = tabs(ctx)
        .run("order", |c| async move {
            c.find_one_and_update(doc! { "_id": guild }, doc! { "$inc": { "drinks": count } })
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await
        })
        .await
        .map_err(swarmcord::store_error)?;
    Ok(tab.map_or(0, |t| t.drinks))
}

/// Shows the server's tab.
#[swarmcord::command(guild_only)]
async fn tab(ctx: &Context) -> Result<String, CommandError> {
    let guild = ctx.guild_id().map(|g| g.to_string()).unwrap_or_default();
    let tab = tabs(ctx)
        .run(
            "tab",
            |c| async move { c.find_one(doc! { "_id": guild }).await },
        )
        .await
        .map_err(swarmcord::store_error)?;
    Ok(match tab {
        Some(tab) if tab.drinks > 0 => format!("The tab is at {} drinks.", tab.drinks),
        _ => "The tab is empty.".to_owned(),
    })
}

/// Closes the server's tab, after you confirm.
#[swarmcord::command(guild_only, permissions(MANAGE_GUILD))]
async fn closetab(ctx: &Context) -> Result<Reply, CommandError> {
    // guild_only: there is a guild.
    let guild = ctx.guild_id().map_or(0, Id::get);
    let id = ctx
        .stash("closetab", &guild, Duration::from_secs(600))
        .await?;
    Ok(
        Reply::text("Close the tab? Everything on it is forgotten.").with_components([row([
            button(&id, "Close it", ButtonStyle::Danger),
            button("closetab-keep", "Keep it", ButtonStyle::Secondary),
        ])]),
    )
}

/// The "Close it" button: only for members with Manage Server (anyone who sees the message can
/// click), and only once.
async fn closetab_yes(ctx: ComponentContext) -> Result<Reply, CommandError> {
    ctx.require_permissions(Permissions::MANAGE_GUILD).await?;
    let guild: u64 = ctx.state().await?;
    ctx.forget_state().await?;
    let guild = guild.to_string();
    ctx.store()
        .collection::<Tab>("tabs")
        .run("close tab", |c| async move {
            c.delete_one(doc! { "_id": guild }).await
        })
        .await
        .map_err(swarmcord::store_error)?;
    Ok(Reply::text("Tab closed.").update_message())
}

/// The "Keep it" button.
#[allow(clippy::unused_async, reason = "the signature component handlers have")]
async fn closetab_keep(_ctx: ComponentContext) -> Reply {
    Reply::text("The tab stays open.").update_message()
}

/// Suggests a drink for the menu.
#[swarmcord::command(slash)]
async fn suggest(_ctx: &Context) -> Reply {
    Reply::modal(
        Modal::new("suggestion", "Suggest a drink").paragraph("drink", "Which drink, and why?"),
    )
}

/// The submitted form.
#[allow(clippy::unused_async, reason = "the signature modal handlers have")]
async fn suggestion(ctx: ComponentContext) -> Result<Reply, CommandError> {
    let text = ctx.field("drink").unwrap_or_default();
    Ok(Reply::ephemeral(format!("Thanks, noted: {text}")))
}

/// A 🍺 reaction gets a "Cheers" (once, however often the event is delivered: the event id
/// is the message's nonce).
async fn cheers(ctx: EventContext, reaction: ReactionAdd) -> Result<(), EventError> {
    if !matches!(&reaction.emoji, EmojiReactionType::Unicode { name } if name == "🍺") {
        return Ok(());
    }
    let text = format!("Cheers <@{}>!", reaction.user_id);
    ctx.send(reaction.channel_id, &Reply::text(text), &ctx.event_id())
        .await?;
    Ok(())
}

/// The tavern's commands, handlers and data.
pub fn bot(worker: Worker) -> Worker {
    worker
        .command(order)
        .command(tab)
        .command(closetab)
        .component("closetab", closetab_yes)
        .component("closetab-keep", closetab_keep)
        .command(suggest)
        .modal("suggestion", suggestion)
        .on::<ReactionAdd>(cheers)
}

//! The helpers a bot author's tests use, end to end: a slash command typed as a line, a form
//! submitted, a user's reaction reaching a handler once the gateway has the intent, and a
//! confirmation button that only members with the permission may click.

use std::time::Duration;

use swarmcord::components::{ButtonStyle, button, row};
use swarmcord::model::channel::message::EmojiReactionType;
use swarmcord::model::gateway::payload::incoming::ReactionAdd;
use swarmcord::model::guild::Permissions;
use swarmcord::{CommandError, ComponentContext, Context, EventContext, EventError, Modal, Reply};
use swarmcord_testing::TestBot;

/// A drink.
#[derive(swarmcord::Choice)]
enum Drink {
    Beer,
    #[choice(name = "Still water", value = "water")]
    StillWater,
}

/// Orders drinks.
#[swarmcord::command(slash, prefix)]
async fn order(
    _ctx: &Context,
    #[arg(description = "what")] drink: Drink,
    #[arg(description = "how many", min = 1, max = 10)] count: Option<u32>,
) -> String {
    let drink = match drink {
        Drink::Beer => "beer",
        Drink::StillWater => "water",
    };
    format!("{} × {drink}", count.unwrap_or(1))
}

/// Suggests a drink.
#[swarmcord::command(slash)]
async fn suggest(_ctx: &Context) -> Reply {
    Reply::modal(Modal::new("suggestion", "Suggest a drink").paragraph("drink", "Which one?"))
}

#[allow(clippy::unused_async, reason = "the signature modal handlers have")]
async fn suggestion(ctx: ComponentContext) -> Result<Reply, CommandError> {
    let drink = ctx.field("drink").unwrap_or_default();
    Ok(Reply::ephemeral(format!("Noted: {drink}")))
}

/// Closes the tab, after a click.
#[swarmcord::command(prefix)]
async fn close(ctx: &Context) -> Result<Reply, CommandError> {
    let id = ctx.stash("close", &(), Duration::from_secs(60)).await?;
    Ok(Reply::text("Close the tab?").with_components([row([button(
        &id,
        "Close",
        ButtonStyle::Danger,
    )])]))
}

async fn closed(ctx: ComponentContext) -> Result<Reply, CommandError> {
    ctx.require_permissions(Permissions::MANAGE_GUILD).await?;
    ctx.state::<()>().await?;
    Ok(Reply::text("Closed.").update_message())
}

async fn cheers(ctx: EventContext, reaction: ReactionAdd) -> Result<(), EventError> {
    if matches!(&reaction.emoji, EmojiReactionType::Unicode { name } if name == "🍺") {
        let text = format!("Cheers <@{}>!", reaction.user_id);
        ctx.send(reaction.channel_id, &Reply::text(text), &ctx.event_id())
            .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_lines_forms_reactions_and_guarded_buttons() {
    // Reactions need GUILD_MESSAGE_REACTIONS, which the default intents leave out: the
    // variable reaches the test's gateway.
    let intents = "GUILDS,GUILD_MEMBERS,GUILD_MESSAGES,MESSAGE_CONTENT,GUILD_MESSAGE_REACTIONS";
    let bot = TestBot::start_with(&[("GATEWAY_INTENTS", intents)], |worker| {
        worker
            .command(order)
            .command(suggest)
            .modal("suggestion", suggestion)
            .command(close)
            .component("close", closed)
            .on::<ReactionAdd>(cheers)
    })
    .await;
    let member = bot.members()[0];
    let owner = bot.guild().owner_id;

    // Options typed by what the bot registered: a choice by its name, an integer.
    assert_eq!(
        bot.slash_line(member, "order drink=Still water count=3")
            .await,
        "3 × water"
    );
    assert_eq!(bot.slash_line(member, "order drink=beer").await, "1 × beer");

    let opened = bot.slash(member, "suggest", serde_json::json!([]));
    assert_eq!(bot.callback(&opened).await["type"], 9);
    let answer = bot.submit(member, "suggestion", &[("drink", "Mead")]).await;
    assert_eq!(answer["data"]["content"], "Noted: Mead");

    // The button refuses a member without Manage Server, privately, and leaves the state for
    // the owner's click.
    let (message, body) = bot.say_for_message(owner, "!close").await;
    let custom_id = body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a button")
        .to_owned();
    let refused = bot.click(member, message, &custom_id, &[]).await;
    let text = refused["data"]["content"].as_str().unwrap_or_default();
    assert!(text.contains("Manage Server"), "{refused}");
    assert_eq!(refused["data"]["flags"], 64, "{refused}");
    let done = bot.click(owner, message, &custom_id, &[]).await;
    assert_eq!(done["data"]["content"], "Closed.", "{done}");

    // A member's reaction, as Discord sends it, reaches the typed handler.
    let mark = bot.mark();
    bot.control()
        .react(member, message, "🍺")
        .expect("the message exists");
    let sent = bot
        .wait_for_message(mark, |m| m.content.starts_with("Cheers"))
        .await;
    assert_eq!(sent.content, format!("Cheers <@{member}>!"));
    bot.stop().await;
}

//! Application commands declared with `#[swarmcord::command]`, end to end through `TestBot`:
//! a subcommand group (slash and prefix), user and message context-menu commands with typed
//! targets, a missing bot permission refused by name, and the declaration fields in the
//! registration the simulator accepted.

use serde_json::json;
use swarmcord::model::channel::Message;
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::{ChannelMarker, UserMarker};
use swarmcord::model::user::User;
use swarmcord::{Context, Reply};
use swarmcord_sim::discord::control::{ContextMenuKind, ContextMenuSpec};
use swarmcord_testing::TestBot;

/// Shows the configuration.
#[swarmcord::command]
async fn show(_ctx: &Context) -> String {
    "all default".to_owned()
}

/// Sets the log channel.
#[swarmcord::command(bot_permissions = "BAN_MEMBERS | VIEW_CHANNEL")]
async fn set(_ctx: &Context, #[description = "where"] channel: Id<ChannelMarker>) -> String {
    format!("logging to <#{channel}>")
}

/// Turns logging off.
#[swarmcord::command]
async fn off(_ctx: &Context) -> String {
    "logging off".to_owned()
}

/// The log channel.
#[swarmcord::command(subcommands(set, off))]
async fn log(_ctx: &Context) -> String {
    "unreachable: a group needs a subcommand".to_owned()
}

/// Configures the bot.
#[swarmcord::command(
    subcommands(show, log),
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    localize(locale = "fr", name = "config", description = "Configure le bot")
)]
async fn config(_ctx: &Context) -> String {
    "Use `config show` or `config log set`.".to_owned()
}

/// Greets a user.
#[swarmcord::command(
    user_context = "Say hi",
    contexts(guild, bot_dm),
    integration_types(guild_install)
)]
async fn say_hi(_ctx: &Context, user: User) -> Reply {
    Reply::text(format!("Hi {}!", user.name))
}

/// Quotes a message.
#[swarmcord::command(message_context = "Quote")]
async fn quote(_ctx: &Context, message: Message) -> String {
    format!("> {}", message.content)
}

/// Who is it, by id.
#[swarmcord::command(user_context = "Id", nsfw)]
async fn id_of(_ctx: &Context, user: Id<UserMarker>) -> String {
    format!("{user}")
}

#[derive(swarmcord::Choice)]
enum Size {
    Small,
    #[choice(name = "Extra large (500 ml)", value = "xl")]
    ExtraLarge,
}

/// Orders a coffee.
#[swarmcord::command]
async fn coffee(_ctx: &Context, #[description = "how much"] size: Option<Size>) -> &'static str {
    match size {
        None => "The usual, then.",
        Some(Size::Small) => "A small one.",
        Some(Size::ExtraLarge) => "Half a litre.",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macro_declared_subcommands_context_menus_and_bot_permissions() {
    let bot = TestBot::start(|worker| {
        worker
            .command(config)
            .command(say_hi)
            .command(quote)
            .command(id_of)
            .command(coffee)
    })
    .await;
    let owner = bot.guild().owner_id;
    let member = bot.members()[0];
    let control = bot.control();

    let registered = bot.registered_commands();
    let by_name = |name: &str| {
        registered
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} registered"))
    };
    let config_json = by_name("config");
    assert_eq!(config_json["default_member_permissions"], "32");
    assert_eq!(config_json["contexts"], json!([0]));
    assert_eq!(config_json["name_localizations"], json!({"fr": "config"}));
    assert_eq!(config_json["options"][1]["type"], 2);
    assert_eq!(config_json["options"][1]["options"][0]["name"], "set");
    let hi = by_name("Say hi");
    assert_eq!(hi["type"], 2);
    assert_eq!(hi["contexts"], json!([0, 1]));
    assert_eq!(hi["integration_types"], json!([0]));
    assert_eq!(by_name("Quote")["type"], 3);
    assert_eq!(by_name("Id")["nsfw"], true);
    assert_eq!(
        by_name("coffee")["options"][0]["choices"],
        json!([{"name": "Small", "value": "small"}, {"name": "Extra large (500 ml)", "value": "xl"}])
    );

    // A choice: picked from Discord's menu (its value), or typed by value or name.
    let xl = bot.slash(
        owner,
        "coffee",
        json!([{"type": 3, "name": "size", "value": "xl"}]),
    );
    assert_eq!(bot.slash_answer(&xl).await, "Half a litre.");
    assert_eq!(bot.say(member, "!coffee SMALL").await, "A small one.");
    assert_eq!(
        bot.say(member, r#"!coffee "extra large (500 ml)""#).await,
        "Half a litre."
    );
    assert_eq!(bot.say(member, "!coffee").await, "The usual, then.");
    assert!(
        bot.say(member, "!coffee huge")
            .await
            .starts_with("`size` must be one of `small`, `xl`, got `huge`."),
    );

    // The group's subcommand, by slash and by prefix; the parent alone by prefix.
    let channel = bot.channel_id();
    let log_set = json!([{"type": 2, "name": "log", "options": [
        {"type": 1, "name": "set", "options": [
            {"type": 7, "name": "channel", "value": channel.to_string()}
        ]}
    ]}]);
    let set_log = bot.slash(owner, "config", log_set.clone());
    assert_eq!(
        bot.slash_answer(&set_log).await,
        format!("logging to <#{channel}>")
    );
    assert_eq!(bot.say(owner, "!config log off").await, "logging off");
    assert_eq!(bot.say(owner, "!config show").await, "all default");
    assert_eq!(
        bot.say(owner, "!config").await,
        "Use `config show` or `config log set`."
    );

    // Context menus get their typed targets.
    let menu = |name: &str, kind, target_id| {
        control
            .context_menu(&ContextMenuSpec {
                guild_id: Some(bot.guild_id()),
                channel_id: channel,
                user_id: member,
                name: name.to_owned(),
                kind,
                target_id,
            })
            .expect("the simulator accepts the context menu")
    };
    let hi = menu("Say hi", ContextMenuKind::User, owner);
    assert!(bot.slash_answer(&hi).await.starts_with("Hi owner-"));
    assert_eq!(
        bot.slash_answer(&menu("Id", ContextMenuKind::User, owner))
            .await,
        owner.to_string()
    );
    let (message, _) = bot.say_for_message(member, "!config show").await;
    let quoted = menu("Quote", ContextMenuKind::Message, message);
    assert_eq!(bot.slash_answer(&quoted).await, "> all default");

    // Without its Moderator role the bot lacks Ban Members: `log set` is refused by name.
    control
        .add_member(bot.guild_id(), bot.bot_id(), &[])
        .expect("the bot's roles change");
    let refused = bot.slash(owner, "config", log_set);
    let answer = bot.slash_answer(&refused).await;
    assert_eq!(
        answer,
        "I can't do that here: I need the Ban Members permission in this channel."
    );
    bot.stop().await;
}

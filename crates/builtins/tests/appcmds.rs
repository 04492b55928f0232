//! The built-ins' application commands end to end (simulator, gateway, worker, real
//! services): `/settings` subcommand groups (slash and prefix), the "User info" user
//! context menu (and switching it off), and `ban` refused while the bot lacks Ban Members — naming it.

use serde_json::json;
use swarmcord_builtins::Builtins;
use swarmcord_sim::discord::control::{ContextMenuKind, ContextMenuSpec};
use swarmcord_testing::TestBot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_groups_the_user_menu_and_missing_bot_permissions() {
    let bot = TestBot::start(|worker| worker.plugin(Builtins::all())).await;
    let owner = bot.guild().owner_id;
    let member = bot.members()[0];
    let control = bot.control();

    // The simulator validated the registration (nested options, a user command): accepted.
    let commands = bot.registered_commands();
    let settings = commands
        .iter()
        .find(|c| c["name"] == "settings")
        .expect("settings");
    let groups: Vec<(&str, u64)> = settings["options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap_or(""),
                o["type"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("show", 1),
            ("disable", 1),
            ("enable", 1),
            ("modlog", 2),
            ("locale", 2),
            ("prefix", 2),
            ("dj", 2)
        ]
    );
    let menu = commands
        .iter()
        .find(|c| c["name"] == "User info")
        .expect("the user command");
    assert_eq!(
        (menu["type"].clone(), menu["description"].clone()),
        (json!(2), json!(""))
    );

    // A subcommand group from the slash command: /settings modlog set #channel.
    let log_channel = bot.guild().text_channels[0];
    let set = bot.slash(
        owner,
        "settings",
        json!([{"type": 2, "name": "modlog", "options": [
            {"type": 1, "name": "set", "options": [
                {"type": 7, "name": "channel", "value": log_channel.to_string()}
            ]}
        ]}]),
    );
    let saved = bot.slash_answer(&set).await;
    assert!(
        saved.starts_with("Saved.")
            && saved.contains(&format!("Mod-log channel: <#{log_channel}>")),
        "{saved}"
    );
    // The same group from a prefix command, and the show subcommand.
    let prefix = bot.say(owner, "!settings prefix set ?").await;
    assert!(prefix.contains("Prefix: `?`"), "{prefix}");
    let shown = bot.say(owner, "?settings show").await;
    assert!(shown.contains("Mod-log channel: <#"), "{shown}");
    let off = bot.say(owner, "?settings modlog off").await;
    assert!(off.contains("Mod-log channel: off"), "{off}");
    let wrong = bot.say(owner, "?settings modlog maybe").await;
    assert!(wrong.contains("`?settings modlog set`"), "{wrong}");
    assert!(
        bot.say(owner, "?settings prefix reset")
            .await
            .contains("Prefix: `!`")
    );
    // Members without Manage Server are refused, subcommand or not.
    assert!(
        bot.say(member, "!settings locale set fr")
            .await
            .contains("Manage Server"),
        "permission checks cover subcommands"
    );

    // The "User info" user context menu on a member.
    let user_info = || {
        control
            .context_menu(&ContextMenuSpec {
                guild_id: Some(bot.guild_id()),
                channel_id: bot.channel_id(),
                user_id: member,
                name: "User info".to_owned(),
                kind: ContextMenuKind::User,
                target_id: owner,
            })
            .expect("the simulator accepts the context menu")
    };
    let used = user_info();
    let answer = bot.callback(&used).await;
    assert_eq!(answer["type"], 4, "{answer}");
    let fields = answer["data"]["embeds"][0]["fields"].to_string();
    assert!(fields.contains(&format!("<@{owner}>")), "{answer}");
    // A context menu's name has a space and capitals; a server can still switch it off.
    let off = bot.say(owner, r#"!settings disable "User info""#).await;
    assert!(off.contains("Disabled commands: `user info`"), "{off}");
    let refused = user_info();
    assert_eq!(
        bot.slash_answer(&refused).await,
        "The `User info` command is disabled on this server."
    );
    let on = bot.slash(
        owner,
        "settings",
        json!([{"type": 1, "name": "enable", "options": [
            {"type": 3, "name": "command", "value": "user INFO"}
        ]}]),
    );
    let on = bot.slash_answer(&on).await;
    assert!(on.contains("Disabled commands: none"), "{on}");

    // Without its Moderator role the bot lacks Ban Members: `ban` says so before asking.
    control
        .add_member(bot.guild_id(), bot.bot_id(), &[])
        .expect("the bot's roles change");
    let refused = swarmcord_testkit::eventually(swarmcord_testing::WAIT, || {
        let bot = &bot;
        async move {
            let answer = bot.say(owner, &format!("!ban <@{member}> spam")).await;
            answer.contains("Ban Members").then_some(answer)
        }
    })
    .await
    .expect("refused once the bot lost the permission");
    assert_eq!(
        refused,
        "I can't do that here: I need the Ban Members permission in this channel."
    );
    let slash = bot.slash(
        owner,
        "kick",
        json!([{"type": 6, "name": "user", "value": member.to_string()}]),
    );
    assert_eq!(
        bot.slash_answer(&slash).await,
        "I can't do that here: I need the Kick Members permission in this channel."
    );
    bot.stop().await;
}

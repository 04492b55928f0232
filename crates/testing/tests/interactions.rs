//! The SDK's interactions end to end through `TestBot` (simulator, gateway, worker, real
//! services): autocomplete answered in time, a modal opened by a slash command and submitted,
//! the help command's category menu.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;
use swarmcord::components::{channel_select, role_select, row, up_to, user_select};
use swarmcord::model::channel::ChannelType;
use swarmcord::model::id::marker::{ChannelMarker, RoleMarker, UserMarker};
use swarmcord::{CommandError, ComponentContext, Context, Modal, Reply};
use swarmcord_sim::discord::control::{InteractionSpec, ModalSubmitSpec};
use swarmcord_testing::TestBot;

/// Picks a fruit.
#[swarmcord::command(slash, category = "Fruit")]
async fn fruit(_ctx: &Context, #[arg(autocomplete = fruits)] name: String) -> String {
    format!("You picked {name}.")
}

#[allow(
    clippy::unused_async,
    reason = "the signature autocomplete handlers have"
)]
async fn fruits(_ctx: &Context, partial: String) -> Vec<String> {
    ["apple", "banana", "blueberry", "cherry"]
        .into_iter()
        .filter(|f| f.starts_with(&partial))
        .map(str::to_owned)
        .collect()
}

/// Sends feedback through a form.
#[swarmcord::command(slash, prefix)]
async fn feedback(_ctx: &Context) -> Reply {
    Reply::modal(Modal::new("feedback", "Feedback").paragraph("text", "Your idea"))
}

#[allow(clippy::unused_async, reason = "the signature modal handlers have")]
async fn got_feedback(ctx: ComponentContext) -> Result<Reply, CommandError> {
    let text = ctx.field("text").unwrap_or("nothing");
    Ok(Reply::ephemeral(format!("Thanks for: {text}")))
}

/// Picks people, roles and a text channel from Discord's own lists.
#[swarmcord::command(prefix, category = "Fruit")]
async fn team(_ctx: &Context) -> Reply {
    Reply::text("Who, which roles, where?").with_components([
        row([user_select("team-user", "Who?")]),
        row([up_to(2, role_select("team-roles", "Roles"))]),
        row([channel_select(
            "team-where",
            "Where?",
            [ChannelType::GuildText],
        )]),
    ])
}

#[allow(clippy::unused_async, reason = "the signature component handlers have")]
async fn picked(ctx: ComponentContext) -> Result<Reply, CommandError> {
    let text = match ctx.custom_id() {
        "team-user" => format!("user {}", ctx.selected::<UserMarker>()[0]),
        "team-roles" => {
            let roles = ctx.selected::<RoleMarker>();
            let roles: Vec<String> = roles.iter().map(|r| format!("<@&{r}>")).collect();
            format!("roles {}", roles.concat())
        }
        _ => format!("channel {}", ctx.selected::<ChannelMarker>()[0]),
    };
    Ok(Reply::ephemeral(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_modals_and_the_help_menu() {
    let bot = TestBot::start(|worker| {
        worker
            .command(fruit)
            .command(feedback)
            .modal("feedback", got_feedback)
            .command(team)
            .component("team-user", picked)
            .component("team-roles", picked)
            .component("team-where", picked)
    })
    .await;
    let user = bot.members()[0];

    // Autocomplete: the focused option's text in, suggestions out, within Discord's 3 s.
    let asked = Instant::now();
    let interaction = bot
        .control()
        .autocomplete(&InteractionSpec {
            guild_id: Some(bot.guild_id()),
            channel_id: bot.channel_id(),
            user_id: user,
            name: "fruit".to_owned(),
            options: json!([{"name": "name", "type": 3, "value": "b", "focused": true}]),
        })
        .expect("autocomplete accepted");
    let suggestions = bot.callback(&interaction).await;
    assert!(asked.elapsed().as_millis() < 3000, "{:?}", asked.elapsed());
    assert_eq!(suggestions["type"], 8, "{suggestions}");
    assert_eq!(
        suggestions["data"]["choices"],
        json!([{"name": "banana", "value": "banana"}, {"name": "blueberry", "value": "blueberry"}])
    );
    let picked = bot.slash(
        user,
        "fruit",
        json!([{"name": "name", "type": 3, "value": "banana"}]),
    );
    assert_eq!(bot.slash_answer(&picked).await, "You picked banana.");

    // A modal opened by a slash command, submitted, answered privately.
    let opened = bot.slash(user, "feedback", json!([]));
    let modal = bot.callback(&opened).await;
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(modal["data"]["title"], "Feedback");
    let submitted = bot
        .control()
        .submit_modal(&ModalSubmitSpec {
            user_id: user,
            custom_id: "feedback".to_owned(),
            values: BTreeMap::from([("text".to_owned(), "more dice".to_owned())]),
        })
        .expect("submission accepted");
    let thanks = bot.callback(&submitted).await;
    assert_eq!(thanks["type"], 4, "{thanks}");
    assert_eq!(thanks["data"]["content"], "Thanks for: more dice");
    assert_eq!(thanks["data"]["flags"], 64);
    // A prefix invocation cannot open a form, and says so.
    assert_eq!(
        bot.say(user, "!feedback").await,
        "This opens a form: use the slash command instead."
    );

    // The help lists every command and offers its categories in a menu.
    let (help, body) = bot.say_for_message(user, "!help").await;
    let menu = &body["components"][0]["components"][0];
    assert_eq!(menu["custom_id"], "help", "{body}");
    let categories: Vec<&str> = menu["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert_eq!(categories, ["Fruit", "General"]);
    let chosen = bot.click(user, help, "help", &["Fruit"]).await;
    assert_eq!(chosen["type"], 7, "{chosen}");
    let text = chosen["data"]["content"].as_str().expect("content");
    assert!(
        text.starts_with("**Fruit**") && text.contains("fruit"),
        "{text}"
    );
    assert!(
        !text.contains("feedback"),
        "only the chosen category: {text}"
    );

    // Discord's own lists: users, roles (up to 2), text channels; the handler gets typed ids.
    let (team, body) = bot.say_for_message(user, "!team").await;
    let kinds: Vec<_> = (0..3)
        .map(|i| body["components"][i]["components"][0]["type"].clone())
        .collect();
    assert_eq!(kinds, [json!(5), json!(6), json!(8)], "{body}");
    let owner = bot.guild().owner_id;
    let answer = bot
        .click(user, team, "team-user", &[&owner.to_string()])
        .await;
    assert_eq!(answer["data"]["content"], format!("user {owner}"));
    let (everyone, moderator) = (bot.guild().everyone_role, bot.guild().moderator_role);
    let answer = bot
        .click(
            user,
            team,
            "team-roles",
            &[&moderator.to_string(), &everyone.to_string()],
        )
        .await;
    assert_eq!(
        answer["data"]["content"],
        format!("roles <@&{moderator}><@&{everyone}>")
    );
    let answer = bot
        .click(user, team, "team-where", &[&bot.channel_id().to_string()])
        .await;
    assert_eq!(
        answer["data"]["content"],
        format!("channel {}", bot.channel_id())
    );
    // A voice channel is not in a text-channel menu: Discord (the simulator) refuses the pick.
    let voice = bot.guild().voice_channels[0];
    assert!(
        bot.control()
            .use_component(&swarmcord_sim::discord::control::ComponentSpec {
                message_id: team,
                user_id: user,
                custom_id: "team-where".to_owned(),
                values: vec![voice.to_string()],
            })
            .is_err()
    );
    bot.stop().await;
}

//! What replies carry, end to end through `TestBot` (simulator, gateway, worker, real
//! services): mentions only where the author allowed them, uploaded files, and the built-in
//! `setup` form (a button opens a modal with the server's settings; the submission is
//! validated and stored).

use std::collections::BTreeMap;

use serde_json::json;
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::UserMarker;
use swarmcord::{Context, Reply};
use swarmcord_builtins::Builtins;
use swarmcord_sim::discord::control::ModalSubmitSpec;
use swarmcord_testing::TestBot;

/// Greets a user: pings them (allowed), not `@everyone` (not allowed).
#[swarmcord::command(slash, prefix)]
async fn greet(_ctx: &Context, user: Id<UserMarker>) -> Reply {
    Reply::text(format!("@everyone, welcome <@{user}>!")).allow_user_mentions([user])
}

/// Echoes text without pinging anyone.
#[swarmcord::command(slash, prefix)]
async fn echo(_ctx: &Context, text: String) -> String {
    text
}

/// Sends a report as a file.
#[swarmcord::command(slash, prefix)]
async fn report(_ctx: &Context) -> Reply {
    Reply::text("Here is the report.").with_file("report.txt", "all good\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_only_where_allowed_and_files_on_every_path() {
    let bot = TestBot::start(|worker| worker.command(greet).command(echo).command(report)).await;
    let (user, friend) = (bot.members()[0], bot.members()[1]);

    // The default policy pings nobody, whatever the text says.
    let (_, body) = bot
        .say_for_message(user, &format!("!echo <@{friend}> @everyone"))
        .await;
    assert_eq!(body["allowed_mentions"], json!({"parse": []}), "{body}");
    // An explicit allowance lets exactly that user be pinged.
    let (_, body) = bot
        .say_for_message(user, &format!("!greet <@{friend}>"))
        .await;
    assert_eq!(
        body["allowed_mentions"],
        json!({"parse": [], "users": [friend.to_string()]}),
        "{body}"
    );
    let slash = bot.slash(
        user,
        "greet",
        json!([{"name": "user", "type": 6, "value": friend.to_string()}]),
    );
    let answer = bot.callback(&slash).await;
    assert_eq!(
        answer["data"]["allowed_mentions"],
        json!({"parse": [], "users": [friend.to_string()]}),
        "{answer}"
    );

    // Files: multipart with `payload_json` and `files[0]`, through a channel message…
    let (_, body) = bot.say_for_message(user, "!report").await;
    assert_eq!(body["content"], "Here is the report.");
    assert_eq!(body["attachments"][0]["filename"], "report.txt", "{body}");
    assert_eq!(body["__sim_files"][0]["field"], "files[0]", "{body}");
    assert_eq!(body["__sim_files"][0]["size"], 9);
    // …and through an interaction callback.
    let slash = bot.slash(user, "report", json!([]));
    let answer = bot.callback(&slash).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["attachments"][0]["filename"], "report.txt");
    assert_eq!(
        answer["__sim_files"][0]["filename"], "report.txt",
        "{answer}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_opens_a_form_validates_it_and_stores_the_settings() {
    let bot = TestBot::start(|worker| worker.plugin(Builtins::settings())).await;
    let owner = bot.guild().owner_id;
    let member = bot.members()[0];
    let channel = bot.channel_id();

    // The wizard's question offers the form.
    let (question, body) = bot.say_for_message(owner, "!setup").await;
    let button = &body["components"][0]["components"][0];
    assert_eq!(button["custom_id"], "setup-form", "{body}");

    // Someone without Manage Server cannot open it.
    let refused = bot.click(member, question, "setup-form", &[]).await;
    assert_eq!(refused["data"]["flags"], 64, "{refused}");

    // The form shows the current settings.
    let form = bot.click(owner, question, "setup-form", &[]).await;
    assert_eq!(form["type"], 9, "{form}");
    assert_eq!(form["data"]["custom_id"], "setup-save");
    assert_eq!(
        form["data"]["components"][0]["components"][0]["value"], "!",
        "{form}"
    );

    // A bad value: nothing is stored, the user is told why.
    let submit = |values: [(&str, &str); 3]| ModalSubmitSpec {
        user_id: owner,
        custom_id: "setup-save".to_owned(),
        values: values
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<BTreeMap<_, _>>(),
    };
    let bad = bot
        .control()
        .submit_modal(&submit([
            ("prefix", "?"),
            ("mod_log", "general"),
            ("locale", ""),
        ]))
        .expect("submission accepted");
    let bad = bot.callback(&bad).await;
    assert_eq!(bad["data"]["flags"], 64, "{bad}");
    let text = bad["data"]["content"].as_str().expect("content");
    assert!(text.ends_with("nothing was changed."), "{text}");
    // (The owner's typed wizard is still open: someone else asks.)
    assert_eq!(bot.say(member, "!prefix").await, "The prefix here is `!`.");

    // Valid values are stored together; the question becomes the answer.
    bot.click(owner, question, "setup-form", &[]).await;
    let channel_id = channel.to_string();
    let good = bot
        .control()
        .submit_modal(&submit([
            ("prefix", "?"),
            ("mod_log", &channel_id),
            ("locale", "fr"),
        ]))
        .expect("submission accepted");
    let good = bot.callback(&good).await;
    assert_eq!(good["type"], 7, "{good}");
    let text = good["data"]["content"].as_str().expect("content");
    assert!(text.starts_with("All set!\nPrefix: `?`"), "{text}");
    assert!(
        text.contains(&format!("<#{channel}>")) && text.contains("Locale: fr"),
        "{text}"
    );
    assert_eq!(
        good["data"]["components"],
        json!([]),
        "the button is gone: {good}"
    );
    // Saving closed the typed wizard: the owner's next message is a command again.
    assert_eq!(bot.say(owner, "?prefix").await, "The prefix here is `?`.");
    bot.stop().await;
}

//! The tavern bot end to end, one test per behaviour: the simulator, a gateway, RabbitMQ, Redis,
//! MongoDB (FerretDB) and the bot's own worker, through `swarmcord-testing`.

use swarmcord_testing::TestBot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_with_a_choice_as_prefix_and_slash() {
    let bot = TestBot::start(tavern_bot::bot).await;
    let member = bot.members()[0];
    let answer = bot.say(member, "!order beer 2 for the band").await;
    assert_eq!(
        answer,
        "2 × beer (for the band) coming up. The tab is at 2 drinks."
    );
    let answer = bot.say(bot.members()[1], "!order \"Still water\"").await;
    assert_eq!(answer, "1 × water coming up. The tab is at 3 drinks.");
    let refused = bot.say(bot.members()[1], "!order wine").await;
    assert!(
        refused.contains("beer") && refused.contains("water"),
        "{refused}"
    );

    assert_eq!(
        bot.slash_line(bot.members()[2], "order drink=Cider count=3")
            .await,
        "3 × cider coming up. The tab is at 6 drinks."
    );
    assert_eq!(bot.say(member, "!tab").await, "The tab is at 6 drinks.");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_has_a_cooldown() {
    let bot = TestBot::start(tavern_bot::bot).await;
    let member = bot.members()[0];
    bot.say(member, "!order beer").await;
    bot.say(member, "!order beer").await;
    let third = bot.say(member, "!order beer").await;
    assert!(third.contains("again"), "{third}");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_tab_needs_manage_server_and_a_click() {
    let bot = TestBot::start(tavern_bot::bot).await;
    let member = bot.members()[0];
    let owner = bot.guild().owner_id;
    bot.say(member, "!order cider 4").await;
    let refused = bot.say(member, "!closetab").await;
    assert!(refused.contains("Manage Server"), "{refused}");

    let (message, body) = bot.say_for_message(owner, "!closetab").await;
    let close = body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone else clicks: refused.
    let answer = bot.click(member, message, &close, &[]).await;
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Manage Server"),
        "{answer}"
    );
    let answer = bot.click(owner, message, &close, &[]).await;
    assert_eq!(answer["data"]["content"], "Tab closed.");
    assert_eq!(bot.say(member, "!tab").await, "The tab is empty.");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggest_opens_a_form() {
    let bot = TestBot::start(tavern_bot::bot).await;
    let member = bot.members()[0];
    let interaction = bot.slash(member, "suggest", serde_json::json!([]));
    let modal = bot.callback(&interaction).await;
    assert_eq!(modal["type"], 9, "{modal}");
    let answer = bot
        .submit(member, "suggestion", &[("drink", "Mead, it is old")])
        .await;
    assert_eq!(answer["data"]["content"], "Thanks, noted: Mead, it is old");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beer_reaction_gets_a_cheers() {
    let bot = TestBot::start_with(
        &[(
            "GATEWAY_INTENTS",
            "GUILDS,GUILD_MEMBERS,GUILD_MESSAGES,MESSAGE_CONTENT,GUILD_MESSAGE_REACTIONS",
        )],
        tavern_bot::bot,
    )
    .await;
    let member = bot.members()[0];
    let (message, _) = bot.say_for_message(member, "!order beer").await;
    let mark = bot.mark();
    bot.control().react(member, message, "🍺").unwrap();
    let sent = bot
        .wait_for_message(mark, |m| m.content.starts_with("Cheers"))
        .await;
    assert_eq!(sent.content, format!("Cheers <@{member}>!"));
    bot.stop().await;
}

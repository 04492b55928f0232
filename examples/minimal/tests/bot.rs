//! The minimal bot end to end: the simulator, a gateway, RabbitMQ, Redis, MongoDB (FerretDB)
//! and the bot's own worker, through `swarmcord-testing` — as a bot author tests their bot.

use serde_json::json;
use swarmcord_testing::TestBot;

/// `🎲 2d6: [3, 5] = **8**` → the rolls and the total.
fn rolls(answer: &str) -> (Vec<u32>, u32) {
    let Some((_, rest)) = answer.split_once('[') else {
        panic!("no rolls in {answer:?}");
    };
    let list = rest.split_once(']').map_or(rest, |(list, _)| list);
    let rolls = list
        .split(", ")
        .map(|n| n.parse().expect("a roll"))
        .collect();
    let total = answer
        .rsplit("**")
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no total in {answer:?}"));
    (rolls, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolls_dice_welcomes_members_and_counts_joins_in_its_own_collection() {
    let bot = TestBot::start(minimal_bot::bot).await;
    let member = bot.members()[0];

    // A prefix command with typed arguments: an optional one left out, then given.
    let answer = bot.say(member, "!roll 3").await;
    let (dice, total) = rolls(&answer);
    assert!(answer.starts_with("🎲 3d6: "), "{answer}");
    assert_eq!(dice.len(), 3, "{answer}");
    assert!(dice.iter().all(|d| (1..=6).contains(d)), "{answer}");
    assert_eq!(dice.iter().sum::<u32>(), total, "{answer}");
    let answer = bot.say(member, "!roll 2 1000").await;
    assert!(answer.starts_with("🎲 2d1000: "), "{answer}");
    // Out of bounds and missing arguments are explained by the framework; the command never
    // runs.
    let refused = bot.say(bot.members()[1], "!roll 99").await;
    assert!(
        refused.contains("count") && refused.contains("20"),
        "{refused}"
    );
    let missing = bot.say(bot.members()[2], "!roll").await;
    assert!(missing.contains("count"), "{missing}");

    // The same command as a slash command.
    let interaction = bot.slash(
        bot.members()[2],
        "roll",
        json!([{"name": "count", "type": 4, "value": 1}, {"name": "sides", "type": 4, "value": 20}]),
    );
    let answer = bot.slash_answer(&interaction).await;
    let (dice, _) = rolls(&answer);
    assert!(answer.starts_with("🎲 1d20: "), "{answer}");
    assert!((1..=20).contains(&dice[0]), "{answer}");

    // Setting the welcome channel needs Manage Server: a member without it is refused.
    let channel = bot.channel_id();
    let refused = bot.say(member, &format!("!welcome <#{channel}>")).await;
    assert!(
        refused.contains("Manage Server") || refused.contains("permission"),
        "{refused}"
    );
    let owner = bot.guild().owner_id;
    assert_eq!(
        bot.say(owner, &format!("!welcome <#{channel}>")).await,
        format!("New members will be welcomed in <#{channel}>.")
    );

    // GUILD_MEMBER_ADD reaches the typed handler without any configuration; the joins are
    // counted in the bot's own MongoDB collection.
    let control = bot.control();
    for (count, name) in [(1, "newcomer"), (2, "second")] {
        let mark = bot.mark();
        let user = control.create_user(name);
        control
            .add_member(bot.guild_id(), user, &[])
            .expect("member added");
        let sent = bot
            .wait_for_message(mark, |sent| sent.content.contains(&format!("<@{user}>")))
            .await;
        assert_eq!(sent.channel_id, channel);
        assert_eq!(
            sent.content,
            format!("Welcome <@{user}>! You are member #{count} to join since I arrived.")
        );
    }
    bot.stop().await;
}

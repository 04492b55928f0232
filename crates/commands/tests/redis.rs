//! Cooldowns, prompts and the dispatcher against a real Redis, with several instances standing
//! for several worker replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use swarmcord_commands::cooldown::CooldownError;
use swarmcord_commands::dispatch::INTERNAL_ERROR_MESSAGE;
use swarmcord_commands::precondition::BoxFuture;
use swarmcord_commands::prompt::now_ms;
use swarmcord_commands::{
    ArgSpec, Args, Command, CommandError, CommandSpec, CooldownScope, Cooldowns, Dispatcher,
    InvocationContext, PromptAnswer, PromptState, Prompts, Reply, RetryAfter,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

async fn conn() -> ConnectionManager {
    let client = redis::Client::open(swarmcord_testkit::redis_url()).expect("test setup");
    client.get_connection_manager().await.expect("test setup")
}

fn retry(result: Result<(), CooldownError>) -> Option<Duration> {
    match result {
        Ok(()) => None,
        Err(CooldownError::RetryAfter(RetryAfter(wait))) => Some(wait),
        Err(error) => panic!("redis: {error}"),
    }
}

#[tokio::test]
async fn cooldowns_are_shared_by_replicas_and_the_window_slides() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let a = Cooldowns::new(conn().await, prefix.clone());
    let b = Cooldowns::new(conn().await, prefix.clone());
    let per = Duration::from_millis(1_500);

    assert_eq!(retry(a.hit("ping", "u:1", 2, per).await), None);
    assert_eq!(retry(b.hit("ping", "u:1", 2, per).await), None);
    let wait = retry(a.hit("ping", "u:1", 2, per).await).expect("limit reached across replicas");
    assert!(wait > Duration::ZERO && wait <= per, "{wait:?}");
    let wait_b = retry(b.hit("ping", "u:1", 2, per).await).expect("still limited");
    assert!(wait_b <= wait, "denied attempts do not extend the wait");

    // Other buckets and other commands are independent.
    assert_eq!(retry(b.hit("ping", "u:2", 2, per).await), None);
    assert_eq!(retry(b.hit("pong", "u:1", 2, per).await), None);

    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(
        retry(b.hit("ping", "u:1", 2, per).await),
        None,
        "window slid"
    );

    a.reset("ping", "u:1").await.unwrap();
    assert_eq!(retry(a.hit("ping", "u:1", 2, per).await), None);
    assert_eq!(retry(a.hit("ping", "u:1", 2, per).await), None);
    assert!(retry(a.hit("ping", "u:1", 2, per).await).is_some());
}

#[tokio::test]
async fn concurrent_hits_never_exceed_the_limit() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let replicas: Vec<Cooldowns> = vec![
        Cooldowns::new(conn().await, prefix.clone()),
        Cooldowns::new(conn().await, prefix.clone()),
        Cooldowns::new(conn().await, prefix.clone()),
    ];
    let admitted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..60 {
        let cooldowns = replicas[i % 3].clone();
        let admitted = admitted.clone();
        tasks.push(tokio::spawn(async move {
            if cooldowns
                .hit("spam", "g:1", 5, Duration::from_secs(30))
                .await
                .is_ok()
            {
                admitted.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(admitted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_prompt_started_on_one_replica_is_answered_on_another_exactly_once() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let replica_a = Prompts::new(conn().await, prefix.clone());
    let replica_b = Prompts::new(conn().await, prefix.clone());
    let replica_c = Prompts::new(conn().await, prefix.clone());
    let (channel, user) = (Id::new(10), Id::new(20));

    let state = PromptState::new("ban", "Really ban <@5>? (yes/no)")
        .with_step(1)
        .with_data(serde_json::json!({ "target": 5 }));
    let stored = replica_a
        .start(channel, user, state, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(stored.expires_at > now_ms());
    drop(replica_a); // the first worker dies

    assert_eq!(
        replica_b.pending(channel, user).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        replica_b.pending(channel, Id::new(21)).await.unwrap(),
        None,
        "other user"
    );

    // The same answer delivered to two replicas at once: exactly one continues.
    let (b, c) = tokio::join!(
        replica_b.answer(channel, user, " yes "),
        replica_c.answer(channel, user, " yes ")
    );
    let outcomes = [b.unwrap(), c.unwrap()];
    let continued: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            PromptAnswer::Continue { state, answer } => Some((state.clone(), answer.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(continued, [(stored, "yes".to_owned())]);
    assert!(outcomes.contains(&PromptAnswer::NoPrompt));
    assert_eq!(
        replica_b.answer(channel, user, "yes").await.unwrap(),
        PromptAnswer::NoPrompt
    );
    assert_eq!(replica_b.pending(channel, user).await.unwrap(), None);
}

#[tokio::test]
async fn cancel_words_close_the_prompt() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let prompts = Prompts::new(conn().await, prefix.clone()).with_cancel_words(&["cancel", "Stop"]);
    let (channel, user) = (Id::new(10), Id::new(20));
    for word in ["cancel", "  CANCEL ", "stop"] {
        prompts
            .start(
                channel,
                user,
                PromptState::new("setup", "Name?"),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        let PromptAnswer::Cancelled(state) = prompts.answer(channel, user, word).await.unwrap()
        else {
            panic!("{word} should cancel")
        };
        assert_eq!(state.command, "setup");
        assert_eq!(prompts.pending(channel, user).await.unwrap(), None);
    }
    // A word containing the cancel word is an answer.
    prompts
        .start(
            channel,
            user,
            PromptState::new("setup", "Name?"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(matches!(
        prompts
            .answer(channel, user, "cancel culture")
            .await
            .unwrap(),
        PromptAnswer::Continue { .. }
    ));
}

#[tokio::test]
async fn a_timeout_is_claimed_exactly_once_and_expired_prompts_are_not_answerable() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let a = Prompts::new(conn().await, prefix.clone());
    let b = Prompts::new(conn().await, prefix.clone());
    let channel = Id::new(10);
    for user in 1..=20 {
        a.start(
            channel,
            Id::new(user),
            PromptState::new("wizard", format!("q{user}")),
            Duration::from_millis(800),
        )
        .await
        .unwrap();
    }
    // A newer prompt replaces user 1's and is not due.
    a.start(
        channel,
        Id::new(1),
        PromptState::new("wizard", "again"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(
        a.due_timeouts(now_ms(), 100).await.unwrap().is_empty(),
        "nothing due yet"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;

    assert_eq!(
        a.pending(channel, Id::new(2)).await.unwrap(),
        None,
        "expired is absent"
    );
    assert_eq!(
        b.answer(channel, Id::new(2), "late").await.unwrap(),
        PromptAnswer::NoPrompt
    );

    // Two sweepers race, in small batches.
    let sweep = |prompts: Prompts| async move {
        let mut claimed = Vec::new();
        loop {
            let batch = prompts.due_timeouts(now_ms(), 3).await.unwrap();
            if batch.is_empty() {
                return claimed;
            }
            claimed.extend(batch);
        }
    };
    let (from_a, from_b) = tokio::join!(sweep(a.clone()), sweep(b.clone()));
    let mut users: Vec<u64> = from_a
        .iter()
        .chain(&from_b)
        .map(|e| e.user_id.get())
        .collect();
    users.sort_unstable();
    assert_eq!(
        users,
        (2..=20).collect::<Vec<_>>(),
        "each timeout claimed exactly once"
    );
    let two = from_a
        .iter()
        .chain(&from_b)
        .find(|e| e.user_id == Id::new(2))
        .unwrap();
    assert_eq!(
        (two.channel_id, two.state.question.as_str()),
        (channel, "q2")
    );

    // User 1's newer prompt is still live.
    assert_eq!(
        a.pending(channel, Id::new(1))
            .await
            .unwrap()
            .unwrap()
            .question,
        "again"
    );
}

/// A ban command that confirms before acting, then asks for a reason (two steps).
struct Ban {
    banned: Arc<AtomicUsize>,
}

impl Command for Ban {
    fn run<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let user = args
                .user("user")
                .ok_or_else(|| CommandError::user("no user"))?;
            let days = args.integer("days").unwrap_or(0);
            Ok(Reply::ask(
                PromptState::new("ban", format!("Really ban <@{user}>? (yes/no)"))
                    .with_data(serde_json::json!({ "user": user.get(), "days": days })),
            ))
        })
    }

    fn on_answer<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        state: PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            match (state.step, answer.to_lowercase().as_str()) {
                (0, "yes") => Ok(Reply::ask(state.next(1, state.data.clone(), "Reason?"))),
                (0, "no") => Ok(Reply::text("Not banned.")),
                (0, _) => Ok(Reply::ask(state.clone())),
                (1, "boom") => Err(CommandError::internal("discord said 500")),
                (_, reason) => {
                    self.banned.fetch_add(1, Ordering::SeqCst);
                    Ok(Reply::text(format!(
                        "Banned <@{}>: {reason}",
                        state.data["user"]
                    )))
                }
            }
        })
    }
}

fn ctx(user: u64, perms: Permissions) -> InvocationContext {
    InvocationContext {
        user_id: Id::new(user),
        guild_id: Some(Id::new(1)),
        channel_id: Id::new(2),
        is_owner: false,
        member_permissions: Some(perms),
        bot_permissions: None,
        disabled_commands: Vec::new(),
        source: None,
    }
}

async fn dispatcher(prefix: &str, banned: Arc<AtomicUsize>) -> Dispatcher {
    let mut dispatcher = Dispatcher::new(
        Cooldowns::new(conn().await, prefix.to_owned()),
        Prompts::new(conn().await, prefix.to_owned()),
    )
    .with_prompt_timeout(Duration::from_secs(1));
    let spec = CommandSpec::builder("ban")
        .description("Bans a member")
        .category("Moderation")
        .arg(ArgSpec::user("user"))
        .arg(ArgSpec::integer_in("days", 0, 7).default(0))
        .arg(ArgSpec::rest("reason").optional())
        .permissions(Permissions::BAN_MEMBERS)
        .guild_only()
        .cooldown(CooldownScope::User, 2, Duration::from_secs(30))
        .build()
        .expect("test setup");
    dispatcher
        .register(spec, Ban { banned })
        .expect("test setup");
    dispatcher
}

#[tokio::test]
async fn the_dispatcher_runs_the_pipeline_across_replicas() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let banned = Arc::new(AtomicUsize::new(0));
    let a = dispatcher(&prefix, banned.clone()).await;
    let b = dispatcher(&prefix, banned.clone()).await;
    let bot = Id::new(99);
    let mod_ctx = ctx(7, Permissions::BAN_MEMBERS);

    assert_eq!(a.handle_message(&mod_ctx, "hello", &["!"], bot).await, None);
    assert_eq!(
        a.handle_message(&mod_ctx, "!unknown", &["!"], bot).await,
        None
    );

    let denied = a
        .handle_message(&ctx(8, Permissions::empty()), "!ban <@5>", &["!"], bot)
        .await
        .unwrap();
    assert!(
        denied.ephemeral && denied.content.contains("Ban Members"),
        "{denied:?}"
    );

    let bad = a
        .handle_message(&mod_ctx, "!ban <@5> abc", &["!"], bot)
        .await
        .unwrap();
    assert_eq!(
        bad.content,
        "`days` must be a whole number between 0 and 7, got `abc`. Usage: `!ban <user> [days] [reason…]`"
    );

    // Step 0 on replica A, step 1 on replica B, done on replica A.
    let ask = a
        .handle_message(&mod_ctx, "<@99> ban <@5> 1", &["!"], bot)
        .await
        .unwrap();
    assert_eq!(ask.content, "Really ban <@5>? (yes/no)");
    assert!(ask.prompt.is_some());
    let unclear = b
        .handle_message(&mod_ctx, "maybe", &["!"], bot)
        .await
        .unwrap();
    assert_eq!(unclear.content, "Really ban <@5>? (yes/no)", "asked again");
    let reason = b
        .handle_message(&mod_ctx, "YES", &["!"], bot)
        .await
        .unwrap();
    assert_eq!(reason.content, "Reason?");
    // Another user's message in the channel is not an answer.
    assert_eq!(
        b.handle_message(&ctx(8, Permissions::empty()), "spam", &["!"], bot)
            .await,
        None
    );
    let done = a
        .handle_message(&mod_ctx, "spamming", &["!"], bot)
        .await
        .unwrap();
    assert_eq!(done.content, "Banned <@5>: spamming");
    assert_eq!(banned.load(Ordering::SeqCst), 1);

    // Second use is allowed, the third is rate-limited (counted across replicas).
    let second = b
        .handle_message(&mod_ctx, "!ban 5", &["!"], bot)
        .await
        .unwrap();
    assert!(second.prompt.is_some());
    assert_eq!(
        a.handle_message(&mod_ctx, "cancel", &["!"], bot)
            .await
            .unwrap()
            .content,
        "Cancelled."
    );
    let limited = a
        .handle_message(&mod_ctx, "!ban 5", &["!"], bot)
        .await
        .unwrap();
    assert!(
        limited
            .content
            .starts_with("Slow down! You can use `ban` again in "),
        "{limited:?}"
    );
    assert!(limited.ephemeral);

    // Internal errors are logged, not shown.
    let owner = InvocationContext {
        is_owner: true,
        ..ctx(9, Permissions::empty())
    };
    a.handle_message(&owner, "!ban 5", &["!"], bot)
        .await
        .unwrap();
    b.handle_message(&owner, "yes", &["!"], bot).await.unwrap();
    let failed = a.handle_message(&owner, "boom", &["!"], bot).await.unwrap();
    assert_eq!(failed.content, INTERNAL_ERROR_MESSAGE);

    // Timeouts: exactly one replica sends the message.
    a.handle_message(&owner, "!ban 5", &["!"], bot)
        .await
        .unwrap();
    let started = Instant::now();
    let mut sent = Vec::new();
    while started.elapsed() < Duration::from_secs(5) && sent.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (x, y) = tokio::join!(a.sweep_timeouts(10), b.sweep_timeouts(10));
        sent.extend(x);
        sent.extend(y);
    }
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.user_id, Id::new(9));
    assert!(
        sent[0]
            .1
            .content
            .starts_with("Timed out waiting for your answer to: Really ban <@5>?")
    );
    assert!(a.sweep_timeouts(10).await.is_empty());
    assert_eq!(
        b.handle_message(&owner, "yes", &["!"], bot).await,
        None,
        "timed out prompt is gone"
    );

    // Generated help, built in.
    let help = a
        .handle_message(&mod_ctx, "!help", &["!"], bot)
        .await
        .unwrap();
    assert!(
        help.content
            .contains("**Moderation**\n`!ban <user> [days] [reason…]` — Bans a member"),
        "{}",
        help.content
    );
    let help = a
        .handle_message(&mod_ctx, "!help ban", &["!"], bot)
        .await
        .unwrap();
    assert!(
        help.content
            .contains("**Cooldown:** 2 use(s) every 30s, per user"),
        "{}",
        help.content
    );
    let help = a
        .handle_message(&mod_ctx, "!help nope", &["!"], bot)
        .await
        .unwrap();
    assert_eq!(help.content, "There is no command called `nope`.");
    assert_eq!(a.registry().to_application_commands().len(), 2);
}

#[tokio::test]
async fn disabled_commands_are_refused_and_help_never_is() {
    let prefix = swarmcord_testkit::unique_name("disabled");
    let a = dispatcher(&prefix, Arc::new(AtomicUsize::new(0))).await;
    let bot = Id::new(99);
    // A command the guild switched off is refused (before anything runs); help never is.
    let off = InvocationContext {
        disabled_commands: vec!["ban".to_owned(), "help".to_owned()],
        ..ctx(12, Permissions::BAN_MEMBERS)
    };
    let refused = a.handle_message(&off, "!ban 5", &["!"], bot).await.unwrap();
    assert_eq!(
        refused.content,
        "The `ban` command is disabled on this server."
    );
    assert!(refused.prompt.is_none());
    let help = a.handle_message(&off, "!help", &["!"], bot).await.unwrap();
    assert!(help.content.contains("ban"), "{help:?}");
    let spec = a.command_for_message("!ban 5", &["!"], bot).expect("ban");
    assert!(spec.needs_member_permissions());
    assert!(a.command_for_message("ban 5", &["!"], bot).is_none());
    assert!(
        !a.command_for_message("!help", &["!"], bot)
            .expect("help")
            .needs_member_permissions()
    );
}

/// 200 × `!help` from one user on two replicas: help has a cooldown by
/// default, "slow down" is said once per wait, and the per-user limit over all commands holds.
#[tokio::test]
async fn refusals_are_said_once_per_wait_and_every_command_has_a_cooldown() {
    let prefix = swarmcord_testkit::unique_name("cmdtest");
    let banned = Arc::new(AtomicUsize::new(0));
    let a = dispatcher(&prefix, banned.clone()).await;
    let b = dispatcher(&prefix, banned.clone()).await;
    let bot = Id::new(99);
    let user = ctx(7, Permissions::BAN_MEMBERS);
    let mut answers = Vec::new();
    for i in 0..200 {
        let replica = if i % 2 == 0 { &a } else { &b };
        answers.push(replica.handle_message(&user, "!help", &["!"], bot).await);
    }
    let helped = answers
        .iter()
        .flatten()
        .filter(|r| !r.content.starts_with("Slow down"))
        .count();
    let refusals: Vec<&str> = answers
        .iter()
        .flatten()
        .map(|r| r.content.as_str())
        .filter(|c| c.starts_with("Slow down"))
        .collect();
    assert_eq!(
        helped,
        swarmcord_commands::dispatch::DEFAULT_COOLDOWN.limit as usize,
        "help has the default cooldown"
    );
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].starts_with("Slow down! You can use `help` again in "),
        "{refusals:?}"
    );
    assert_eq!(answers.iter().flatten().count(), helped + 1);

    // The limit over all commands: 3 per 10 s (another user), below help's cooldown of 5.
    let c = dispatcher(&prefix, banned.clone()).await.with_user_limit(3);
    let other = ctx(17, Permissions::BAN_MEMBERS);
    let mut answered = Vec::new();
    for _ in 0..20 {
        answered.push(c.handle_message(&other, "!help", &["!"], bot).await);
    }
    let answered: Vec<&str> = answered
        .iter()
        .flatten()
        .map(|r| r.content.as_str())
        .collect();
    assert_eq!(
        answered.len(),
        4,
        "three helps and one refusal: {answered:?}"
    );
    assert!(
        answered[3].starts_with("Slow down! You are sending commands too fast; try again in "),
        "{answered:?}"
    );

    // A slash command always gets an answer (an interaction must be answered).
    let data: twilight_model::application::interaction::application_command::CommandData =
        serde_json::from_value(serde_json::json!({
            "id": "1", "name": "help", "type": 1, "options": []
        }))
        .expect("command data");
    let slashed = a.handle_interaction(&user, &data).await.expect("an answer");
    assert!(slashed.content.starts_with("Slow down"), "{slashed:?}");
    assert!(slashed.ephemeral);

    // Owners are exempt.
    let owner = InvocationContext {
        is_owner: true,
        ..ctx(7, Permissions::empty())
    };
    let helped = a
        .handle_message(&owner, "!help", &["!"], bot)
        .await
        .expect("help");
    assert!(!helped.content.starts_with("Slow down"), "{helped:?}");
}

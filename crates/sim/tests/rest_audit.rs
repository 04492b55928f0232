//! REST routes a typical bot uses beyond the basics —
//! bulk delete, reactions, roles, member edits, threads and the `X-Audit-Log-Reason` limit — checked
//! against Discord's documented statuses, bodies and error codes with raw HTTP requests.

use serde_json::{Value, json};
use swarmcord_sim::discord::control::{CreatedGuild, GuildSpec, MessageSpec, VoiceSpec};
use swarmcord_sim::discord::world::DEFAULT_EVERYONE_PERMISSIONS;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;

const MANAGE_MESSAGES: u64 = 1 << 13;
const MANAGE_ROLES: u64 = 1 << 28;
const MANAGE_NICKNAMES: u64 = 1 << 27;
const MODERATE_MEMBERS: u64 = 1 << 40;
const MUTE_MEMBERS: u64 = 1 << 22;
const MOVE_MEMBERS: u64 = 1 << 24;
const MANAGE_THREADS: u64 = 1 << 34;
const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
const SEND_MESSAGES: u64 = 1 << 11;

async fn sim() -> DiscordSim {
    DiscordSim::start(DiscordConfig::default())
        .await
        .expect("simulator starts")
}

/// A guild whose `@everyone` has the default permissions plus `extra` (the bot's highest role,
/// "Moderator", sits at position 1 above plain members).
fn guild(sim: &DiscordSim, extra: u64) -> CreatedGuild {
    guild_with_everyone(sim, DEFAULT_EVERYONE_PERMISSIONS | extra)
}

/// [`guild`] with exactly `everyone` for `@everyone`.
fn guild_with_everyone(sim: &DiscordSim, everyone: u64) -> CreatedGuild {
    sim.control().create_guild(&GuildSpec {
        name: "audit".to_owned(),
        members: 2,
        text_channels: 1,
        voice_channels: 1,
        everyone_permissions: Some(everyone),
        announce: false,
        ..GuildSpec::default()
    })
}

/// One REST call: status and JSON body (`null` when empty).
async fn call(
    sim: &DiscordSim,
    method: &str,
    path: &str,
    body: Option<Value>,
    reason: Option<&str>,
) -> (u16, Value) {
    let auth = format!("Bot {}", sim.token());
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    if let Some(reason) = reason {
        headers.push(("X-Audit-Log-Reason", reason));
    }
    let body = body.map(|b| b.to_string());
    let answer = http::request(
        &sim.addr().to_string(),
        method,
        &format!("/api/v10{path}"),
        &headers,
        body.as_deref().map(str::as_bytes),
    )
    .await
    .expect("request");
    let text = answer.text();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    (answer.status, json)
}

fn post(sim: &DiscordSim, channel_id: u64, author_id: u64) -> u64 {
    sim.control()
        .post_message(&MessageSpec {
            channel_id,
            author_id,
            content: "hello".to_owned(),
        })
        .expect("posted")
}

#[tokio::test]
async fn bulk_delete_follows_discords_rules() {
    let sim = sim().await;
    let g = guild(&sim, MANAGE_MESSAGES);
    let channel = g.text_channels[0];
    let path = format!("/channels/{channel}/messages/bulk-delete");
    let ids: Vec<u64> = (0..3).map(|_| post(&sim, channel, g.members[0])).collect();

    let (status, body) = call(
        &sim,
        "POST",
        &path,
        Some(json!({"messages": [ids[0].to_string()]})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)));
    assert_eq!(
        body["errors"]["messages"]["_errors"][0]["code"],
        "BASE_TYPE_MIN_LENGTH"
    );

    // One message older than two weeks: 50034, nothing deleted.
    sim.shared()
        .world()
        .messages
        .get_mut(&ids[2])
        .expect("stored")
        .timestamp_ms -= 15 * 24 * 3600 * 1000;
    let all: Vec<String> = ids.iter().map(u64::to_string).collect();
    let (status, body) = call(&sim, "POST", &path, Some(json!({"messages": all})), None).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50034)));
    assert!(sim.shared().world().messages.contains_key(&ids[0]));

    // Unknown ids are skipped; the young ones go, with a 204.
    let (status, body) = call(
        &sim,
        "POST",
        &path,
        Some(json!({"messages": [ids[0].to_string(), ids[1], "1"]})),
        None,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let left = |id: &u64| sim.shared().world().messages.contains_key(id);
    assert!(!left(&ids[0]) && !left(&ids[1]));

    // Without MANAGE_MESSAGES: 50013, even for the bot's own messages.
    let plain = guild(&sim, 0);
    let (status, body) = call(
        &sim,
        "POST",
        &format!("/channels/{}/messages/bulk-delete", plain.text_channels[0]),
        Some(json!({"messages": ["1", "2"]})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
}

#[tokio::test]
async fn reactions_add_list_and_remove() {
    let sim = sim().await;
    let g = guild(&sim, 0);
    let channel = g.text_channels[0];
    let message = post(&sim, channel, g.members[0]);
    let base = format!("/channels/{channel}/messages/{message}/reactions");
    let thumbs = "%F0%9F%91%8D";

    let (status, _) = call(&sim, "PUT", &format!("{base}/{thumbs}/@me"), None, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&sim, "PUT", &format!("{base}/{thumbs}/@me"), None, None).await;
    assert_eq!(status, 204, "reacting twice is a no-op");
    // Another user's reaction on the same emoji.
    sim.shared()
        .world()
        .reactions
        .get_mut(&message)
        .expect("reacted")[0]
        .users
        .push(g.members[1]);

    let (_, msg) = call(
        &sim,
        "GET",
        &format!("/channels/{channel}/messages/{message}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        msg["reactions"][0],
        json!({"count": 2, "count_details": {"burst": 0, "normal": 2}, "me": true,
               "me_burst": false, "burst_colors": [], "emoji": {"id": null, "name": "👍"}})
    );
    let (status, users) = call(&sim, "GET", &format!("{base}/{thumbs}?limit=1"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().map(Vec::len), Some(1));

    let (status, body) = call(&sim, "PUT", &format!("{base}/abc/@me"), None, None).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(10014)));
    let (status, body) = call(
        &sim,
        "PUT",
        &format!("/channels/{channel}/messages/1/reactions/{thumbs}/@me"),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10008)));
    // Someone else's reaction, and all of them, need MANAGE_MESSAGES.
    let (status, body) = call(
        &sim,
        "DELETE",
        &format!("{base}/{thumbs}/{}", g.members[1]),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
    let (status, body) = call(&sim, "DELETE", &base, None, None).await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));

    let (status, _) = call(&sim, "DELETE", &format!("{base}/{thumbs}/@me"), None, None).await;
    assert_eq!(status, 204);
    let (_, msg) = call(
        &sim,
        "GET",
        &format!("/channels/{channel}/messages/{message}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (
            msg["reactions"][0]["count"].as_u64(),
            &msg["reactions"][0]["me"]
        ),
        (Some(1), &json!(false))
    );
}

#[tokio::test]
async fn roles_are_created_edited_assigned_and_deleted_below_the_bot() {
    let sim = sim().await;
    let g = guild(&sim, MANAGE_ROLES);
    let target = g.members[0];

    let (status, role) = call(
        &sim,
        "POST",
        &format!("/guilds/{}/roles", g.id),
        Some(json!({"name": "DJ", "color": 255})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (role["name"].as_str(), role["position"].as_i64()),
        (Some("DJ"), Some(1))
    );
    let role_id: u64 = role["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (status, body) = call(
        &sim,
        "POST",
        &format!("/guilds/{}/roles", g.id),
        Some(json!({"permissions": "8"})),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(50013)),
        "cannot grant what it lacks"
    );

    let member_role = format!("/guilds/{}/members/{target}/roles/{role_id}", g.id);
    let (status, _) = call(&sim, "PUT", &member_role, None, None).await;
    assert_eq!(status, 204);
    assert!(
        sim.shared().world().guilds[&g.id].members[&target]
            .roles
            .contains(&role_id)
    );
    let (status, body) = call(
        &sim,
        "PUT",
        &format!("/guilds/{}/members/{target}/roles/1", g.id),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10011)));
    let (status, body) = call(
        &sim,
        "PUT",
        &format!("/guilds/{}/members/1/roles/{role_id}", g.id),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10007)));
    // A role above the bot's highest one is out of reach.
    let top = sim.control().create_role(g.id, "Admin", 0).expect("role");
    let (status, body) = call(
        &sim,
        "PUT",
        &format!("/guilds/{}/members/{target}/roles/{top}", g.id),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));

    let (status, role) = call(
        &sim,
        "PATCH",
        &format!("/guilds/{}/roles/{role_id}", g.id),
        Some(json!({"name": "Music"})),
        None,
    )
    .await;
    assert_eq!((status, role["name"].as_str()), (200, Some("Music")));
    let (status, body) = call(
        &sim,
        "DELETE",
        &format!("/guilds/{}/roles/{}", g.id, g.id),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50028)));
    let (status, _) = call(&sim, "DELETE", &member_role, None, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &sim,
        "DELETE",
        &format!("/guilds/{}/roles/{role_id}", g.id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        !sim.shared().world().guilds[&g.id]
            .roles
            .iter()
            .any(|r| r.id == role_id)
    );

    let plain = guild(&sim, 0);
    let (status, body) = call(
        &sim,
        "POST",
        &format!("/guilds/{}/roles", plain.id),
        Some(json!({})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
}

#[tokio::test]
async fn member_edits_check_each_permission() {
    let sim = sim().await;
    let g = guild(
        &sim,
        MANAGE_NICKNAMES | MODERATE_MEMBERS | MUTE_MEMBERS | MOVE_MEMBERS,
    );
    let target = g.members[0];
    let path = format!("/guilds/{}/members/{target}", g.id);

    let until = "2099-01-01T00:00:00.000000+00:00";
    let (status, body) = call(
        &sim,
        "PATCH",
        &path,
        Some(json!({"communication_disabled_until": until})),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(50035)),
        "more than 28 days"
    );
    assert!(body["errors"]["communication_disabled_until"]["_errors"].is_array());

    let soon = swarmcord_sim::util::iso_from_unix_ms(swarmcord_sim::util::unix_ms() + 60_000);
    let (status, member) = call(
        &sim,
        "PATCH",
        &path,
        Some(json!({"nick": "quiet", "communication_disabled_until": soon})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(member["nick"], "quiet");
    assert_eq!(member["communication_disabled_until"], json!(soon));
    assert_eq!(member["user"]["id"], target.to_string());

    let (status, body) = call(
        &sim,
        "PATCH",
        &format!("/guilds/{}/members/{}", g.id, g.owner_id),
        Some(json!({"communication_disabled_until": soon})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)), "owner");
    let (status, body) = call(&sim, "PATCH", &path, Some(json!({"roles": []})), None).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (403, Some(50013)),
        "no MANAGE_ROLES"
    );

    let (status, body) = call(&sim, "PATCH", &path, Some(json!({"mute": true})), None).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(40032)),
        "not in voice"
    );
    sim.control()
        .set_voice(&VoiceSpec {
            guild_id: g.id,
            user_id: target,
            channel_id: Some(g.voice_channels[0]),
        })
        .expect("joins voice");
    let (status, member) = call(&sim, "PATCH", &path, Some(json!({"mute": true})), None).await;
    assert_eq!((status, &member["mute"]), (200, &json!(true)));
    let (status, _) = call(
        &sim,
        "PATCH",
        &path,
        Some(json!({"channel_id": null})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !sim.shared().world().guilds[&g.id]
            .voice_states
            .contains_key(&target),
        "disconnected"
    );
}

#[tokio::test]
async fn audit_log_reasons_are_limited_and_recorded() {
    let sim = sim().await;
    let g = guild(&sim, 0);
    let path = format!("/guilds/{}/bans/{}", g.id, g.members[0]);
    let long = "a".repeat(513);
    let (status, body) = call(&sim, "PUT", &path, Some(json!({})), Some(&long)).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)));
    assert_eq!(
        body["errors"]["audit_log_reason"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(sim.shared().world().guilds[&g.id].bans.is_empty());

    let (status, _) = call(&sim, "PUT", &path, Some(json!({})), Some("spam%20bot")).await;
    assert_eq!(status, 204);
    let records = sim.shared().recorder.since(0, Some("rest"));
    assert_eq!(
        records.last().and_then(|r| r.reason.as_deref()),
        Some("spam bot")
    );
}

#[tokio::test]
async fn channels_are_edited_deleted_and_overwritten() {
    const MANAGE_CHANNELS: u64 = 1 << 4;
    let sim = sim().await;
    let g = guild(&sim, MANAGE_CHANNELS | MANAGE_ROLES);
    let channel = g.text_channels[0];
    let path = format!("/channels/{channel}");

    let (status, body) = call(&sim, "PATCH", &path, Some(json!({"name": ""})), None).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)));
    assert_eq!(
        body["errors"]["name"]["_errors"][0]["code"],
        "BASE_TYPE_BAD_LENGTH"
    );
    let (status, body) = call(&sim, "PATCH", &path, Some(json!({"name": "general"})), None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("general")));

    // Lock the channel for @everyone; a bit the bot lacks (ADMINISTRATOR) is refused.
    let overwrite = format!("{path}/permissions/{}", g.id);
    let (status, body) = call(
        &sim,
        "PUT",
        &overwrite,
        Some(json!({"type": 0, "allow": "8"})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
    let (status, body) = call(&sim, "PUT", &overwrite, Some(json!({"deny": "2048"})), None).await;
    assert_eq!(
        (
            status,
            body["errors"]["type"]["_errors"][0]["code"].as_str()
        ),
        (400, Some("BASE_TYPE_CHOICES"))
    );
    let (status, _) = call(
        &sim,
        "PUT",
        &overwrite,
        Some(json!({"type": 0, "deny": "2048"})),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, shown) = call(&sim, "GET", &path, None, None).await;
    assert_eq!(shown["permission_overwrites"][0]["deny"], "2048");
    let (status, _) = call(&sim, "DELETE", &overwrite, None, None).await;
    assert_eq!(status, 204);

    let (status, body) = call(&sim, "DELETE", &path, None, None).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(channel.to_string().as_str())),
        "200 with the channel"
    );
    let (status, body) = call(&sim, "GET", &path, None, None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10003)));

    let plain = guild(&sim, 0);
    let (status, body) = call(
        &sim,
        "DELETE",
        &format!("/channels/{}", plain.text_channels[0]),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
}

/// `POST …/threads` with `body`: status and body.
async fn start_thread(sim: &DiscordSim, channel: u64, body: Value) -> (u16, Value) {
    call(
        sim,
        "POST",
        &format!("/channels/{channel}/threads"),
        Some(body),
        None,
    )
    .await
}

/// The `errors.{field}` code of a 50035 answer.
fn form_code<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body["errors"][field]["_errors"][0]["code"].as_str()
}

#[tokio::test]
async fn threads_start_from_a_message_or_without_one() {
    let sim = sim().await;
    let g = guild(&sim, 0);
    let channel = g.text_channels[0];
    let message = post(&sim, channel, g.members[0]);
    let from_message = format!("/channels/{channel}/messages/{message}/threads");

    let (status, thread) = call(
        &sim,
        "POST",
        &from_message,
        Some(json!({"name": "talk", "auto_archive_duration": 1440})),
        None,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(thread["id"], message.to_string(), "the message's id");
    assert_eq!(thread["type"], 11);
    assert_eq!(thread["parent_id"], channel.to_string());
    assert_eq!(thread["owner_id"], sim.shared().world().bot.id.to_string());
    assert_eq!(thread["thread_metadata"]["auto_archive_duration"], 1440);
    assert_eq!(thread["thread_metadata"]["archived"], false);
    assert_eq!(
        (
            thread["member_count"].as_u64(),
            thread["message_count"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let (_, shown) = call(
        &sim,
        "GET",
        &format!("/channels/{channel}/messages/{message}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        shown["thread"]["id"],
        message.to_string(),
        "the message gets `thread`"
    );
    assert_eq!(
        shown["flags"].as_u64().map(|f| f & 32),
        Some(32),
        "HAS_THREAD"
    );
    let (status, body) = call(
        &sim,
        "POST",
        &from_message,
        Some(json!({"name": "again"})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(160_004)));
    let (status, body) = call(
        &sim,
        "POST",
        &format!("/channels/{message}/messages/{message}/threads"),
        Some(json!({"name": "nested"})),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(50024)),
        "no thread in a thread"
    );

    let (status, private) = start_thread(&sim, channel, json!({"name": "quiet", "type": 12})).await;
    assert_eq!((status, private["type"].as_u64()), (201, Some(12)));
    assert_eq!(private["thread_metadata"]["invitable"], true);
    assert_eq!(private["thread_metadata"]["auto_archive_duration"], 4320);

    // Validation: 50035 per field, 50024 for announcement threads and non-text parents.
    let (status, body) = start_thread(&sim, channel, json!({"name": "", "type": 11})).await;
    assert_eq!(
        (status, form_code(&body, "name")),
        (400, Some("BASE_TYPE_BAD_LENGTH"))
    );
    let long = "x".repeat(101);
    let (_, body) = start_thread(&sim, channel, json!({"name": long, "type": 11})).await;
    assert_eq!(form_code(&body, "name"), Some("BASE_TYPE_BAD_LENGTH"));
    let (_, body) = start_thread(
        &sim,
        channel,
        json!({"name": "a", "type": 11, "auto_archive_duration": 30}),
    )
    .await;
    assert_eq!(
        form_code(&body, "auto_archive_duration"),
        Some("BASE_TYPE_CHOICES")
    );
    let (_, body) = start_thread(&sim, channel, json!({"name": "a"})).await;
    assert_eq!(form_code(&body, "type"), Some("BASE_TYPE_REQUIRED"));
    let (_, body) = start_thread(&sim, channel, json!({"name": "a", "type": 0})).await;
    assert_eq!(form_code(&body, "type"), Some("BASE_TYPE_CHOICES"));
    let (status, body) = start_thread(&sim, channel, json!({"name": "a", "type": 10})).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50024)));
    let (status, body) =
        start_thread(&sim, g.voice_channels[0], json!({"name": "a", "type": 11})).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50024)));
    let (status, body) = start_thread(&sim, 1, json!({"name": "a", "type": 11})).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10003)));

    // Create Public / Private Threads are checked separately.
    let no_public =
        guild_with_everyone(&sim, DEFAULT_EVERYONE_PERMISSIONS & !CREATE_PUBLIC_THREADS);
    let ch = no_public.text_channels[0];
    let msg = post(&sim, ch, no_public.members[0]);
    let (status, body) = call(
        &sim,
        "POST",
        &format!("/channels/{ch}/messages/{msg}/threads"),
        Some(json!({"name": "t"})),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
    let (status, _) = start_thread(&sim, ch, json!({"name": "t", "type": 11})).await;
    assert_eq!(status, 403);
    let (status, _) = start_thread(&sim, ch, json!({"name": "t", "type": 12})).await;
    assert_eq!(
        status, 201,
        "private threads need only CREATE_PRIVATE_THREADS"
    );
    let no_private =
        guild_with_everyone(&sim, DEFAULT_EVERYONE_PERMISSIONS & !CREATE_PRIVATE_THREADS);
    let (status, body) = start_thread(
        &sim,
        no_private.text_channels[0],
        json!({"name": "t", "type": 12}),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
}

#[tokio::test]
async fn messages_are_posted_into_threads_with_send_messages_in_threads() {
    let sim = sim().await;
    // Locked for plain messages, open in threads.
    let g = guild_with_everyone(&sim, DEFAULT_EVERYONE_PERMISSIONS & !SEND_MESSAGES);
    let channel = g.text_channels[0];
    let (_, thread) = start_thread(&sim, channel, json!({"name": "t", "type": 11})).await;
    let thread_id = thread["id"].as_str().expect("id").to_owned();
    let say = json!({"content": "in the thread"});
    let (status, sent) = call(
        &sim,
        "POST",
        &format!("/channels/{thread_id}/messages"),
        Some(say.clone()),
        None,
    )
    .await;
    assert_eq!(
        (status, sent["channel_id"].as_str()),
        (200, Some(thread_id.as_str()))
    );
    let (status, _) = call(
        &sim,
        "POST",
        &format!("/channels/{channel}/messages"),
        Some(say.clone()),
        None,
    )
    .await;
    assert_eq!(status, 403, "the parent still needs SEND_MESSAGES");
    let (_, listed) = call(
        &sim,
        "GET",
        &format!("/channels/{thread_id}/messages"),
        None,
        None,
    )
    .await;
    assert_eq!(listed[0]["id"], sent["id"]);
    let (_, shown) = call(&sim, "GET", &format!("/channels/{thread_id}"), None, None).await;
    assert_eq!(
        (
            shown["message_count"].as_u64(),
            shown["total_message_sent"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(shown["last_message_id"], sent["id"]);

    let g = guild_with_everyone(
        &sim,
        DEFAULT_EVERYONE_PERMISSIONS & !SEND_MESSAGES_IN_THREADS,
    );
    let (_, thread) =
        start_thread(&sim, g.text_channels[0], json!({"name": "t", "type": 11})).await;
    let thread_id = thread["id"].as_str().expect("id");
    let (status, body) = call(
        &sim,
        "POST",
        &format!("/channels/{thread_id}/messages"),
        Some(say),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
}

#[tokio::test]
async fn thread_members_join_leave_are_added_removed_and_listed() {
    let sim = sim().await;
    let g = guild(&sim, 0);
    let bot = sim.shared().world().bot.id.to_string();
    let user = g.members[0];
    let (status, body) = call(
        &sim,
        "PUT",
        &format!("/channels/{}/thread-members/@me", g.text_channels[0]),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(50024)),
        "not a thread"
    );
    let (status, body) = call(&sim, "PUT", "/channels/1/thread-members/@me", None, None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10003)));

    let (_, thread) =
        start_thread(&sim, g.text_channels[0], json!({"name": "t", "type": 11})).await;
    let members = format!(
        "/channels/{}/thread-members",
        thread["id"].as_str().expect("id")
    );
    let (status, list) = call(&sim, "GET", &members, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list.as_array()
            .map(|l| l.iter().map(|m| m["user_id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(bot)]),
        "the creator is a member"
    );
    assert!(list[0]["join_timestamp"].is_string() && list[0]["flags"] == 0);
    let me = format!("{members}/@me");
    assert_eq!(call(&sim, "DELETE", &me, None, None).await.0, 204);
    assert_eq!(call(&sim, "GET", &members, None, None).await.1, json!([]));
    assert_eq!(
        call(&sim, "DELETE", &me, None, None).await.0,
        204,
        "leaving twice is fine"
    );
    assert_eq!(call(&sim, "PUT", &me, None, None).await.0, 204);

    let other = format!("{members}/{user}");
    assert_eq!(call(&sim, "PUT", &other, None, None).await.0, 204);
    let (status, got) = call(
        &sim,
        "GET",
        &format!("{other}?with_member=true"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, got["user_id"].as_str()),
        (200, Some(user.to_string().as_str()))
    );
    assert_eq!(got["member"]["user"]["id"], user.to_string());
    let (_, page) = call(&sim, "GET", &format!("{members}?limit=1"), None, None).await;
    assert_eq!(page.as_array().map(Vec::len), Some(1));
    let (_, shown) = call(
        &sim,
        "GET",
        &format!("/channels/{}", thread["id"].as_str().expect("id")),
        None,
        None,
    )
    .await;
    assert_eq!(shown["member_count"], 2);
    let (status, body) = call(&sim, "PUT", &format!("{members}/12345"), None, None).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (404, Some(10007)),
        "not in the guild"
    );

    // Removing someone else needs MANAGE_THREADS.
    let (status, body) = call(&sim, "DELETE", &other, None, None).await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
    let m = guild(&sim, MANAGE_THREADS);
    let (_, thread) =
        start_thread(&sim, m.text_channels[0], json!({"name": "t", "type": 11})).await;
    let other = format!(
        "/channels/{}/thread-members/{}",
        thread["id"].as_str().expect("id"),
        m.members[0]
    );
    assert_eq!(call(&sim, "PUT", &other, None, None).await.0, 204);
    assert_eq!(call(&sim, "DELETE", &other, None, None).await.0, 204);
    let (status, body) = call(&sim, "GET", &other, None, None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10007)));
    let (status, body) = call(&sim, "DELETE", &other, None, None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10007)));

    // A private thread that is not invitable: only moderators add members.
    let (_, closed) = start_thread(
        &sim,
        g.text_channels[0],
        json!({"name": "p", "type": 12, "invitable": false}),
    )
    .await;
    let (status, body) = call(
        &sim,
        "PUT",
        &format!(
            "/channels/{}/thread-members/{user}",
            closed["id"].as_str().expect("id")
        ),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50013)));
}

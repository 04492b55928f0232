//! The cache library against the real Redis: event application, indexes, idempotency,
//! purges, previous states, permissions, malformed input and the REST fallback.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use swarmcord_cache::{
    CacheConfig, CacheReader, CacheWriter, CachedMember, CachedRole, FallbackReader, GuildStatus,
    PermissionLookup, Resources, Source, Unknown, Update,
};
use swarmcord_sim::discord::control::{GuildSpec, VoiceSpec};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::{redis_url, unique_name};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

async fn connect(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("url");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("redis")
}

struct Fixture {
    writer: CacheWriter,
    reader: CacheReader,
}

impl Fixture {
    async fn new(resources: Resources) -> Self {
        let prefix = unique_name("cachetest");
        let redis = connect(&redis_url()).await;
        Self {
            writer: CacheWriter::new(
                redis.clone(),
                CacheConfig::new(prefix.clone())
                    .resources(resources)
                    .previous_state(true),
            ),
            reader: CacheReader::new(redis, &prefix),
        }
    }

    /// Applies events (shard 0 of 1) as one batch; returns the updates (with previous states).
    async fn apply(&self, events: &[(&str, Value)]) -> Vec<Update> {
        let mut updates: Vec<Update> = events
            .iter()
            .map(|(kind, payload)| {
                self.writer
                    .prepare(0, 1, kind, payload.to_string().as_bytes())
            })
            .collect();
        self.writer.apply(&mut updates).await.expect("apply");
        updates
    }
}

/// A REST fallback reader over the fixture's cache, asking the simulator.
fn fallback(sim: &DiscordSim, f: &Fixture) -> FallbackReader {
    let http = Arc::new(
        twilight_http::Client::builder()
            .token(sim.token())
            .proxy(sim.http_proxy(), true)
            .build(),
    );
    FallbackReader::new(f.reader.clone(), http, Duration::from_secs(30))
}

async fn sim() -> DiscordSim {
    DiscordSim::start(DiscordConfig::default())
        .await
        .expect("simulator")
}

#[tokio::test]
async fn guild_create_caches_every_entity_and_index() {
    let sim = sim().await;
    let control = sim.control();
    let guild = control.create_guild(&GuildSpec {
        members: 5,
        text_channels: 2,
        voice_channels: 1,
        ..GuildSpec::default()
    });
    control
        .set_voice(&VoiceSpec {
            guild_id: guild.id,
            user_id: guild.members[0],
            channel_id: Some(guild.voice_channels[0]),
        })
        .expect("voice");
    let payload = control.guild_json(guild.id).expect("guild");
    let f = Fixture::new(Resources::default_set()).await;
    f.apply(&[("GUILD_CREATE", payload.clone())]).await;

    let g = Id::new(guild.id);
    let cached = f.reader.guild(g).await.expect("read").expect("cached");
    assert_eq!(cached.name, payload["name"].as_str().expect("name"));
    assert_eq!(cached.owner_id.get(), guild.owner_id);
    assert_eq!(cached.member_count, Some(7), "5 + owner + bot");
    assert_eq!(f.reader.roles(g).await.expect("roles").len(), 2);
    let channels = f.reader.guild_channels(g).await.expect("channels");
    assert_eq!(channels.len(), 3);
    assert!(channels.iter().all(|c| c.guild_id == Some(g)));
    assert_eq!(f.reader.member_ids(g).await.expect("members").len(), 7);
    let user = f
        .reader
        .user(Id::new(guild.members[1]))
        .await
        .expect("read")
        .expect("user");
    assert_eq!(user.name, format!("user1-{}", guild.id));
    assert_eq!(f.reader.user_guilds(user.id).await.expect("index"), vec![g]);
    assert_eq!(
        f.reader
            .voice_channel_occupants(Id::new(guild.voice_channels[0]))
            .await
            .expect("occupants"),
        vec![Id::new(guild.members[0])]
    );
    // A second GUILD_CREATE (a re-identify) replaces rather than adds.
    f.apply(&[("GUILD_CREATE", payload)]).await;
    assert_eq!(f.reader.member_ids(g).await.expect("members").len(), 7);
    sim.shutdown().await;
}

fn guild_payload(id: u64, owner: u64, members: &[u64]) -> Value {
    json!({
        "id": id.to_string(), "name": "G", "owner_id": owner.to_string(),
        "joined_at": "2024-01-01T00:00:00.000+00:00", "large": false, "member_count": members.len(),
        "roles": [
            {"id": id.to_string(), "name": "@everyone", "permissions": (Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES).bits().to_string(), "position": 0, "color": 0},
            {"id": "900", "name": "mod", "permissions": Permissions::BAN_MEMBERS.bits().to_string(), "position": 1, "color": 5}
        ],
        "channels": [
            {"id": "500", "type": 0, "name": "general", "position": 0, "permission_overwrites": []},
            {"id": "501", "type": 2, "name": "voice", "position": 1, "permission_overwrites": []}
        ],
        "members": members.iter().map(|u| json!({
            "user": {"id": u.to_string(), "username": format!("u{u}"), "discriminator": "0"},
            "roles": [], "joined_at": "2024-01-01T00:00:00.000+00:00", "deaf": false, "mute": false
        })).collect::<Vec<_>>(),
        "voice_states": [], "emojis": [{"id": "77", "name": "e", "roles": [], "animated": false}]
    })
}

fn member_payload(guild: u64, user: u64, roles: &[&str], nick: Option<&str>) -> Value {
    json!({
        "guild_id": guild.to_string(), "nick": nick, "roles": roles,
        "user": {"id": user.to_string(), "username": format!("u{user}"), "discriminator": "0"},
        "joined_at": "2024-01-01T00:00:00.000+00:00"
    })
}

#[tokio::test]
async fn events_update_entities_indexes_and_counts_idempotently() {
    let f = Fixture::new(Resources::default_set()).await;
    let (g, owner) = (1000, 1);
    f.apply(&[("GUILD_CREATE", guild_payload(g, owner, &[1, 2, 3]))])
        .await;
    let gid = Id::new(g);
    let events = vec![
        ("GUILD_MEMBER_ADD", member_payload(g, 4, &[], None)),
        (
            "GUILD_MEMBER_UPDATE",
            member_payload(g, 2, &["900"], Some("two")),
        ),
        (
            "GUILD_MEMBER_REMOVE",
            json!({"guild_id": g.to_string(), "user": {"id": "3", "username": "u3"}}),
        ),
        (
            "GUILD_ROLE_CREATE",
            json!({"guild_id": g.to_string(), "role": {"id": "901", "name": "new", "permissions": "0", "position": 2}}),
        ),
        (
            "GUILD_ROLE_UPDATE",
            json!({"guild_id": g.to_string(), "role": {"id": "900", "name": "moderator", "permissions": Permissions::BAN_MEMBERS.bits().to_string(), "position": 1}}),
        ),
        (
            "GUILD_ROLE_DELETE",
            json!({"guild_id": g.to_string(), "role_id": "901"}),
        ),
        (
            "CHANNEL_CREATE",
            json!({"id": "502", "type": 0, "guild_id": g.to_string(), "name": "new", "position": 2}),
        ),
        (
            "CHANNEL_UPDATE",
            json!({"id": "500", "type": 0, "guild_id": g.to_string(), "name": "renamed", "position": 0}),
        ),
        (
            "CHANNEL_DELETE",
            json!({"id": "502", "type": 0, "guild_id": g.to_string()}),
        ),
        (
            "VOICE_STATE_UPDATE",
            json!({"guild_id": g.to_string(), "channel_id": "501", "user_id": "2", "session_id": "s"}),
        ),
        (
            "VOICE_STATE_UPDATE",
            json!({"guild_id": g.to_string(), "channel_id": "501", "user_id": "1", "session_id": "s"}),
        ),
        (
            "VOICE_STATE_UPDATE",
            json!({"guild_id": g.to_string(), "channel_id": null, "user_id": "1", "session_id": "s"}),
        ),
        (
            "GUILD_UPDATE",
            json!({"id": g.to_string(), "name": "Renamed", "owner_id": owner.to_string()}),
        ),
        (
            "USER_UPDATE",
            json!({"id": "2", "username": "two", "discriminator": "0"}),
        ),
        (
            "GUILD_EMOJIS_UPDATE",
            json!({"guild_id": g.to_string(), "emojis": []}),
        ),
    ];
    let updates = f.apply(&events).await;
    // Replaying the same events (a RESUME after a crash) changes nothing.
    f.apply(&events).await;

    let guild = f.reader.guild(gid).await.expect("read").expect("guild");
    assert_eq!(guild.name, "Renamed");
    assert_eq!(
        guild.joined_at.as_deref(),
        Some("2024-01-01T00:00:00.000+00:00"),
        "kept"
    );
    assert_eq!(guild.member_count, Some(3), "3 + 1 - 1, counted once");
    let mut members = f.reader.member_ids(gid).await.expect("members");
    members.sort();
    assert_eq!(members, vec![Id::new(1), Id::new(2), Id::new(4)]);
    let two = f
        .reader
        .member(gid, Id::new(2))
        .await
        .expect("read")
        .expect("member");
    assert_eq!(
        (two.nick.as_deref(), two.roles.clone()),
        (Some("two"), vec![Id::new(900)])
    );
    assert!(
        f.reader.user(Id::new(3)).await.expect("read").is_none(),
        "left every cached guild"
    );
    assert!(
        f.reader
            .user_guilds(Id::new(3))
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        f.reader
            .user(Id::new(2))
            .await
            .expect("read")
            .expect("user")
            .name,
        "two"
    );
    let roles: Vec<CachedRole> = f.reader.roles(gid).await.expect("roles");
    assert_eq!(
        roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["@everyone", "moderator"]
    );
    let channels = f.reader.guild_channels(gid).await.expect("channels");
    assert_eq!(
        channels
            .iter()
            .map(|c| c.name.as_deref().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["renamed", "voice"]
    );
    assert_eq!(
        f.reader
            .voice_channel_occupants(Id::new(501))
            .await
            .expect("vc"),
        vec![Id::new(2)]
    );
    assert!(
        f.reader
            .voice_state(gid, Id::new(1))
            .await
            .expect("read")
            .is_none()
    );
    assert!(f.reader.emojis(gid).await.expect("emojis").is_empty());

    // Previous states travel with updates and deletes.
    let previous = |i: usize| -> Value {
        serde_json::from_slice(updates[i].previous().expect("previous state")).expect("json")
    };
    let before: CachedMember = serde_json::from_value(previous(1)).expect("member");
    assert_eq!((before.nick, before.roles), (None, vec![]));
    assert_eq!(previous(4)["n"], "mod");
    assert_eq!(previous(5)["n"], "new");
    assert_eq!(previous(7)["n"], "general");
    assert_eq!(previous(12)["n"], "G");
    assert!(
        updates[0].previous().is_none(),
        "a new member had no previous state"
    );
}

#[tokio::test]
async fn ready_purges_what_the_shard_cached_before_and_marks_guilds_unavailable() {
    let f = Fixture::new(Resources::default_set()).await;
    f.apply(&[
        ("GUILD_CREATE", guild_payload(2000, 1, &[1, 2])),
        ("GUILD_CREATE", guild_payload(2001, 1, &[2, 3])),
    ])
    .await;
    f.apply(&[(
        "READY",
        json!({"v": 10, "session_id": "x", "user": {"id": "99", "username": "bot", "bot": true},
               "guilds": [{"id": "2000", "unavailable": true}]}),
    )])
    .await;
    assert_eq!(
        f.reader.guild_status(Id::new(2000)).await.expect("read"),
        GuildStatus::Unavailable
    );
    assert_eq!(
        f.reader.guild_status(Id::new(2001)).await.expect("read"),
        GuildStatus::NotCached
    );
    assert!(
        f.reader
            .member_ids(Id::new(2000))
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        f.reader
            .channel(Id::new(500))
            .await
            .expect("read")
            .is_none()
    );
    assert!(f.reader.user(Id::new(2)).await.expect("read").is_none());
    assert!(
        f.reader.user(Id::new(99)).await.expect("read").is_some(),
        "the bot user"
    );
    // The guild comes back.
    f.apply(&[("GUILD_CREATE", guild_payload(2000, 1, &[1, 2]))])
        .await;
    assert!(matches!(
        f.reader.guild_status(Id::new(2000)).await.expect("read"),
        GuildStatus::Available(_)
    ));
    // An outage, then the bot leaves.
    f.apply(&[("GUILD_DELETE", json!({"id": "2000", "unavailable": true}))])
        .await;
    assert_eq!(
        f.reader.guild_status(Id::new(2000)).await.expect("read"),
        GuildStatus::Unavailable
    );
    f.apply(&[("GUILD_DELETE", json!({"id": "2000"}))]).await;
    assert_eq!(
        f.reader.guild_status(Id::new(2000)).await.expect("read"),
        GuildStatus::NotCached
    );
}

#[tokio::test]
async fn permissions_are_computed_or_unknown_never_guessed() {
    let f = Fixture::new(Resources::default_set()).await;
    let g = Id::new(3000);
    let general = Id::new(500);
    let lookup = |user: u64| {
        let reader = f.reader.clone();
        async move {
            reader
                .member_permissions_in_channel(g, general, Id::new(user))
                .await
                .expect("read")
        }
    };
    assert_eq!(
        lookup(2).await,
        PermissionLookup::Unknown(Unknown::GuildNotCached)
    );
    f.apply(&[("GUILD_CREATE", guild_payload(3000, 1, &[1, 2]))])
        .await;
    f.apply(&[(
        "GUILD_MEMBER_UPDATE",
        member_payload(3000, 2, &["900"], None),
    )])
    .await;
    assert_eq!(
        lookup(1).await,
        PermissionLookup::Known(Permissions::all()),
        "owner"
    );
    let two = lookup(2).await;
    assert!(two.allows(Permissions::BAN_MEMBERS | Permissions::SEND_MESSAGES));
    assert!(!two.allows(Permissions::KICK_MEMBERS));
    assert_eq!(
        lookup(7).await,
        PermissionLookup::Unknown(Unknown::MemberNotCached)
    );
    assert_eq!(
        f.reader
            .member_permissions_in_channel(g, Id::new(999), Id::new(2))
            .await
            .expect("read"),
        PermissionLookup::Unknown(Unknown::ChannelNotCached)
    );
    // A channel overwrite denies sending for the role.
    f.apply(&[(
        "CHANNEL_UPDATE",
        json!({"id": "500", "type": 0, "guild_id": "3000", "name": "general",
               "permission_overwrites": [{"id": "900", "type": 0, "allow": "0", "deny": Permissions::SEND_MESSAGES.bits().to_string()}]}),
    )])
    .await;
    assert!(!lookup(2).await.allows(Permissions::SEND_MESSAGES));
    assert_eq!(
        f.reader
            .member_permissions(g, Id::new(2))
            .await
            .expect("read")
            .known(),
        Some(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES | Permissions::BAN_MEMBERS)
    );
    // Stale after a missed update? A malformed update purges the guild: unknown, not stale.
    let mut bad = f.writer.prepare(
        0,
        1,
        "GUILD_MEMBER_UPDATE",
        br#"{"guild_id":"3000","user":42}"#,
    );
    f.writer
        .apply(std::slice::from_mut(&mut bad))
        .await
        .expect("apply");
    assert_eq!(
        lookup(2).await,
        PermissionLookup::Unknown(Unknown::GuildNotCached)
    );
}

#[tokio::test]
async fn malformed_payloads_never_panic() {
    let f = Fixture::new(Resources::parse("all").expect("all")).await;
    for kind in [
        "READY",
        "GUILD_CREATE",
        "GUILD_UPDATE",
        "GUILD_DELETE",
        "CHANNEL_CREATE",
        "CHANNEL_DELETE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_DELETE",
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_REMOVE",
        "GUILD_MEMBERS_CHUNK",
        "USER_UPDATE",
        "VOICE_STATE_UPDATE",
        "PRESENCE_UPDATE",
        "MESSAGE_CREATE",
        "MESSAGE_DELETE_BULK",
        "GUILD_EMOJIS_UPDATE",
    ] {
        for payload in [
            &b"{nope"[..],
            b"null",
            b"[]",
            b"{}",
            br#"{"id":"x","guild_id":5}"#,
            b"\xff\xfe",
        ] {
            let mut update = f.writer.prepare(0, 1, kind, payload);
            f.writer
                .apply(std::slice::from_mut(&mut update))
                .await
                .expect("apply");
        }
    }
}

#[tokio::test]
async fn messages_and_presences_only_when_switched_on() {
    let f = Fixture::new(Resources::default_set()).await;
    let message = json!({"id": "70", "channel_id": "500", "guild_id": "4000", "content": "hi",
                         "author": {"id": "2", "username": "u2"}, "timestamp": "2024-01-01T00:00:00+00:00"});
    assert!(
        f.writer
            .prepare(0, 1, "MESSAGE_CREATE", message.to_string().as_bytes())
            .is_empty()
    );
    let on = Fixture::new(Resources::parse("default,messages,presences").expect("valid")).await;
    on.apply(&[
        ("MESSAGE_CREATE", message),
        ("PRESENCE_UPDATE", json!({"user": {"id": "2"}, "guild_id": "4000", "status": "online", "activities": [{"name": "chess", "type": 0}]})),
    ])
    .await;
    let cached = on
        .reader
        .message(Id::new(70))
        .await
        .expect("read")
        .expect("message");
    assert_eq!(cached.content, "hi");
    let presence = on
        .reader
        .presence(Id::new(4000), Id::new(2))
        .await
        .expect("read")
        .expect("presence");
    assert_eq!(
        (presence.status.as_str(), presence.activities.clone()),
        ("online", vec!["chess".to_owned()])
    );
    on.apply(&[("MESSAGE_DELETE", json!({"id": "70", "channel_id": "500"}))])
        .await;
    assert!(
        on.reader
            .message(Id::new(70))
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn scripts_are_reloaded_after_a_redis_restart() {
    let mut server = swarmcord_testkit::redis_server::PrivateRedis::start().await;
    let redis = connect(&server.url()).await;
    let writer = CacheWriter::new(redis.clone(), CacheConfig::new("p"));
    let reader = CacheReader::new(redis, "p");
    let mut first = vec![writer.prepare(
        0,
        1,
        "GUILD_CREATE",
        guild_payload(5000, 1, &[1]).to_string().as_bytes(),
    )];
    writer.apply(&mut first).await.expect("apply");
    server.restart_empty().await;
    assert!(
        reader.guild(Id::new(5000)).await.is_err()
            || reader.guild(Id::new(5000)).await.expect("read").is_none()
    );
    let mut again = vec![writer.prepare(
        0,
        1,
        "GUILD_CREATE",
        guild_payload(5000, 1, &[1]).to_string().as_bytes(),
    )];
    let applied = writer
        .apply_until(&mut again, || false)
        .await
        .expect("applied after reconnecting and reloading the scripts");
    assert_eq!(applied.failed, 0);
    assert!(reader.guild(Id::new(5000)).await.expect("read").is_some());
}

#[tokio::test]
async fn the_rest_fallback_fetches_missing_members_and_keeps_them_apart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = sim().await;
    let control = sim.control();
    let guild = control.create_guild(&GuildSpec::default());
    let f = Fixture::new(Resources::default_set()).await;
    // Cache the guild without its members (as for a large guild).
    let mut payload = control.guild_json(guild.id).expect("guild");
    payload["members"] = json!([]);
    f.apply(&[("GUILD_CREATE", payload)]).await;
    let fallback = fallback(&sim, &f);
    let (g, u) = (Id::new(guild.id), Id::new(guild.members[0]));
    assert_eq!(
        f.reader
            .member_permissions_in_channel(g, Id::new(guild.text_channels[0]), u)
            .await
            .expect("read"),
        PermissionLookup::Unknown(Unknown::MemberNotCached)
    );
    let lookup = fallback
        .member_permissions_in_channel(g, Id::new(guild.text_channels[0]), u)
        .await
        .expect("fallback");
    assert!(lookup.allows(Permissions::SEND_MESSAGES), "{lookup:?}");
    let (_, source) = fallback.member(g, u).await.expect("read").expect("member");
    assert_eq!(source, Source::RememberedRest, "the REST answer was kept");
    assert!(
        f.reader.member(g, u).await.expect("read").is_none(),
        "not mixed into gateway data"
    );
    assert!(
        fallback
            .member(g, Id::new(424_242))
            .await
            .expect("read")
            .is_none(),
        "404 is None"
    );
    let (user, source) = fallback.user(u).await.expect("read").expect("user");
    assert_eq!((user.id, source), (u, Source::RememberedRest));
    let (channel, source) = fallback
        .channel(Id::new(guild.text_channels[0]))
        .await
        .expect("read")
        .expect("channel");
    assert_eq!((channel.guild_id, source), (Some(g), Source::Cache));
    sim.shutdown().await;
}

/// The REST path of permissions: a guild the cache does not hold at all is answered from
/// Discord (guild, channel and member), and the answers are kept, so the next lookup asks
/// Discord nothing.
#[tokio::test]
async fn the_rest_fallback_computes_permissions_of_an_uncached_guild_and_keeps_its_answers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = sim().await;
    let control = sim.control();
    let guild = control.create_guild(&GuildSpec::default());
    let f = Fixture::new(Resources::default_set()).await;
    let fallback = fallback(&sim, &f);
    let (g, text) = (Id::new(guild.id), Id::new(guild.text_channels[0]));
    let (member, owner) = (Id::new(guild.members[0]), Id::new(guild.owner_id));
    assert_eq!(
        f.reader
            .member_permissions_in_channel(g, text, member)
            .await
            .expect("read"),
        PermissionLookup::Unknown(Unknown::GuildNotCached)
    );
    let lookup = fallback
        .member_permissions_in_channel(g, text, member)
        .await
        .expect("fallback");
    assert!(lookup.allows(Permissions::SEND_MESSAGES), "{lookup:?}");
    assert!(!lookup.allows(Permissions::BAN_MEMBERS), "{lookup:?}");
    let since = control.log_len();
    assert_eq!(
        fallback
            .member_permissions_in_channel(g, text, member)
            .await
            .expect("fallback"),
        lookup,
        "the same answer"
    );
    assert_eq!(
        fallback
            .member_permissions_in_channel(g, text, owner)
            .await
            .expect("fallback"),
        PermissionLookup::Known(Permissions::all()),
        "the owner"
    );
    let asked: Vec<String> = control
        .log(since, Some("rest"))
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        asked,
        vec![format!("/guilds/{g}/members/{owner}")],
        "guild and channel answers were kept"
    );
    assert_eq!(
        fallback
            .member_permissions_in_channel(g, Id::new(424_242), member)
            .await
            .expect("fallback"),
        PermissionLookup::Unknown(Unknown::ChannelNotCached),
        "a channel Discord does not know"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn member_chunks_fill_in_members_without_changing_the_count() {
    let f = Fixture::new(Resources::parse("default,presences").expect("valid")).await;
    let mut guild = guild_payload(6000, 1, &[1]);
    guild["large"] = json!(true);
    guild["member_count"] = json!(3);
    f.apply(&[("GUILD_CREATE", guild)]).await;
    let g = Id::new(6000);
    assert!(
        f.reader
            .member(g, Id::new(2))
            .await
            .expect("read")
            .is_none()
    );
    f.apply(&[(
        "GUILD_MEMBERS_CHUNK",
        json!({
            "guild_id": "6000", "chunk_index": 0, "chunk_count": 1, "nonce": "n",
            "members": [
                member_payload(6000, 2, &["900"], Some("two")),
                member_payload(6000, 3, &[], None),
            ],
            "presences": [{"user": {"id": "2"}, "status": "idle", "activities": []}]
        }),
    )])
    .await;
    let two = f
        .reader
        .member(g, Id::new(2))
        .await
        .expect("read")
        .expect("member");
    assert_eq!(two.nick.as_deref(), Some("two"));
    assert_eq!(
        f.reader.user_guilds(Id::new(3)).await.expect("read"),
        vec![g]
    );
    assert_eq!(
        f.reader
            .guild(g)
            .await
            .expect("read")
            .expect("guild")
            .member_count,
        Some(3),
        "chunks are not joins"
    );
    assert_eq!(
        f.reader
            .presence(g, Id::new(2))
            .await
            .expect("read")
            .expect("presence")
            .status,
        "idle"
    );
    assert!(f.reader.guild(g).await.expect("read").expect("guild").large);
}

/// A shard that reads without forwarding (the new shard count while resharding) records only
/// its guild set and session marker; forgetting a shard drops only those. The guilds' data,
/// kept by the forwarding shard of the other count, is never touched.
#[tokio::test]
async fn bookkeeping_only_updates_and_forgetting_touch_a_shards_keys_alone() {
    let f = Fixture::new(Resources::default_set()).await;
    let mut redis = connect(&redis_url()).await;
    let keys = f.writer.keys().clone();
    f.apply(&[("GUILD_CREATE", guild_payload(2000, 1, &[1, 2]))])
        .await;
    let available = |status: GuildStatus| matches!(status, GuildStatus::Available(_));
    let events = [
        (
            "READY",
            json!({"v": 10, "session_id": "s2", "user": {"id": "99", "username": "bot"},
                   "guilds": [{"id": "2000", "unavailable": true},
                              {"id": "2001", "unavailable": true}]}),
        ),
        ("GUILD_CREATE", guild_payload(2002, 1, &[1])),
        ("GUILD_DELETE", json!({"id": "2001", "unavailable": true})),
        ("GUILD_DELETE", json!({"id": "2000"})),
        ("GUILD_MEMBER_ADD", member_payload(2000, 7, &[], None)),
        ("READY", json!({"v": "not a ready"})),
    ];
    let mut updates: Vec<Update> = events
        .iter()
        .map(|(kind, payload)| {
            f.writer
                .prepare_bookkeeping(1, 2, kind, payload.to_string().as_bytes())
        })
        .collect();
    assert_eq!(
        updates.iter().map(Update::len).collect::<Vec<_>>(),
        [3, 1, 1, 1, 0, 0],
        "READY: reset, guilds, session; one command per guild event; nothing else"
    );
    f.writer.apply(&mut updates).await.expect("apply");

    let mut guilds: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(keys.shard_guilds(1, 2))
        .query_async(&mut redis)
        .await
        .expect("SMEMBERS");
    guilds.sort_unstable();
    assert_eq!(
        guilds,
        [2001, 2002],
        "2001 is unavailable (kept), the bot left 2000 (removed)"
    );
    let mut check = [f.writer.session_check(1, 2)];
    f.writer.apply(&mut check).await.expect("apply");
    assert_eq!(check[0].previous(), Some(&b"s2"[..]));
    // The guilds' data is the forwarding shard's: untouched.
    assert!(available(
        f.reader.guild_status(Id::new(2000)).await.expect("read")
    ));
    assert_eq!(
        f.reader.guild_status(Id::new(2001)).await.expect("read"),
        GuildStatus::NotCached,
        "a bookkeeping READY marks no guild unavailable"
    );
    assert_eq!(
        f.reader.guild_status(Id::new(2002)).await.expect("read"),
        GuildStatus::NotCached
    );
    assert_eq!(
        f.reader
            .member_ids(Id::new(2000))
            .await
            .expect("read")
            .len(),
        2
    );

    f.writer
        .apply(&mut [f.writer.forget_shard(1, 2)])
        .await
        .expect("apply");
    for key in [keys.shard_guilds(1, 2), keys.shard_session(1, 2)] {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .expect("EXISTS");
        assert_eq!(exists, 0, "{key}");
    }
    let kept: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(keys.shard_guilds(0, 1))
        .query_async(&mut redis)
        .await
        .expect("SMEMBERS");
    assert_eq!(kept, [2000], "the other shard count's bookkeeping stays");
    assert!(available(
        f.reader.guild_status(Id::new(2000)).await.expect("read")
    ));

    let off = Fixture::new(Resources::parse("none").expect("valid")).await;
    assert!(
        off.writer
            .prepare_bookkeeping(0, 1, "GUILD_CREATE", br#"{"id":"1"}"#)
            .is_empty(),
        "nothing with the cache off"
    );
}

//! End-to-end tests of the Redis cache: simulator → gateway → cache, compared with the
//! simulator's own state (its ground truth), through a scripted stream of changes, a Redis
//! restart and a shard re-identify; the ordering guarantee under load; and a Redis outage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use swarmcord_testkit::{
    cluster::{Cluster, Gateway},
    events::{Seen, Tap},
};

use swarmcord_cache::{CacheError, CacheReader, GuildStatus};
use swarmcord_sim::discord::control::{
    BlastSpec, Control, CreatedGuild, GuildSpec, MessageSpec, VoiceSpec,
};
use swarmcord_sim::discord::gateway::ShardAction;
use swarmcord_sim::discord::world::{Channel, ChannelKind, Guild, Overwrite, User};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::redis_server::PrivateRedis;
use swarmcord_testkit::unique_name;
use twilight_model::id::Id;

const READY: Duration = Duration::from_secs(30);

/// Member updates checked by the ordering test.
const UPDATES: usize = 3000;

fn sim_config(shards: u32) -> DiscordConfig {
    DiscordConfig {
        recommended_shards: shards,
        max_concurrency: shards,
        identify_interval: Duration::from_millis(200),
        ..DiscordConfig::default()
    }
}

async fn reader(url: &str, prefix: &str) -> CacheReader {
    let client = redis::Client::open(url).expect("url");
    let redis = redis::aio::ConnectionManager::new(client)
        .await
        .expect("redis");
    CacheReader::new(redis, prefix)
}

fn guild_on(cluster: &Cluster, shard: u32, total: u32, members: usize) -> CreatedGuild {
    cluster.sim.control().create_guild(&GuildSpec {
        name: unique_name("guild"),
        members,
        text_channels: 2,
        voice_channels: 2,
        shard: Some((shard, total)),
        ..GuildSpec::default()
    })
}

/// Posts a marker message in each guild (one per shard) and waits until the tap saw them all:
/// the gateway publishes in shard order after the cache writes, so everything dispatched
/// before the markers is then in the cache.
async fn settle(cluster: &Cluster, tap: &mut Tap, guilds: &[&CreatedGuild]) {
    let control = cluster.sim.control();
    let mut markers = BTreeSet::new();
    for guild in guilds {
        let content = unique_name("marker");
        control
            .post_message(&MessageSpec {
                channel_id: guild.text_channels[0],
                author_id: guild.owner_id,
                content: content.clone(),
            })
            .expect("marker");
        markers.insert(content);
    }
    let mut seen = BTreeSet::new();
    tap.collect_until(Duration::from_secs(30), |events: &[Seen]| {
        if let Some(last) = events.last()
            && let Some(content) = last.body["content"].as_str()
            && markers.contains(content)
        {
            seen.insert(content.to_owned());
        }
        seen.len() == markers.len()
    })
    .await;
    assert_eq!(seen.len(), markers.len(), "the markers were not forwarded");
}

/// A channel as compared: type, name, position, parent, overwrites.
type ChannelView = (
    u8,
    Option<String>,
    Option<i64>,
    Option<u64>,
    Vec<(u64, u8, u64, u64)>,
);

/// Every difference between the cache and the simulator's world.
async fn differences(reader: &CacheReader, sim: &DiscordSim) -> Result<Vec<String>, CacheError> {
    let (guilds, channels, users) = {
        let world = sim.shared().world();
        (
            world.guilds.clone(),
            world.channels.clone(),
            world.users.clone(),
        )
    };
    let mut diffs = Vec::new();
    let cached_ids: BTreeSet<u64> = reader.guild_ids().await?.into_iter().map(Id::get).collect();
    let available: BTreeSet<u64> = guilds
        .values()
        .filter(|g| !g.unavailable)
        .map(|g| g.id)
        .collect();
    if cached_ids != available {
        diffs.push(format!(
            "cached guilds {cached_ids:?} != available guilds {available:?}"
        ));
    }
    for guild in guilds.values() {
        guild_differences(reader, guild, &channels, &users, &mut diffs).await?;
    }
    Ok(diffs)
}

/// The differences of one guild: its status, name, owner and member count, then every entity
/// kind in it.
async fn guild_differences(
    reader: &CacheReader,
    guild: &Guild,
    channels: &HashMap<u64, Channel>,
    users: &HashMap<u64, User>,
    diffs: &mut Vec<String>,
) -> Result<(), CacheError> {
    let status = reader.guild_status(Id::new(guild.id)).await?;
    if guild.unavailable {
        if status != GuildStatus::Unavailable {
            diffs.push(format!(
                "guild {}: {status:?}, expected unavailable",
                guild.id
            ));
        }
        return Ok(());
    }
    let GuildStatus::Available(cached) = status else {
        diffs.push(format!("guild {}: {status:?}", guild.id));
        return Ok(());
    };
    if cached.name != guild.name || cached.owner_id.get() != guild.owner_id {
        diffs.push(format!("guild {}: {cached:?}", guild.id));
    }
    if cached.member_count != Some(guild.members.len() as u64) {
        diffs.push(format!(
            "guild {}: member count {:?} != {}",
            guild.id,
            cached.member_count,
            guild.members.len()
        ));
    }
    role_differences(reader, guild, diffs).await?;
    channel_differences(reader, guild, channels, diffs).await?;
    member_differences(reader, guild, diffs).await?;
    user_differences(reader, guild, users, diffs).await?;
    voice_differences(reader, guild, channels, diffs).await
}

/// The guild's roles: name, permissions, position, color.
async fn role_differences(
    reader: &CacheReader,
    guild: &Guild,
    diffs: &mut Vec<String>,
) -> Result<(), CacheError> {
    let roles: BTreeMap<u64, (String, u64, i64, u32)> = reader
        .roles(Id::new(guild.id))
        .await?
        .into_iter()
        .map(|r| {
            (
                r.id.get(),
                (r.name, r.permissions.bits(), r.position, r.color),
            )
        })
        .collect();
    let truth: BTreeMap<u64, (String, u64, i64, u32)> = guild
        .roles
        .iter()
        .map(|r| (r.id, (r.name.clone(), r.permissions, r.position, r.color)))
        .collect();
    if roles != truth {
        diffs.push(format!("guild {} roles: {roles:?} != {truth:?}", guild.id));
    }
    Ok(())
}

/// The guild's channels, as a [`ChannelView`].
async fn channel_differences(
    reader: &CacheReader,
    guild: &Guild,
    channels: &HashMap<u64, Channel>,
    diffs: &mut Vec<String>,
) -> Result<(), CacheError> {
    let cached_channels: BTreeMap<u64, ChannelView> = reader
        .guild_channels(Id::new(guild.id))
        .await?
        .into_iter()
        .map(|c| {
            (
                c.id.get(),
                (
                    c.kind,
                    c.name,
                    c.position,
                    c.parent_id.map(Id::get),
                    c.overwrites
                        .iter()
                        .map(|o| (o.id.get(), o.kind, o.allow.bits(), o.deny.bits()))
                        .collect(),
                ),
            )
        })
        .collect();
    let truth: BTreeMap<u64, ChannelView> = guild
        .channels
        .iter()
        .filter_map(|id| channels.get(id))
        .map(|c| {
            (
                c.id,
                (
                    c.kind.code(),
                    c.name.clone(),
                    Some(c.position),
                    c.parent_id,
                    c.overwrites
                        .iter()
                        .map(|o| (o.id, o.kind, o.allow, o.deny))
                        .collect(),
                ),
            )
        })
        .collect();
    if cached_channels != truth {
        diffs.push(format!(
            "guild {} channels: {cached_channels:?} != {truth:?}",
            guild.id
        ));
    }
    Ok(())
}

/// The guild's members: nickname and roles. Role lists are compared without deleted roles:
/// Discord sends no member update when a role is deleted, and the permission computation
/// ignores unknown roles.
async fn member_differences(
    reader: &CacheReader,
    guild: &Guild,
    diffs: &mut Vec<String>,
) -> Result<(), CacheError> {
    let role_ids: BTreeSet<u64> = guild.roles.iter().map(|r| r.id).collect();
    let members: BTreeMap<u64, (Option<String>, BTreeSet<u64>)> = reader
        .members(Id::new(guild.id))
        .await?
        .into_iter()
        .map(|m| {
            (
                m.user_id.get(),
                (
                    m.nick,
                    m.roles
                        .iter()
                        .map(|r| r.get())
                        .filter(|r| role_ids.contains(r))
                        .collect(),
                ),
            )
        })
        .collect();
    let truth: BTreeMap<u64, (Option<String>, BTreeSet<u64>)> = guild
        .members
        .values()
        .map(|m| {
            (
                m.user_id,
                (m.nick.clone(), m.roles.iter().copied().collect()),
            )
        })
        .collect();
    if members != truth {
        diffs.push(format!(
            "guild {} members: {members:?} != {truth:?}",
            guild.id
        ));
    }
    Ok(())
}

/// The users of the guild's members, and the guilds-of-a-user index.
async fn user_differences(
    reader: &CacheReader,
    guild: &Guild,
    users: &HashMap<u64, User>,
    diffs: &mut Vec<String>,
) -> Result<(), CacheError> {
    let g = Id::new(guild.id);
    for user_id in guild.members.keys() {
        let u = Id::new(*user_id);
        let cached = reader.user(u).await?;
        let truth = users.get(user_id).expect("user");
        match cached {
            Some(c)
                if c.name == truth.username
                    && c.global_name == truth.global_name
                    && c.bot == truth.bot => {}
            other => diffs.push(format!("user {user_id}: {other:?} != {truth:?}")),
        }
        if !reader.user_guilds(u).await?.contains(&g) {
            diffs.push(format!(
                "user {user_id}: guild {} missing from the index",
                guild.id
            ));
        }
    }
    Ok(())
}

/// The guild's voice states, and the occupants of each of its voice channels.
async fn voice_differences(
    reader: &CacheReader,
    guild: &Guild,
    channels: &HashMap<u64, Channel>,
    diffs: &mut Vec<String>,
) -> Result<(), CacheError> {
    let mut occupants: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    for state in guild.voice_states.values() {
        if let Some(channel) = state.channel_id {
            occupants.entry(channel).or_default().insert(state.user_id);
        }
    }
    let cached_states: BTreeMap<u64, Option<u64>> = reader
        .voice_states(Id::new(guild.id))
        .await?
        .into_iter()
        .map(|s| (s.user_id.get(), s.channel_id.map(Id::get)))
        .collect();
    let truth: BTreeMap<u64, Option<u64>> = guild
        .voice_states
        .values()
        .filter(|s| s.channel_id.is_some())
        .map(|s| (s.user_id, s.channel_id))
        .collect();
    if cached_states != truth {
        diffs.push(format!(
            "guild {} voice: {cached_states:?} != {truth:?}",
            guild.id
        ));
    }
    for channel in &guild.channels {
        if channels
            .get(channel)
            .is_some_and(|c| c.kind == ChannelKind::Voice)
        {
            let cached: BTreeSet<u64> = reader
                .voice_channel_occupants(Id::new(*channel))
                .await?
                .into_iter()
                .map(Id::get)
                .collect();
            let truth = occupants.remove(channel).unwrap_or_default();
            if cached != truth {
                diffs.push(format!("voice channel {channel}: {cached:?} != {truth:?}"));
            }
        }
    }
    Ok(())
}

async fn assert_matches(reader: &CacheReader, sim: &DiscordSim, when: &str) {
    let diffs = differences(reader, sim).await.expect("read the cache");
    assert!(
        diffs.is_empty(),
        "{when}: {} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Waits until the cache equals the world again (after a fault), or fails with the diff.
async fn eventually_matches(reader: &CacheReader, sim: &DiscordSim, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let diffs = match differences(reader, sim).await {
            Ok(diffs) if diffs.is_empty() => return,
            Ok(diffs) => diffs,
            Err(error) => vec![error.to_string()],
        };
        assert!(
            Instant::now() < deadline,
            "{when}: {} differences after 30 s:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_cache_equals_the_simulator_through_changes_a_redis_restart_and_a_reidentify() {
    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::start(sim_config(2)).await;
    let control = cluster.sim.control();
    let a = guild_on(&cluster, 0, 2, 20);
    let b = guild_on(&cluster, 1, 2, 20);
    control
        .set_voice(&VoiceSpec {
            guild_id: a.id,
            user_id: a.members[0],
            channel_id: Some(a.voice_channels[0]),
        })
        .expect("voice");
    let mut tap = cluster.tap().await;
    let gateway = cluster
        .gateway("gw-cache", &[("REDIS_URL", &redis.url())])
        .await;
    gateway.wait_ready(READY).await;
    let reader = reader(&redis.url(), &cluster.prefix).await;
    settle(&cluster, &mut tap, &[&a, &b]).await;
    assert_matches(&reader, &cluster.sim, "after start-up").await;

    // A scripted stream touching every cached entity kind.
    let helpers = change_members_and_roles(&control, &a);
    change_a_text_channel(&control, &a, helpers);
    move_through_voice_channels(&control, &a);
    delete_remove_and_rename(&cluster, &a, helpers);
    let c = change_guilds(&cluster, &b);
    settle(&cluster, &mut tap, &[&a, &c]).await;
    assert_matches(&reader, &cluster.sim, "after the scripted stream").await;
    control.set_guild_unavailable(b.id, false).expect("back");
    settle(&cluster, &mut tap, &[&a, &c]).await;
    assert_matches(&reader, &cluster.sim, "after the outage").await;

    // Redis restarts empty: the gateway loses its leases and sessions, re-identifies, and
    // READY + GUILD_CREATE rebuild the cache.
    redis.restart_empty().await;
    eventually_matches(&reader, &cluster.sim, "after a Redis restart").await;

    // Changes the gateway never hears about (a lost session), then a re-identify: READY
    // purges the shard's stale guilds, GUILD_CREATE rebuilds them.
    change_behind_the_gateways_back(&cluster, &a, &c);
    control.shard_action(0, ShardAction::Invalidate);
    control.shard_action(1, ShardAction::Invalidate);
    eventually_matches(&reader, &cluster.sim, "after a re-identify").await;
    assert_no_malformed_or_refused_cache_writes(&gateway).await;
}

/// Adds a member, gives roles and a nickname, creates and updates a role; returns that role.
fn change_members_and_roles(control: &Control, a: &CreatedGuild) -> u64 {
    let newcomer = control.create_user("newcomer");
    control
        .add_member(a.id, newcomer, &[a.moderator_role])
        .expect("add");
    control
        .update_member(a.id, a.members[1], Some("nick"), &[a.moderator_role])
        .expect("update");
    let helpers = control.create_role(a.id, "helpers", 1 << 13).expect("role");
    control
        .update_role(a.id, helpers, "helpers2", (1 << 13) | (1 << 11))
        .expect("update role");
    control
        .update_member(a.id, a.members[2], None, &[helpers])
        .expect("update");
    helpers
}

/// Creates a text channel, then renames it and gives it a role and a member overwrite.
fn change_a_text_channel(control: &Control, a: &CreatedGuild, helpers: u64) {
    let text = control
        .create_channel(a.id, ChannelKind::Text, "new")
        .expect("channel");
    control
        .update_channel(
            text,
            "renamed",
            vec![
                Overwrite {
                    id: helpers,
                    kind: 0,
                    allow: 1 << 11,
                    deny: 0,
                },
                Overwrite {
                    id: a.members[3],
                    kind: 1,
                    allow: 0,
                    deny: 1 << 11,
                },
            ],
        )
        .expect("update channel");
}

/// A member joins a voice channel, another moves into it, then the first leaves.
fn move_through_voice_channels(control: &Control, a: &CreatedGuild) {
    control
        .set_voice(&VoiceSpec {
            guild_id: a.id,
            user_id: a.members[1],
            channel_id: Some(a.voice_channels[1]),
        })
        .expect("voice");
    control
        .set_voice(&VoiceSpec {
            guild_id: a.id,
            user_id: a.members[0],
            channel_id: Some(a.voice_channels[1]),
        })
        .expect("move");
    control
        .set_voice(&VoiceSpec {
            guild_id: a.id,
            user_id: a.members[1],
            channel_id: None,
        })
        .expect("leave");
}

/// Deletes the role, removes a member, renames a user and the bot.
fn delete_remove_and_rename(cluster: &Cluster, a: &CreatedGuild, helpers: u64) {
    let control = cluster.sim.control();
    control.delete_role(a.id, helpers).expect("delete role");
    control.remove_member(a.id, a.members[4]).expect("remove");
    control
        .rename_user(a.members[5], "renamed-user")
        .expect("rename");
    let bot = cluster.sim.shared().world().bot.id;
    control.rename_user(bot, "renamed-bot").expect("rename bot");
}

/// Renames `b`, occupies then deletes a voice channel in it, creates a guild on each shard,
/// leaves the one on shard 0, and makes `b` unavailable; returns the guild that stays.
fn change_guilds(cluster: &Cluster, b: &CreatedGuild) -> CreatedGuild {
    let control = cluster.sim.control();
    control
        .update_guild(b.id, "b renamed")
        .expect("update guild");
    let vb = control
        .create_channel(b.id, ChannelKind::Voice, "vb")
        .expect("channel");
    control
        .set_voice(&VoiceSpec {
            guild_id: b.id,
            user_id: b.members[0],
            channel_id: Some(vb),
        })
        .expect("voice");
    control.delete_channel(vb).expect("delete channel");
    let c = guild_on(cluster, 1, 2, 5);
    let gone = guild_on(cluster, 0, 2, 5);
    control.remove_guild(gone.id).expect("leave guild");
    control.set_guild_unavailable(b.id, true).expect("outage");
    c
}

/// Edits the world with no event sent: removes a member of `a`, renames `a`, drops `c`.
fn change_behind_the_gateways_back(cluster: &Cluster, a: &CreatedGuild, c: &CreatedGuild) {
    let mut world = cluster.sim.shared().world();
    let guild = world.guilds.get_mut(&a.id).expect("a");
    guild.members.remove(&a.members[6]);
    "renamed while away".clone_into(&mut guild.name);
    world.guilds.remove(&c.id);
}

/// The Redis restart causes failed writes (retried); nothing was malformed or refused.
async fn assert_no_malformed_or_refused_cache_writes(gateway: &Gateway) {
    let metrics = gateway.metrics().await;
    for kind in ["malformed", "command"] {
        assert!(
            !metrics.contains(&format!("swarmcord_cache_errors_total{{kind=\"{kind}\"}}")),
            "{kind} cache errors:\n{metrics}"
        );
    }
}

/// A worker handling event E reads a cache that includes E: under load (a message blast on
/// both shards), every forwarded member update is checked against the cache at the moment it
/// is received. Nicknames count up per member, so the cache must show E's or a later one.
#[tokio::test]
async fn a_worker_reading_the_cache_for_event_e_always_sees_e() {
    let cluster = Cluster::start(sim_config(2)).await;
    let a = guild_on(&cluster, 0, 2, 40);
    let b = guild_on(&cluster, 1, 2, 40);
    let mut tap = cluster.tap().await;
    let gateway = cluster.gateway("gw-order", &[]).await;
    gateway.wait_ready(READY).await;
    let reader = reader(&swarmcord_testkit::redis_url(), &cluster.prefix).await;
    settle(&cluster, &mut tap, &[&a, &b]).await;

    let control = cluster.sim.control();
    let blast = tokio::spawn({
        let control = control.clone();
        async move {
            control
                .blast(&BlastSpec {
                    count: 20_000,
                    rate: 0,
                    ..BlastSpec::default()
                })
                .await
                .expect("blast")
        }
    });
    let updater = tokio::task::spawn_blocking({
        let (a, b) = (a.clone(), b.clone());
        move || {
            for k in 1..=UPDATES {
                let guild = if k % 2 == 0 { &a } else { &b };
                let user = guild.members[k % guild.members.len()];
                control
                    .update_member(
                        guild.id,
                        user,
                        Some(&format!("n{k}")),
                        &[guild.moderator_role],
                    )
                    .expect("update");
                if k % 100 == 0 {
                    control
                        .create_role(guild.id, &format!("r{k}"), 0)
                        .expect("role");
                }
            }
        }
    });
    let (mut checked, mut violations) = (0usize, Vec::new());
    let (mut roles_checked, deadline) = (0usize, Instant::now() + Duration::from_secs(90));
    while (checked < UPDATES || roles_checked < UPDATES / 100) && Instant::now() < deadline {
        let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), tap.rx.recv()).await
        else {
            break;
        };
        let guild = event.body["guild_id"]
            .as_str()
            .and_then(|g| g.parse::<u64>().ok());
        match event.kind.as_str() {
            "GUILD_MEMBER_UPDATE" => {
                let user: u64 = event.body["user"]["id"]
                    .as_str()
                    .expect("user")
                    .parse()
                    .expect("id");
                let nick =
                    |n: Option<&str>| n.and_then(|n| n.strip_prefix('n')?.parse::<usize>().ok());
                let expected = nick(event.body["nick"].as_str()).expect("nick");
                let cached = reader
                    .member(Id::new(guild.expect("guild")), Id::new(user))
                    .await
                    .expect("read")
                    .and_then(|m| nick(m.nick.as_deref()));
                if cached.is_none_or(|c| c < expected) {
                    violations.push(format!("event n{expected}: cache {cached:?}"));
                }
                checked += 1;
            }
            "GUILD_ROLE_CREATE" => {
                let role: u64 = event.body["role"]["id"]
                    .as_str()
                    .expect("role")
                    .parse()
                    .expect("id");
                if reader
                    .role(Id::new(guild.expect("guild")), Id::new(role))
                    .await
                    .expect("read")
                    .is_none()
                {
                    violations.push(format!("role {role} not cached when its event arrived"));
                }
                roles_checked += 1;
            }
            _ => {}
        }
    }
    updater.await.expect("updater");
    let report = blast.await.expect("blast");
    assert_eq!(checked, UPDATES, "every member update was forwarded");
    assert_eq!(roles_checked, UPDATES / 100);
    assert!(
        violations.is_empty(),
        "{} violations: {violations:?}",
        violations.len()
    );
    println!(
        "checked {checked} member updates and {roles_checked} role creations against the cache during a {:.0}/s message blast",
        report.per_second
    );
}

/// Redis goes away and comes back with its data: the gateway holds the events back (the
/// ordering guarantee holds), loses none, and forwards them once the cache writes succeed.
#[tokio::test]
async fn a_redis_outage_holds_events_back_and_loses_none() {
    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::start(sim_config(1)).await;
    let a = guild_on(&cluster, 0, 1, 5);
    let mut tap = cluster.tap().await;
    let gateway = cluster
        .gateway(
            "gw-outage",
            &[("REDIS_URL", &redis.url()), ("SHARD_LEASE_TTL_MS", "15000")],
        )
        .await;
    gateway.wait_ready(READY).await;
    settle(&cluster, &mut tap, &[&a]).await;

    redis.stop_saving().await;
    let control = cluster.sim.control();
    control
        .update_member(a.id, a.members[0], Some("during the outage"), &[])
        .expect("update");
    let mut sent = BTreeSet::new();
    for i in 0..20 {
        sent.insert(
            control
                .post_message(&MessageSpec {
                    channel_id: a.text_channels[0],
                    author_id: a.members[1],
                    content: format!("m{i}"),
                })
                .expect("post"),
        );
    }
    let early = tap.collect_until(Duration::from_secs(2), |_| false).await;
    assert!(
        early.is_empty(),
        "nothing is forwarded while its cache write waits: {early:?}"
    );
    redis.start_again().await;
    let seen = tap
        .collect_until(Duration::from_secs(20), |s| {
            s.iter().filter(|e| e.kind == "MESSAGE_CREATE").count() >= sent.len()
        })
        .await;
    assert_eq!(seen[0].kind, "GUILD_MEMBER_UPDATE", "in order");
    let ids: BTreeSet<u64> = seen
        .iter()
        .filter(|e| e.kind == "MESSAGE_CREATE")
        .filter_map(|e| e.body["id"].as_str()?.parse().ok())
        .collect();
    assert_eq!(ids, sent, "no event lost");
    let reader = reader(&redis.url(), &cluster.prefix).await;
    let member = reader
        .member(Id::new(a.id), Id::new(a.members[0]))
        .await
        .expect("read")
        .expect("member");
    assert_eq!(member.nick.as_deref(), Some("during the outage"));
    assert_matches(&reader, &cluster.sim, "after the outage").await;
}

/// With `CACHE_PREVIOUS_STATE=true`, an update carries the entity's state before it.
#[tokio::test]
async fn updates_carry_the_previous_state_when_asked() {
    let cluster = Cluster::start(sim_config(1)).await;
    let a = guild_on(&cluster, 0, 1, 3);
    let mut tap = cluster.tap().await;
    let gateway = cluster
        .gateway("gw-previous", &[("CACHE_PREVIOUS_STATE", "true")])
        .await;
    gateway.wait_ready(READY).await;
    settle(&cluster, &mut tap, &[&a]).await;
    let control = cluster.sim.control();
    control
        .update_member(a.id, a.members[0], Some("first"), &[])
        .expect("update");
    control
        .update_role(a.id, a.moderator_role, "Mods", 1 << 2)
        .expect("role");
    let seen = tap
        .collect_until(Duration::from_secs(10), |s| s.len() >= 2)
        .await;
    let previous = |kind: &str| -> serde_json::Value {
        let event = seen.iter().find(|e| e.kind == kind).expect(kind);
        serde_json::from_str(
            event
                .headers
                .get(swarmcord_cache::PREVIOUS_STATE_HEADER)
                .expect("previous state header"),
        )
        .expect("json")
    };
    let member: swarmcord_cache::CachedMember =
        serde_json::from_value(previous("GUILD_MEMBER_UPDATE")).expect("member");
    assert_eq!(
        (member.user_id.get(), member.nick),
        (a.members[0], None),
        "the state before the update"
    );
    let role: swarmcord_cache::CachedRole =
        serde_json::from_value(previous("GUILD_ROLE_UPDATE")).expect("role");
    assert_eq!(role.name, "Moderator");
}

//! Threads: `POST /channels/{id}/messages/{mid}/threads`, `POST /channels/{id}/threads` and
//! `/channels/{id}/thread-members[/@me|/{uid}]` (join, leave, add, remove, get, list), with
//! `THREAD_CREATE`, `THREAD_MEMBER_UPDATE` and `THREAD_MEMBERS_UPDATE` as Discord sends them.
//! Posting into a thread uses the message routes with the thread's id as channel.

use std::sync::MutexGuard;

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, Dispatch, FormErrors, Reply, bad_length_error};
use super::messages::{message_in_channel, visible_channel};
use crate::discord::world::{
    Channel, ChannelKind, PERM_ADMINISTRATOR, PERM_MANAGE_THREADS, Thread, World,
};
use crate::util::unix_ms;

/// `CREATE_PUBLIC_THREADS`.
const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
/// `CREATE_PRIVATE_THREADS`.
const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
/// `SEND_MESSAGES_IN_THREADS`.
pub(super) const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
/// The documented `auto_archive_duration` values, in minutes.
const ARCHIVE_DURATIONS: [u64; 4] = [60, 1440, 4320, 10080];

/// The validated body of a thread creation.
struct NewThread {
    name: String,
    auto_archive_duration: u64,
    kind: ChannelKind,
    invitable: bool,
}

/// Validates `name` (1–100), `auto_archive_duration` and, without a message, the required
/// `type` (10, 11 or 12): 50035 with every problem.
fn parse_new_thread(body: &Value, from_message: bool) -> Result<NewThread, ApiError> {
    let mut errors = FormErrors::default();
    let name = match &body["name"] {
        Value::String(s) if (1..=100).contains(&s.chars().count()) => s.clone(),
        Value::Null => {
            errors.add(&["name"], "BASE_TYPE_REQUIRED", "This field is required");
            String::new()
        }
        _ => {
            bad_length_error(&mut errors, &["name"], 1, 100);
            String::new()
        }
    };
    let auto_archive_duration = match &body["auto_archive_duration"] {
        Value::Null => 4320,
        value => value
            .as_u64()
            .filter(|d| ARCHIVE_DURATIONS.contains(d))
            .unwrap_or_else(|| {
                errors.add(
                    &["auto_archive_duration"],
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {60, 1440, 4320, 10080}.",
                );
                0
            }),
    };
    let kind = if from_message {
        ChannelKind::PublicThread
    } else {
        match &body["type"] {
            Value::Null => {
                errors.add(&["type"], "BASE_TYPE_REQUIRED", "This field is required");
                ChannelKind::PublicThread
            }
            value => value
                .as_u64()
                .and_then(ChannelKind::from_code)
                .filter(|k| k.code() >= 10)
                .unwrap_or_else(|| {
                    errors.add(
                        &["type"],
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {10, 11, 12}.",
                    );
                    ChannelKind::PublicThread
                }),
        }
    };
    errors.check()?;
    Ok(NewThread {
        name,
        auto_archive_duration,
        kind,
        invitable: body["invitable"].as_bool().unwrap_or(true),
    })
}

/// A channel threads can be started in, with the bot's permissions there: 10003 / 50001,
/// 50024 for anything but a guild text channel (DMs, voice, categories, threads).
fn thread_parent(world: &World, bot_id: u64, channel_id: u64) -> Result<(u64, u64), ApiError> {
    let perms = visible_channel(world, bot_id, channel_id)?;
    match world.channels.get(&channel_id) {
        Some(Channel {
            kind: ChannelKind::Text,
            guild_id: Some(guild_id),
            ..
        }) => Ok((*guild_id, perms)),
        _ => Err(ApiError::invalid_channel_type()),
    }
}

/// A thread the bot can see, with its guild and the bot's permissions: 10003 / 50001, 50024
/// when the channel is not a thread.
fn visible_thread(world: &World, bot_id: u64, thread_id: u64) -> Result<(u64, u64), ApiError> {
    let perms = visible_channel(world, bot_id, thread_id)?;
    match world.channels.get(&thread_id) {
        Some(Channel {
            thread: Some(_),
            guild_id: Some(guild_id),
            ..
        }) => Ok((*guild_id, perms)),
        _ => Err(ApiError::invalid_channel_type()),
    }
}

fn thread_ref(world: &World, thread_id: u64) -> Result<&Thread, ApiError> {
    world
        .channels
        .get(&thread_id)
        .and_then(|c| c.thread.as_ref())
        .ok_or_else(ApiError::unknown_channel)
}

fn thread_state(world: &mut World, thread_id: u64) -> Result<&mut Thread, ApiError> {
    world
        .channels
        .get_mut(&thread_id)
        .and_then(|c| c.thread.as_mut())
        .ok_or_else(ApiError::unknown_channel)
}

/// Stores the thread (the bot its owner and first member) and answers 201 with it, plus
/// `THREAD_CREATE` (`newly_created`, the bot's thread member).
fn create(world: &mut World, id: u64, parent: (u64, u64), new: NewThread, bot_id: u64) -> Reply {
    let (guild_id, parent_id) = parent;
    let now = unix_ms();
    let thread = Thread {
        owner_id: bot_id,
        auto_archive_duration: new.auto_archive_duration,
        invitable: new.invitable,
        created_ms: now,
        members: std::iter::once((bot_id, now)).collect(),
        ..Thread::default()
    };
    let channel = Channel {
        id,
        kind: new.kind,
        guild_id: Some(guild_id),
        name: Some(new.name),
        position: 0,
        parent_id: Some(parent_id),
        overwrites: Vec::new(),
        recipients: Vec::new(),
        last_message_id: None,
        thread: Some(thread),
    };
    let member = channel
        .thread
        .as_ref()
        .and_then(|t| t.member_json(id, bot_id));
    let mut body = channel.to_json(&world.users);
    world.channels.insert(id, channel);
    body["member"] = member.unwrap_or(Value::Null);
    let mut event = body.clone();
    event["newly_created"] = json!(true);
    Reply::created(body).dispatch(Some(guild_id), "THREAD_CREATE", event)
}

/// `POST /channels/{id}/messages/{mid}/threads`: a public thread with the message's id;
/// `CREATE_PUBLIC_THREADS` (50013), 10008 for a message not in the channel, 160004 when the
/// message already has one.
pub(super) fn start_from_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let message_id = ctx.id("message_id")?;
    let new = parse_new_thread(ctx.body(), true)?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let (guild_id, perms) = thread_parent(&world, bot_id, channel_id)?;
    if perms & CREATE_PUBLIC_THREADS == 0 {
        return Err(ApiError::missing_permissions());
    }
    message_in_channel(&world, channel_id, message_id)?;
    if world.channels.contains_key(&message_id) {
        return Err(ApiError::thread_exists());
    }
    Ok(create(
        &mut world,
        message_id,
        (guild_id, channel_id),
        new,
        bot_id,
    ))
}

/// `POST /channels/{id}/threads` `{name, type, auto_archive_duration?, invitable?}`:
/// `CREATE_PUBLIC_THREADS` for type 11, `CREATE_PRIVATE_THREADS` for 12 (50013); type 10 needs
/// an announcement channel, which the simulator does not have (50024).
pub(super) fn start_without_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let channel_id = ctx.id("channel_id")?;
    let new = parse_new_thread(ctx.body(), false)?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let (guild_id, perms) = thread_parent(&world, bot_id, channel_id)?;
    let needed = match new.kind {
        ChannelKind::PublicThread => CREATE_PUBLIC_THREADS,
        ChannelKind::PrivateThread => CREATE_PRIVATE_THREADS,
        _ => return Err(ApiError::invalid_channel_type()),
    };
    if perms & needed == 0 {
        return Err(ApiError::missing_permissions());
    }
    let id = ctx.shared.ids.next();
    Ok(create(&mut world, id, (guild_id, channel_id), new, bot_id))
}

/// `THREAD_MEMBERS_UPDATE` for one member added (with their guild member) or removed.
fn members_update(world: &World, guild_id: u64, thread_id: u64, user_id: u64) -> Value {
    let thread = world
        .channels
        .get(&thread_id)
        .and_then(|c| c.thread.as_ref());
    let count = thread.map_or(0, |t| t.members.len().min(50));
    let mut v = json!({
        "id": thread_id.to_string(),
        "guild_id": guild_id.to_string(),
        "member_count": count,
    });
    match thread.and_then(|t| t.member_json(thread_id, user_id)) {
        Some(mut added) => {
            added["member"] = guild_member_json(world, guild_id, user_id);
            added["presence"] = Value::Null;
            v["added_members"] = json!([added]);
        }
        None => v["removed_member_ids"] = json!([user_id.to_string()]),
    }
    v
}

fn guild_member_json(world: &World, guild_id: u64, user_id: u64) -> Value {
    let member = world
        .guilds
        .get(&guild_id)
        .and_then(|g| g.members.get(&user_id));
    match (member, world.users.get(&user_id)) {
        (Some(member), Some(user)) => member.to_json(user),
        _ => Value::Null,
    }
}

/// Adds or removes `user_id`: 204, and `THREAD_MEMBERS_UPDATE` (plus `THREAD_MEMBER_UPDATE`
/// when the bot itself joins) only when membership changed.
fn set_member(
    ctx: &Ctx<'_>,
    world: &mut World,
    (guild_id, thread_id): (u64, u64),
    user_id: u64,
    join: bool,
) -> Result<Reply, ApiError> {
    let thread = thread_state(world, thread_id)?;
    let changed = if join {
        let fresh = !thread.members.contains_key(&user_id);
        thread.members.entry(user_id).or_insert_with(unix_ms);
        fresh
    } else {
        thread.members.remove(&user_id).is_some()
    };
    if !changed {
        return Ok(Reply::no_content());
    }
    let mut dispatches = Vec::new();
    if join && user_id == ctx.bot_id() {
        let mut own = thread_state(world, thread_id)?
            .member_json(thread_id, user_id)
            .unwrap_or(Value::Null);
        own["guild_id"] = json!(guild_id.to_string());
        dispatches.push(Dispatch {
            guild_id: Some(guild_id),
            event: "THREAD_MEMBER_UPDATE",
            data: own,
        });
    }
    dispatches.push(Dispatch {
        guild_id: Some(guild_id),
        event: "THREAD_MEMBERS_UPDATE",
        data: members_update(world, guild_id, thread_id, user_id),
    });
    Ok(Reply::no_content().dispatches(dispatches))
}

/// The locked world, `(guild_id, thread_id)` and the bot's permissions in the thread.
type MembersRoute<'c> = (MutexGuard<'c, World>, (u64, u64), u64);

/// A `thread-members` route's thread (10003 / 50001 / 50024).
fn members_route<'c>(ctx: &'c Ctx<'_>) -> Result<MembersRoute<'c>, ApiError> {
    let thread_id = ctx.id("channel_id")?;
    let world = ctx.shared.world();
    let (guild_id, perms) = visible_thread(&world, ctx.bot_id(), thread_id)?;
    Ok((world, (guild_id, thread_id), perms))
}

/// `PUT /channels/{id}/thread-members/@me`: 204.
pub(super) fn join(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (mut world, ids, _) = members_route(ctx)?;
    set_member(ctx, &mut world, ids, ctx.bot_id(), true)
}

/// `DELETE /channels/{id}/thread-members/@me`: 204, also when the bot was not a member.
pub(super) fn leave(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (mut world, ids, _) = members_route(ctx)?;
    set_member(ctx, &mut world, ids, ctx.bot_id(), false)
}

/// `PUT /channels/{id}/thread-members/{uid}`: `SEND_MESSAGES_IN_THREADS` (and, in a private
/// thread that is not `invitable`, `MANAGE_THREADS`) or 50013; 10007 if the user is not in the
/// guild.
pub(super) fn add_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let user_id = ctx.id("user_id")?;
    let (mut world, (guild_id, thread_id), perms) = members_route(ctx)?;
    let closed = world
        .channels
        .get(&thread_id)
        .and_then(|c| c.thread.as_ref().map(|t| (c.kind, t.invitable)))
        .is_some_and(|(kind, invitable)| kind == ChannelKind::PrivateThread && !invitable);
    let moderator = perms & (PERM_MANAGE_THREADS | PERM_ADMINISTRATOR) != 0;
    if perms & SEND_MESSAGES_IN_THREADS == 0 || (closed && !moderator) {
        return Err(ApiError::missing_permissions());
    }
    let in_guild = world
        .guilds
        .get(&guild_id)
        .is_some_and(|g| g.members.contains_key(&user_id));
    if !in_guild {
        return Err(ApiError::unknown_member());
    }
    set_member(ctx, &mut world, (guild_id, thread_id), user_id, true)
}

/// `DELETE /channels/{id}/thread-members/{uid}`: `MANAGE_THREADS`, or the owner of a private
/// thread (50013); 10007 if the user is not a member.
pub(super) fn remove_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let user_id = ctx.id("user_id")?;
    let bot_id = ctx.bot_id();
    let (mut world, (guild_id, thread_id), perms) = members_route(ctx)?;
    let channel = world.channels.get(&thread_id);
    let owns_private = channel.is_some_and(|c| {
        c.kind == ChannelKind::PrivateThread
            && c.thread.as_ref().is_some_and(|t| t.owner_id == bot_id)
    });
    if perms & (PERM_MANAGE_THREADS | PERM_ADMINISTRATOR) == 0 && !owns_private {
        return Err(ApiError::missing_permissions());
    }
    if !thread_state(&mut world, thread_id)?
        .members
        .contains_key(&user_id)
    {
        return Err(ApiError::unknown_member());
    }
    set_member(ctx, &mut world, (guild_id, thread_id), user_id, false)
}

/// A thread member object, with the guild member under `member` when `with_member` is set.
fn member_entry(
    world: &World,
    guild_id: u64,
    thread: &Thread,
    ids: (u64, u64),
    with_member: bool,
) -> Option<Value> {
    let (thread_id, user_id) = ids;
    let mut v = thread.member_json(thread_id, user_id)?;
    if with_member {
        v["member"] = guild_member_json(world, guild_id, user_id);
    }
    Some(v)
}

/// `GET /channels/{id}/thread-members/{uid}?with_member=`: 10007 if not a member.
pub(super) fn get_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let user_id = ctx.id("user_id")?;
    let (world, (guild_id, thread_id), _) = members_route(ctx)?;
    let thread = thread_ref(&world, thread_id)?;
    let with_member = ctx.query_flag("with_member");
    member_entry(&world, guild_id, thread, (thread_id, user_id), with_member)
        .map(Reply::json)
        .ok_or_else(ApiError::unknown_member)
}

/// `GET /channels/{id}/thread-members?with_member=&after=&limit=1..100` (default 100): by
/// user id.
pub(super) fn list_members(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let limit = usize::try_from(ctx.query_int("limit", 1, 100, 100)?).unwrap_or(100);
    let after = ctx.query_id("after")?.unwrap_or(0);
    let with_member = ctx.query_flag("with_member");
    let (world, (guild_id, thread_id), _) = members_route(ctx)?;
    let thread = thread_ref(&world, thread_id)?;
    let list: Vec<Value> = thread
        .members
        .keys()
        .filter(|id| **id > after)
        .take(limit)
        .filter_map(|id| member_entry(&world, guild_id, thread, (thread_id, *id), with_member))
        .collect();
    Ok(Reply::json(Value::Array(list)))
}

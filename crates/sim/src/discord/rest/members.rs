//! `PATCH /guilds/{id}/members/{uid}`: nickname, roles, timeout, server mute/deafen and voice
//! moves, each with the permission Discord asks for it.

use serde_json::{Value, json};

use super::Ctx;
use super::error::{ApiError, FormErrors, Reply, max_length_error, snowflake_list};
use super::guilds::{guild, outranks, require};
use super::roles::{MANAGE_ROLES, member_update};
use crate::discord::world::{Guild, PERM_ADMINISTRATOR, VoiceState};
use crate::util::{unix_ms, unix_ms_from_iso};

/// `MANAGE_NICKNAMES`.
const MANAGE_NICKNAMES: u64 = 1 << 27;
/// `MUTE_MEMBERS`.
const MUTE_MEMBERS: u64 = 1 << 22;
/// `DEAFEN_MEMBERS`.
const DEAFEN_MEMBERS: u64 = 1 << 23;
/// `MOVE_MEMBERS`.
const MOVE_MEMBERS: u64 = 1 << 24;
/// `MODERATE_MEMBERS` (timeouts).
const MODERATE_MEMBERS: u64 = 1 << 40;
/// Longest nickname.
const MAX_NICK: usize = 32;
/// Longest timeout: 28 days.
const MAX_TIMEOUT_MS: u64 = 28 * 24 * 3600 * 1000;

/// A nullable body field: left out, sent as `null`, or sent with a value.
enum Field<'a> {
    Absent,
    Null,
    Set(&'a Value),
}

fn field<'a>(body: &'a Value, key: &str) -> Field<'a> {
    match body.get(key) {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(value) => Field::Set(value),
    }
}

/// What a patch does to a nullable member field.
#[derive(Default)]
enum Change<T> {
    /// Left as it is.
    #[default]
    Keep,
    /// Cleared (`null`).
    Clear,
    /// Set to this value.
    Set(T),
}

impl<T> Change<T> {
    fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    /// Applies the change to a stored `Option`.
    fn apply(self, slot: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Clear => *slot = None,
            Self::Set(value) => *slot = Some(value),
        }
    }
}

/// The validated body.
#[derive(Default)]
struct MemberPatch {
    nick: Change<String>,
    roles: Option<Vec<u64>>,
    timeout: Change<String>,
    mute: Option<bool>,
    deaf: Option<bool>,
    channel: Change<u64>,
}

impl MemberPatch {
    fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut errors = FormErrors::default();
        let mut patch = Self::default();
        match field(body, "nick") {
            Field::Set(Value::String(s)) if s.chars().count() > MAX_NICK => {
                max_length_error(&mut errors, &["nick"], MAX_NICK);
            }
            Field::Set(Value::String(s)) if !s.is_empty() => patch.nick = Change::Set(s.clone()),
            Field::Set(Value::String(_)) | Field::Null => patch.nick = Change::Clear,
            Field::Set(_) => errors.add(&["nick"], "BASE_TYPE_STRING", "Must be a string."),
            Field::Absent => {}
        }
        match field(body, "roles") {
            Field::Set(Value::Array(list)) => {
                patch.roles = Some(snowflake_list(&mut errors, "roles", list));
            }
            Field::Null => patch.roles = Some(Vec::new()),
            Field::Set(_) => errors.add(&["roles"], "BASE_TYPE_ARRAY", "Must be an array."),
            Field::Absent => {}
        }
        match field(body, "communication_disabled_until") {
            Field::Set(Value::String(s)) => match unix_ms_from_iso(s) {
                Some(until) if until > unix_ms() + MAX_TIMEOUT_MS => errors.add(
                    &["communication_disabled_until"],
                    "BASE_TYPE_BAD_TIMESTAMP",
                    "Timeout cannot be more than 28 days in the future.",
                ),
                Some(_) => patch.timeout = Change::Set(s.clone()),
                None => errors.add(
                    &["communication_disabled_until"],
                    "DATE_TIME_TYPE_PARSE",
                    &format!("Could not parse {s}. Should be ISO8601."),
                ),
            },
            Field::Null => patch.timeout = Change::Clear,
            Field::Set(_) => errors.add(
                &["communication_disabled_until"],
                "DATE_TIME_TYPE_PARSE",
                "Should be ISO8601.",
            ),
            Field::Absent => {}
        }
        for (key, slot) in [("mute", &mut patch.mute), ("deaf", &mut patch.deaf)] {
            match field(body, key) {
                Field::Set(Value::Bool(b)) => *slot = Some(*b),
                Field::Set(_) | Field::Null => {
                    errors.add(&[key], "BASE_TYPE_BOOLEAN", "Must be either true or false.");
                }
                Field::Absent => {}
            }
        }
        match field(body, "channel_id") {
            Field::Set(value) => match crate::util::snowflake(value) {
                Some(id) => patch.channel = Change::Set(id),
                None => errors.add(
                    &["channel_id"],
                    "NUMBER_TYPE_COERCE",
                    &format!("Value \"{value}\" is not snowflake."),
                ),
            },
            Field::Null => patch.channel = Change::Clear,
            Field::Absent => {}
        }
        errors.check()?;
        Ok(patch)
    }

    /// Every permission and hierarchy check, in one place (50013, 10011, 40032, 10003).
    fn authorize(&self, g: &Guild, bot_id: u64, user_id: u64) -> Result<(), ApiError> {
        let acting_on_other = user_id != bot_id;
        if !self.nick.is_keep() {
            require(g, bot_id, MANAGE_NICKNAMES)?;
        }
        if let Some(roles) = &self.roles {
            require(g, bot_id, MANAGE_ROLES)?;
            let top = super::guilds::top_position(g, bot_id);
            for id in roles {
                let role = g
                    .roles
                    .iter()
                    .find(|r| r.id == *id)
                    .ok_or_else(ApiError::unknown_role)?;
                if bot_id != g.owner_id && role.position >= top {
                    return Err(ApiError::missing_permissions());
                }
            }
        }
        if !self.timeout.is_keep() {
            require(g, bot_id, MODERATE_MEMBERS)?;
            // Owners and administrators cannot be timed out.
            if user_id == g.owner_id || g.base_permissions(user_id) & PERM_ADMINISTRATOR != 0 {
                return Err(ApiError::missing_permissions());
            }
        }
        if (!self.nick.is_keep() || self.roles.is_some() || !self.timeout.is_keep())
            && acting_on_other
            && !outranks(g, bot_id, user_id)
        {
            return Err(ApiError::missing_permissions());
        }
        if self.mute.is_some() {
            require(g, bot_id, MUTE_MEMBERS)?;
        }
        if self.deaf.is_some() {
            require(g, bot_id, DEAFEN_MEMBERS)?;
        }
        if !self.channel.is_keep() {
            require(g, bot_id, MOVE_MEMBERS)?;
        }
        if let Change::Set(channel) = self.channel
            && !g.channels.contains(&channel)
        {
            return Err(ApiError::unknown_channel());
        }
        let needs_voice = !self.channel.is_keep() || self.mute.is_some() || self.deaf.is_some();
        let in_voice = g
            .voice_states
            .get(&user_id)
            .is_some_and(|v| v.channel_id.is_some());
        if needs_voice && !in_voice {
            return Err(ApiError::not_in_voice());
        }
        Ok(())
    }
}

/// `PATCH /guilds/{guild_id}/members/{user_id}`: 200 with the member; `GUILD_MEMBER_UPDATE`,
/// plus `VOICE_STATE_UPDATE` for a move or a disconnect (`channel_id: null`).
pub(super) fn update_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let guild_id = ctx.id("guild_id")?;
    let user_id = ctx.id("user_id")?;
    let patch = MemberPatch::parse(ctx.body())?;
    let bot_id = ctx.bot_id();
    let mut world = ctx.shared.world();
    let g = guild(&world, guild_id)?;
    if !g.members.contains_key(&user_id) {
        return Err(ApiError::unknown_member());
    }
    patch.authorize(g, bot_id, user_id)?;
    let Some(g) = world.guilds.get_mut(&guild_id) else {
        return Err(ApiError::unknown_guild());
    };
    let moved = apply(g, user_id, patch);
    let payload = member_update(&world, guild_id, user_id).unwrap_or(Value::Null);
    let mut reply =
        Reply::json(payload.clone()).dispatch(Some(guild_id), "GUILD_MEMBER_UPDATE", payload);
    if let Some(state) = moved {
        let g = &world.guilds[&guild_id];
        let member = g.members.get(&user_id).zip(world.users.get(&user_id));
        let mut v = state.to_json(guild_id, member);
        if let Some(m) = g.members.get(&user_id) {
            v["mute"] = json!(m.mute);
            v["deaf"] = json!(m.deaf);
        }
        reply = reply.dispatch(Some(guild_id), "VOICE_STATE_UPDATE", v);
    }
    Ok(reply)
}

/// Applies a checked patch; returns the voice state when it changed channel.
fn apply(g: &mut Guild, user_id: u64, patch: MemberPatch) -> Option<VoiceState> {
    if let Some(member) = g.members.get_mut(&user_id) {
        patch.nick.apply(&mut member.nick);
        if let Some(mut roles) = patch.roles {
            roles.dedup();
            member.roles = roles;
        }
        patch.timeout.apply(&mut member.timeout_until);
        if let Some(mute) = patch.mute {
            member.mute = mute;
        }
        if let Some(deaf) = patch.deaf {
            member.deaf = deaf;
        }
    }
    if patch.channel.is_keep() {
        return None;
    }
    let state = g.voice_states.get_mut(&user_id)?;
    patch.channel.apply(&mut state.channel_id);
    let state = state.clone();
    if state.channel_id.is_none() {
        g.voice_states.remove(&user_id);
    }
    Some(state)
}

//! A member's permissions in a channel, computed as Discord documents ("Permission
//! Overwrites"), from cached data only — and an explicit "unknown" whenever that data is
//! missing, so that callers can fail closed.

use std::time::{SystemTime, UNIX_EPOCH};

use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker};
use twilight_model::util::Timestamp;

use crate::model::{CachedChannel, CachedGuild, CachedMember, CachedRole};

/// The answer of a permission lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionLookup {
    /// Computed from complete, current cache entries.
    Known(Permissions),
    /// The cache cannot tell: deny (or ask Discord).
    Unknown(Unknown),
}

impl PermissionLookup {
    /// The permissions, if known.
    pub fn known(self) -> Option<Permissions> {
        match self {
            Self::Known(permissions) => Some(permissions),
            Self::Unknown(_) => None,
        }
    }

    /// Whether every bit of `required` is known to be granted (`false` when unknown).
    pub fn allows(self, required: Permissions) -> bool {
        self.known().is_some_and(|p| p.contains(required))
    }
}

/// Why the cache cannot tell a member's permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unknown {
    /// The guild is not cached (not received yet, purged after a re-identify or a Redis
    /// restart, or not cached by configuration).
    GuildNotCached,
    /// The guild is in an outage (`unavailable`).
    GuildUnavailable,
    /// The channel is not cached (or is a thread, which the cache does not keep).
    ChannelNotCached,
    /// The channel belongs to another guild (or to none).
    ChannelNotInGuild,
    /// The member is not cached (large guild without chunking, or not cached by
    /// configuration).
    MemberNotCached,
    /// The guild's roles are incomplete (`@everyone` is missing).
    RolesIncomplete,
}

/// Everything the computation needs (complete by construction).
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub(crate) guild: CachedGuild,
    pub(crate) roles: Vec<CachedRole>,
    pub(crate) channel: Option<CachedChannel>,
    pub(crate) member: CachedMember,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Whether a `communication_disabled_until` lies in the future.
fn timed_out(until: Option<&str>) -> bool {
    until
        .and_then(|t| Timestamp::parse(t).ok())
        .is_some_and(|t| t.as_micros() > now_micros())
}

/// The member's guild-level permissions (`@everyone` + roles; owner and administrators get
/// everything; a timed-out member keeps only `VIEW_CHANNEL` and `READ_MESSAGE_HISTORY`).
pub(crate) fn guild_permissions(inputs: &Inputs) -> Permissions {
    let guild_id: Id<GuildMarker> = inputs.guild.id;
    if inputs.member.user_id == inputs.guild.owner_id {
        return Permissions::all();
    }
    let everyone: Id<RoleMarker> = guild_id.cast();
    let mut perms = Permissions::empty();
    for role in &inputs.roles {
        // A member role that is not in the (complete) role list was deleted: it grants nothing.
        if role.id == everyone || inputs.member.roles.contains(&role.id) {
            perms |= role.permissions;
        }
    }
    if perms.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    if timed_out(inputs.member.communication_disabled_until.as_deref()) {
        perms &= Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY;
    }
    perms
}

/// The member's permissions in `inputs.channel` (or guild-level without a channel).
pub(crate) fn compute(inputs: &Inputs) -> Permissions {
    let base = guild_permissions(inputs);
    if base == Permissions::all() {
        return base;
    }
    let Some(channel) = &inputs.channel else {
        return base;
    };
    let everyone = inputs.guild.id.cast();
    let mut perms = base;
    if let Some(o) = channel.overwrites.iter().find(|o| o.id == everyone) {
        perms = (perms - o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (Permissions::empty(), Permissions::empty());
    for o in channel
        .overwrites
        .iter()
        .filter(|o| o.kind == 0 && o.id != everyone && inputs.member.roles.contains(&o.id.cast()))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    perms = (perms - deny) | allow;
    if let Some(o) = channel
        .overwrites
        .iter()
        .find(|o| o.kind == 1 && o.id == inputs.member.user_id.cast())
    {
        perms = (perms - o.deny) | o.allow;
    }
    if timed_out(inputs.member.communication_disabled_until.as_deref()) {
        perms &= Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY;
    }
    // Without VIEW_CHANNEL a member can do nothing in the channel.
    if !perms.contains(Permissions::VIEW_CHANNEL) {
        return Permissions::empty();
    }
    perms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CachedOverwrite;

    fn role(id: u64, permissions: Permissions) -> CachedRole {
        CachedRole {
            id: Id::new(id),
            name: format!("r{id}"),
            permissions,
            position: 0,
            color: 0,
            hoist: false,
            managed: false,
            mentionable: false,
        }
    }

    fn inputs(member_roles: &[u64], overwrites: Vec<CachedOverwrite>) -> Inputs {
        Inputs {
            guild: serde_json::from_value(serde_json::json!({"id": "100", "n": "g", "o": "9"}))
                .expect("guild"),
            roles: vec![
                role(100, Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES),
                role(200, Permissions::BAN_MEMBERS),
            ],
            channel: Some(CachedChannel {
                id: Id::new(300),
                kind: 0,
                guild_id: Some(Id::new(100)),
                name: None,
                position: None,
                parent_id: None,
                overwrites,
                topic: None,
                nsfw: false,
                rate_limit_per_user: None,
                bitrate: None,
                user_limit: None,
            }),
            member: CachedMember {
                user_id: Id::new(5),
                nick: None,
                roles: member_roles.iter().map(|r| Id::new(*r)).collect(),
                joined_at: None,
                avatar: None,
                premium_since: None,
                communication_disabled_until: None,
                pending: false,
                flags: 0,
            },
        }
    }

    fn ow(id: u64, kind: u8, allow: Permissions, deny: Permissions) -> CachedOverwrite {
        CachedOverwrite {
            id: Id::new(id),
            kind,
            allow,
            deny,
        }
    }

    #[test]
    fn overwrites_apply_in_documented_order() {
        let p = compute(&inputs(
            &[200],
            vec![
                ow(100, 0, Permissions::empty(), Permissions::SEND_MESSAGES),
                ow(200, 0, Permissions::SEND_MESSAGES, Permissions::empty()),
                ow(5, 1, Permissions::empty(), Permissions::BAN_MEMBERS),
            ],
        ));
        assert!(
            p.contains(Permissions::SEND_MESSAGES),
            "role overwrite re-allows"
        );
        assert!(
            !p.contains(Permissions::BAN_MEMBERS),
            "member overwrite denies"
        );
        let hidden = compute(&inputs(
            &[],
            vec![ow(100, 0, Permissions::empty(), Permissions::VIEW_CHANNEL)],
        ));
        assert_eq!(hidden, Permissions::empty(), "no view, nothing");
    }

    #[test]
    fn owner_admin_deleted_roles_and_timeouts() {
        let mut owner = inputs(&[], vec![]);
        owner.member.user_id = Id::new(9);
        assert_eq!(compute(&owner), Permissions::all());
        let mut admin = inputs(&[200], vec![]);
        admin.roles[1].permissions = Permissions::ADMINISTRATOR;
        assert_eq!(compute(&admin), Permissions::all());
        let deleted = inputs(
            &[777],
            vec![ow(777, 0, Permissions::KICK_MEMBERS, Permissions::empty())],
        );
        assert!(
            compute(&deleted).contains(Permissions::KICK_MEMBERS),
            "overwrites still name it"
        );
        assert!(!guild_permissions(&deleted).contains(Permissions::KICK_MEMBERS));
        let mut muted = inputs(&[200], vec![]);
        muted.member.communication_disabled_until = Some("2999-01-01T00:00:00.000000+00:00".into());
        assert_eq!(compute(&muted), Permissions::VIEW_CHANNEL);
        muted.member.communication_disabled_until = Some("2001-01-01T00:00:00.000000+00:00".into());
        assert!(compute(&muted).contains(Permissions::SEND_MESSAGES | Permissions::BAN_MEMBERS));
    }
}

//! A member's permissions in a channel, computed as Discord documents ("Permission
//! Overwrites"): the one algorithm of the workspace, over plain inputs ([`compute`]), and the
//! answer of a lookup that may lack data ([`PermissionLookup`]), so that callers fail closed.

use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker, UserMarker};

use twilight_model::util::Timestamp;

use crate::model::{CachedChannel, CachedGuild, CachedMember, CachedOverwrite, CachedRole};

/// The answer of a permission lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionLookup {
    /// Computed from complete, current data.
    Known(Permissions),
    /// Neither the cache nor Discord could tell: deny.
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

/// Why a member's permissions cannot be told.
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

/// Everything the computation needs, whatever it was read from (the cache or Discord REST).
#[derive(Debug, Clone, Copy)]
pub struct PermissionInputs<'a> {
    /// The guild (its id is also the `@everyone` role's).
    pub guild_id: Id<GuildMarker>,
    /// The guild's owner.
    pub owner_id: Id<UserMarker>,
    /// Every role of the guild with its permissions (must include `@everyone`). A member role
    /// missing here was deleted: it grants nothing.
    pub roles: &'a [(Id<RoleMarker>, Permissions)],
    /// The member.
    pub user_id: Id<UserMarker>,
    /// The member's roles.
    pub member_roles: &'a [Id<RoleMarker>],
    /// The channel's overwrites; `None` for guild-level permissions.
    pub overwrites: Option<&'a [CachedOverwrite]>,
    /// Whether the member is timed out (`communication_disabled_until` in the future).
    pub timed_out: bool,
}

/// What a timed-out member keeps.
const TIMED_OUT_KEEPS: Permissions =
    Permissions::VIEW_CHANNEL.union(Permissions::READ_MESSAGE_HISTORY);

/// The member's permissions, in Discord's order: the owner and `ADMINISTRATOR` get
/// everything; otherwise `@everyone` and the member's roles, then (in a channel) the
/// `@everyone` overwrite, the member's role overwrites together, the member's own overwrite; a
/// channel the member cannot see grants nothing, and a timed-out member keeps only
/// `VIEW_CHANNEL` and `READ_MESSAGE_HISTORY`.
pub fn compute(inputs: &PermissionInputs<'_>) -> Permissions {
    if inputs.user_id == inputs.owner_id {
        return Permissions::all();
    }
    let everyone: Id<RoleMarker> = inputs.guild_id.cast();
    let mut perms = Permissions::empty();
    for &(id, permissions) in inputs.roles {
        if id == everyone || inputs.member_roles.contains(&id) {
            perms |= permissions;
        }
    }
    if perms.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    if let Some(overwrites) = inputs.overwrites {
        perms = apply_overwrites(perms, overwrites, inputs);
        if !perms.contains(Permissions::VIEW_CHANNEL) {
            return Permissions::empty();
        }
    }
    if inputs.timed_out {
        perms &= TIMED_OUT_KEEPS;
    }
    perms
}

/// Applies a channel's overwrites to the base permissions (kind 0 = role, 1 = member).
fn apply_overwrites(
    base: Permissions,
    overwrites: &[CachedOverwrite],
    inputs: &PermissionInputs<'_>,
) -> Permissions {
    let everyone = inputs.guild_id.cast();
    let mut perms = base;
    if let Some(o) = overwrites.iter().find(|o| o.id == everyone) {
        perms = (perms - o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (Permissions::empty(), Permissions::empty());
    for o in overwrites
        .iter()
        .filter(|o| o.kind == 0 && o.id != everyone && inputs.member_roles.contains(&o.id.cast()))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    perms = (perms - deny) | allow;
    if let Some(o) = overwrites
        .iter()
        .find(|o| o.kind == 1 && o.id == inputs.user_id.cast())
    {
        perms = (perms - o.deny) | o.allow;
    }
    perms
}

/// What the cache (or a REST answer kept like it) holds for a computation (complete by
/// construction).
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub(crate) guild: CachedGuild,
    pub(crate) roles: Vec<CachedRole>,
    pub(crate) channel: Option<CachedChannel>,
    pub(crate) member: CachedMember,
}

/// Whether a `communication_disabled_until` lies in the future.
pub(crate) fn timed_out(until: Option<&str>) -> bool {
    until
        .and_then(|t| Timestamp::parse(t).ok())
        .is_some_and(|t| t.as_micros() > swarmcord_protocol::time::unix_micros())
}

impl Inputs {
    fn with<T>(&self, channel_level: bool, f: impl FnOnce(&PermissionInputs<'_>) -> T) -> T {
        let roles: Vec<(Id<RoleMarker>, Permissions)> =
            self.roles.iter().map(|r| (r.id, r.permissions)).collect();
        f(&PermissionInputs {
            guild_id: self.guild.id,
            owner_id: self.guild.owner_id,
            roles: &roles,
            user_id: self.member.user_id,
            member_roles: &self.member.roles,
            overwrites: self
                .channel
                .as_ref()
                .filter(|_| channel_level)
                .map(|c| c.overwrites.as_slice()),
            timed_out: timed_out(self.member.communication_disabled_until.as_deref()),
        })
    }

    /// The member's permissions in the channel (guild-level without one).
    pub(crate) fn compute(&self) -> Permissions {
        self.with(true, compute)
    }

    /// The member's guild-level permissions (roles only).
    pub(crate) fn guild_permissions(&self) -> Permissions {
        self.with(false, compute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compute_cached(inputs: &Inputs) -> Permissions {
        inputs.compute()
    }

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
        let p = compute_cached(&inputs(
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
        let hidden = compute_cached(&inputs(
            &[],
            vec![ow(100, 0, Permissions::empty(), Permissions::VIEW_CHANNEL)],
        ));
        assert_eq!(hidden, Permissions::empty(), "no view, nothing");
    }

    #[test]
    fn owner_admin_deleted_roles_and_timeouts() {
        let mut owner = inputs(&[], vec![]);
        owner.member.user_id = Id::new(9);
        assert_eq!(compute_cached(&owner), Permissions::all());
        let mut admin = inputs(&[200], vec![]);
        admin.roles[1].permissions = Permissions::ADMINISTRATOR;
        assert_eq!(compute_cached(&admin), Permissions::all());
        let deleted = inputs(
            &[777],
            vec![ow(777, 0, Permissions::KICK_MEMBERS, Permissions::empty())],
        );
        assert!(
            compute_cached(&deleted).contains(Permissions::KICK_MEMBERS),
            "overwrites still name it"
        );
        assert!(
            !deleted
                .guild_permissions()
                .contains(Permissions::KICK_MEMBERS)
        );
        let mut muted = inputs(&[200], vec![]);
        muted.member.communication_disabled_until = Some("2999-01-01T00:00:00.000000+00:00".into());
        assert_eq!(compute_cached(&muted), Permissions::VIEW_CHANNEL);
        muted.member.communication_disabled_until = Some("2001-01-01T00:00:00.000000+00:00".into());
        assert!(
            compute_cached(&muted).contains(Permissions::SEND_MESSAGES | Permissions::BAN_MEMBERS)
        );
    }

    /// The plain-input algorithm, case by case in Discord's order.
    #[test]
    fn documented_order_and_fail_closed_defaults() {
        const MOD: [Id<RoleMarker>; 1] = [Id::new(2)];
        const ADMIN: [Id<RoleMarker>; 1] = [Id::new(3)];
        let roles = [
            (
                Id::new(1),
                Permissions::VIEW_CHANNEL
                    | Permissions::SEND_MESSAGES
                    | Permissions::READ_MESSAGE_HISTORY,
            ),
            (Id::new(2), Permissions::BAN_MEMBERS),
            (Id::new(3), Permissions::ADMINISTRATOR),
        ];
        let overwrites = [
            ow(1, 0, Permissions::empty(), Permissions::SEND_MESSAGES),
            ow(2, 0, Permissions::SEND_MESSAGES, Permissions::empty()),
            ow(7, 1, Permissions::empty(), Permissions::BAN_MEMBERS),
        ];
        let base = |user: u64, member_roles: &'static [Id<RoleMarker>]| PermissionInputs {
            guild_id: Id::new(1),
            owner_id: Id::new(99),
            roles: &roles,
            user_id: Id::new(user),
            member_roles,
            overwrites: Some(&overwrites),
            timed_out: false,
        };
        let moderator = compute(&base(7, &MOD));
        assert!(
            moderator.contains(Permissions::SEND_MESSAGES),
            "role overwrite re-allows"
        );
        assert!(
            !moderator.contains(Permissions::BAN_MEMBERS),
            "member overwrite denies"
        );
        let nobody = compute(&base(8, &[]));
        assert!(
            !nobody.contains(Permissions::SEND_MESSAGES),
            "@everyone overwrite denies"
        );
        assert_eq!(compute(&base(8, &ADMIN)), Permissions::all());
        assert_eq!(compute(&base(99, &[])), Permissions::all(), "the owner");
        let muted = compute(&PermissionInputs {
            timed_out: true,
            ..base(7, &MOD)
        });
        assert_eq!(
            muted,
            Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY,
            "a timed-out member only reads"
        );
        let guild_level = compute(&PermissionInputs {
            overwrites: None,
            timed_out: true,
            ..base(7, &MOD)
        });
        assert_eq!(
            guild_level,
            Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY,
            "a timed-out member only reads at guild level too"
        );
        let hidden = [ow(8, 1, Permissions::empty(), Permissions::VIEW_CHANNEL)];
        assert_eq!(
            compute(&PermissionInputs {
                overwrites: Some(&hidden),
                ..base(8, &MOD)
            }),
            Permissions::empty(),
            "a channel one cannot see grants nothing"
        );
    }

    /// A role overwrite cannot undo the member's own overwrite, and an `@everyone` overwrite
    /// yields to any role overwrite.
    #[test]
    fn member_overwrite_wins_over_role_overwrites_which_win_over_everyone() {
        let roles = [
            (Id::new(1), Permissions::VIEW_CHANNEL),
            (Id::new(2), Permissions::empty()),
        ];
        let overwrites = [
            ow(5, 1, Permissions::empty(), Permissions::ATTACH_FILES),
            ow(
                2,
                0,
                Permissions::ATTACH_FILES | Permissions::EMBED_LINKS,
                Permissions::empty(),
            ),
            ow(1, 0, Permissions::empty(), Permissions::EMBED_LINKS),
        ];
        let perms = compute(&PermissionInputs {
            guild_id: Id::new(1),
            owner_id: Id::new(99),
            roles: &roles,
            user_id: Id::new(5),
            member_roles: &[Id::new(2)],
            overwrites: Some(&overwrites),
            timed_out: false,
        });
        assert_eq!(perms, Permissions::VIEW_CHANNEL | Permissions::EMBED_LINKS);
    }
}

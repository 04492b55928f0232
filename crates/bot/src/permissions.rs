//! A member's permissions in a channel, computed as Discord documents ("Permission
//! overwrites"): base permissions from `@everyone` and the member's roles (owner and
//! `ADMINISTRATOR` get everything), then the channel's `@everyone`, role and member overwrites.
//!
//! Missing data never grants anything: the caller treats a failed lookup as "unknown", and the
//! command framework denies permission checks when permissions are unknown.

use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::guild::{Permissions, Role};
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker, UserMarker};

/// Everything the computation needs.
#[derive(Debug, Clone)]
pub struct PermissionInputs<'a> {
    /// The guild.
    pub guild_id: Id<GuildMarker>,
    /// The guild's owner.
    pub owner_id: Id<UserMarker>,
    /// Every role of the guild (must include `@everyone`, whose id is the guild's).
    pub roles: &'a [Role],
    /// The member.
    pub user_id: Id<UserMarker>,
    /// The member's roles.
    pub member_roles: &'a [Id<RoleMarker>],
    /// The channel's overwrites.
    pub overwrites: &'a [PermissionOverwrite],
    /// Whether the member is timed out (`communication_disabled_until` in the future).
    pub timed_out: bool,
}

/// The member's permissions in the channel.
pub fn compute(inputs: &PermissionInputs<'_>) -> Permissions {
    if inputs.user_id == inputs.owner_id {
        return Permissions::all();
    }
    let everyone_id = inputs.guild_id.cast::<RoleMarker>();
    let mut base = Permissions::empty();
    for role in inputs.roles {
        if role.id == everyone_id || inputs.member_roles.contains(&role.id) {
            base |= role.permissions;
        }
    }
    if base.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    let mut perms = base;
    if let Some(o) = inputs
        .overwrites
        .iter()
        .find(|o| o.id == everyone_id.cast())
    {
        perms = (perms - o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (Permissions::empty(), Permissions::empty());
    for o in inputs.overwrites.iter().filter(|o| {
        o.kind == PermissionOverwriteType::Role && inputs.member_roles.contains(&o.id.cast())
    }) {
        allow |= o.allow;
        deny |= o.deny;
    }
    perms = (perms - deny) | allow;
    if let Some(o) = inputs
        .overwrites
        .iter()
        .find(|o| o.kind == PermissionOverwriteType::Member && o.id == inputs.user_id.cast())
    {
        perms = (perms - o.deny) | o.allow;
    }
    // A channel a member cannot see grants nothing in it.
    if !perms.contains(Permissions::VIEW_CHANNEL) {
        return Permissions::empty();
    }
    // A timed-out member keeps only reading.
    if inputs.timed_out {
        perms &= Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY;
    }
    perms
}

/// The current Unix time in seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: u64, permissions: Permissions) -> Role {
        serde_json::from_value(serde_json::json!({
            "id": id.to_string(), "name": "r", "color": 0, "hoist": false, "managed": false,
            "mentionable": false,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null}, "position": 0, "permissions": permissions.bits().to_string(),
            "flags": 0,
        }))
        .expect("role")
    }

    fn overwrite(
        id: u64,
        kind: PermissionOverwriteType,
        allow: Permissions,
        deny: Permissions,
    ) -> PermissionOverwrite {
        PermissionOverwrite {
            id: Id::new(id),
            kind,
            allow,
            deny,
        }
    }

    #[test]
    fn documented_order_and_fail_closed_defaults() {
        static MOD: [Id<RoleMarker>; 1] = [Id::new(2)];
        static ADMIN: [Id<RoleMarker>; 1] = [Id::new(3)];
        let roles = [
            role(
                1,
                Permissions::VIEW_CHANNEL
                    | Permissions::SEND_MESSAGES
                    | Permissions::READ_MESSAGE_HISTORY,
            ),
            role(2, Permissions::BAN_MEMBERS),
            role(3, Permissions::ADMINISTRATOR),
        ];
        let overwrites = [
            overwrite(
                1,
                PermissionOverwriteType::Role,
                Permissions::empty(),
                Permissions::SEND_MESSAGES,
            ),
            overwrite(
                2,
                PermissionOverwriteType::Role,
                Permissions::SEND_MESSAGES,
                Permissions::empty(),
            ),
            overwrite(
                7,
                PermissionOverwriteType::Member,
                Permissions::empty(),
                Permissions::BAN_MEMBERS,
            ),
        ];
        let base = |user: u64, member_roles: &'static [Id<RoleMarker>]| PermissionInputs {
            guild_id: Id::new(1),
            owner_id: Id::new(99),
            roles: &roles,
            user_id: Id::new(user),
            member_roles,
            overwrites: &overwrites,
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
        let hidden = [overwrite(
            8,
            PermissionOverwriteType::Member,
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        assert_eq!(
            compute(&PermissionInputs {
                overwrites: &hidden,
                ..base(8, &MOD)
            }),
            Permissions::empty(),
            "a channel one cannot see grants nothing"
        );
    }
}

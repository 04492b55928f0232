//! Discord's role hierarchy for acting on a member (kick, ban, timeout, role changes).
//!
//! Discord lets a member act on another only when the actor's highest role is *strictly*
//! above the target's; the guild owner is above everyone and nobody can act on the owner.
//! When a bot acts for a member, both the member and the bot must be above the target —
//! otherwise a moderator could use a highly placed bot to act on someone above themselves.
//!
//! Positions are not unique: Discord sorts roles "by position, then by id" ([`RoleRank`]), so
//! at equal positions the older role (the lower id) ranks higher.
//!
//! [`may_act_on`] is the rule over plain inputs; [`FallbackReader::moderation_hierarchy`]
//! reads those inputs from the cache (with REST for what it lacks) and fails closed.

use std::cmp::Ordering;

use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker, UserMarker};

use crate::error::CacheError;
use crate::rest::FallbackReader;

/// A role's place in a guild's hierarchy: a higher position ranks higher; at equal positions
/// the lower id (the older role) ranks higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleRank {
    /// The role's `position`.
    pub position: i64,
    /// The role's id.
    pub id: Id<RoleMarker>,
}

impl Ord for RoleRank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.position
            .cmp(&other.position)
            .then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for RoleRank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The highest of `member_roles` among the guild's roles (`(id, position)` pairs). Roles the
/// guild no longer has are ignored; `None` means the member has only `@everyone`, which ranks
/// below every role.
pub fn highest_role(
    guild_roles: impl IntoIterator<Item = (Id<RoleMarker>, i64)>,
    member_roles: &[Id<RoleMarker>],
) -> Option<RoleRank> {
    guild_roles
        .into_iter()
        .filter(|(id, _)| member_roles.contains(id))
        .map(|(id, position)| RoleRank { position, id })
        .max()
}

/// One party of a hierarchy check: a member and their highest role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked {
    /// The member's user id.
    pub user_id: Id<UserMarker>,
    /// Their highest role (`None`: only `@everyone`).
    pub highest: Option<RoleRank>,
}

/// Why the hierarchy forbids an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HierarchyDenial {
    /// The target owns the guild: nobody can act on the owner.
    TargetIsOwner,
    /// The target's highest role is at or above the invoker's.
    TargetNotBelowInvoker,
    /// The target's highest role is at or above the bot's.
    TargetNotBelowBot,
}

impl HierarchyDenial {
    /// A sentence for the invoker.
    pub fn message(self) -> &'static str {
        match self {
            Self::TargetIsOwner => "Nobody can do that to the server owner.",
            Self::TargetNotBelowInvoker => {
                "You can only do that to members whose highest role is below yours."
            }
            Self::TargetNotBelowBot => {
                "I can only do that to members whose highest role is below mine (move my role higher)."
            }
        }
    }
}

/// Whether `invoker` may have `bot` act on `target` in a guild owned by `owner`: the target is
/// not the owner, and its highest role is strictly below the invoker's (unless the invoker
/// owns the guild) and strictly below the bot's (unless the bot owns the guild).
pub fn may_act_on(
    owner: Id<UserMarker>,
    invoker: Ranked,
    target: Ranked,
    bot: Ranked,
) -> Result<(), HierarchyDenial> {
    if target.user_id == owner {
        return Err(HierarchyDenial::TargetIsOwner);
    }
    if invoker.user_id != owner && target.highest >= invoker.highest {
        return Err(HierarchyDenial::TargetNotBelowInvoker);
    }
    if bot.user_id != owner && target.highest >= bot.highest {
        return Err(HierarchyDenial::TargetNotBelowBot);
    }
    Ok(())
}

/// What cannot be known for a hierarchy check (deny).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HierarchyUnknown {
    /// Neither the cache nor Discord gave the guild's owner and roles.
    Guild,
    /// The invoker is not a member of the guild.
    InvokerNotMember,
    /// The bot is not a member of the guild.
    BotNotMember,
}

/// The answer of [`FallbackReader::moderation_hierarchy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HierarchyLookup {
    /// The action is allowed by the hierarchy.
    Allowed,
    /// The hierarchy forbids it.
    Denied(HierarchyDenial),
    /// An input is missing: deny.
    Unknown(HierarchyUnknown),
}

impl HierarchyLookup {
    /// Whether the action is known to be allowed (`false` when denied or unknown).
    pub fn allowed(self) -> bool {
        self == Self::Allowed
    }
}

impl FallbackReader {
    /// Reads what [`may_act_on`] needs — the guild's owner and roles, and the roles of
    /// `invoker`, `target` and `bot` — from the cache, asking Discord's REST API for what it
    /// lacks (members; the guild and its roles when the cache has no complete copy), and
    /// applies the rule. A target that is not a member has no roles. `Err` (Redis or REST
    /// failed) and [`HierarchyLookup::Unknown`] both mean: deny.
    pub async fn moderation_hierarchy(
        &self,
        guild: Id<GuildMarker>,
        invoker: Id<UserMarker>,
        target: Id<UserMarker>,
        bot: Id<UserMarker>,
    ) -> Result<HierarchyLookup, CacheError> {
        let Some((owner, roles)) = self.owner_and_roles(guild).await? else {
            return Ok(HierarchyLookup::Unknown(HierarchyUnknown::Guild));
        };
        let rank = |member_roles: &[Id<RoleMarker>]| {
            highest_role(roles.iter().map(|r| (r.id, r.position)), member_roles)
        };
        let Some((invoker_member, _)) = self.member(guild, invoker).await? else {
            return Ok(HierarchyLookup::Unknown(HierarchyUnknown::InvokerNotMember));
        };
        let Some((bot_member, _)) = self.member(guild, bot).await? else {
            return Ok(HierarchyLookup::Unknown(HierarchyUnknown::BotNotMember));
        };
        let target_roles = self
            .member(guild, target)
            .await?
            .map(|(member, _)| member.roles)
            .unwrap_or_default();
        let verdict = may_act_on(
            owner,
            Ranked {
                user_id: invoker,
                highest: rank(&invoker_member.roles),
            },
            Ranked {
                user_id: target,
                highest: rank(&target_roles),
            },
            Ranked {
                user_id: bot,
                highest: rank(&bot_member.roles),
            },
        );
        Ok(match verdict {
            Ok(()) => HierarchyLookup::Allowed,
            Err(denial) => HierarchyLookup::Denied(denial),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(
        clippy::unnecessary_wraps,
        reason = "a member's highest role is an Option; the tests build it in one call"
    )]
    fn rank(position: i64, id: u64) -> Option<RoleRank> {
        Some(RoleRank {
            position,
            id: Id::new(id),
        })
    }

    fn party(user: u64, highest: Option<RoleRank>) -> Ranked {
        Ranked {
            user_id: Id::new(user),
            highest,
        }
    }

    const OWNER: u64 = 1;
    const BOT: u64 = 99;

    #[test]
    fn the_reported_case_a_moderator_cannot_ban_an_administrator_through_the_bot() {
        // Moderator at position 1, Administrator at 3, the bot at 5.
        let verdict = may_act_on(
            Id::new(OWNER),
            party(10, rank(1, 201)),
            party(20, rank(3, 203)),
            party(BOT, rank(5, 205)),
        );
        assert_eq!(verdict, Err(HierarchyDenial::TargetNotBelowInvoker));
        // The administrator may act on the moderator.
        let verdict = may_act_on(
            Id::new(OWNER),
            party(20, rank(3, 203)),
            party(10, rank(1, 201)),
            party(BOT, rank(5, 205)),
        );
        assert_eq!(verdict, Ok(()));
    }

    #[test]
    fn equal_roles_and_the_bot_s_own_rank_deny() {
        let owner = Id::new(OWNER);
        let bot = party(BOT, rank(5, 205));
        // The same role: at, not below.
        assert_eq!(
            may_act_on(owner, party(10, rank(2, 202)), party(20, rank(2, 202)), bot),
            Err(HierarchyDenial::TargetNotBelowInvoker)
        );
        // Two members with no roles at all.
        assert_eq!(
            may_act_on(owner, party(10, None), party(20, None), bot),
            Err(HierarchyDenial::TargetNotBelowInvoker)
        );
        // A role above the bot's, or the bot's own level.
        assert_eq!(
            may_act_on(owner, party(10, rank(9, 209)), party(20, rank(6, 206)), bot),
            Err(HierarchyDenial::TargetNotBelowBot)
        );
        assert_eq!(
            may_act_on(owner, party(10, rank(9, 209)), party(20, rank(5, 205)), bot),
            Err(HierarchyDenial::TargetNotBelowBot)
        );
        // A plain member below both.
        assert_eq!(
            may_act_on(owner, party(10, rank(1, 201)), party(20, None), bot),
            Ok(())
        );
    }

    #[test]
    fn ties_in_position_are_broken_by_id_the_older_role_ranks_higher() {
        let older = rank(3, 100);
        let newer = rank(3, 200);
        assert!(older > newer);
        assert!(rank(4, 900) > older, "position first");
        let owner = Id::new(OWNER);
        let bot = party(BOT, rank(10, 1000));
        assert_eq!(
            may_act_on(owner, party(10, older), party(20, newer), bot),
            Ok(())
        );
        assert_eq!(
            may_act_on(owner, party(10, newer), party(20, older), bot),
            Err(HierarchyDenial::TargetNotBelowInvoker)
        );
    }

    #[test]
    fn the_owner_is_exempt_as_invoker_and_untouchable_as_target() {
        let owner = Id::new(OWNER);
        let bot = party(BOT, rank(5, 205));
        // The owner, without any role, may act on a member with a role (below the bot).
        assert_eq!(
            may_act_on(owner, party(OWNER, None), party(20, rank(3, 203)), bot),
            Ok(())
        );
        // ...but not beyond the bot's reach.
        assert_eq!(
            may_act_on(owner, party(OWNER, None), party(20, rank(7, 207)), bot),
            Err(HierarchyDenial::TargetNotBelowBot)
        );
        // Nobody acts on the owner, whatever the roles.
        assert_eq!(
            may_act_on(owner, party(10, rank(9, 209)), party(OWNER, None), bot),
            Err(HierarchyDenial::TargetIsOwner)
        );
    }

    #[test]
    fn highest_role_ignores_roles_the_guild_does_not_have() {
        let guild = [(Id::new(1), 0), (Id::new(2), 4), (Id::new(3), 2)];
        assert_eq!(highest_role(guild, &[Id::new(3), Id::new(2)]), rank(4, 2));
        assert_eq!(highest_role(guild, &[Id::new(3), Id::new(77)]), rank(2, 3));
        assert_eq!(highest_role(guild, &[Id::new(77)]), None);
        assert_eq!(highest_role(guild, &[]), None);
    }
}

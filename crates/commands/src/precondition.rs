//! Preconditions (inhibitors): composable, asynchronous checks run before a command, failing
//! closed.
//!
//! ```
//! use swarmcord_commands::precondition::{PreconditionExt, guild_only, has_permissions, owner_only};
//! use twilight_model::guild::Permissions;
//!
//! let check = guild_only().and(has_permissions(Permissions::BAN_MEMBERS).or(owner_only()));
//! # let _ = check;
//! ```

use std::future::ready;

use std::sync::Arc;

use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

pub use futures_util::future::BoxFuture;

/// A shared, type-erased precondition.
pub type BoxPrecondition = Arc<dyn Precondition>;

/// Who invoked a command, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvocationContext {
    /// The invoking user.
    pub user_id: Id<UserMarker>,
    /// The guild, or `None` in direct messages.
    pub guild_id: Option<Id<GuildMarker>>,
    /// The channel.
    pub channel_id: Id<ChannelMarker>,
    /// Whether the user is an owner of the bot.
    pub is_owner: bool,
    /// The member's permissions in the channel; `None` when unknown (then permission checks
    /// deny).
    pub member_permissions: Option<Permissions>,
    /// The bot's permissions in the channel; `None` when unknown (then commands declaring
    /// [`bot_permissions`](crate::CommandSpec::bot_permissions) are refused). Looked up only
    /// for such commands.
    pub bot_permissions: Option<Permissions>,
    /// Commands the guild has switched off (by name); the dispatcher refuses them, except
    /// `help`.
    pub disabled_commands: Vec<String>,
    /// The gateway event behind the invocation, when it came through a gateway.
    pub source: Option<EventSource>,
}

/// Where the event behind an invocation came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSource {
    /// The gateway replica that received it.
    pub gateway_id: String,
    /// The shard that received it.
    pub shard_id: u32,
    /// When the gateway received it, Unix milliseconds.
    pub received_at_ms: u64,
}

/// A precondition denied the invocation; `reason` is shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Denied {
    /// User-facing reason.
    pub reason: String,
}

impl Denied {
    /// A denial with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// A check run before a command. Implementations must fail closed: when they cannot decide
/// (missing data, a failed lookup), they deny.
pub trait Precondition: Send + Sync {
    /// `Ok(())` to allow, `Err(Denied)` to deny.
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>>;
}

impl<P: Precondition + ?Sized> Precondition for Arc<P> {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        (**self).check(ctx)
    }
}

/// Combinators for every [`Precondition`].
pub trait PreconditionExt: Precondition + Sized {
    /// Both must allow (the second is not run if the first denies).
    fn and<B: Precondition>(self, other: B) -> And<Self, B> {
        And(self, other)
    }

    /// Either must allow (the second is only run if the first denies); when both deny, the
    /// reasons are combined.
    fn or<B: Precondition>(self, other: B) -> Or<Self, B> {
        Or(self, other)
    }

    /// Allows exactly when `self` denies; denies with `reason` otherwise.
    fn not(self, reason: impl Into<String>) -> Not<Self> {
        Not(self, reason.into())
    }
}

impl<P: Precondition> PreconditionExt for P {}

/// See [`PreconditionExt::and`].
#[derive(Clone, Debug)]
pub struct And<A, B>(A, B);

impl<A: Precondition, B: Precondition> Precondition for And<A, B> {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(async move {
            self.0.check(ctx).await?;
            self.1.check(ctx).await
        })
    }
}

/// See [`PreconditionExt::or`].
#[derive(Clone, Debug)]
pub struct Or<A, B>(A, B);

impl<A: Precondition, B: Precondition> Precondition for Or<A, B> {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(async move {
            let Err(first) = self.0.check(ctx).await else {
                return Ok(());
            };
            let Err(second) = self.1.check(ctx).await else {
                return Ok(());
            };
            Err(Denied::new(format!(
                "{} Alternatively: {}",
                first.reason, second.reason
            )))
        })
    }
}

/// See [`PreconditionExt::not`].
#[derive(Clone, Debug)]
pub struct Not<A>(A, String);

impl<A: Precondition> Precondition for Not<A> {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(async move {
            match self.0.check(ctx).await {
                Ok(()) => Err(Denied::new(self.1.clone())),
                Err(_) => Ok(()),
            }
        })
    }
}

/// All of the preconditions must allow (an empty list allows), checked in order.
#[derive(Clone, Default)]
pub struct All(pub Vec<BoxPrecondition>);

impl std::fmt::Debug for All {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("All").field(&self.0.len()).finish()
    }
}

impl Precondition for All {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(async move {
            for precondition in &self.0 {
                precondition.check(ctx).await?;
            }
            Ok(())
        })
    }
}

/// Allows only in guilds.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuildOnly;

impl Precondition for GuildOnly {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(ready(if ctx.guild_id.is_some() {
            Ok(())
        } else {
            Err(Denied::new("This command can only be used in a server."))
        }))
    }
}

/// Allows only the bot owner.
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnerOnly;

impl Precondition for OwnerOnly {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(ready(if ctx.is_owner {
            Ok(())
        } else {
            Err(Denied::new("Only the bot owner can use this command."))
        }))
    }
}

/// Allows members that have all of these permissions (`ADMINISTRATOR` implies all). Denies
/// when the permissions are unknown, including in direct messages (fails closed).
#[derive(Clone, Copy, Debug)]
pub struct HasPermissions(pub Permissions);

impl Precondition for HasPermissions {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        let result = match ctx.member_permissions {
            _ if self.0.is_empty() => Ok(()),
            Some(have) if have.contains(Permissions::ADMINISTRATOR) || have.contains(self.0) => {
                Ok(())
            }
            Some(have) => Err(Denied::new(format!(
                "You need the {} to use this command.",
                permission_phrase(self.0 - have)
            ))),
            None => Err(Denied::new(format!(
                "You need the {} to use this command, and I could not check yours.",
                permission_phrase(self.0)
            ))),
        };
        Box::pin(ready(result))
    }
}

/// A precondition from a synchronous function.
pub struct FromFn<F>(F);

impl<F> std::fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromFn")
    }
}

impl<F> Precondition for FromFn<F>
where
    F: Fn(&InvocationContext) -> Result<(), Denied> + Send + Sync,
{
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(ready((self.0)(ctx)))
    }
}

/// [`GuildOnly`].
pub fn guild_only() -> GuildOnly {
    GuildOnly
}

/// [`OwnerOnly`].
pub fn owner_only() -> OwnerOnly {
    OwnerOnly
}

/// [`HasPermissions`].
pub fn has_permissions(permissions: Permissions) -> HasPermissions {
    HasPermissions(permissions)
}

/// A precondition from a synchronous function.
pub fn from_fn<F>(check: F) -> FromFn<F>
where
    F: Fn(&InvocationContext) -> Result<(), Denied> + Send + Sync,
{
    FromFn(check)
}

/// `Ban Members permission`, `Ban Members, Kick Members permissions`.
fn permission_phrase(permissions: Permissions) -> String {
    let plural = if permissions.bits().count_ones() > 1 {
        "s"
    } else {
        ""
    };
    format!("{} permission{plural}", permission_names(permissions))
}

/// Allows the bot owner whatever `P` says; otherwise `P` decides (its reason is shown as is).
#[derive(Clone, Copy, Debug)]
pub struct UnlessOwner<P>(pub P);

impl<P: Precondition> Precondition for UnlessOwner<P> {
    fn check<'a>(&'a self, ctx: &'a InvocationContext) -> BoxFuture<'a, Result<(), Denied>> {
        if ctx.is_owner {
            return Box::pin(ready(Ok(())));
        }
        self.0.check(ctx)
    }
}

/// [`UnlessOwner`].
pub fn unless_owner<P: Precondition>(precondition: P) -> UnlessOwner<P> {
    UnlessOwner(precondition)
}

/// Human names of permissions as Discord's app shows them: `Ban Members, Manage Server`.
pub fn permission_names(permissions: Permissions) -> String {
    let names: Vec<String> = permissions
        .iter_names()
        .map(|(name, _)| match name {
            "MANAGE_GUILD" => "Manage Server".to_owned(),
            "VIEW_CHANNEL" => "View Channels".to_owned(),
            "MODERATE_MEMBERS" => "Timeout Members".to_owned(),
            "MANAGE_GUILD_EXPRESSIONS" => "Manage Expressions".to_owned(),
            _ => name
                .split('_')
                .map(|word| {
                    let lower = word.to_lowercase();
                    let mut chars = lower.chars();
                    chars.next().map_or_else(String::new, |first| {
                        first.to_uppercase().chain(chars).collect()
                    })
                })
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

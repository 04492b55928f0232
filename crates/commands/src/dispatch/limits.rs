//! The rate limits of an invocation: the per-user limit over all commands and the command's
//! cooldown, counted in Redis, and the "slow down" answer.

use std::time::Duration;

use super::{Dispatcher, Reply};
use crate::args::format_duration;
use crate::cooldown::CooldownError;
use crate::precondition::InvocationContext;
use crate::spec::{CommandSpec, CooldownScope, CooldownSpec};

/// The cooldown of a command that declares none: 10 uses per 10 s per user (enough to queue
/// a few songs in a row; a flood gets ten answers and one "slow down").
pub const DEFAULT_COOLDOWN: CooldownSpec = CooldownSpec {
    scope: CooldownScope::User,
    limit: 10,
    per: Duration::from_secs(10),
};

/// The window of the per-user limit over all commands ([`Dispatcher::with_user_limit`]).
pub const USER_LIMIT_WINDOW: Duration = Duration::from_secs(10);

/// The bucket name of the per-user limit over all commands (not a valid command name).
const ALL_COMMANDS: &str = "*";

impl Dispatcher {
    /// The rate limits of an invocation: the per-user limit over all commands, then the
    /// command's cooldown ([`DEFAULT_COOLDOWN`] when it declares none).
    pub(super) fn limits<'a>(
        &self,
        spec: &'a CommandSpec,
    ) -> impl Iterator<Item = (&'a str, CooldownSpec)> {
        let user = self.user_limit.map(|limit| {
            (
                ALL_COMMANDS,
                CooldownSpec {
                    scope: CooldownScope::User,
                    limit,
                    per: USER_LIMIT_WINDOW,
                },
            )
        });
        user.into_iter().chain(std::iter::once((
            spec.name.as_str(),
            spec.cooldown.unwrap_or(DEFAULT_COOLDOWN),
        )))
    }

    /// Counts the invocation in its rate limits; `Err` with what to answer (if anything) when
    /// one is exhausted.
    pub(super) async fn admit(
        &self,
        ctx: &InvocationContext,
        spec: &CommandSpec,
        slash: bool,
    ) -> Result<(), Option<Reply>> {
        for (bucket, cooldown) in self.limits(spec) {
            let scope = scope_key(ctx, cooldown.scope);
            match self
                .cooldowns
                .hit(bucket, &scope, cooldown.limit, cooldown.per)
                .await
            {
                Ok(()) => {}
                Err(CooldownError::RetryAfter(retry)) => {
                    return Err(self.refusal(bucket, &scope, retry.0, slash).await);
                }
                Err(CooldownError::Store(error)) => {
                    // A cooldown is a courtesy limit, not a permission: while Redis is
                    // unreachable the command runs without it rather than not answering.
                    tracing::warn!(command = %spec.name, %error, "cooldown store unavailable; running without the cooldown");
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// "Slow down", once per wait for prefix commands (a slash command needs an answer, and
    /// only its user sees it); `None` when it was said already.
    async fn refusal(
        &self,
        bucket: &str,
        scope: &str,
        wait: Duration,
        slash: bool,
    ) -> Option<Reply> {
        if !slash {
            match self.cooldowns.first_refusal(bucket, scope, wait).await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => tracing::warn!(%error, "could not record a cooldown refusal"),
            }
        }
        let wait = format_duration(Duration::from_secs(
            wait.as_millis()
                .div_ceil(1000)
                .try_into()
                .unwrap_or(u64::MAX),
        ));
        Some(Reply::ephemeral(if bucket == ALL_COMMANDS {
            format!("Slow down! You are sending commands too fast; try again in {wait}.")
        } else {
            format!("Slow down! You can use `{bucket}` again in {wait}.")
        }))
    }
}

/// The cooldown bucket of an invocation: `u:{user}`, `g:{guild}` (`u:{user}` in direct
/// messages) or `c:{channel}`.
pub fn scope_key(ctx: &InvocationContext, scope: CooldownScope) -> String {
    match (scope, ctx.guild_id) {
        (CooldownScope::Guild, Some(guild)) => format!("g:{guild}"),
        (CooldownScope::Channel, _) => format!("c:{}", ctx.channel_id),
        (CooldownScope::User | CooldownScope::Guild, _) => format!("u:{}", ctx.user_id),
    }
}

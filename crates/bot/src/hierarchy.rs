//! The role-hierarchy check of moderation commands, for built-in and author commands alike.
//!
//! Call [`check_target`] before asking for confirmation *and* again when the answer comes (the
//! roles may have changed in between). It fails closed: when the hierarchy cannot be read, the
//! action is refused.

use std::sync::Arc;

use swarmcord_cache::{FallbackReader, HierarchyLookup};
use swarmcord_commands::CommandError;
use tokio::sync::OnceCell;
use twilight_http::Client;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, UserMarker};

/// The bot's own user id, asked of Discord once (`GET /users/@me`) and then remembered.
#[derive(Debug, Clone, Default)]
pub struct BotUser(Arc<OnceCell<Id<UserMarker>>>);

impl BotUser {
    /// The id; an error (to show the user) while Discord cannot be asked.
    pub async fn id(&self, http: &Client) -> Result<Id<UserMarker>, CommandError> {
        self.0
            .get_or_try_init(|| async {
                let user = http
                    .current_user()
                    .await
                    .map_err(|e| e.to_string())?
                    .model()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(user.id)
            })
            .await
            .copied()
            .map_err(|error| {
                tracing::warn!(%error, "could not learn the bot's own user id");
                unverifiable()
            })
    }
}

fn unverifiable() -> CommandError {
    CommandError::user(
        "I can't check the role hierarchy right now, so I won't do that; try again in a moment.",
    )
}

/// `Ok` when `invoker` may have the bot (`bot`) act on `target` in `guild` under Discord's role
/// hierarchy ([`swarmcord_cache::may_act_on`]); otherwise the error to show — also when the
/// roles cannot be read.
pub async fn check_target(
    cache: &FallbackReader,
    bot: Id<UserMarker>,
    guild: Id<GuildMarker>,
    invoker: Id<UserMarker>,
    target: Id<UserMarker>,
) -> Result<(), CommandError> {
    match cache
        .moderation_hierarchy(guild, invoker, target, bot)
        .await
    {
        Ok(HierarchyLookup::Allowed) => Ok(()),
        Ok(HierarchyLookup::Denied(denial)) => Err(CommandError::user(denial.message())),
        Ok(lookup) => {
            tracing::info!(?lookup, "role hierarchy unknown; refusing");
            Err(unverifiable())
        }
        Err(error) => {
            tracing::warn!(%error, "role hierarchy unreadable; refusing");
            Err(unverifiable())
        }
    }
}

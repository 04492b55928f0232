//! `ban` and `kick`: asked, then confirmed with a button or by typing `yes`.
//!
//! The question carries two buttons whose `custom_id`s point at a small state in Redis
//! ([`swarmcord::Services::stash`]): any worker replica handles the click, also after every
//! worker restarted. The question is also an open prompt, for clients without buttons. The
//! prompt is what makes the two answers exclusive: whichever path claims it first
//! ([`swarmcord::commands::Prompts::take`]) acts; the other finds it gone. When the answer
//! comes, the moderator's permission and Discord's role hierarchy are checked again (both may
//! have changed while the question was open).

use serde::{Deserialize, Serialize};
use swarmcord::commands::dispatch::DEFAULT_PROMPT_TIMEOUT;
use swarmcord::commands::precondition::BoxFuture;
use swarmcord::commands::{Args, Command, CommandError, InvocationContext, PromptState, Reply};
use swarmcord::components::{button, row};
use swarmcord::http::request::AuditLogReason;
use swarmcord::model::channel::message::component::ButtonStyle;
use swarmcord::model::guild::Permissions;
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::{ChannelMarker, GuildMarker, UserMarker};
use swarmcord::store::{Infraction, InfractionKind};
use swarmcord::{ComponentContext, Setup, SetupError};

use super::moderation::{audit_reason, check_reason, record};
use super::{Services, confirms, is_status};

/// Handler names of the two buttons (`custom_id` = name + `:` + state key).
const CONFIRM: &str = "sanction-yes";
const CANCEL: &str = "sanction-no";

/// What the buttons' state in Redis holds.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// `ban` or `kick`.
    kind: String,
    /// Who asked (only they may answer).
    moderator: u64,
}

/// What the open question remembers (the prompt's data).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Asked {
    /// Who is to be banned or kicked.
    user: Id<UserMarker>,
    /// The reason given with the command.
    reason: Option<String>,
    /// The buttons' state key: a click answers this question only if its key is this one.
    button: String,
}

/// Ban or kick.
pub(crate) struct Sanction {
    pub(crate) services: Services,
    pub(crate) kind: InfractionKind,
}

/// Registers the buttons' handlers (the commands are registered by `moderation`).
pub(crate) fn register_buttons(
    setup: &mut Setup<'_>,
    services: &Services,
) -> Result<(), SetupError> {
    for (name, confirm) in [(CONFIRM, true), (CANCEL, false)] {
        let services = services.clone();
        setup.component(name, move |ctx: ComponentContext| {
            let services = services.clone();
            async move { clicked(&services, &ctx, confirm).await }
        })?;
    }
    Ok(())
}

impl Sanction {
    fn verb(&self) -> (&'static str, &'static str) {
        match self.kind {
            InfractionKind::Kick => ("Kick", "Kicked"),
            _ => ("Ban", "Banned"),
        }
    }

    fn permission(&self) -> Permissions {
        match self.kind {
            InfractionKind::Kick => Permissions::KICK_MEMBERS,
            _ => Permissions::BAN_MEMBERS,
        }
    }

    /// The question's buttons, enabled or not.
    fn buttons(
        &self,
        key: &str,
        enabled: bool,
    ) -> Vec<swarmcord::model::channel::message::Component> {
        let rows = vec![row([
            button(
                &format!("{CONFIRM}:{key}"),
                self.verb().0,
                ButtonStyle::Danger,
            ),
            button(&format!("{CANCEL}:{key}"), "Cancel", ButtonStyle::Secondary),
        ])];
        if enabled {
            rows
        } else {
            swarmcord::components::disabled(&rows)
        }
    }

    async fn act(
        &self,
        guild_id: Id<GuildMarker>,
        user: Id<UserMarker>,
        audit: &str,
    ) -> Result<(), swarmcord::http::Error> {
        let http = &self.services.http;
        match self.kind {
            InfractionKind::Kick => http
                .remove_guild_member(guild_id, user)
                .reason(audit)
                .await
                .map(drop),
            _ => http
                .create_ban(guild_id, user)
                .reason(audit)
                .await
                .map(drop),
        }
    }

    /// Carries out a confirmed question (typed or clicked): checks again that the moderator
    /// may do it, acts, records. `permissions` are the moderator's in the channel when known.
    async fn confirmed(
        &self,
        who: &Moderator,
        permissions: Option<Permissions>,
        state: &PromptState<Asked>,
    ) -> Result<String, CommandError> {
        let done = self.verb().1;
        let user = state.data.user;
        let permissions = match permissions {
            Some(permissions) => Some(permissions),
            None => {
                self.services
                    .sdk
                    .permissions_in(who.guild, who.channel, who.user)
                    .await
            }
        };
        if !who.is_owner && !permissions.is_some_and(|p| p.contains(self.permission())) {
            return Err(CommandError::user(
                "You no longer have the permission to do that; nothing was done.",
            ));
        }
        // The roles may have changed while the question was open.
        self.services
            .sdk
            .check_hierarchy(who.guild, who.user, user)
            .await?;
        let reason = &state.data.reason;
        let audit = audit_reason(who.user, reason.as_deref());
        if let Err(error) = self.act(who.guild, user, &audit).await {
            if is_status(&error, 403) {
                return Err(CommandError::user(
                    "I am not allowed to do that (check my role and permissions).",
                ));
            }
            if is_status(&error, 404) {
                return Err(CommandError::user("That user is not in this server."));
            }
            return Err(CommandError::internal(error.to_string()));
        }
        // The prompt's deadline makes the id unique per conversation and stable on retries.
        let id = format!("{}:{}:{user}:{}", self.kind, who.guild, state.expires_at);
        let mut infraction =
            Infraction::new(id, who.guild.get(), user.get(), who.user.get(), self.kind);
        if let Some(reason) = reason {
            infraction = infraction.with_reason(reason.clone());
        }
        let note = record(&self.services, infraction).await;
        Ok(format!("{done} <@{user}>.{note}"))
    }
}

/// Who answers, where.
struct Moderator {
    user: Id<UserMarker>,
    guild: Id<GuildMarker>,
    channel: Id<ChannelMarker>,
    is_owner: bool,
}

impl Command for Sanction {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let (Some(guild), Some(user)) = (ctx.guild_id, args.user("user")) else {
                return Err(CommandError::user("Tell me who."));
            };
            if user == ctx.user_id {
                return Err(CommandError::user("You can't do that to yourself."));
            }
            self.services
                .sdk
                .check_hierarchy(guild, ctx.user_id, user)
                .await?;
            let reason = args.string("reason").map(str::to_owned);
            check_reason(reason.as_deref())?;
            let pending = Pending {
                kind: self.kind.as_str().to_owned(),
                moderator: ctx.user_id.get(),
            };
            let custom_id = self
                .services
                .sdk
                .stash(CONFIRM, &pending, DEFAULT_PROMPT_TIMEOUT)
                .await?;
            let key = custom_id.split_once(':').map_or("", |(_, key)| key);
            let question = format!(
                "{} <@{user}>{}? Click **{}** or answer `yes` to confirm (anything else, or \
                 `cancel`, aborts).",
                self.verb().0,
                reason
                    .as_deref()
                    .map(|r| format!(" for \"{r}\""))
                    .unwrap_or_default(),
                self.verb().0,
            );
            let asked = Asked {
                user,
                reason,
                button: key.to_owned(),
            };
            let state =
                PromptState::new(self.kind.as_str(), question.clone()).next(1, asked, question);
            Ok(Reply::ask(state.encode()?).with_components(self.buttons(key, true)))
        })
    }

    fn on_answer<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        state: PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            if !confirms(&answer) {
                let verb = self.verb().0;
                return Ok(Reply::text(format!("{verb} cancelled; nothing was done.")));
            }
            let Some(guild) = ctx.guild_id else {
                return Err(CommandError::internal("a sanction prompt outside a guild"));
            };
            let who = Moderator {
                user: ctx.user_id,
                guild,
                channel: ctx.channel_id,
                is_owner: ctx.is_owner,
            };
            // Prompt answers carry no permissions: they are looked up again.
            let done = self.confirmed(&who, None, &state.decode()?).await?;
            Ok(Reply::text(done))
        })
    }
}

/// A click on the question's `Ban`/`Kick` (`confirm`) or `Cancel` button.
async fn clicked(
    services: &Services,
    ctx: &ComponentContext,
    confirm: bool,
) -> Result<Reply, CommandError> {
    let pending: Pending = ctx.state().await?;
    if ctx.user_id().get() != pending.moderator {
        return Err(CommandError::user(format!(
            "Only <@{}> can answer this.",
            pending.moderator
        )));
    }
    let kind = if pending.kind == InfractionKind::Kick.as_str() {
        InfractionKind::Kick
    } else {
        InfractionKind::Ban
    };
    let sanction = Sanction {
        services: services.clone(),
        kind,
    };
    let key = ctx.custom_id().split_once(':').map_or("", |(_, key)| key);
    // The open prompt is this question's only if it carries this button's key; claiming it
    // makes a typed answer (or a second click) find nothing.
    let prompts = services.sdk.prompts();
    let already = || CommandError::user("This was already answered.");
    let open = prompts
        .pending(ctx.channel_id(), ctx.user_id())
        .await
        .map_err(CommandError::internal)?;
    let asks_this = |state: PromptState| {
        state
            .decode::<Asked>()
            .is_ok_and(|asked| asked.data.button == key)
    };
    if !open.is_some_and(asks_this) {
        return Err(already());
    }
    let state = prompts
        .take(ctx.channel_id(), ctx.user_id())
        .await
        .map_err(CommandError::internal)?
        .ok_or_else(already)?
        .decode()?;
    ctx.forget_state().await?;
    let text = if confirm {
        let Some(guild) = ctx.guild_id() else {
            return Err(CommandError::internal("a sanction button outside a guild"));
        };
        let who = Moderator {
            user: ctx.user_id(),
            guild,
            channel: ctx.channel_id(),
            is_owner: ctx.is_owner(),
        };
        match sanction
            .confirmed(&who, ctx.member_permissions(), &state)
            .await
        {
            Ok(done) => done,
            Err(CommandError::User(refusal)) => refusal,
            Err(error) => return Err(error),
        }
    } else {
        format!("{} cancelled; nothing was done.", sanction.verb().0)
    };
    Ok(Reply::text(text)
        .with_components(sanction.buttons(key, false))
        .update_message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_asked_before_the_typed_state_is_still_answered() {
        // The JSON written when the data was built by hand (the user id as a string).
        let stored = PromptState::new("ban", "Ban <@5>?").next(
            1,
            serde_json::json!({"user": "5", "reason": null, "button": "k1"}),
            "Ban <@5>?",
        );
        let asked = stored.clone().decode::<Asked>().expect("decodes").data;
        assert_eq!(
            asked,
            Asked {
                user: Id::new(5),
                reason: None,
                button: "k1".to_owned(),
            }
        );
        let again = stored
            .next(1, asked, "Ban <@5>?")
            .encode()
            .expect("encodes");
        assert_eq!(again.data["user"], "5");
        let other = PromptState::new("setup", "Prefix?").with_data(serde_json::json!({}));
        assert!(other.decode::<Asked>().is_err(), "another command's state");
    }
}

//! [`CommandSpecBuilder`]: declares a [`CommandSpec`] step by step.

use std::sync::Arc;
use std::time::Duration;

use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_model::oauth::ApplicationIntegrationType;

use super::{ArgSpec, CommandSpec, CooldownScope, CooldownSpec, SpecError};
use crate::precondition::Precondition;

/// Builder of a [`CommandSpec`]; [`build`](Self::build) validates it.
#[derive(Debug)]
pub struct CommandSpecBuilder {
    pub(super) spec: CommandSpec,
}

impl CommandSpecBuilder {
    /// Adds an alias (prefix invocations only).
    #[must_use]
    pub fn alias(mut self, alias: &str) -> Self {
        self.spec.aliases.push(alias.to_lowercase());
        self
    }

    /// Sets the description (1–100 characters).
    #[must_use]
    pub fn description(mut self, description: &str) -> Self {
        description.clone_into(&mut self.spec.description);
        self
    }

    /// Appends an argument. An argument without a description gets its name as description.
    #[must_use]
    pub fn arg(mut self, mut arg: ArgSpec) -> Self {
        if arg.description.is_empty() {
            arg.description.clone_from(&arg.name);
        }
        self.spec.args.push(arg);
        self
    }

    /// Requires these member permissions (the bot owner bypasses them).
    #[must_use]
    pub fn permissions(mut self, permissions: Permissions) -> Self {
        self.spec.required_permissions |= permissions;
        self
    }

    /// Declares that the handler checks [`InvocationContext::member_permissions`] itself (for
    /// example only for one of its forms), so callers must look them up.
    ///
    /// [`InvocationContext::member_permissions`]: crate::InvocationContext::member_permissions
    #[must_use]
    pub fn reads_permissions(mut self) -> Self {
        self.spec.reads_permissions = true;
        self
    }

    /// Only usable in guilds.
    #[must_use]
    pub fn guild_only(mut self) -> Self {
        self.spec.guild_only = true;
        self
    }

    /// Only usable by the bot owner.
    #[must_use]
    pub fn owner_only(mut self) -> Self {
        self.spec.owner_only = true;
        self
    }

    /// At most `limit` uses per `per`, counted in the `scope` bucket.
    #[must_use]
    pub fn cooldown(mut self, scope: CooldownScope, limit: u32, per: Duration) -> Self {
        self.spec.cooldown = Some(CooldownSpec { scope, limit, per });
        self
    }

    /// Sets the help category (default `General`).
    #[must_use]
    pub fn category(mut self, category: &str) -> Self {
        category.clone_into(&mut self.spec.category);
        self
    }

    /// Whether to register the command as a slash command (default `true`).
    #[must_use]
    pub fn slash(mut self, slash: bool) -> Self {
        self.spec.slash = slash;
        self
    }

    /// Whether the command answers prefix invocations such as `!name` (default `true`).
    #[must_use]
    pub fn prefix(mut self, prefix: bool) -> Self {
        self.spec.prefix = prefix;
        self
    }

    /// Adds a subcommand (declared like a command); one with subcommands of its own is a
    /// group. Discord allows two levels: `/settings modlog set`.
    #[must_use]
    pub fn subcommand(mut self, subcommand: CommandSpec) -> Self {
        self.spec.subcommands.push(subcommand);
        self
    }

    /// Requires these permissions of the bot in the channel: checked before the command runs,
    /// with a message naming the missing ones.
    #[must_use]
    pub fn bot_permissions(mut self, permissions: Permissions) -> Self {
        self.spec.bot_permissions |= permissions;
        self
    }

    /// Who sees the command in Discord's list by default (members with these permissions;
    /// `Permissions::empty()`: administrators only). Without it, the
    /// [required permissions](Self::permissions) are used.
    #[must_use]
    pub fn default_member_permissions(mut self, permissions: Permissions) -> Self {
        self.spec.default_member_permissions = Some(permissions);
        self
    }

    /// Where the command may be used: guilds, the bot's DMs, other private channels.
    #[must_use]
    pub fn contexts(mut self, contexts: impl IntoIterator<Item = InteractionContextType>) -> Self {
        self.spec.contexts = Some(contexts.into_iter().collect());
        self
    }

    /// Where the command is installed: to guilds, to users.
    #[must_use]
    pub fn integration_types(
        mut self,
        types: impl IntoIterator<Item = ApplicationIntegrationType>,
    ) -> Self {
        self.spec.integration_types = Some(types.into_iter().collect());
        self
    }

    /// Age-restricted: only usable in NSFW channels.
    #[must_use]
    pub fn nsfw(mut self) -> Self {
        self.spec.nsfw = true;
        self
    }

    /// The name shown to users of `locale` (one of [`LOCALES`], such as `fr` or `pt-BR`).
    #[must_use]
    pub fn name_localized(mut self, locale: &str, name: &str) -> Self {
        self.spec
            .name_localizations
            .insert(locale.to_owned(), name.to_owned());
        self
    }

    /// The description shown to users of `locale` (one of [`LOCALES`]).
    #[must_use]
    pub fn description_localized(mut self, locale: &str, description: &str) -> Self {
        self.spec
            .description_localizations
            .insert(locale.to_owned(), description.to_owned());
        self
    }

    /// Adds a precondition, AND-ed with the declared ones.
    #[must_use]
    pub fn precondition(mut self, precondition: impl Precondition + 'static) -> Self {
        self.spec.extra.push(Arc::new(precondition));
        self
    }

    /// Validates and returns the spec.
    pub fn build(self) -> Result<CommandSpec, SpecError> {
        self.spec.validate()?;
        Ok(self.spec)
    }
}

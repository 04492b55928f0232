//! Buttons and select menus that work across replicas and restarts.
//!
//! A component's `custom_id` names its handler (`worker.component("vote", vote)`), optionally
//! followed by `:` and the key of a state document in Redis that [`Services::stash`] wrote with
//! a time to live. Any worker replica handles a click — also after every worker restarted — and
//! [`ComponentContext::state`] answers "this has expired" by itself once the state is gone.
//!
//! ```no_run
//! use std::time::Duration;
//! use swarmcord::components::{ButtonStyle, button, row};
//! use swarmcord::{CommandError, ComponentContext, Context, Reply};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Poll { question: String }
//!
//! /// Asks a yes/no question with a button.
//! #[swarmcord::command]
//! async fn ask(ctx: &Context, question: String) -> Result<Reply, CommandError> {
//!     let id = ctx.stash("answer", &Poll { question: question.clone() }, Duration::from_secs(600)).await?;
//!     Ok(Reply::text(question).with_components([row([button(&id, "Yes", ButtonStyle::Success)])]))
//! }
//!
//! async fn answer(ctx: ComponentContext) -> Result<Reply, CommandError> {
//!     let poll: Poll = ctx.state().await?;   // "This has expired…" once the state is gone
//!     Ok(Reply::text(format!("<@{}> says yes to: {}", ctx.user_id(), poll.question)).update_message())
//! }
//!
//! # async fn run() {
//! swarmcord::Worker::from_env().command(ask).component("answer", answer).launch().await;
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use swarmcord_commands::precondition::{BoxFuture, HasPermissions, Precondition, unless_owner};
use swarmcord_commands::{
    CommandError, ComponentClick, ComponentHandler, InvocationContext, Reply,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, UserMarker};

use crate::command::IntoCommandResult;
use crate::context::Services;

/// The message a click on an expired component gets.
pub const EXPIRED: &str = "This has expired; use the command again.";

pub use swarmcord_commands::builders::{
    button, channel_select, disabled, link, mentionable_select, role_select, row, select, up_to,
    user_select,
};

/// A button's style (`ButtonStyle::Danger`, …), for [`button`].
pub use twilight_model::channel::message::component::ButtonStyle;

/// The context of a component or modal handler: the [`Services`] (through `Deref`), who
/// clicked (or submitted) where, and the click (or the form's values).
#[derive(Clone)]
pub struct ComponentContext {
    services: Services,
    invocation: InvocationContext,
    click: ComponentClick,
}

impl fmt::Debug for ComponentContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentContext")
            .field("click", &self.click)
            .field("user_id", &self.invocation.user_id)
            .finish_non_exhaustive()
    }
}

impl Deref for ComponentContext {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl ComponentContext {
    /// Who clicked.
    pub fn user_id(&self) -> Id<UserMarker> {
        self.invocation.user_id
    }

    /// The guild, or `None` in direct messages.
    pub fn guild_id(&self) -> Option<Id<GuildMarker>> {
        self.invocation.guild_id
    }

    /// The channel of the component's message.
    pub fn channel_id(&self) -> Id<ChannelMarker> {
        self.invocation.channel_id
    }

    /// The message the component belongs to.
    pub fn message_id(&self) -> Option<Id<MessageMarker>> {
        self.click.message_id
    }

    /// The whole `custom_id`.
    pub fn custom_id(&self) -> &str {
        &self.click.custom_id
    }

    /// The values chosen in a select menu (empty for a button).
    pub fn values(&self) -> &[String] {
        &self.click.values
    }

    /// The ids chosen in a [`user_select`], [`role_select`], [`mentionable_select`] or
    /// [`channel_select`]: `ctx.selected::<UserMarker>()`.
    pub fn selected<T>(&self) -> Vec<Id<T>> {
        self.click.selected()
    }

    /// Whether the user is one of the bot's owners (`OWNER_IDS`).
    pub fn is_owner(&self) -> bool {
        self.invocation.is_owner
    }

    /// Everything known about who clicked where.
    pub fn invocation(&self) -> &InvocationContext {
        &self.invocation
    }

    /// A submitted modal's value of the input `custom_id` (`None` for components, and for an
    /// optional input left out).
    pub fn field(&self, custom_id: &str) -> Option<&str> {
        self.click
            .field(custom_id)
            .filter(|value| !value.is_empty())
    }

    /// The clicking member's permissions in the channel (computed by Discord).
    pub fn member_permissions(&self) -> Option<twilight_model::guild::Permissions> {
        self.invocation.member_permissions
    }

    /// Refuses a member without `permissions` in the channel (a bot owner passes), with the
    /// message a command's `permissions(…)` gives: anyone who sees a message can click its
    /// components, so a confirmation checks again who confirms.
    ///
    /// ```no_run
    /// # use swarmcord::{CommandError, ComponentContext, Reply};
    /// use swarmcord::model::guild::Permissions;
    ///
    /// async fn close(ctx: ComponentContext) -> Result<Reply, CommandError> {
    ///     ctx.require_permissions(Permissions::MANAGE_GUILD).await?;
    ///     Ok(Reply::text("Closed.").update_message())
    /// }
    /// ```
    pub async fn require_permissions(
        &self,
        permissions: twilight_model::guild::Permissions,
    ) -> Result<(), CommandError> {
        unless_owner(HasPermissions(permissions))
            .check(&self.invocation)
            .await
            .map_err(|denied| CommandError::user(denied.reason))
    }

    /// Whether the clicking member may have the bot act on `target` under the role hierarchy
    /// (see [`Services::check_hierarchy`]).
    pub async fn check_hierarchy(&self, target: Id<UserMarker>) -> Result<(), CommandError> {
        self.services
            .check_hierarchy_of(&self.invocation, target)
            .await
    }

    /// The state [`Services::stash`] stored for this component; the error [`EXPIRED`] (shown
    /// to the user, only to them) once it expired.
    pub async fn state<T: DeserializeOwned>(&self) -> Result<T, CommandError> {
        let Some(key) = self.click.state.as_deref() else {
            return Err(CommandError::user(EXPIRED));
        };
        let value = self
            .services
            .inner
            .components
            .load(key)
            .await
            .map_err(CommandError::internal)?
            .ok_or_else(|| CommandError::user(EXPIRED))?;
        serde_json::from_value(value).map_err(CommandError::internal)
    }

    /// Deletes this component's state: later clicks get [`EXPIRED`] (one-shot components).
    pub async fn forget_state(&self) -> Result<(), CommandError> {
        match self.click.state.as_deref() {
            Some(key) => self
                .services
                .inner
                .components
                .forget(key)
                .await
                .map_err(CommandError::internal),
            None => Ok(()),
        }
    }
}

pub(crate) type HandlerFn =
    dyn Fn(ComponentContext) -> BoxFuture<'static, Result<Reply, CommandError>> + Send + Sync;

/// A component handler registered with [`Worker::component`](crate::Worker::component).
pub(crate) struct FnComponent {
    services: Services,
    run: Arc<HandlerFn>,
}

impl FnComponent {
    pub(crate) fn new(services: Services, run: Arc<HandlerFn>) -> Self {
        Self { services, run }
    }
}

/// `handler` boxed as the router runs it.
pub(crate) fn boxed<F, Fut, R>(handler: F) -> Arc<HandlerFn>
where
    F: Fn(ComponentContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoCommandResult,
{
    Arc::new(move |ctx| {
        let future = handler(ctx);
        Box::pin(async move { future.await.into_command_result() })
    })
}

impl ComponentHandler for FnComponent {
    fn handle<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        click: ComponentClick,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        (self.run)(ComponentContext {
            services: self.services.clone(),
            invocation: ctx.clone(),
            click,
        })
    }
}

/// The help command's category menu: shows the chosen category alone (the same menu stays).
pub(crate) async fn help_menu(ctx: ComponentContext) -> Result<Reply, CommandError> {
    let Some(registry) = ctx.commands() else {
        return Err(CommandError::internal("no command registry yet"));
    };
    let Some(category) = ctx.values().first() else {
        return Err(CommandError::user("Choose a category."));
    };
    let mut prefix = ctx.default_prefix().to_owned();
    if let Some(guild) = ctx.guild_id()
        && let Ok(settings) = ctx.settings().guild(guild.get()).await
        && let Some(own) = settings.prefix
    {
        prefix = own;
    }
    let text = registry
        .help_category(&prefix, category)
        .ok_or_else(|| CommandError::user("That category has no commands any more."))?;
    Ok(Reply::text(text)
        .with_components(swarmcord_commands::component::help_menu(registry))
        .update_message())
}

//! [`Plugin`]: a bundle of commands and handlers installed on a worker once its services exist
//! (the built-in commands are one: `swarmcord-builtins`).

use std::future::Future;

use swarmcord_commands::component::ComponentRegistryError;
use swarmcord_commands::{
    Command, CommandSpec, ComponentRouter, Dispatcher, RegistryError, SpecError,
};

use crate::command::{IntoCommandDef, IntoCommandResult};
use crate::components::{ComponentContext, FnComponent};
use crate::context::Services;

/// A plugin could not be installed (a bug caught at start-up: an invalid declaration or a
/// name used twice).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// An invalid declaration.
    #[error("invalid command declaration: {0}")]
    Spec(#[from] SpecError),
    /// A name or alias clash.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An invalid or repeated component handler name.
    #[error(transparent)]
    Component(#[from] ComponentRegistryError),
}

/// Commands and handlers that need the worker's services to be built (a music plugin needs the
/// Lavalink client, a moderation plugin the store). Register with
/// [`Worker::plugin`](crate::Worker::plugin).
pub trait Plugin: Send + 'static {
    /// Registers the plugin's commands.
    fn install(self: Box<Self>, setup: &mut Setup<'_>) -> Result<(), SetupError>;
}

/// What a [`Plugin`] installs into.
pub struct Setup<'a> {
    pub(crate) services: &'a Services,
    pub(crate) dispatcher: &'a mut Dispatcher,
    pub(crate) components: &'a mut ComponentRouter,
}

impl std::fmt::Debug for Setup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").finish_non_exhaustive()
    }
}

impl Setup<'_> {
    /// The worker's services.
    pub fn services(&self) -> &Services {
        self.services
    }

    /// Registers a command declared with `#[command]` or [`CommandDef`](crate::CommandDef).
    pub fn command(&mut self, command: impl IntoCommandDef) -> Result<(), SetupError> {
        let (spec, handler) = command.into_command_def().bind(self.services.clone())?;
        self.dispatcher.register(spec, handler)?;
        Ok(())
    }

    /// Registers the handler of the components whose `custom_id` is `name` or `name:…`.
    pub fn component<F, Fut, R>(&mut self, name: &str, handler: F) -> Result<(), SetupError>
    where
        F: Fn(ComponentContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCommandResult,
    {
        self.components.register(
            name,
            FnComponent::new(self.services.clone(), crate::components::boxed(handler)),
        )?;
        Ok(())
    }

    /// Registers a command implemented with the lower-level [`Command`] trait (for handlers
    /// holding their own state, or answering prompts and timeouts with their own logic).
    pub fn command_impl(
        &mut self,
        spec: CommandSpec,
        handler: impl Command + 'static,
    ) -> Result<(), SetupError> {
        self.dispatcher.register(spec, handler)?;
        Ok(())
    }
}

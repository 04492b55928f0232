//! [`Plugin`]: a bundle of commands and handlers installed on a worker once its services exist
//! (the built-in commands are one: `swarmcord-builtins`).

use swarmcord_commands::{Command, CommandSpec, Dispatcher, RegistryError, SpecError};

use crate::command::IntoCommandDef;
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

//! swarmcord's command framework, independent of the transport.
//!
//! - [`spec`]: commands declared once ([`CommandSpec`]: name, aliases, typed arguments,
//!   permissions, guild-only/owner-only, cooldown, category), validated against Discord's rules;
//! - [`registry`]: lookup by name or alias, slash command bodies, generated help;
//! - [`subcommand`]: finding the subcommand (group) an invocation names, and the bot's
//!   permission check; [`target`]: what a context-menu command was used on;
//! - [`prefix`] and [`args`]: recognising `!ban @user 7 reason` and parsing typed arguments
//!   from text or from slash command options, with user-facing errors;
//! - [`precondition`]: composable checks that fail closed;
//! - [`cooldown`]: rate limits in Redis, shared by every replica;
//! - [`prompt`]: follow-up questions whose state lives in Redis, so any replica continues them;
//! - [`dispatch`]: the pipeline parse → preconditions → cooldown → run → reply, and the
//!   [`Command`] handler trait.

pub mod args;
pub mod builders;
pub mod component;
pub mod cooldown;
pub mod dispatch;
pub mod modal;
pub mod precondition;
pub mod prefix;
pub mod prompt;
pub mod registry;
pub mod reply;
pub mod spec;
pub mod subcommand;
pub mod target;

pub use args::{ArgError, ArgValue, Args, parse_args};
pub use component::{
    ComponentClick, ComponentHandler, ComponentRouter, ComponentStates, check_components,
};
pub use cooldown::{Cooldowns, RetryAfter};
pub use dispatch::{Command, CommandError, Dispatcher};
pub use modal::{Modal, ModalInput};
pub use precondition::{Denied, EventSource, InvocationContext, Precondition, PreconditionExt};
pub use prefix::{Invocation, parse_prefix};
pub use prompt::{PromptAnswer, PromptError, PromptState, Prompts};
pub use registry::{Registry, RegistryError};
pub use reply::Reply;
pub use spec::{
    ArgKind, ArgSpec, Bound, Choice, CommandKind, CommandSpec, CooldownScope, CooldownSpec,
    SpecError,
};
pub use target::Target;

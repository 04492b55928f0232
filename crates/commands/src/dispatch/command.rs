//! [`Command`]: a command's behaviour, and [`CommandError`], how it fails.

use std::fmt;

use super::Reply;
use crate::args::Args;
use crate::precondition::{BoxFuture, InvocationContext};
use crate::prompt::{PromptError, PromptState};

/// A failed command.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommandError {
    /// Shown to the user as is ("That user is not banned.").
    User(String),
    /// Logged with its details; the user sees [`INTERNAL_ERROR_MESSAGE`].
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl CommandError {
    /// A user-facing error.
    pub fn user(message: impl Into<String>) -> Self {
        Self::User(message.into())
    }

    /// An internal error.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }
}

/// A prompt that cannot be stored or read is the bot's fault, not the user's.
impl From<PromptError> for CommandError {
    fn from(error: PromptError) -> Self {
        Self::internal(error)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(message) => f.write_str(message),
            Self::Internal(error) => write!(f, "internal error: {error}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// A command's behaviour (its declaration is a [`CommandSpec`]).
pub trait Command: Send + Sync {
    /// Runs the command with parsed arguments. Return [`Reply::ask`] to ask a follow-up.
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>>;

    /// Continues a conversation with the user's `answer` (on whichever replica received it).
    /// Return [`Reply::ask`] for another step. The default ends the conversation.
    fn on_answer<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        state: PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        let _ = (ctx, state, answer);
        Box::pin(std::future::ready(Ok(Reply::text(
            "This conversation has ended.",
        ))))
    }

    /// The message sent when a prompt of this command timed out.
    fn on_timeout(&self, state: &PromptState) -> Reply {
        Reply::text(format!(
            "Timed out waiting for your answer to: {} Nothing was changed.",
            state.question
        ))
    }

    /// Suggestions for the argument `arg` (declared with [`ArgSpec::autocomplete`]) while the
    /// user has typed `partial`: at most 25 `(name, value)` pairs (Discord shows the names and
    /// fills in the value). Answered within Discord's 3 s deadline or not at all. The default
    /// suggests nothing.
    ///
    /// [`ArgSpec::autocomplete`]: crate::ArgSpec::autocomplete
    fn autocomplete<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        arg: &'a str,
        partial: &'a str,
    ) -> BoxFuture<'a, Vec<(String, String)>> {
        let _ = (ctx, arg, partial);
        Box::pin(std::future::ready(Vec::new()))
    }
}

//! [`CommandDef`]: a command's declaration and its handler, as `#[command]` produces it (or as
//! you build it by hand with [`CommandDef::from_fn`] for a closure).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use swarmcord_commands::precondition::BoxFuture;
use swarmcord_commands::spec::CommandSpecBuilder;
use swarmcord_commands::{
    Args, Command, CommandError, CommandSpec, InvocationContext, PromptState, Reply, SpecError,
};

use crate::context::{Context, Services};

type RunFn = dyn Fn(Context, Args) -> BoxFuture<'static, Result<Reply, CommandError>> + Send + Sync;
type SuggestFn = dyn Fn(Context, String) -> BoxFuture<'static, Vec<(String, String)>> + Send + Sync;
type AnswerFn = dyn Fn(Context, PromptState, String) -> BoxFuture<'static, Result<Reply, CommandError>>
    + Send
    + Sync;

/// What a command handler may return: a [`Reply`], text, or a `Result` of either.
pub trait IntoCommandResult {
    /// The reply, or the error to show.
    fn into_command_result(self) -> Result<Reply, CommandError>;
}

impl IntoCommandResult for Reply {
    fn into_command_result(self) -> Result<Reply, CommandError> {
        Ok(self)
    }
}

impl IntoCommandResult for String {
    fn into_command_result(self) -> Result<Reply, CommandError> {
        Ok(Reply::text(self))
    }
}

impl IntoCommandResult for &str {
    fn into_command_result(self) -> Result<Reply, CommandError> {
        Ok(Reply::text(self))
    }
}

impl<R: Into<Reply>, E: Into<CommandError>> IntoCommandResult for Result<R, E> {
    fn into_command_result(self) -> Result<Reply, CommandError> {
        self.map(Into::into).map_err(Into::into)
    }
}

/// What the user sees for a failed store operation: "try again in a moment" while the database
/// is unreachable, the validation message for invalid input, the generic internal error (with
/// the details in the logs) otherwise. Use it as `.await.map_err(swarmcord::store_error)?`.
pub fn store_error(error: swarmcord_store::StoreError) -> CommandError {
    if error.is_unavailable() {
        CommandError::user("The database is unavailable right now; try again in a moment.")
    } else if error.is_invalid() {
        CommandError::user(error.to_string())
    } else {
        CommandError::internal(error)
    }
}

/// A declared command with its handler. `#[swarmcord::command]` turns an `async fn` into a
/// function returning one; [`Worker::command`](crate::Worker::command) registers it.
pub struct CommandDef {
    spec: Result<CommandSpec, SpecError>,
    run: Arc<RunFn>,
    /// The handlers of the subcommands, by path below this command (`["modlog", "set"]`).
    routes: Vec<(Vec<String>, Arc<RunFn>)>,
    on_answer: Option<Arc<AnswerFn>>,
    /// Autocomplete handlers by argument path (`name`, or `sub name` in a subcommand).
    suggest: Vec<(String, Arc<SuggestFn>)>,
}

impl fmt::Debug for CommandDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandDef")
            .field("spec", &self.spec)
            .field("on_answer", &self.on_answer.is_some())
            .finish_non_exhaustive()
    }
}

impl CommandDef {
    /// A command declared by `spec` (validated when the worker starts) whose handler is `run`.
    ///
    /// ```
    /// use swarmcord::commands::{ArgSpec, CommandSpec};
    ///
    /// let echo = swarmcord::CommandDef::from_fn(
    ///     CommandSpec::builder("echo")
    ///         .description("Says it back")
    ///         .arg(ArgSpec::rest("text")),
    ///     |_ctx, args| async move { args.string("text").unwrap_or_default().to_owned() },
    /// );
    /// assert_eq!(echo.name(), Some("echo"));
    /// ```
    pub fn from_fn<F, Fut, R>(spec: CommandSpecBuilder, run: F) -> Self
    where
        F: Fn(Context, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCommandResult,
    {
        Self {
            spec: spec.build(),
            run: Arc::new(move |ctx, args| {
                let future = run(ctx, args);
                Box::pin(async move { future.await.into_command_result() })
            }),
            routes: Vec::new(),
            on_answer: None,
            suggest: Vec::new(),
        }
    }

    /// Adds a subcommand (another command, declared the same way); a subcommand that has
    /// subcommands itself is a group. `/settings modlog set` runs the `set` handler, and so
    /// does `!settings modlog set`; `!settings` alone runs this command's own handler
    /// (Discord has no such form: slash users always pick a subcommand).
    ///
    /// ```
    /// use swarmcord::commands::CommandSpec;
    ///
    /// let show = swarmcord::CommandDef::from_fn(
    ///     CommandSpec::builder("show").description("Shows the settings"),
    ///     |_ctx, _args| async move { "Everything is fine." },
    /// );
    /// let settings = swarmcord::CommandDef::from_fn(
    ///     CommandSpec::builder("settings").description("Settings"),
    ///     |_ctx, _args| async move { "Use `settings show`." },
    /// )
    /// .subcommand(show);
    /// assert_eq!(settings.name(), Some("settings"));
    /// ```
    #[must_use]
    pub fn subcommand(mut self, subcommand: impl IntoCommandDef) -> Self {
        let child = subcommand.into_command_def();
        let (spec, child_spec) = match (self.spec, child.spec) {
            (Ok(spec), Ok(child_spec)) => (spec, child_spec),
            (Err(error), _) | (_, Err(error)) => {
                self.spec = Err(error);
                return self;
            }
        };
        let name = child_spec.name.clone();
        let is_group = !child_spec.subcommands.is_empty();
        self.spec = spec.with_subcommand(child_spec);
        if !is_group {
            self.routes.push((vec![name.clone()], child.run));
        }
        for (mut path, run) in child.routes {
            path.insert(0, name.clone());
            self.routes.push((path, run));
        }
        for (arg, handler) in child.suggest {
            self.suggest.push((format!("{name} {arg}"), handler));
        }
        self
    }

    /// Suggests values for the slash option `arg` while the user types it: `handler` gets
    /// what they typed so far and returns up to 25 choices, each `(shown name, value)` — or
    /// just `value`s ([`IntoChoices`]). Answered within Discord's 3 s or not at all.
    #[must_use]
    pub fn autocomplete<F, Fut, C>(mut self, arg: &str, handler: F) -> Self
    where
        F: Fn(Context, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = C> + Send + 'static,
        C: IntoChoices,
    {
        self.suggest.push((
            arg.to_owned(),
            Arc::new(move |ctx, partial| {
                let future = handler(ctx, partial);
                Box::pin(async move { future.await.into_choices() })
            }),
        ));
        self
    }

    /// Continues a conversation: the user's next message in the channel after the command
    /// returned [`Reply::ask`] goes to `handler` (on whichever replica receives it).
    #[must_use]
    pub fn on_answer<F, Fut, R>(mut self, handler: F) -> Self
    where
        F: Fn(Context, PromptState, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCommandResult,
    {
        self.on_answer = Some(Arc::new(move |ctx, state, answer| {
            let future = handler(ctx, state, answer);
            Box::pin(async move { future.await.into_command_result() })
        }));
        self
    }

    /// The command's name, when its declaration is valid.
    pub fn name(&self) -> Option<&str> {
        self.spec.as_ref().ok().map(|spec| spec.name.as_str())
    }

    /// The validated declaration and a handler bound to `services`.
    pub(crate) fn bind(self, services: Services) -> Result<(CommandSpec, FnCommand), SpecError> {
        let mut spec = self.spec?;
        for (arg, _) in &self.suggest {
            let declared = spec
                .arg_by_path_mut(arg)
                .ok_or_else(|| SpecError::InvalidName(arg.clone()))?;
            declared.autocomplete = true;
        }
        Ok((
            spec,
            FnCommand {
                services,
                run: self.run,
                routes: self.routes,
                on_answer: self.on_answer,
                suggest: self.suggest,
            },
        ))
    }
}

/// What an autocomplete handler may return: values (shown as they are), or `(name, value)`
/// pairs.
pub trait IntoChoices {
    /// The `(name, value)` pairs.
    fn into_choices(self) -> Vec<(String, String)>;
}

impl IntoChoices for Vec<String> {
    fn into_choices(self) -> Vec<(String, String)> {
        self.into_iter()
            .map(|value| (value.clone(), value))
            .collect()
    }
}

impl IntoChoices for Vec<(String, String)> {
    fn into_choices(self) -> Vec<(String, String)> {
        self
    }
}

/// Anything [`Worker::command`](crate::Worker::command) accepts: a [`CommandDef`], or the
/// function `#[command]` generates (`.command(roll)`).
pub trait IntoCommandDef {
    /// The definition.
    fn into_command_def(self) -> CommandDef;
}

impl IntoCommandDef for CommandDef {
    fn into_command_def(self) -> CommandDef {
        self
    }
}

impl<F: FnOnce() -> CommandDef> IntoCommandDef for F {
    fn into_command_def(self) -> CommandDef {
        self()
    }
}

/// A [`CommandDef`]'s handler as the dispatcher runs it.
pub(crate) struct FnCommand {
    services: Services,
    run: Arc<RunFn>,
    routes: Vec<(Vec<String>, Arc<RunFn>)>,
    on_answer: Option<Arc<AnswerFn>>,
    suggest: Vec<(String, Arc<SuggestFn>)>,
}

impl Command for FnCommand {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        let run = self
            .routes
            .iter()
            .find(|(path, _)| path.as_slice() == args.path())
            .map_or(&self.run, |(_, run)| run);
        run(Context::new(self.services.clone(), ctx.clone()), args)
    }

    fn autocomplete<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        arg: &'a str,
        partial: &'a str,
    ) -> BoxFuture<'a, Vec<(String, String)>> {
        match self.suggest.iter().find(|(name, _)| name == arg) {
            Some((_, handler)) => handler(
                Context::new(self.services.clone(), ctx.clone()),
                partial.to_owned(),
            ),
            None => Box::pin(std::future::ready(Vec::new())),
        }
    }

    fn on_answer<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        state: PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        match &self.on_answer {
            Some(handler) => handler(
                Context::new(self.services.clone(), ctx.clone()),
                state,
                answer,
            ),
            None => Box::pin(std::future::ready(Ok(Reply::text(
                "This conversation has ended.",
            )))),
        }
    }
}

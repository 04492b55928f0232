//! The invocation pipeline: prompt answer → parse → preconditions → arguments → cooldown →
//! run → reply, independent of the transport (the worker sends the [`Reply`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use twilight_model::application::interaction::application_command::CommandData;
use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;

use crate::args::{self, Args};
use crate::cooldown::Cooldowns;
use crate::precondition::{BoxPrecondition, InvocationContext};
use crate::prefix::parse_prefix;
use crate::prompt::{Expired, PromptAnswer, PromptState, Prompts, now_ms};
use crate::registry::{Registry, RegistryError};
pub use crate::reply::Reply;
use crate::spec::{ArgSpec, CommandKind, CommandSpec};
use crate::subcommand::{check_bot_permissions, resolve_prefix, resolve_slash};
use crate::target::Target;

mod command;
mod limits;

pub use command::{Command, CommandError};
pub use limits::{DEFAULT_COOLDOWN, USER_LIMIT_WINDOW, scope_key};

/// The message shown for internal errors (details are only logged).
pub const INTERNAL_ERROR_MESSAGE: &str = "Something went wrong while running this command.";

/// Default time a user has to answer a prompt.
pub const DEFAULT_PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

struct Entry {
    handler: Option<Arc<dyn Command>>,
    precondition: BoxPrecondition,
}

/// The command pipeline of a worker: a registry with handlers, cooldowns and prompts. A `help`
/// command (optional argument `command`) is built in unless the bot registers its own.
pub struct Dispatcher {
    registry: Registry,
    entries: HashMap<String, Entry>,
    cooldowns: Cooldowns,
    prompts: Prompts,
    prompt_timeout: Duration,
    user_limit: Option<u32>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("commands", &self.registry.len())
            .field("prompt_timeout", &self.prompt_timeout)
            .finish_non_exhaustive()
    }
}

fn help_spec() -> CommandSpec {
    CommandSpec::builder("help")
        .description("Lists the commands, or explains one")
        .arg(
            ArgSpec::string("command")
                .describe("The command to explain")
                .optional(),
        )
        .build()
        .unwrap_or_else(|_| unreachable!("the help spec is valid"))
}

/// How arguments reach the pipeline.
enum Source<'a> {
    Prefix { prefix: &'a str, rest: &'a str },
    Slash(&'a CommandData),
    Menu(&'a CommandData),
}

impl Dispatcher {
    /// A dispatcher using these stores, with the [`DEFAULT_PROMPT_TIMEOUT`].
    pub fn new(cooldowns: Cooldowns, prompts: Prompts) -> Self {
        let mut dispatcher = Self {
            registry: Registry::new(),
            entries: HashMap::new(),
            cooldowns,
            prompts,
            prompt_timeout: DEFAULT_PROMPT_TIMEOUT,
            user_limit: None,
        };
        let spec = help_spec();
        let precondition = spec.precondition();
        if dispatcher.registry.register(spec).is_ok() {
            dispatcher.entries.insert(
                "help".to_owned(),
                Entry {
                    handler: None,
                    precondition,
                },
            );
        }
        dispatcher
    }

    /// Sets how long users have to answer prompts.
    #[must_use]
    pub fn with_prompt_timeout(mut self, timeout: Duration) -> Self {
        self.prompt_timeout = timeout;
        self
    }

    /// Limits every user (owners exempt) to `limit` commands per [`USER_LIMIT_WINDOW`] over
    /// all commands, counted in Redis across replicas; 0 switches the limit off.
    #[must_use]
    pub fn with_user_limit(mut self, limit: u32) -> Self {
        self.user_limit = (limit > 0).then_some(limit);
        self
    }

    /// Registers a command. Registering a command called `help` replaces the built-in one.
    pub fn register(
        &mut self,
        spec: CommandSpec,
        handler: impl Command + 'static,
    ) -> Result<(), RegistryError> {
        if spec.name == "help"
            && self
                .entries
                .get("help")
                .is_some_and(|e| e.handler.is_none())
        {
            let mut registry = Registry::new();
            for existing in self.registry.iter().filter(|s| s.name != "help") {
                registry.register(existing.clone())?;
            }
            self.registry = registry;
            self.entries.remove("help");
        }
        let name = spec.name.clone();
        let precondition = spec.precondition();
        self.registry.register(spec)?;
        self.entries.insert(
            name,
            Entry {
                handler: Some(Arc::new(handler)),
                precondition,
            },
        );
        Ok(())
    }

    /// The registered commands.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The prompt store.
    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// Handles a message: an answer to an open prompt of its author in its channel, or a
    /// prefix command (`prefixes` of the guild, or a mention of `bot_id`). `None` when the
    /// message is neither (or names no command): send nothing.
    pub async fn handle_message(
        &self,
        ctx: &InvocationContext,
        content: &str,
        prefixes: &[&str],
        bot_id: Id<UserMarker>,
    ) -> Option<Reply> {
        match self
            .prompts
            .answer(ctx.channel_id, ctx.user_id, content)
            .await
        {
            Ok(PromptAnswer::Continue { state, answer }) => {
                return Some(self.continue_prompt(ctx, state, answer).await);
            }
            Ok(PromptAnswer::Cancelled(_)) => return Some(Reply::text("Cancelled.")),
            Ok(PromptAnswer::NoPrompt) => {}
            Err(error) => tracing::error!(%error, "could not check for an open prompt"),
        }
        let invocation = parse_prefix(content, prefixes, bot_id)?;
        let spec = self.registry.get(invocation.name).filter(|s| s.prefix)?;
        let help_prefix = prefixes.first().copied().unwrap_or(invocation.prefix);
        self.invoke(
            ctx,
            spec,
            Source::Prefix {
                prefix: help_prefix,
                rest: invocation.rest,
            },
        )
        .await
    }

    /// The command a message would invoke, if any (no side effects). Lets the caller skip
    /// costly context lookups (member permissions) for messages that are not commands or whose
    /// command does not [need them](CommandSpec::needs_member_permissions). Prompt answers are
    /// not detected here: a handler continuing a conversation gets the context it is given.
    pub fn command_for_message(
        &self,
        content: &str,
        prefixes: &[&str],
        bot_id: Id<UserMarker>,
    ) -> Option<&CommandSpec> {
        let invocation = parse_prefix(content, prefixes, bot_id)?;
        self.registry.get(invocation.name).filter(|s| s.prefix)
    }

    /// The command an application command interaction invokes: a slash command by its exact
    /// name, or a user or message context-menu command.
    pub fn command_for_interaction(&self, data: &CommandData) -> Option<&CommandSpec> {
        use twilight_model::application::command::CommandType;
        match data.kind {
            CommandType::User => self.registry.menu(CommandKind::User, &data.name),
            CommandType::Message => self.registry.menu(CommandKind::Message, &data.name),
            _ => self
                .registry
                .get(&data.name)
                .filter(|s| s.slash && s.name == data.name),
        }
    }

    /// Handles a slash command (with its subcommand) or a context-menu command. `None` when no
    /// such command is registered.
    pub async fn handle_interaction(
        &self,
        ctx: &InvocationContext,
        data: &CommandData,
    ) -> Option<Reply> {
        let spec = self.command_for_interaction(data)?;
        let source = if spec.kind == CommandKind::ChatInput {
            Source::Slash(data)
        } else {
            Source::Menu(data)
        };
        self.invoke(ctx, spec, source).await
    }

    /// Suggestions for the focused option of an autocomplete interaction on a slash command:
    /// at most 25 `(name, value)` pairs, names and values cut to Discord's 100 characters.
    /// `None` when the command or the focused option is unknown.
    pub async fn handle_autocomplete(
        &self,
        ctx: &InvocationContext,
        data: &CommandData,
    ) -> Option<Vec<(String, String)>> {
        use twilight_model::application::interaction::application_command::CommandOptionValue;
        let spec = self
            .registry
            .get(&data.name)
            .filter(|s| s.name == data.name)?;
        let handler = self.entries.get(&spec.name)?.handler.as_ref()?;
        let resolved = resolve_slash(spec, &data.options).ok()?;
        let (arg, partial) = resolved
            .rest
            .iter()
            .find_map(|option| match &option.value {
                CommandOptionValue::Focused(partial, _) => Some((option.name.as_str(), partial)),
                _ => None,
            })?;
        let leaf = resolved.chain.last().copied().unwrap_or(spec);
        leaf.args.iter().find(|a| a.name == arg && a.autocomplete)?;
        // A subcommand's argument is named by its path: `modlog set channel`.
        let mut qualified = resolved.path();
        qualified.push(arg.to_owned());
        let qualified = qualified.join(" ");
        let cut = |text: String| text.chars().take(100).collect::<String>();
        let mut choices = handler.autocomplete(ctx, &qualified, partial).await;
        choices.truncate(25);
        Some(
            choices
                .into_iter()
                .map(|(name, value)| (cut(name), cut(value)))
                .collect(),
        )
    }

    /// Claims up to `limit` timed-out prompts (each claimed by exactly one replica) and returns
    /// them with the message to send in their channel. Call periodically.
    pub async fn sweep_timeouts(&self, limit: usize) -> Vec<(Expired, Reply)> {
        match self.prompts.due_timeouts(now_ms(), limit).await {
            Ok(expired) => expired
                .into_iter()
                .map(|e| {
                    let reply = self
                        .entries
                        .get(&e.state.command)
                        .and_then(|entry| entry.handler.as_ref())
                        .map_or_else(
                            || Reply::text("Timed out waiting for your answer."),
                            |handler| handler.on_timeout(&e.state),
                        );
                    (e, reply)
                })
                .collect(),
            Err(error) => {
                tracing::error!(%error, "could not sweep prompt timeouts");
                Vec::new()
            }
        }
    }

    /// Runs a command; `None` when nothing should be sent (a repeated "slow down" to a prefix
    /// command: said once per wait). A slash command always gets an answer.
    async fn invoke(
        &self,
        ctx: &InvocationContext,
        spec: &CommandSpec,
        source: Source<'_>,
    ) -> Option<Reply> {
        let Some(entry) = self.entries.get(&spec.name) else {
            return Some(Reply::ephemeral(INTERNAL_ERROR_MESSAGE));
        };
        // Stored in lower case: command names are case-insensitive ("User info").
        let disabled = || {
            let name = spec.name.to_lowercase();
            ctx.disabled_commands.contains(&name)
        };
        if entry.handler.is_some() && disabled() {
            return Some(Reply::ephemeral(format!(
                "The `{}` command is disabled on this server.",
                spec.name
            )));
        }
        if let Err(denied) = entry.precondition.check(ctx).await {
            return Some(Reply::ephemeral(denied.reason));
        }
        // Interactions (slash and context menus) always need an answer.
        let slash = !matches!(source, Source::Prefix { .. });
        let (prefix, chain, parsed, bot_permissions) = match source {
            Source::Prefix { prefix, rest } => match resolve_prefix(spec, prefix, rest) {
                Ok(resolved) => {
                    let leaf = resolved.spec(spec);
                    let parsed = args::parse_args(&leaf, prefix, resolved.rest)
                        .map(|a| a.with_path(resolved.path()));
                    let needed = resolved.bot_permissions(spec);
                    (prefix, resolved.chain, parsed, needed)
                }
                Err(problem) => return Some(Reply::ephemeral(problem)),
            },
            Source::Slash(data) => match resolve_slash(spec, &data.options) {
                Ok(resolved) => {
                    let leaf = resolved.spec(spec);
                    let parsed = Args::from_options(&leaf, resolved.rest)
                        .map(|a| a.with_path(resolved.path()));
                    let needed = resolved.bot_permissions(spec);
                    ("/", resolved.chain, parsed, needed)
                }
                Err(problem) => return Some(Reply::ephemeral(problem)),
            },
            Source::Menu(data) => match Target::from_interaction(spec.kind, data) {
                Some(target) => (
                    "/",
                    Vec::new(),
                    Ok(Args::with_target(target)),
                    spec.bot_permissions,
                ),
                None => {
                    return Some(Reply::ephemeral("This command needs a user or a message."));
                }
            },
        };
        // The invoked subcommand's and its group's own preconditions.
        for sub in chain {
            if let Err(denied) = sub.precondition().check(ctx).await {
                return Some(Reply::ephemeral(denied.reason));
            }
        }
        if let Err(refused) = check_bot_permissions(ctx, bot_permissions) {
            return Some(Reply::ephemeral(refused));
        }
        let args = match parsed {
            Ok(args) => args,
            Err(error) => return Some(Reply::ephemeral(error.to_string())),
        };
        if !ctx.is_owner
            && let Err(refusal) = self.admit(ctx, spec, slash).await
        {
            return refusal;
        }
        let result = match &entry.handler {
            Some(handler) => handler.run(ctx, args).await,
            None => Ok(self.help(prefix, &args)),
        };
        Some(self.finish(ctx, &spec.name, result).await)
    }

    fn help(&self, prefix: &str, args: &Args) -> Reply {
        match args.string("command") {
            None => Reply::text(self.registry.help(prefix))
                .with_components(crate::component::help_menu(&self.registry)),
            Some(name) => self.registry.help_for(prefix, name).map_or_else(
                || {
                    Reply::ephemeral(format!(
                        "There is no command called `{}`.",
                        name.replace('`', "'")
                    ))
                },
                Reply::text,
            ),
        }
    }

    async fn continue_prompt(
        &self,
        ctx: &InvocationContext,
        state: PromptState,
        answer: String,
    ) -> Reply {
        let command = state.command.clone();
        let Some(handler) = self
            .entries
            .get(&command)
            .and_then(|entry| entry.handler.clone())
        else {
            tracing::warn!(%command, "prompt for an unknown command dropped");
            return Reply::text("This conversation has ended.");
        };
        let result = handler.on_answer(ctx, state, answer).await;
        self.finish(ctx, &command, result).await
    }

    async fn finish(
        &self,
        ctx: &InvocationContext,
        command: &str,
        result: Result<Reply, CommandError>,
    ) -> Reply {
        match result {
            Ok(mut reply) => {
                if let Err(error) = reply.check() {
                    // Discord would refuse the whole message: say so in the logs, and answer
                    // something the user can act on.
                    tracing::error!(%command, %error, "the command answered invalid components");
                    return Reply::ephemeral(INTERNAL_ERROR_MESSAGE);
                }
                if let Some(mut state) = reply.prompt.take() {
                    command.clone_into(&mut state.command);
                    match self
                        .prompts
                        .start(ctx.channel_id, ctx.user_id, state, self.prompt_timeout)
                        .await
                    {
                        Ok(state) => reply.prompt = Some(state),
                        Err(error) => {
                            tracing::error!(%command, %error, "could not open a prompt");
                            return Reply::ephemeral(INTERNAL_ERROR_MESSAGE);
                        }
                    }
                }
                reply
            }
            Err(CommandError::User(message)) => Reply::ephemeral(message),
            Err(CommandError::Internal(error)) => {
                tracing::error!(%command, %error, "command failed");
                Reply::ephemeral(INTERNAL_ERROR_MESSAGE)
            }
        }
    }
}

//! `prefix`, `settings` and the `setup` wizard (or its form, [`crate::setup_form`]).

use serde::{Deserialize, Serialize};
use swarmcord::commands::precondition::BoxFuture;
use swarmcord::commands::{
    ArgSpec, Args, Command, CommandError, CommandSpec, CommandSpecBuilder, InvocationContext,
    PromptState, Reply, SpecError,
};
use swarmcord::model::guild::Permissions;
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::{ChannelMarker, GuildMarker};
use swarmcord::store::{GuildSettings, StoreError};

use swarmcord::{Setup, SetupError};

use super::{Services, confirms, guild, listed, unavailable};

pub(super) fn register(setup: &mut Setup<'_>, services: &Services) -> Result<(), SetupError> {
    setup.command_impl(
        CommandSpec::builder("prefix")
            .description("Show or change this server's command prefix")
            .category("Settings")
            .guild_only()
            .reads_permissions()
            .arg(
                ArgSpec::string("new")
                    .describe("the new prefix (1 to 16 characters)")
                    .optional(),
            )
            .build()?,
        Prefix(services.clone()),
    )?;
    setup.command_impl(settings_spec()?, Settings(services.clone()))?;
    setup.command_impl(
        CommandSpec::builder("setup")
            .description("Set this server up step by step: prefix, then mod-log channel")
            .category("Settings")
            .guild_only()
            .permissions(Permissions::MANAGE_GUILD)
            .build()?,
        SetupWizard(services.clone()),
    )?;
    crate::setup_form::register(setup, services)?;
    Ok(())
}

/// A subcommand: `name`, `description`, its arguments.
fn sub(name: &str, description: &str, args: Vec<ArgSpec>) -> Result<CommandSpec, SpecError> {
    args.into_iter()
        .fold(
            CommandSpec::builder(name).description(description),
            CommandSpecBuilder::arg,
        )
        .build()
}

/// A group of `set <value>` and `reset`-like subcommands.
fn group(
    name: &str,
    description: &str,
    set: CommandSpec,
    clear: CommandSpec,
) -> Result<CommandSpec, SpecError> {
    CommandSpec::builder(name)
        .description(description)
        .subcommand(set)
        .subcommand(clear)
        .build()
}

/// `/settings show`, `disable`/`enable <command>`, and the groups `modlog set|off`,
/// `locale set|reset`, `prefix set|reset`, `dj set|reset`; `!settings` alone shows them too.
fn settings_spec() -> Result<CommandSpec, SpecError> {
    let command = || vec![ArgSpec::string("command").describe("the command's name")];
    CommandSpec::builder("settings")
        .description("Show or change this server's settings")
        .category("Settings")
        .guild_only()
        .permissions(Permissions::MANAGE_GUILD)
        .subcommand(sub("show", "Show this server's settings", Vec::new())?)
        .subcommand(sub("disable", "Switch a command off here", command())?)
        .subcommand(sub("enable", "Switch a command on again", command())?)
        .subcommand(group(
            "modlog",
            "The channel that gets the moderation log",
            sub(
                "set",
                "Send the moderation log to a channel",
                vec![ArgSpec::channel("channel").describe("the mod-log channel")],
            )?,
            sub("off", "Stop sending the moderation log", Vec::new())?,
        )?)
        .subcommand(group(
            "locale",
            "The language of the bot's answers",
            sub(
                "set",
                "Set the locale",
                vec![ArgSpec::string("locale").describe("a locale such as fr or pt-BR")],
            )?,
            sub("reset", "Use the server's locale", Vec::new())?,
        )?)
        .subcommand(group(
            "prefix",
            "The prefix of text commands",
            sub(
                "set",
                "Set the prefix",
                vec![ArgSpec::string("prefix").describe("1 to 16 characters")],
            )?,
            sub("reset", "Use the default prefix", Vec::new())?,
        )?)
        .subcommand(group(
            "dj",
            "The role that may control music from outside the voice channel",
            sub(
                "set",
                "Set the DJ role",
                vec![ArgSpec::role("role").describe("the DJ role")],
            )?,
            sub("reset", "Remove the DJ role", Vec::new())?,
        )?)
        .build()
}

pub(crate) fn describe(settings: &GuildSettings, default_prefix: &str) -> String {
    let prefix = settings.prefix.as_deref().unwrap_or(default_prefix);
    let mod_log = settings
        .mod_log_channel
        .map_or_else(|| "off".to_owned(), |c| format!("<#{c}>"));
    let locale = settings.locale.as_deref().unwrap_or("the server's");
    let disabled = listed(&settings.disabled_commands, ", ", |c| format!("`{c}`"));
    let dj = settings
        .dj_role
        .map_or_else(|| "none".to_owned(), |r| format!("<@&{r}>"));
    format!(
        "Prefix: `{prefix}`\nMod-log channel: {mod_log}\nLocale: {locale}\nDJ role: {dj}\nDisabled commands: {disabled}"
    )
}

struct Prefix(Services);

impl Command for Prefix {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let guild_id = guild(ctx)?;
            let Some(new) = args.string("new") else {
                let settings = self
                    .0
                    .settings
                    .guild(guild_id.get())
                    .await
                    .map_err(|e| unavailable(&e))?;
                let prefix = settings
                    .prefix
                    .unwrap_or_else(|| self.0.default_prefix.clone());
                return Ok(Reply::text(format!("The prefix here is `{prefix}`.")));
            };
            let allowed = ctx.is_owner
                || ctx
                    .member_permissions
                    .is_some_and(|p| p.contains(Permissions::MANAGE_GUILD));
            if !allowed {
                return Err(CommandError::user(
                    "You need the Manage Server permission to change the prefix.",
                ));
            }
            let settings = self
                .0
                .settings
                .store()
                .guild_settings()
                .set_prefix(guild_id.get(), Some(new))
                .await
                .map_err(|e| unavailable(&e))?;
            self.0.settings.remember(&settings).await;
            let prefix = settings
                .prefix
                .unwrap_or_else(|| self.0.default_prefix.clone());
            Ok(Reply::text(format!("The prefix is now `{prefix}`.")))
        })
    }
}

/// A channel given as `<#id>` or a bare id.
pub(crate) fn parse_channel(raw: &str) -> Option<Id<ChannelMarker>> {
    let raw = raw.trim();
    let inner = raw
        .strip_prefix("<#")
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(raw);
    inner.parse::<u64>().ok().and_then(Id::new_checked)
}

/// Checks that `channel` is a channel of `guild_id` the bot can see.
pub(crate) async fn check_channel(
    services: &Services,
    guild_id: Id<GuildMarker>,
    channel: Id<ChannelMarker>,
) -> Result<(), CommandError> {
    match services.http.channel(channel).await {
        Ok(response) => {
            let channel = response
                .model()
                .await
                .map_err(|e| CommandError::internal(e.to_string()))?;
            if channel.guild_id == Some(guild_id) {
                Ok(())
            } else {
                Err(CommandError::user("That channel is not in this server."))
            }
        }
        Err(error) if super::is_status(&error, 404) || super::is_status(&error, 403) => Err(
            CommandError::user("I can't find that channel (or I can't see it)."),
        ),
        Err(error) => Err(CommandError::internal(error.to_string())),
    }
}

struct Settings(Services);

impl Settings {
    /// `settings disable|enable <command>`: the store's answer, or a refusal.
    async fn switch(
        &self,
        guild_id: Id<GuildMarker>,
        enable: bool,
        name: &str,
    ) -> Result<Result<GuildSettings, StoreError>, CommandError> {
        let repo = self.0.settings.store().guild_settings();
        let name = name.to_lowercase();
        let known = self
            .0
            .sdk
            .commands()
            .is_some_and(|c| c.iter().any(|s| s.name.to_lowercase() == name));
        if !known {
            return Err(CommandError::user(format!(
                "There is no command called `{}`.",
                name.replace('`', "'")
            )));
        }
        if enable {
            Ok(repo.enable_command(guild_id.get(), &name).await)
        } else if matches!(name.as_str(), "help" | "settings") {
            Err(CommandError::user(format!("`{name}` can't be disabled.")))
        } else {
            Ok(repo.disable_command(guild_id.get(), &name).await)
        }
    }
}

impl Command for Settings {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let guild_id = guild(ctx)?;
            let guild = guild_id.get();
            let repo = self.0.settings.store().guild_settings();
            let path: Vec<&str> = args.path().iter().map(String::as_str).collect();
            let text = |name| args.string(name).map(str::trim).unwrap_or_default();
            let stored = match path.as_slice() {
                ["disable"] => self.switch(guild_id, false, text("command")).await?,
                ["enable"] => self.switch(guild_id, true, text("command")).await?,
                ["modlog", "set"] => {
                    let channel = args
                        .channel("channel")
                        .ok_or_else(|| CommandError::user("Give a channel (`#mod-log`)."))?;
                    check_channel(&self.0, guild_id, channel).await?;
                    repo.set_mod_log(guild, Some(channel.get())).await
                }
                ["modlog", "off"] => repo.set_mod_log(guild, None).await,
                // The store validates the locale and the prefix; its refusal is shown.
                ["locale", "set"] => repo.set_locale(guild, Some(text("locale"))).await,
                ["locale", "reset"] => repo.set_locale(guild, None).await,
                ["prefix", "set"] => repo.set_prefix(guild, Some(text("prefix"))).await,
                ["prefix", "reset"] => repo.set_prefix(guild, None).await,
                ["dj", "set"] => {
                    let role = args
                        .role("role")
                        .ok_or_else(|| CommandError::user("Give a role (`@DJ`)."))?;
                    repo.set_dj_role(guild, Some(role.get())).await
                }
                ["dj", "reset"] => repo.set_dj_role(guild, None).await,
                // `show`, or `!settings` alone.
                _ => self.0.settings.guild(guild).await,
            };
            let settings = stored.map_err(|e| unavailable(&e))?;
            if matches!(path.as_slice(), [] | ["show"]) {
                return Ok(Reply::text(describe(&settings, &self.0.default_prefix)));
            }
            self.0.settings.remember(&settings).await;
            Ok(Reply::text(format!(
                "Saved.\n{}",
                describe(&settings, &self.0.default_prefix)
            )))
        })
    }
}

/// The wizard's steps.
const STEP_PREFIX: u32 = 1;
const STEP_MOD_LOG: u32 = 2;
const STEP_CONFIRM: u32 = 3;

/// The wizard's answers so far (the prompt's data); `None` keeps the prefix, turns the
/// moderation log off.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Answers {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    mod_log: Option<Id<ChannelMarker>>,
}

struct SetupWizard(Services);

impl SetupWizard {
    /// Asks `question` as step `step`, with the answers so far.
    fn ask<T>(
        state: &PromptState<T>,
        step: u32,
        answers: Answers,
        question: impl Into<String>,
    ) -> Result<Reply, CommandError> {
        Ok(Reply::ask(state.next(step, answers, question).encode()?))
    }

    fn ask_mod_log<T>(state: &PromptState<T>, answers: Answers) -> Result<Reply, CommandError> {
        Self::ask(
            state,
            STEP_MOD_LOG,
            answers,
            "Step 2/3: which channel should get the moderation log? Mention it (#mod-log), or say `none`.",
        )
    }
}

impl Command for SetupWizard {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        _args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let guild_id = guild(ctx)?;
            let settings = self
                .0
                .settings
                .guild(guild_id.get())
                .await
                .map_err(|e| unavailable(&e))?;
            let current = settings
                .prefix
                .unwrap_or_else(|| self.0.default_prefix.clone());
            let question = format!(
                "Let's set this server up (say `cancel` at any time). Step 1/3: which prefix should I answer to? It is `{current}` now; say `skip` to keep it."
            );
            let start = PromptState::new("setup", question.clone());
            let reply = Self::ask(&start, STEP_PREFIX, Answers::default(), question)?;
            // Clients with buttons can fill in a form instead of answering step by step.
            Ok(reply.with_components([crate::setup_form::open_button()]))
        })
    }

    fn on_answer<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        state: PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let guild_id = guild(ctx)?;
            let answer = answer.trim();
            let mut state = state.decode::<Answers>()?;
            let mut answers = std::mem::take(&mut state.data);
            match state.step {
                STEP_PREFIX => {
                    if !answer.eq_ignore_ascii_case("skip") {
                        if let Err(error) = swarmcord::store::validate_prefix(answer) {
                            let question = format!("{error}. Which prefix? (or `skip`)");
                            return Self::ask(&state, STEP_PREFIX, answers, question);
                        }
                        answers.prefix = Some(answer.to_owned());
                    }
                    Self::ask_mod_log(&state, answers)
                }
                STEP_MOD_LOG => {
                    if answer.eq_ignore_ascii_case("none") {
                        answers.mod_log = None;
                    } else {
                        let Some(channel) = parse_channel(answer) else {
                            return Self::ask_mod_log(&state, answers);
                        };
                        if let Err(CommandError::User(problem)) =
                            check_channel(&self.0, guild_id, channel).await
                        {
                            let question = format!("{problem} Which channel? (or `none`)");
                            return Self::ask(&state, STEP_MOD_LOG, answers, question);
                        }
                        answers.mod_log = Some(channel);
                    }
                    let prefix = answers
                        .prefix
                        .as_ref()
                        .map_or_else(|| "unchanged".to_owned(), |p| format!("`{p}`"));
                    let mod_log = answers
                        .mod_log
                        .map_or_else(|| "off".to_owned(), |c| format!("<#{c}>"));
                    let question = format!(
                        "Step 3/3: save prefix {prefix} and mod-log {mod_log}? Answer `yes` to save."
                    );
                    Self::ask(&state, STEP_CONFIRM, answers, question)
                }
                STEP_CONFIRM => {
                    if !confirms(answer) {
                        return Ok(Reply::text("Setup cancelled; nothing was changed."));
                    }
                    let repo = self.0.settings.store().guild_settings();
                    if let Some(prefix) = &answers.prefix {
                        repo.set_prefix(guild_id.get(), Some(prefix.as_str()))
                            .await
                            .map_err(|e| unavailable(&e))?;
                    }
                    let mod_log = answers.mod_log.map(Id::get);
                    let settings = repo
                        .set_mod_log(guild_id.get(), mod_log)
                        .await
                        .map_err(|e| unavailable(&e))?;
                    self.0.settings.remember(&settings).await;
                    Ok(Reply::text(format!(
                        "All set!\n{}",
                        describe(&settings, &self.0.default_prefix)
                    )))
                }
                _ => Ok(Reply::text("This conversation has ended.")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_mentions_and_ids() {
        assert_eq!(parse_channel("<#123>"), Some(Id::new(123)));
        assert_eq!(parse_channel(" 456 "), Some(Id::new(456)));
        assert_eq!(parse_channel("#general"), None);
        assert_eq!(parse_channel("<#0>"), None);
    }

    #[test]
    fn wizard_answers_read_the_json_of_earlier_steps() {
        let answers = |json| {
            PromptState::new("setup", "?")
                .with_data(json)
                .decode::<Answers>()
                .expect("decodes")
                .data
        };
        assert_eq!(answers(serde_json::json!({})), Answers::default());
        assert_eq!(
            answers(serde_json::json!({"prefix": "?", "mod_log": "42"})),
            Answers {
                prefix: Some("?".to_owned()),
                mod_log: Some(Id::new(42)),
            }
        );
        assert_eq!(
            answers(serde_json::json!({"mod_log": null})).mod_log,
            None,
            "`none`"
        );
    }
}

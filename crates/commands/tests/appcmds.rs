//! Application-command features of the framework: subcommands and groups (declaration,
//! registration as nested options, dispatch from prefix words and from nested slash options),
//! context-menu commands, who sees a command, localizations, and the bot's permission check.

use serde_json::json;
use swarmcord_commands::precondition::BoxFuture;
use swarmcord_commands::{
    ArgSpec, Args, Command, CommandError, CommandKind, CommandSpec, Cooldowns, Dispatcher,
    InvocationContext, Prompts, Registry, Reply, SpecError, Target,
};
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::oauth::ApplicationIntegrationType;

fn leaf(name: &str, description: &str) -> swarmcord_commands::spec::CommandSpecBuilder {
    CommandSpec::builder(name).description(description)
}

/// `/settings show`, `/settings modlog set <channel>`, `/settings modlog off`.
fn settings() -> CommandSpec {
    CommandSpec::builder("settings")
        .description("Server settings")
        .guild_only()
        .permissions(Permissions::MANAGE_GUILD)
        .subcommand(leaf("show", "Shows them").build().expect("test setup"))
        .subcommand(
            leaf("modlog", "The moderation log")
                .subcommand(
                    leaf("set", "Sets the channel")
                        .arg(ArgSpec::channel("channel").describe("where"))
                        .bot_permissions(Permissions::MANAGE_WEBHOOKS)
                        .build()
                        .expect("test setup"),
                )
                .subcommand(leaf("off", "Turns it off").build().expect("test setup"))
                .build()
                .expect("test setup"),
        )
        .build()
        .expect("valid")
}

fn user_info() -> CommandSpec {
    CommandSpec::context_menu(CommandKind::User, "User info")
        .description("Shows who a user is")
        .build()
        .expect("valid")
}

#[test]
fn subcommand_and_context_menu_declarations_follow_discords_rules() {
    let sub = || leaf("show", "Shows").build().expect("test setup");
    let with_args = CommandSpec::builder("settings")
        .description("d")
        .arg(ArgSpec::string("x"))
        .subcommand(sub())
        .build();
    assert!(matches!(with_args, Err(SpecError::InvalidSubcommands(..))));
    let three_levels = leaf("a", "a")
        .subcommand(
            leaf("b", "b")
                .subcommand(leaf("c", "c").subcommand(sub()).build().unwrap_or_else(
                    // Built alone, `c` is a valid command; nested twice it is not.
                    |e| panic!("{e}"),
                ))
                .build()
                .expect("test setup"),
        )
        .build();
    assert!(
        matches!(three_levels, Err(SpecError::InvalidSubcommands(ref name, _)) if name == "c"),
        "{three_levels:?}"
    );
    let twice = leaf("a", "a").subcommand(sub()).subcommand(sub()).build();
    assert!(matches!(twice, Err(SpecError::InvalidSubcommands(..))));
    let menu_sub = leaf("a", "a").subcommand(user_info()).build();
    assert!(matches!(menu_sub, Err(SpecError::InvalidSubcommands(..))));

    // Context menus: capitals and spaces are fine, arguments and prefix forms are not.
    assert_eq!(user_info().name, "User info");
    assert!(!user_info().prefix);
    let with_arg = CommandSpec::context_menu(CommandKind::Message, "Report")
        .description("d")
        .arg(ArgSpec::string("x"))
        .build();
    assert!(matches!(with_arg, Err(SpecError::InvalidContextMenu(..))));
    let too_long = CommandSpec::context_menu(CommandKind::User, &"x".repeat(33))
        .description("d")
        .build();
    assert!(matches!(too_long, Err(SpecError::InvalidContextMenu(..))));

    // Localizations: known locales, the rules of what they translate.
    let ok = leaf("roll", "Rolls dice")
        .name_localized("fr", "lancer")
        .description_localized("pt-BR", "Rola dados")
        .build();
    assert!(ok.is_ok(), "{ok:?}");
    let bad_locale = leaf("roll", "d").name_localized("klingon", "x").build();
    assert!(matches!(
        bad_locale,
        Err(SpecError::InvalidLocalization { .. })
    ));
    let bad_name = leaf("roll", "d").name_localized("fr", "Lancer Dés").build();
    assert!(matches!(
        bad_name,
        Err(SpecError::InvalidLocalization { .. })
    ));
}

#[test]
fn registration_json_nests_subcommands_and_carries_every_declared_field() {
    let mut registry = Registry::new();
    registry.register(settings()).expect("test setup");
    registry.register(user_info()).expect("test setup");
    registry
        .register(
            leaf("roll", "Rolls dice")
                .default_member_permissions(Permissions::SEND_MESSAGES)
                .permissions(Permissions::MANAGE_GUILD)
                .contexts([InteractionContextType::Guild, InteractionContextType::BotDm])
                .integration_types([
                    ApplicationIntegrationType::GuildInstall,
                    ApplicationIntegrationType::UserInstall,
                ])
                .nsfw()
                .name_localized("fr", "lancer")
                .description_localized("fr", "Lance des dés")
                .build()
                .expect("test setup"),
        )
        .expect("test setup");
    // A "User info" user command and a chat input command may share nothing but the
    // registry: both are found by their own lookups.
    assert!(registry.get("user info").is_none());
    assert_eq!(
        registry
            .menu(CommandKind::User, "User info")
            .map(|s| s.name.as_str()),
        Some("User info")
    );
    assert!(registry.menu(CommandKind::Message, "User info").is_none());

    let json = serde_json::to_value(registry.to_application_commands()).expect("test setup");
    let settings = &json[0];
    assert_eq!(settings["type"], 1);
    assert_eq!(settings["contexts"], json!([0]));
    assert_eq!(settings["default_member_permissions"], "32");
    assert_eq!(settings["options"][0]["type"], 1);
    assert_eq!(settings["options"][0]["name"], "show");
    let group = &settings["options"][1];
    assert_eq!(
        (group["type"].clone(), group["name"].clone()),
        (json!(2), json!("modlog"))
    );
    assert_eq!(group["options"][0]["type"], 1);
    assert_eq!(group["options"][0]["name"], "set");
    assert_eq!(
        group["options"][0]["options"][0]["type"], 7,
        "a channel option"
    );
    assert_eq!(group["options"][0]["options"][0]["required"], true);
    assert_eq!(group["options"][1]["name"], "off");

    let menu = &json[1];
    assert_eq!(menu["type"], 2);
    assert_eq!(menu["name"], "User info");
    assert_eq!(menu["description"], "", "Discord wants no description");
    assert!(
        menu.get("options").is_none_or(|o| o == &json!([])),
        "{menu}"
    );

    let roll = &json[2];
    assert_eq!(
        roll["default_member_permissions"], "2048",
        "the declared one wins"
    );
    assert_eq!(roll["contexts"], json!([0, 1]));
    assert_eq!(roll["integration_types"], json!([0, 1]));
    assert_eq!(roll["nsfw"], true);
    assert_eq!(roll["name_localizations"], json!({"fr": "lancer"}));
    assert_eq!(
        roll["description_localizations"],
        json!({"fr": "Lance des dés"})
    );
}

#[test]
fn help_lists_subcommands_and_context_menus() {
    let mut registry = Registry::new();
    registry.register(settings()).expect("test setup");
    registry.register(user_info()).expect("test setup");
    let details = registry.help_for("!", "settings").expect("test setup");
    assert!(details.contains("`!settings <show|modlog>`"), "{details}");
    assert!(
        details.contains("`!settings modlog set <channel>` — Sets the channel"),
        "{details}"
    );
    assert!(
        details.contains("`!settings modlog off` — Turns it off"),
        "{details}"
    );
    let help = registry.help("!");
    assert!(
        help.contains("`Apps › User info (on a user)` — Shows who a user is"),
        "{help}"
    );
}

/// Answers with the subcommand path, the arguments and the target it got.
struct Echo;

impl Command for Echo {
    fn run<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let target = match args.target() {
                Some(Target::User { id, user, .. }) => {
                    format!(
                        " user {id} {}",
                        user.as_ref().map_or("?", |u| u.name.as_str())
                    )
                }
                Some(Target::Message { id, .. }) => format!(" message {id}"),
                None => String::new(),
            };
            let channel = args
                .channel("channel")
                .map_or_else(String::new, |c| format!(" #{c}"));
            Ok(Reply::text(format!(
                "[{}]{channel}{target}",
                args.path().join(" ")
            )))
        })
    }
}

fn ctx(bot: Option<Permissions>) -> InvocationContext {
    InvocationContext {
        user_id: Id::new(10),
        guild_id: Some(Id::new(1)),
        channel_id: Id::new(2),
        is_owner: false,
        member_permissions: Some(Permissions::MANAGE_GUILD),
        bot_permissions: bot,
        disabled_commands: Vec::new(),
        source: None,
    }
}

async fn dispatcher() -> Dispatcher {
    let client = redis::Client::open(swarmcord_testkit::redis_url()).expect("test setup");
    let conn = client.get_connection_manager().await.expect("test setup");
    let prefix = swarmcord_testkit::unique_name("appcmds");
    let mut dispatcher = Dispatcher::new(
        Cooldowns::new(conn.clone(), prefix.clone()),
        Prompts::new(conn, prefix),
    );
    dispatcher.register(settings(), Echo).expect("test setup");
    dispatcher.register(user_info(), Echo).expect("test setup");
    dispatcher
        .register(
            leaf("purge", "Deletes messages")
                .bot_permissions(Permissions::MANAGE_MESSAGES | Permissions::READ_MESSAGE_HISTORY)
                .build()
                .expect("test setup"),
            Echo,
        )
        .expect("test setup");
    dispatcher
}

fn option(name: &str, value: CommandOptionValue) -> CommandDataOption {
    CommandDataOption {
        name: name.to_owned(),
        value,
    }
}

fn command(kind: CommandType, name: &str, options: Vec<CommandDataOption>) -> CommandData {
    CommandData {
        guild_id: None,
        id: Id::new(1),
        kind,
        name: name.to_owned(),
        options,
        resolved: None,
        target_id: None,
    }
}

async fn say(dispatcher: &Dispatcher, ctx: &InvocationContext, text: &str) -> String {
    dispatcher
        .handle_message(ctx, text, &["!"], Id::new(99))
        .await
        .map(|reply| reply.content)
        .unwrap_or_default()
}

#[tokio::test]
async fn subcommands_dispatch_from_prefix_words_and_nested_slash_options() {
    let dispatcher = dispatcher().await;
    let all = ctx(Some(Permissions::all()));
    assert_eq!(
        say(&dispatcher, &all, "!settings").await,
        "[]",
        "the parent alone"
    );
    assert_eq!(say(&dispatcher, &all, "!settings show").await, "[show]");
    assert_eq!(
        say(&dispatcher, &all, "!settings MODLOG set <#55>").await,
        "[modlog set] #55"
    );
    let unknown = say(&dispatcher, &all, "!settings colour").await;
    assert!(
        unknown.contains("no `colour`") && unknown.contains("`!settings modlog`"),
        "{unknown}"
    );
    let group_alone = say(&dispatcher, &all, "!settings modlog").await;
    assert!(
        group_alone.contains("`!settings modlog set`"),
        "{group_alone}"
    );
    let usage = say(&dispatcher, &all, "!settings modlog set").await;
    assert!(usage.contains("!settings modlog set <channel>"), "{usage}");

    let slash = command(
        CommandType::ChatInput,
        "settings",
        vec![option(
            "modlog",
            CommandOptionValue::SubCommandGroup(vec![option(
                "set",
                CommandOptionValue::SubCommand(vec![option(
                    "channel",
                    CommandOptionValue::Channel(Id::new(77)),
                )]),
            )]),
        )],
    );
    let reply = dispatcher
        .handle_interaction(&all, &slash)
        .await
        .expect("test setup");
    assert_eq!(reply.content, "[modlog set] #77");
    let no_sub = command(CommandType::ChatInput, "settings", vec![]);
    let reply = dispatcher
        .handle_interaction(&all, &no_sub)
        .await
        .expect("test setup");
    assert!(reply.content.starts_with("Use one of"), "{}", reply.content);

    // The subcommand's own bot permissions are checked too.
    let no_webhooks = ctx(Some(
        Permissions::all() - Permissions::MANAGE_WEBHOOKS - Permissions::ADMINISTRATOR,
    ));
    let reply = dispatcher
        .handle_interaction(&no_webhooks, &slash)
        .await
        .expect("test setup");
    assert_eq!(
        reply.content,
        "I can't do that here: I need the Manage Webhooks permission in this channel."
    );
    assert_eq!(
        say(&dispatcher, &no_webhooks, "!settings show").await,
        "[show]"
    );
}

#[tokio::test]
async fn context_menu_commands_get_their_target() {
    let dispatcher = dispatcher().await;
    let all = ctx(Some(Permissions::all()));
    let mut data = command(CommandType::User, "User info", vec![]);
    data.target_id = Some(Id::new(42));
    data.resolved = Some(
        serde_json::from_value(json!({
            "users": {"42": {"id": "42", "username": "ada", "discriminator": "0", "avatar": null}}
        }))
        .expect("test setup"),
    );
    let reply = dispatcher
        .handle_interaction(&all, &data)
        .await
        .expect("test setup");
    assert_eq!(reply.content, "[] user 42 ada");
    // Not a prefix command, not a slash command, not a message command.
    assert_eq!(say(&dispatcher, &all, "!user info").await, "");
    let slash = command(CommandType::ChatInput, "User info", vec![]);
    assert!(dispatcher.handle_interaction(&all, &slash).await.is_none());
    let mut message = command(CommandType::Message, "User info", vec![]);
    message.target_id = Some(Id::new(42));
    assert!(
        dispatcher
            .handle_interaction(&all, &message)
            .await
            .is_none()
    );
    // A payload without its target is refused, not a panic.
    data.target_id = None;
    let reply = dispatcher
        .handle_interaction(&all, &data)
        .await
        .expect("test setup");
    assert!(reply.content.contains("needs a user"), "{}", reply.content);
}

#[tokio::test]
async fn missing_bot_permissions_are_named_and_unknown_ones_refused() {
    let dispatcher = dispatcher().await;
    let none = ctx(Some(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES));
    assert_eq!(
        say(&dispatcher, &none, "!purge").await,
        "I can't do that here: I need the Manage Messages, Read Message History permissions in this channel."
    );
    let some = ctx(Some(Permissions::READ_MESSAGE_HISTORY));
    assert_eq!(
        say(&dispatcher, &some, "!purge").await,
        "I can't do that here: I need the Manage Messages permission in this channel."
    );
    let unknown = ctx(None);
    assert!(
        say(&dispatcher, &unknown, "!purge")
            .await
            .contains("could not check")
    );
    let admin = ctx(Some(Permissions::ADMINISTRATOR));
    assert_eq!(say(&dispatcher, &admin, "!purge").await, "[]");
    // Nothing to check in direct messages.
    let mut dm = ctx(None);
    dm.guild_id = None;
    assert_eq!(say(&dispatcher, &dm, "!purge").await, "[]");
}

//! Declarations, the registry, argument parsing (prefix and slash), help and slash bodies.

use std::time::Duration;

use swarmcord_commands::args::{ArgErrorKind, parse_duration};
use swarmcord_commands::{
    ArgSpec, ArgValue, Args, Choice, CommandSpec, CooldownScope, Registry, RegistryError,
    SpecError, parse_args, parse_prefix,
};
use twilight_model::application::command::{CommandOptionType, CommandOptionValue};
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue as Value,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

fn ban() -> CommandSpec {
    CommandSpec::builder("ban")
        .alias("b")
        .alias("Hammer")
        .description("Bans a member")
        .category("Moderation")
        .arg(ArgSpec::user("user").describe("Who to ban"))
        .arg(
            ArgSpec::integer_in("days", 0, 7)
                .describe("Days of messages to delete")
                .default(0),
        )
        .arg(ArgSpec::rest("reason").describe("Why").optional())
        .permissions(Permissions::BAN_MEMBERS)
        .guild_only()
        .cooldown(CooldownScope::Guild, 3, Duration::from_secs(60))
        .build()
        .expect("test setup")
}

fn everything() -> CommandSpec {
    CommandSpec::builder("all")
        .description("Every kind")
        .arg(ArgSpec::integer("int"))
        .arg(ArgSpec::number("num").min(-1.5).max(2.5))
        .arg(ArgSpec::string("word"))
        .arg(ArgSpec::boolean("flag"))
        .arg(ArgSpec::channel("chan"))
        .arg(ArgSpec::role("role"))
        .arg(ArgSpec::duration("time").max(86_400.0))
        .arg(ArgSpec::user("who").optional())
        .arg(ArgSpec::rest("tail").optional())
        .build()
        .expect("test setup")
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(ban()).expect("test setup");
    registry
        .register(
            CommandSpec::builder("ping")
                .description("Pong")
                .cooldown(CooldownScope::User, 1, Duration::from_secs(5))
                .build()
                .expect("test setup"),
        )
        .expect("test setup");
    registry.register(everything()).expect("test setup");
    registry
}

#[test]
fn a_full_prefix_invocation_parses_into_typed_args() {
    let registry = registry();
    let inv = parse_prefix("!B <@!123> 3  spamming   \"links\" ", &["!"], Id::new(9)).unwrap();
    let spec = registry.get(inv.name).unwrap();
    assert_eq!(spec.name, "ban");
    let args = parse_args(spec, inv.prefix, inv.rest).unwrap();
    assert_eq!(args.user("user"), Some(Id::new(123)));
    assert_eq!(args.integer("days"), Some(3));
    // Rest of line is raw: quotes kept, inner spacing kept, trimmed at the ends.
    assert_eq!(args.string("reason"), Some("spamming   \"links\""));

    let args = parse_args(spec, "!", "123").unwrap();
    assert_eq!(args.integer("days"), Some(0), "default applies");
    assert_eq!(
        args.string("reason"),
        None,
        "optional without default is absent"
    );
}

#[test]
fn every_kind_parses() {
    let spec = everything();
    let args = parse_args(
        &spec,
        "!",
        r#"-42 2.5 "two words" on <#55> <@&66> 1h30m <@77> the rest"#,
    )
    .unwrap();
    assert_eq!(args.integer("int"), Some(-42));
    assert_eq!(args.number("num"), Some(2.5));
    assert_eq!(args.string("word"), Some("two words"));
    assert_eq!(args.boolean("flag"), Some(true));
    assert_eq!(args.channel("chan"), Some(Id::new(55)));
    assert_eq!(args.role("role"), Some(Id::new(66)));
    assert_eq!(args.duration("time"), Some(Duration::from_secs(5_400)));
    assert_eq!(args.user("who"), Some(Id::new(77)));
    assert_eq!(args.string("tail"), Some("the rest"));
    assert_eq!(args.len(), 9);
}

#[test]
fn errors_name_the_argument_say_what_was_wrong_and_show_usage() {
    let spec = ban();
    let err = parse_args(&spec, "!", "<@1> abc").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`days` must be a whole number between 0 and 7, got `abc`. Usage: `!ban <user> [days] [reason…]`"
    );
    let err = parse_args(&spec, "!", "<@1> 8").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`days` must be a whole number between 0 and 7, got `8`.")
    );
    let err = parse_args(&spec, "!", "").unwrap_err();
    assert_eq!(err.kind, ArgErrorKind::Missing { arg: "user".into() });
    assert_eq!(
        err.to_string(),
        "Missing `user`. Usage: `!ban <user> [days] [reason…]`"
    );
    let err = parse_args(&spec, "?", "<@&5>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`user` must be a user mention or id, got `<@&5>`. Usage: `?ban <user> [days] [reason…]`"
    );
    let err = parse_args(&spec, "!", "99999999999999999999999").unwrap_err();
    assert!(
        err.to_string()
            .contains("`user` must be a user mention or id")
    );

    let err = parse_args(&everything(), "!", r#"1 1 "unclosed word"#).unwrap_err();
    assert_eq!(err.kind, ArgErrorKind::UnclosedQuote { arg: "word".into() });
    assert!(err.to_string().contains("without a closing one"));

    let ping = CommandSpec::builder("ping")
        .description("Pong")
        .build()
        .unwrap();
    let err = parse_args(&ping, "!", "extra stuff").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unexpected extra argument `extra`. Usage: `!ping`"
    );

    // Backticks in the input cannot break the code span; huge input is shortened.
    let err = parse_args(&spec, "!", "`@everyone`").unwrap_err();
    assert!(err.to_string().contains("got `'@everyone'`"), "{err}");
    let err = parse_args(&spec, "!", &"9".repeat(500)).unwrap_err();
    assert!(err.to_string().len() < 250);

    let err = parse_args(&everything(), "!", "1 9 w yes 1 2 3").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`num` must be a number between -1.5 and 2.5, got `9`."),
        "{err}"
    );
    let err = parse_args(&everything(), "!", "1 1 w maybe 1 2 3").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`flag` must be yes or no, got `maybe`."),
        "{err}"
    );
    let err = parse_args(&everything(), "!", "1 1 w no 1 2 2d").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`time` must be a duration like"),
        "{err}"
    );
    assert!(err.to_string().contains("of at most 1d"), "{err}");
}

#[test]
fn huge_and_odd_numbers() {
    let spec = everything();
    for bad in ["9223372036854775808", "1e3", "0x10", "1_000", "١٢"] {
        let err = parse_args(&spec, "!", &format!("{bad} 1 w y 1 2 3")).unwrap_err();
        assert!(
            err.to_string().starts_with("`int` must be a whole number"),
            "{bad}: {err}"
        );
    }
    for bad in ["NaN", "inf", "-inf", "1e400"] {
        let err = parse_args(&spec, "!", &format!("1 {bad} w y 1 2 3")).unwrap_err();
        assert!(
            err.to_string().starts_with("`num` must be a number"),
            "{bad}: {err}"
        );
    }
    assert!(parse_args(&spec, "!", "-9223372036854775808 -1.5 w y 1 2 3").is_ok());
}

/// Tiny deterministic generator for property-style tests (no extra dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next() % items.len() as u64).expect("test setup")]
    }
}

#[test]
fn never_panics_on_odd_input() {
    const PIECES: &[&str] = &[
        " ",
        "  ",
        "\t",
        "\n",
        "\"",
        "“",
        "”",
        "„",
        "\\",
        "\\\"",
        "<@",
        "<@!",
        "<@&",
        "<#",
        ">",
        "123",
        "0",
        "-",
        "9999999999999999999999999",
        "1h",
        "30m",
        "2d",
        "s",
        "yes",
        "on",
        "é",
        "日本",
        "🦀",
        "\u{200b}",
        "\u{0}",
        "`",
        "!",
        "ban",
        "all",
        "<@9>",
        "<@!9>",
        "e",
        "1.5",
        "NaN",
        "all ",
        "!all ",
    ];
    let registry = registry();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = rng.next() % 12;
        let mut input = String::new();
        if rng.next().is_multiple_of(2) {
            input.push('!');
            input.push_str(rng.pick(&["ban ", "all ", "ping ", "b", ""]));
        }
        for _ in 0..len {
            input.push_str(rng.pick(PIECES));
        }
        if let Some(inv) = parse_prefix(&input, &["!", "<@9>"], Id::new(9)) {
            assert!(!inv.name.is_empty());
            if let Some(spec) = registry.get(inv.name)
                && let Err(err) = parse_args(spec, inv.prefix, inv.rest)
            {
                {
                    let text = err.to_string();
                    assert!(text.contains(" Usage: `"), "{text}");
                    assert_eq!(
                        text.matches('`').count() % 2,
                        0,
                        "balanced code spans: {text}"
                    );
                }
            }
        }
        let _ = parse_duration(&input);
    }
}

#[test]
fn quotes_and_escapes_in_string_args() {
    let spec = CommandSpec::builder("say")
        .description("Says")
        .arg(ArgSpec::string("a"))
        .arg(ArgSpec::string("b"))
        .build()
        .unwrap();
    let args = parse_args(&spec, "!", r#""a \"quoted\" word" back\ slash"#).unwrap();
    assert_eq!(args.string("a"), Some(r#"a "quoted" word"#));
    assert_eq!(args.string("b"), Some("back slash"));
    let args = parse_args(&spec, "!", r#""" "日本 🦀""#).unwrap();
    assert_eq!(args.string("a"), Some(""));
    assert_eq!(args.string("b"), Some("日本 🦀"));
}

#[test]
fn spec_validation() {
    let build = |name: &str| CommandSpec::builder(name).description("d").build();
    assert!(build("ok-name_2").is_ok());
    assert!(build("ünïcode").is_ok());
    for bad in ["", "Upper", "has space", "x!", &"a".repeat(33)] {
        assert_eq!(
            build(bad).unwrap_err(),
            SpecError::InvalidName(bad.to_owned()),
            "{bad}"
        );
    }
    assert!(matches!(
        CommandSpec::builder("x").build(),
        Err(SpecError::InvalidDescription(_))
    ));
    assert!(matches!(
        CommandSpec::builder("x")
            .description(&"d".repeat(101))
            .build(),
        Err(SpecError::InvalidDescription(_))
    ));
    let base = || CommandSpec::builder("x").description("d");
    assert_eq!(
        base()
            .arg(ArgSpec::string("a").optional())
            .arg(ArgSpec::string("b"))
            .build()
            .unwrap_err(),
        SpecError::RequiredAfterOptional("b".into())
    );
    assert_eq!(
        base()
            .arg(ArgSpec::rest("a"))
            .arg(ArgSpec::string("b").optional())
            .build()
            .unwrap_err(),
        SpecError::RestNotLast("a".into())
    );
    assert_eq!(
        base()
            .arg(ArgSpec::string("a"))
            .arg(ArgSpec::integer("a"))
            .build()
            .unwrap_err(),
        SpecError::DuplicateArg("a".into())
    );
    assert_eq!(
        base()
            .arg(ArgSpec::integer_in("a", 5, 1))
            .build()
            .unwrap_err(),
        SpecError::InvalidBounds("a".into())
    );
    assert_eq!(
        base()
            .arg(ArgSpec::integer_in("a", 0, 7).default(9))
            .build()
            .unwrap_err(),
        SpecError::InvalidBounds("a".into())
    );
    assert_eq!(
        base()
            .arg(ArgSpec::integer("a").default("text"))
            .build()
            .unwrap_err(),
        SpecError::InvalidBounds("a".into())
    );
    assert_eq!(
        base().alias("two words").build().unwrap_err(),
        SpecError::InvalidAlias("two words".into())
    );
    assert_eq!(
        base()
            .cooldown(CooldownScope::User, 0, Duration::from_secs(1))
            .build()
            .unwrap_err(),
        SpecError::InvalidCooldown
    );
    let mut many = base();
    for i in 0..26 {
        many = many.arg(ArgSpec::string(&format!("a{i}")).optional());
    }
    assert_eq!(many.build().unwrap_err(), SpecError::TooManyArgs);
}

#[test]
fn registry_lookup_and_duplicates() {
    let mut registry = registry();
    assert_eq!(registry.get("BAN").unwrap().name, "ban");
    assert_eq!(registry.get("hammer").unwrap().name, "ban");
    assert_eq!(registry.get("HAMMER").unwrap().name, "ban");
    assert!(registry.get("nope").is_none());

    let clash = CommandSpec::builder("hammer")
        .description("d")
        .build()
        .unwrap();
    assert_eq!(
        registry.register(clash).unwrap_err(),
        RegistryError::Duplicate {
            name: "hammer".into(),
            command: "hammer".into(),
            existing: "ban".into()
        }
    );
    let clash = CommandSpec::builder("kick")
        .alias("PING")
        .description("d")
        .build()
        .unwrap();
    let err = registry.register(clash).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`ping` of command `kick` is already used by command `ping`"
    );
    let own = CommandSpec::builder("kick")
        .alias("k")
        .alias("K")
        .description("d")
        .build()
        .unwrap();
    assert!(registry.register(own).is_err());
    // Failed registrations leave nothing behind.
    assert!(registry.get("kick").is_none());
    assert!(registry.get("k").is_none());
    assert_eq!(registry.len(), 3);
}

#[test]
fn slash_commands_map_kinds_and_bounds() {
    let registry = registry();
    let commands = registry.to_application_commands();
    assert_eq!(commands.len(), 3);
    let ban = &commands[0];
    assert_eq!(ban.name, "ban");
    assert_eq!(
        ban.default_member_permissions,
        Some(Permissions::BAN_MEMBERS)
    );
    let kinds: Vec<_> = ban
        .options
        .iter()
        .map(|o| (o.name.as_str(), o.kind, o.required))
        .collect();
    assert_eq!(
        kinds,
        [
            ("user", CommandOptionType::User, Some(true)),
            ("days", CommandOptionType::Integer, Some(false)),
            ("reason", CommandOptionType::String, Some(false)),
        ]
    );
    assert_eq!(
        ban.options[1].min_value,
        Some(CommandOptionValue::Integer(0))
    );
    assert_eq!(
        ban.options[1].max_value,
        Some(CommandOptionValue::Integer(7))
    );
    assert_eq!(ban.options[1].description, "Days of messages to delete");

    let all = &commands[2];
    let kinds: Vec<_> = all.options.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            CommandOptionType::Integer,
            CommandOptionType::Number,
            CommandOptionType::String,
            CommandOptionType::Boolean,
            CommandOptionType::Channel,
            CommandOptionType::Role,
            CommandOptionType::String,
            CommandOptionType::User,
            CommandOptionType::String,
        ]
    );
    // The JSON body Discord expects.
    let json = serde_json::to_value(ban).unwrap();
    assert_eq!(json["type"], 1);
    assert_eq!(json["contexts"], serde_json::json!([0]));
    assert_eq!(json["default_member_permissions"], "4");
    assert_eq!(json["options"][1]["type"], 4);
    assert_eq!(json["options"][1]["max_value"], 7);

    let mut hidden = Registry::new();
    hidden
        .register(
            CommandSpec::builder("eval")
                .description("d")
                .owner_only()
                .slash(false)
                .build()
                .unwrap(),
        )
        .unwrap();
    assert!(hidden.to_application_commands().is_empty());
}

fn option(name: &str, value: Value) -> CommandDataOption {
    CommandDataOption {
        name: name.to_owned(),
        value,
    }
}

fn data(name: &str, options: Vec<CommandDataOption>) -> CommandData {
    CommandData {
        guild_id: None,
        id: Id::new(1),
        kind: twilight_model::application::command::CommandType::ChatInput,
        name: name.to_owned(),
        options,
        resolved: None,
        target_id: None,
    }
}

#[test]
fn interaction_options_give_the_same_args_with_the_same_validation() {
    let spec = ban();
    let from_slash = Args::from_interaction(
        &spec,
        &data(
            "ban",
            vec![
                option("user", Value::User(Id::new(123))),
                option("days", Value::Integer(3)),
            ],
        ),
    )
    .unwrap();
    let from_prefix = parse_args(&spec, "!", "<@123> 3").unwrap();
    assert_eq!(from_slash, from_prefix);

    let err = Args::from_interaction(
        &spec,
        &data(
            "ban",
            vec![
                option("user", Value::User(Id::new(1))),
                option("days", Value::Integer(8)),
            ],
        ),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`days` must be a whole number between 0 and 7, got `8`. Usage: `/ban <user> [days] [reason…]`"
    );
    let err = Args::from_interaction(&spec, &data("ban", vec![])).unwrap_err();
    assert_eq!(err.kind, ArgErrorKind::Missing { arg: "user".into() });
    let err = Args::from_interaction(
        &spec,
        &data("ban", vec![option("user", Value::Role(Id::new(1)))]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`user` must be a user mention or id")
    );

    let spec = everything();
    let args = Args::from_interaction(
        &spec,
        &data(
            "all",
            vec![
                option("int", Value::Integer(5)),
                option("num", Value::Integer(2)),
                option("word", Value::String("two words".into())),
                option("flag", Value::Boolean(false)),
                option("chan", Value::Channel(Id::new(5))),
                option("role", Value::Role(Id::new(6))),
                option("time", Value::String("1h30m".into())),
                option("unknown", Value::Integer(1)),
            ],
        ),
    )
    .unwrap();
    assert_eq!(args.number("num"), Some(2.0));
    assert_eq!(args.duration("time"), Some(Duration::from_secs(5_400)));
    assert_eq!(
        args.get("word"),
        Some(&ArgValue::String("two words".into()))
    );
    assert_eq!(args.user("who"), None);
    let err = Args::from_interaction(
        &spec,
        &data(
            "all",
            vec![
                option("int", Value::Integer(5)),
                option("num", Value::Number(1.0)),
                option("word", Value::String("w".into())),
                option("flag", Value::Boolean(false)),
                option("chan", Value::Channel(Id::new(5))),
                option("role", Value::Role(Id::new(6))),
                option("time", Value::String("soon".into())),
            ],
        ),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`time` must be a duration like"),
        "{err}"
    );
}

#[test]
fn help_is_generated_from_the_declarations() {
    let registry = registry();
    let help = registry.help("!");
    assert!(help.contains("**General**\n`!all <int> <num> <word> <flag> <chan> <role> <time> [who] [tail…]` — Every kind\n`!ping` — Pong"), "{help}");
    assert!(
        help.contains("**Moderation**\n`!ban <user> [days] [reason…]` — Bans a member"),
        "{help}"
    );
    assert!(help.find("General").unwrap() < help.find("Moderation").unwrap());

    let ban = registry.help_for("!", "HAMMER").unwrap();
    assert!(
        ban.starts_with("`!ban <user> [days] [reason…]`\nBans a member"),
        "{ban}"
    );
    assert!(
        ban.contains(
            "`days` — Days of messages to delete (a whole number between 0 and 7), optional"
        ),
        "{ban}"
    );
    assert!(ban.contains("**Aliases:** `b`, `hammer`"), "{ban}");
    assert!(ban.contains("**Permissions:** Ban Members"), "{ban}");
    assert!(ban.contains("**Servers only**"), "{ban}");
    assert!(
        ban.contains("**Cooldown:** 3 use(s) every 1m, per server"),
        "{ban}"
    );
    assert!(registry.help_for("!", "nope").is_none());
}

#[test]
fn help_shows_a_slash_only_command_with_a_slash() {
    let mut registry = registry();
    let suggest = CommandSpec::builder("suggest")
        .description("Suggest something")
        .prefix(false)
        .arg(ArgSpec::rest("idea"))
        .build()
        .expect("test setup");
    registry.register(suggest).expect("test setup");
    let help = registry.help("!");
    assert!(
        help.contains("`/suggest <idea…>` — Suggest something"),
        "{help}"
    );
    let details = registry.help_for("!", "suggest").expect("listed");
    assert!(details.starts_with("`/suggest <idea…>`"), "{details}");
}

fn order() -> CommandSpec {
    CommandSpec::builder("order")
        .description("Orders a coffee")
        .arg(
            ArgSpec::choice(
                "size",
                [
                    Choice::new("Small", "small"),
                    Choice::new("Extra large", "extra_large"),
                ],
            )
            .describe("How much"),
        )
        .build()
        .expect("test setup")
}

#[test]
fn choices_parse_by_value_or_name_and_register_as_a_menu() {
    let spec = order();
    for input in ["small", "SMALL", "Small"] {
        let args = parse_args(&spec, "!", input).unwrap();
        assert_eq!(args.string("size"), Some("small"), "{input}");
    }
    for input in [r#""extra large""#, "extra_large", "Extra_Large"] {
        let args = parse_args(&spec, "!", input).unwrap();
        assert_eq!(args.string("size"), Some("extra_large"), "{input}");
    }
    let err = parse_args(&spec, "!", "huge").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`size` must be one of `small`, `extra_large`, got `huge`. Usage: `!order <size>`"
    );

    // From Discord: the value of the picked choice, and nothing else.
    let args = Args::from_interaction(
        &spec,
        &data("order", vec![option("size", Value::String("small".into()))]),
    )
    .unwrap();
    assert_eq!(args.string("size"), Some("small"));
    assert!(
        Args::from_interaction(
            &spec,
            &data("order", vec![option("size", Value::String("Venti".into()))]),
        )
        .is_err()
    );

    let mut registry = Registry::new();
    registry.register(spec).unwrap();
    let json = serde_json::to_value(&registry.to_application_commands()[0]).unwrap();
    assert_eq!(json["options"][0]["type"], 3);
    assert_eq!(
        json["options"][0]["choices"],
        serde_json::json!([
            {"name": "Small", "value": "small"},
            {"name": "Extra large", "value": "extra_large"},
        ])
    );
}

#[test]
fn choices_follow_discords_rules() {
    let build = |arg: ArgSpec| {
        CommandSpec::builder("order")
            .description("d")
            .arg(arg.describe("d"))
            .build()
    };
    let many = (0..26).map(|i| Choice::new(format!("n{i}"), format!("v{i}")));
    for bad in [
        ArgSpec::choice("size", []),
        ArgSpec::choice("size", many),
        ArgSpec::choice("size", [Choice::new("A", "a"), Choice::new("B", "a")]),
        ArgSpec::choice("size", [Choice::new("", "a")]),
        ArgSpec::choice("size", [Choice::new("A", "x".repeat(101))]),
        ArgSpec::choice("size", [Choice::new("A", "a")]).autocomplete(),
        ArgSpec::choice("size", [Choice::new("A", "a")]).default("b"),
    ] {
        assert_eq!(
            build(bad.clone()).unwrap_err(),
            SpecError::InvalidBounds("size".into()),
            "{bad:?}"
        );
    }
    assert!(build(ArgSpec::choice("size", [Choice::new("A", "a")]).default("a")).is_ok());
}

/// Bounds are typed: an integer takes whole numbers, a duration a `Duration` or non-negative
/// seconds; a bound that does not fit is a clear build error instead of a truncated or
/// dropped bound.
#[test]
fn bounds_are_typed_and_a_bound_that_does_not_fit_is_a_build_error() {
    use swarmcord_commands::ArgKind;
    let build = |arg: ArgSpec| {
        CommandSpec::builder("b")
            .description("bounds")
            .arg(arg)
            .build()
    };
    let ok = build(
        ArgSpec::integer("count")
            .min(2)
            .max(10_i64)
            .describe("how many"),
    )
    .expect("whole-number bounds");
    assert_eq!(
        ok.args[0].kind,
        ArgKind::Integer {
            min: Some(2),
            max: Some(10)
        }
    );
    let ok = build(
        ArgSpec::duration("time")
            .min(Duration::from_secs(60))
            .max(3600)
            .describe("how long"),
    )
    .expect("duration bounds");
    assert_eq!(
        ok.args[0].kind,
        ArgKind::Duration {
            min: Some(Duration::from_secs(60)),
            max: Some(Duration::from_secs(3600))
        }
    );
    let ok =
        build(ArgSpec::number("ratio").min(1).max(2.5).describe("ratio")).expect("number bounds");
    assert_eq!(
        ok.args[0].kind,
        ArgKind::Number {
            min: Some(1.0),
            max: Some(2.5)
        }
    );
    for (arg, reason) in [
        (
            ArgSpec::integer("count").min(2.7),
            "an integer argument takes whole-number bounds",
        ),
        (
            ArgSpec::duration("time").min(-1.0),
            "a duration bound must be a finite, non-negative number of seconds",
        ),
        (
            ArgSpec::duration("time").max(-5),
            "a duration bound cannot be negative",
        ),
        (
            ArgSpec::number("ratio").max(f64::NAN),
            "a number argument takes finite number bounds",
        ),
        (
            ArgSpec::string("word").min(1),
            "only integer, number and duration arguments have bounds",
        ),
    ] {
        let name = arg.name.clone();
        assert_eq!(
            build(arg.describe("x")).expect_err("does not fit"),
            SpecError::InvalidBound { arg: name, reason },
        );
    }
}

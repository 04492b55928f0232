use super::*;

crate::secret_variable! {
    /// A required secret.
    struct SecretA {
        env: "A",
        file_env: "A_FILE",
        long: "a",
        file_long: "a-file",
        required: true,
        help: "the a",
    }
}

crate::secret_variable! {
    /// Another required secret.
    struct SecretB {
        env: "B",
        file_env: "B_FILE",
        long: "b",
        file_long: "b-file",
        required: true,
        help: "the b",
    }
}

crate::secret_variable! {
    /// An optional secret.
    struct SecretC {
        env: "C",
        file_env: "C_FILE",
        long: "c",
        file_long: "c-file",
        required: false,
        help: "the c",
    }
}

/// A declaration of every kind of variable.
#[derive(Debug, clap::Args)]
struct Declared {
    /// the token
    #[arg(long, env = "TOKEN", required = true)]
    token: String,
    /// port
    #[arg(long, env = "PORT", default_value = "8080", value_parser = parsed::<u16>)]
    port: u16,
    /// blank means unset
    #[arg(long, env = "EMPTY", default_value = "80", value_parser = parsed::<u16>)]
    empty: u16,
    /// a flag
    #[arg(long, env = "FLAG", default_value = "false", action = clap::ArgAction::Set, value_parser = parsed::<bool>)]
    flag: bool,
    /// a small number
    #[arg(long, env = "N", default_value = "5", value_parser = bounded(1_u32..=10))]
    n: u32,
    /// unset: the default
    #[arg(long, env = "UNSET", default_value = "5", value_parser = bounded(1_u32..=10))]
    unset: u32,
    /// a long time
    #[arg(long, env = "BIG", default_value = "5", value_parser = millis(1..=600_000))]
    big: std::time::Duration,
}

fn load<T: clap::Args>(pairs: &[(&str, &str)]) -> Result<T, ConfigError> {
    Env::from_pairs(pairs.iter().copied()).load::<T>()
}

#[test]
fn errors_name_the_variable() {
    let error = load::<Declared>(&[("TOKEN", "t"), ("PORT", "eighty"), ("EMPTY", " ")])
        .expect_err("not a number");
    assert_eq!(error.variable, "PORT");
    assert!(
        error
            .to_string()
            .starts_with("configuration variable PORT: \"eighty\" is not valid"),
        "{error}"
    );
    let declared = load::<Declared>(&[("TOKEN", "t"), ("EMPTY", " ")]).expect("valid");
    assert_eq!(declared.empty, 80, "blank means unset");
    assert_eq!((declared.token.as_str(), declared.port), ("t", 8080));
    let missing = load::<Declared>(&[]).expect_err("missing");
    assert_eq!(
        missing.to_string(),
        "configuration variable TOKEN: is required but not set"
    );
    assert!(load::<Declared>(&[("TOKEN", "t"), ("FLAG", "maybe")]).is_err());
    assert!(
        load::<Declared>(&[("TOKEN", "t"), ("FLAG", " true ")])
            .expect("valid")
            .flag
    );
}

#[derive(Debug, clap::Args)]
struct Secrets {
    #[command(flatten)]
    a: SecretA,
    #[command(flatten)]
    b: SecretB,
    #[command(flatten)]
    c: SecretC,
}

#[test]
fn secrets_come_from_the_variable_or_a_file() {
    let dir = std::env::temp_dir().join(format!("ops-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("token");
    std::fs::write(&file, "from-file\n").expect("write");
    let path = file.to_string_lossy().into_owned();

    let secrets = load::<Secrets>(&[("A", "direct"), ("B_FILE", &path)]).expect("valid");
    assert_eq!(secrets.a.get().expect("a").expose(), "direct");
    assert_eq!(secrets.b.required().expect("b").expose(), "from-file");
    assert!(secrets.c.get().is_none(), "optional");
    let error = load::<Secrets>(&[("B", "b")]).expect_err("A is required");
    assert_eq!(
        error.to_string(),
        "configuration variable A: is required but neither A nor A_FILE is set"
    );

    let both = load::<Secrets>(&[("A", "x"), ("A_FILE", &path), ("B", "b")]).expect_err("both");
    assert!(both.to_string().contains("not both"), "{both}");
    assert_eq!(both.variable, "A");
    let missing =
        load::<Secrets>(&[("A_FILE", "/nonexistent/secret"), ("B", "b")]).expect_err("unreadable");
    assert_eq!(missing.variable, "A_FILE");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn secrets_follow_one_trimming_rule_and_whitespace_is_not_a_secret() {
    let dir = std::env::temp_dir().join(format!("ops-trim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let blank = dir.join("blank");
    std::fs::write(&blank, " \t\n\n").expect("write");
    let padded = dir.join("padded");
    std::fs::write(&padded, "  t0ken \r\n").expect("write");
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();

    let error = load::<Secrets>(&[("A_FILE", &path(&blank)), ("B", "b")]).expect_err("blank");
    assert_eq!(error.variable, "A_FILE", "{error}");
    for pairs in [
        [("A_FILE", path(&padded)), ("B", "b".to_owned())],
        [("A", "  t0ken \r\n".to_owned()), ("B", "b".to_owned())],
    ] {
        let secrets = Env::from_pairs(pairs).load::<Secrets>().expect("valid");
        assert_eq!(secrets.a.get().expect("set").expose(), "t0ken");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn numbers_are_bounded_and_urls_checked_without_showing_passwords() {
    let error = load::<Declared>(&[("TOKEN", "t"), ("N", "0")]).expect_err("0");
    assert_eq!(error.variable, "N");
    let error =
        load::<Declared>(&[("TOKEN", "t"), ("BIG", "18446744073709551615")]).expect_err("big");
    assert_eq!(error.variable, "BIG");
    assert!(
        error.to_string().contains("between 1 and 600000"),
        "{error}"
    );
    assert_eq!(
        load::<Declared>(&[("TOKEN", "t")]).expect("default").unset,
        5
    );

    let error =
        check_url("AMQP_URL", "http://u:hunter2@h/", &["amqp", "amqps"]).expect_err("scheme");
    assert!(
        !error.to_string().contains("hunter2") && error.problem.contains("amqp://"),
        "{error}"
    );
    assert!(check_url("REDIS_URL", "redis://:pw@h:6379/0", REDIS_SCHEMES).is_ok());
    assert!(check_url("REDIS_URL", "redis+unix:///run/redis.sock", REDIS_SCHEMES).is_ok());
    assert!(check_url("REDIS_URL", "localhost:6379", REDIS_SCHEMES).is_err());
    assert!(check_url("X", "ws://", &["ws"]).is_err());

    assert!(check_host_port("P", "sim:8090").is_ok());
    assert!(check_host_port("P", "[::1]:80").is_ok());
    for bad in ["sim", "http://sim:80", "sim:80/x", "sim:port", "a b:1"] {
        assert!(check_host_port("P", bad).is_err(), "{bad}");
    }

    assert!(check_amqp_name("E", "swarmcord.events").is_ok());
    for bad in ["", "amq.topic", "a b", &"x".repeat(MAX_AMQP_NAME + 1)] {
        assert_eq!(check_amqp_name("E", bad).expect_err(bad).variable, "E");
    }
    assert!(check_identifier("I", &"x".repeat(MAX_IDENTIFIER)).is_ok());
    assert!(check_identifier("I", &"x".repeat(MAX_IDENTIFIER + 1)).is_err());
}

#[derive(Debug, clap::Args)]
struct Common {
    #[command(flatten)]
    common: common::CommonArgs,
}

#[test]
fn the_log_filter_is_checked() {
    let redis = ("REDIS_URL", "redis://h/");
    let common = load::<Common>(&[redis]).expect("default").common;
    assert_eq!(common.rust_log, "info");
    let env = [redis, ("RUST_LOG", "info,swarmcord_shards=debug")];
    assert!(load::<Common>(&env).is_ok());
    let error = load::<Common>(&[redis, ("RUST_LOG", "swarmcord=loud")]).expect_err("invalid");
    assert_eq!(error.variable, "RUST_LOG");
}

#[test]
fn the_process_environment_is_not_read_for_fixed_variables() {
    // `PATH` is set in every test process; a declaration of it must not see it.
    #[derive(Debug, clap::Args)]
    struct Path {
        /// the path
        #[arg(long, env = "PATH")]
        path: Option<String>,
    }
    assert_eq!(load::<Path>(&[]).expect("valid").path, None);
}

#[test]
fn lists_split_on_commas() {
    assert_eq!(split_list(" a, b ,,c "), ["a", "b", "c"]);
    assert!(split_list("").is_empty());
}

#[test]
fn a_reference_table_is_generated_from_the_declaration_and_checked() {
    let table = reference::table(
        &declaration::<Declared>(),
        &["EMPTY", "FLAG", "N", "UNSET", "BIG"],
    );
    assert_eq!(
        table,
        "| variable | required | default | meaning |\n|---|---|---|---|\n\
         | `TOKEN` | yes | | the token |\n\
         | `PORT` | no | `8080` | port |\n"
    );
    let secrets = reference::table(&declaration::<Secrets>(), &["B"]);
    assert!(
        secrets.contains("| `A` | yes | | the a (*secret*, or `A_FILE`) |\n"),
        "{secrets}"
    );
    assert!(secrets.contains("| `C` | no | | the c (*secret*, or `C_FILE`) |\n"));
    assert!(
        !secrets.contains("A_FILE` |"),
        "NAME_FILE has no row of its own"
    );

    let dir = std::env::temp_dir().join(format!("ops-reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let doc = dir.join("CONFIGURATION.md");
    let text =
        format!("# Config\n\n## Svc\n\nSome prose.\n\n{table}\n## Other\n\n| `X` | no | | x |\n");
    std::fs::write(&doc, &text).expect("write");
    assert_eq!(reference::check_table(&doc, "Svc", &table), Ok(()));
    std::fs::write(&doc, text.replace("`8080`", "`80`")).expect("write");
    let problems = reference::check_table(&doc, "Svc", &table).expect_err("differs");
    assert!(
        problems.contains("+ | `PORT` | no | `8080` | port |"),
        "{problems}"
    );
    assert!(
        problems.contains("- | `PORT` | no | `80` | port |"),
        "{problems}"
    );
    assert!(problems.contains(reference::REGENERATE), "{problems}");
    assert!(
        reference::check_table(&doc, "Nope", &table)
            .expect_err("no section")
            .contains("no `## Nope` section")
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The table under "All services" of `docs/CONFIGURATION.md` is [`common::CommonArgs`]'s.
#[test]
fn configuration_reference_matches_the_code() {
    if let Err(problems) = reference::check_common() {
        panic!("{problems}");
    }
}

#[test]
fn a_declaration_without_name_or_help_is_reported() {
    #[derive(Debug, clap::Args)]
    struct Incomplete {
        #[arg(long)]
        no_env: Option<String>,
        /// positional
        #[arg(env = "NO_LONG")]
        no_long: Option<String>,
    }
    let problems = reference::incomplete(&declaration::<Incomplete>());
    assert_eq!(
        problems,
        [
            "argument no_env has no `env = \"NAME\"`",
            "argument no_env has no help text (doc comment)",
            "argument no_long has no `long`",
        ]
    );
    assert!(reference::incomplete(&declaration::<Declared>()).is_empty());
    let error = load::<Incomplete>(&[("NO_LONG", "x")]).expect_err("no long name");
    assert_eq!(error.variable, "NO_LONG");
}

#[test]
fn a_parser_with_bounds_adds_them_to_the_reference_and_the_help_may_not_repeat_them() {
    #[derive(Debug, clap::Args)]
    struct Repeated {
        /// a small number; valid: `1`–`10`
        #[arg(long, env = "N", value_parser = bounded(1_u32..=10))]
        n: Option<u32>,
    }
    let command = declaration::<Declared>();
    let arg = |name: &str| {
        command
            .get_arguments()
            .find(|arg| env_name(arg) == Some(name))
            .expect("declared")
    };
    assert_eq!(valid_values(arg("N")).as_deref(), Some("`1`–`10`"));
    assert_eq!(valid_values(arg("BIG")).as_deref(), Some("`1`–`600000`"));
    assert_eq!(
        valid_values(arg("PORT")),
        None,
        "parsed::<u16> does not say"
    );
    assert_eq!(valid_values(arg("TOKEN")), None);
    let table = reference::table(&command, &["TOKEN", "PORT", "EMPTY", "FLAG", "UNSET"]);
    assert!(
        table.contains("| `N` | no | `5` | a small number; valid: `1`–`10` |\n"),
        "{table}"
    );
    assert!(
        table.contains("| `BIG` | no | `5` | a long time; valid: `1`–`600000` |\n"),
        "{table}"
    );
    assert_eq!(
        reference::incomplete(&declaration::<Repeated>()),
        ["argument n says in its help text what its value parser accepts (the reference adds it)"]
    );
    let error = load::<Repeated>(&[("N", "11")]).expect_err("out of range");
    assert_eq!(
        error.to_string(),
        "configuration variable N: 11 is out of range: must be between 1 and 10"
    );
}

//! Start-up validation of the real `worker` binary: a bad variable stops it with exit code 2
//! and a message naming the variable, before it connects to anything (issue 11, item 6).

use std::time::Duration;

use swarmcord_testkit::run_to_exit;

/// A valid configuration whose services do not exist: if a bad variable slipped through, the
/// worker would fail to connect (exit 1) or keep retrying (killed, no exit code).
const BASE: &[(&str, &str)] = &[
    ("DISCORD_TOKEN", "t0ken"),
    ("AMQP_URL", "amqp://u:hunter2@127.0.0.1:1/%2f"),
    ("REDIS_URL", "redis://127.0.0.1:1/"),
    ("MONGO_URL", "mongodb://u:hunter2@127.0.0.1:1/"),
    ("SLASH_COMMANDS", "off"),
    ("LOG_FORMAT", "text"),
];

#[test]
fn bad_variables_exit_2_naming_the_variable() {
    for (variable, value) in [
        ("WORKER_EVENTS", "MESSAGE_CREATE,MESAGE_DELETE"),
        ("MONGO_URL", "localhost:27017"),
        ("REDIS_URL", "not a url"),
        ("DISCORD_API_PROXY", "http://sim:8090/"),
        ("WORKER_QUEUE", "amq.gen-x"),
        ("EVENTS_EXCHANGE", &"x".repeat(300)),
        ("RUST_LOG", "swarmcord=loud"),
        ("WORKER_MAX_ATTEMPTS", "0"),
    ] {
        let mut env = BASE.to_vec();
        env.retain(|(name, _)| *name != variable);
        env.push((variable, value));
        let exit = run_to_exit(env!("CARGO_BIN_EXE_worker"), &env, Duration::from_secs(20));
        assert_eq!(exit.code, Some(2), "{variable}: {}", exit.stderr);
        assert!(
            exit.stderr.contains(variable),
            "{variable}: {}",
            exit.stderr
        );
        assert!(!exit.stderr.contains("hunter2"), "{}", exit.stderr);
    }
}

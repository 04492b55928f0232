//! Start-up validation of the real `gateway` binary: a bad variable stops it with exit code 2
//! and a message naming the variable, before it connects to anything (issue 11, item 6).

use std::time::Duration;

use swarmcord_testkit::run_to_exit;

/// A valid configuration whose services do not exist: if a bad variable slipped through, the
/// gateway would keep retrying and be killed after the time limit (no exit code).
const BASE: &[(&str, &str)] = &[
    ("DISCORD_TOKEN", "t0ken"),
    ("AMQP_URL", "amqp://u:hunter2@127.0.0.1:1/%2f"),
    ("REDIS_URL", "redis://127.0.0.1:1/"),
    ("SHARD_COUNT", "1"),
    ("LOG_FORMAT", "text"),
];

#[test]
fn bad_variables_exit_2_naming_the_variable() {
    let dir = std::env::temp_dir().join(format!("gateway-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let blank = dir.join("token");
    std::fs::write(&blank, "  \n").expect("write");
    let blank = blank.to_string_lossy().into_owned();
    for (variable, value) in [
        ("DISCORD_GATEWAY_URL", "not a url"),
        ("SESSION_PERSIST_INTERVAL_MS", "0"),
        ("SHARD_COUNT", "100000"),
        ("SHARD_LEASE_TTL_MS", "18446744073709551615"),
        ("CACHE_BATCH", "99999999999"),
        ("EVENTS_EXCHANGE", "amq.topic"),
        ("GATEWAY_EVENTS", "MESSAGE_CRATE"),
        ("RUST_LOG", "swarmcord=loud"),
        ("REDIS_URL", "localhost:6379"),
        ("DISCORD_API_PROXY", "http://sim:8090"),
    ] {
        let mut env = BASE.to_vec();
        env.retain(|(name, _)| *name != variable);
        env.push((variable, value));
        let exit = run_to_exit(env!("CARGO_BIN_EXE_gateway"), &env, Duration::from_secs(20));
        assert_eq!(exit.code, Some(2), "{variable}={value:?}: {}", exit.stderr);
        assert!(
            exit.stderr.contains(variable),
            "{variable}: {}",
            exit.stderr
        );
        assert!(!exit.stderr.contains("hunter2"), "{}", exit.stderr);
    }
    let mut env = BASE.to_vec();
    env.retain(|(name, _)| *name != "DISCORD_TOKEN");
    env.push(("DISCORD_TOKEN_FILE", &blank));
    let exit = run_to_exit(env!("CARGO_BIN_EXE_gateway"), &env, Duration::from_secs(20));
    assert_eq!(exit.code, Some(2), "{}", exit.stderr);
    assert!(
        exit.stderr.contains("DISCORD_TOKEN_FILE"),
        "{}",
        exit.stderr
    );
    std::fs::remove_dir_all(dir).ok();
}

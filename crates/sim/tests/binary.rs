//! The `discord-sim` binary: starts, prints its ready line, serves REST (to twilight-http), the
//! control API and a Lavalink node over HTTP, and exits cleanly on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use swarmcord_testkit::http;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_serves_discord_control_and_lavalink_then_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_discord-sim"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--shards",
            "2",
            "--guilds",
            "4",
            "--members",
            "3",
        ])
        .args(["--lavalink-nodes", "1", "--lavalink-bind", "127.0.0.1:0"])
        .env("SIM_TOKEN", "binary-test-token")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn discord-sim");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("ready line within 10 s")
        .expect("read stdout")
        .expect("a ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready line is JSON");
    let discord = ready["discord"]
        .as_str()
        .expect("discord address")
        .to_owned();
    let lavalink = ready["lavalink"][0]
        .as_str()
        .expect("lavalink address")
        .to_owned();
    assert_eq!(ready["gateway_url"], format!("ws://{discord}"));

    // A real client reads the gateway info through REST.
    let client = twilight_http::Client::builder()
        .proxy(discord.clone(), true)
        .token("binary-test-token".to_owned())
        .build();
    let info = client
        .gateway()
        .authed()
        .await
        .expect("GET /gateway/bot")
        .model()
        .await
        .expect("model");
    assert_eq!(info.shards, 2);
    assert_eq!(info.url, format!("ws://{discord}"));
    assert_eq!(info.session_start_limit.remaining, 1000);

    // The control API sees the seeded guilds and accepts new ones.
    let created = http::json(
        &discord,
        "POST",
        "/_sim/guilds",
        r#"{"name":"from-test","members":1}"#,
    )
    .await
    .expect("POST /_sim/guilds");
    assert_eq!(created.status, 200, "{}", created.text());
    let guild: Value = serde_json::from_slice(&created.body).expect("json");
    let id = guild["id"].as_str().expect("id as string");
    let truth = http::request(&discord, "GET", &format!("/_sim/guilds/{id}"), &[], None)
        .await
        .expect("GET guild");
    let truth: Value = serde_json::from_slice(&truth.body).expect("json");
    assert_eq!(truth["name"], "from-test");
    assert_eq!(
        truth["members"].as_array().map(Vec::len),
        Some(3),
        "owner, one member, the bot"
    );
    let bad = http::json(&discord, "POST", "/_sim/messages", r#"{"channel_id":"1"}"#)
        .await
        .expect("POST");
    assert_eq!(
        bad.status, 400,
        "a malformed control request is a clear 400"
    );

    // The Lavalink node answers with its password only.
    let denied = http::request(&lavalink, "GET", "/version", &[], None)
        .await
        .expect("GET /version");
    assert_eq!(denied.status, 401);
    let version = http::request(
        &lavalink,
        "GET",
        "/version",
        &[("Authorization", "youshallnotpass")],
        None,
    )
    .await
    .expect("GET /version");
    assert_eq!(version.status, 200);
    assert!(
        version.text().starts_with('4'),
        "Lavalink v4: {}",
        version.text()
    );

    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .expect("wait");
    assert!(exit.success(), "clean exit: {exit:?}");
}

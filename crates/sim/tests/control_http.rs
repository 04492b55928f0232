//! The control API over HTTP: member changes, and the answers to requests that do not parse
//! or name unknown entities.

use serde_json::Value;
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;

/// The member `user` of the guild as `GET /_sim/guilds/{id}` shows it.
async fn member(addr: &str, guild: u64, user: u64) -> Option<Value> {
    let answer = http::request(addr, "GET", &format!("/_sim/guilds/{guild}"), &[], None)
        .await
        .expect("GET guild");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let truth: Value = serde_json::from_slice(&answer.body).expect("json");
    truth["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user"]["id"].as_str().and_then(|id| id.parse().ok()) == Some(user))
        .cloned()
}

#[tokio::test]
async fn members_are_updated_and_removed_over_http() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let guild = sim.control().create_guild(&GuildSpec::default());
    let addr = sim.http_proxy();
    let (id, user) = (guild.id, guild.members[0]);
    let path = format!("/_sim/guilds/{id}/members/{user}");

    let body = format!(
        r#"{{"nick":"renamed","roles":["{}"]}}"#,
        guild.moderator_role
    );
    let updated = http::json(&addr, "PATCH", &path, &body)
        .await
        .expect("PATCH");
    assert_eq!(updated.status, 204, "{}", updated.text());
    let now = member(&addr, id, user).await.expect("still a member");
    assert_eq!(now["nick"], "renamed");
    assert_eq!(now["roles"][0], guild.moderator_role.to_string());

    // A body without a JSON content type is read as JSON too (scripts post with `curl -d`).
    let plain = http::request(&addr, "PATCH", &path, &[], Some(br#"{"roles":[]}"#))
        .await
        .expect("PATCH");
    assert_eq!(plain.status, 204, "{}", plain.text());
    let now = member(&addr, id, user).await.expect("still a member");
    assert!(now["nick"].is_null());

    let removed = http::request(&addr, "DELETE", &path, &[], None)
        .await
        .expect("DELETE");
    assert_eq!(removed.status, 204, "{}", removed.text());
    assert!(member(&addr, id, user).await.is_none());

    // Unknown entities are 404, requests that do not parse 400, both with a reason.
    let again = http::request(&addr, "DELETE", &path, &[], None)
        .await
        .expect("DELETE");
    assert_eq!(again.status, 404, "{}", again.text());
    let reason: Value = serde_json::from_slice(&again.body).expect("json");
    assert_eq!(reason["error"], format!("unknown member {user}"));
    for (method, path, body) in [
        ("PATCH", format!("/_sim/guilds/{id}/members/abc"), "{}"),
        ("PATCH", path.clone(), "not json"),
        ("POST", "/_sim/shards/0/explode".to_owned(), ""),
        ("POST", "/_sim/shards/x/close/4000".to_owned(), ""),
    ] {
        let bad = http::json(&addr, method, &path, body).await.expect("send");
        assert_eq!(bad.status, 400, "{method} {path}: {}", bad.text());
        let reason: Value = serde_json::from_slice(&bad.body).expect("a JSON reason");
        assert!(
            reason["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{reason}"
        );
    }
}

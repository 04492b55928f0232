//! The proxy against the Discord simulator: requests and answers pass through unchanged, bad
//! input gets a clear answer, a revoked token stops traffic, the invalid-request guard refuses
//! suspect requests.

mod common;

use common::{auth, call, replica};
use swarmcord_sim::discord::RestFault;
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;
use swarmcord_testkit::unique_name;

#[tokio::test]
async fn requests_and_answers_pass_through_unchanged() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let guild = sim.control().create_guild(&GuildSpec::default());
    let channel = guild.text_channels[0];
    let proxy = replica(&sim, &unique_name("restproxy"), &[]).await;
    let direct = sim.addr().to_string();

    // A known route: same status and body as direct, Discord's headers kept.
    let through = call(&proxy.addr, &sim, "GET", "/api/v10/users/@me", &[], None).await;
    let straight = call(&direct, &sim, "GET", "/api/v10/users/@me", &[], None).await;
    assert_eq!(through.status, 200);
    assert_eq!(through.body, straight.body);
    assert_eq!(through.header("via"), Some("1.1 google"));
    assert!(through.header("x-ratelimit-bucket").is_some());

    // An unknown route is forwarded (Discord's 404), not refused by the proxy.
    let unknown = call(
        &proxy.addr,
        &sim,
        "GET",
        "/api/v10/no/such/route?x=1",
        &[],
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.header("x-proxy-refused").is_none());
    assert!(unknown.text().contains("\"code\":0") || unknown.text().contains("404"));

    // Query strings, the audit-log reason and multipart bodies reach Discord.
    let path = format!("/api/v10/channels/{channel}/messages?limit=2");
    assert_eq!(
        call(&proxy.addr, &sim, "GET", &path, &[], None)
            .await
            .status,
        200
    );
    let boundary = "xBOUNDARYx";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{{\"content\":\"multipart hello\"}}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let posted = call(
        &proxy.addr,
        &sim,
        "POST",
        &format!("/api/v10/channels/{channel}/messages"),
        &[("Content-Type", &content_type)],
        Some(multipart.as_bytes()),
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert!(posted.text().contains("multipart hello"));
    let member = guild.members[0];
    let ban = format!("/api/v10/guilds/{}/bans/{member}", guild.id);
    let banned = call(
        &proxy.addr,
        &sim,
        "PUT",
        &ban,
        &[
            ("X-Audit-Log-Reason", "spam%20bot"),
            ("Content-Type", "application/json"),
        ],
        Some(b"{}"),
    )
    .await;
    assert_eq!(banned.status, 204, "{}", banned.text());
    let fetched = call(&proxy.addr, &sim, "GET", &ban, &[], None).await;
    assert!(
        fetched.text().contains("\"reason\":\"spam bot\""),
        "{}",
        fetched.text()
    );
    let log = sim.control().log(0, Some("rest"));
    assert!(
        log.iter().any(|r| r.path.ends_with("/messages?limit=2")),
        "query string lost"
    );
    assert!(log.iter().all(|r| r.status != 429));
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let proxy = replica(
        &sim,
        &unique_name("restproxy"),
        &[("MAX_BODY_BYTES", "1000")],
    )
    .await;
    let big = vec![b'x'; 5000];
    let answer = call(
        &proxy.addr,
        &sim,
        "POST",
        "/api/v10/channels/1/messages",
        &[("Content-Type", "application/json")],
        Some(&big),
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.header("x-proxy-refused"), Some("body-too-large"));
    let answer = call(
        &proxy.addr,
        &sim,
        "GET",
        "/api/v10/users/@me",
        &[("X-Proxy-Queue-Timeout", "soon")],
        None,
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.text().contains("x-proxy-queue-timeout"));
    // Garbage paths are forwarded and answered by Discord, never a proxy panic.
    let answer = call(&proxy.addr, &sim, "GET", "/%%%/../x", &[], None).await;
    assert_eq!(answer.status, 404);
    assert!(answer.header("x-proxy-refused").is_none());
}

#[tokio::test]
async fn a_revoked_token_stops_traffic_after_the_first_responses() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let proxy = replica(&sim, &unique_name("restproxy"), &[]).await;
    let routes = [
        "/api/v10/users/@me",
        "/api/v10/gateway/bot",
        "/api/v10/applications/@me",
    ];
    // 30 clients, 10 requests each, over three routes, with a token Discord no longer accepts.
    let mut tasks = Vec::new();
    for client in 0..30 {
        let addr = proxy.addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..10 {
                let path = routes[(client + i) % routes.len()];
                let answer = http::request(
                    &addr,
                    "GET",
                    path,
                    &[("Authorization", "Bot revoked-token")],
                    None,
                )
                .await
                .expect("request");
                statuses.push((
                    answer.status,
                    answer.header("x-proxy-refused").map(str::to_owned),
                ));
            }
            statuses
        }));
    }
    let mut refused = 0;
    for task in tasks {
        for (status, reason) in task.await.expect("client") {
            assert_eq!(status, 401);
            refused += usize::from(reason.as_deref() == Some("circuit-open"));
        }
    }
    let stats = sim.shared().rest.stats();
    // One probe per unknown route at most reaches Discord before the breaker opens.
    assert!(
        (1..=routes.len() as u64).contains(&stats.unauthorized),
        "{stats:?}"
    );
    assert_eq!(refused as u64 + stats.unauthorized, 300);
    // The bot's own token is not affected.
    let ok = call(&proxy.addr, &sim, "GET", "/api/v10/users/@me", &[], None).await;
    assert_eq!(ok.status, 200);
    assert_ne!(auth(&sim), "Bot revoked-token");
}

#[tokio::test]
async fn the_invalid_request_guard_refuses_suspect_buckets() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    let guild = sim.control().create_guild(&GuildSpec::default());
    let proxy = replica(
        &sim,
        &unique_name("restproxy"),
        &[("INVALID_REQUEST_FRACTION", "0.0002")],
    )
    .await;
    // Threshold: 2 invalid responses in 10 minutes.
    let path = format!("/api/v10/guilds/{}/roles", guild.id);
    sim.control().fail_rest(&RestFault {
        method: "GET".into(),
        path_prefix: format!("/guilds/{}/roles", guild.id),
        status: 403,
        count: 2,
    });
    for _ in 0..2 {
        assert_eq!(
            call(&proxy.addr, &sim, "GET", &path, &[], None)
                .await
                .status,
            403
        );
    }
    let refused = call(&proxy.addr, &sim, "GET", &path, &[], None).await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.header("x-proxy-refused"),
        Some("invalid-request-guard")
    );
    // Buckets that behave are still served.
    let fine = call(&proxy.addr, &sim, "GET", "/api/v10/users/@me", &[], None).await;
    assert_eq!(fine.status, 200);
    assert_eq!(sim.control().log(0, Some("rest")).len(), 3);
}

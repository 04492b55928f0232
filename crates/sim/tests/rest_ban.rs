//! The simulated invalid-request counter and Cloudflare ban (off by default), and the 429s by
//! scope in the REST stats.

use swarmcord_sim::discord::RestLimits;
use swarmcord_sim::discord::control::ConfigPatch;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;

async fn get(sim: &DiscordSim, token: &str) -> http::Answer {
    let auth = format!("Bot {token}");
    http::request(
        &sim.addr().to_string(),
        "GET",
        "/api/v10/users/@me",
        &[("Authorization", auth.as_str())],
        None,
    )
    .await
    .expect("request")
}

#[tokio::test]
async fn too_many_invalid_requests_get_a_cloudflare_ban() {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("sim");
    // Off by default: 20 invalid requests, no ban.
    for _ in 0..20 {
        assert_eq!(get(&sim, "wrong").await.status, 401);
    }
    assert_eq!(get(&sim, &sim.token()).await.status, 200);
    assert_eq!(sim.shared().rest.stats().invalid_requests, 20);

    sim.control().patch_config(&ConfigPatch {
        invalid_request_limit: Some(25),
        ..ConfigPatch::default()
    });
    for _ in 0..5 {
        assert_eq!(get(&sim, "wrong").await.status, 401);
    }
    // 25 invalid answers: now even the right token is refused, Cloudflare-style.
    let banned = get(&sim, &sim.token()).await;
    assert_eq!(banned.status, 429);
    assert_eq!(banned.text(), "error code: 1015");
    assert!(banned.header("via").is_none());
    let stats = sim.shared().rest.stats();
    assert_eq!((stats.cloudflare_banned, stats.invalid_requests), (1, 25));
    assert_eq!(stats.requests, 26, "a banned request never reaches Discord");
}

#[tokio::test]
async fn global_and_route_429s_are_reported_by_scope() {
    let sim = DiscordSim::start(DiscordConfig {
        rest_limits: RestLimits {
            global_per_second: 3,
            ..RestLimits::default()
        },
        ..DiscordConfig::default()
    })
    .await
    .expect("sim");
    let token = sim.token();
    let mut limited = Vec::new();
    for _ in 0..5 {
        let answer = get(&sim, &token).await;
        if answer.status == 429 {
            limited.push(answer);
        }
    }
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0].header("x-ratelimit-scope"), Some("global"));
    assert!(limited[0].text().contains("\"global\":true"));
    let stats = sim.shared().rest.stats();
    assert_eq!(
        (stats.rate_limited_global, stats.rate_limited_route),
        (2, 0)
    );
    assert_eq!(stats.invalid_requests, 2);
}

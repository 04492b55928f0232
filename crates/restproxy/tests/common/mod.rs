//! Helpers shared by the proxy's integration tests.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use swarmcord_ops::config::Env;
use swarmcord_ops::http::Health;
use swarmcord_restproxy::ProxyConfig;
use swarmcord_sim::DiscordSim;
use swarmcord_testkit::http::{self, Answer};
use tokio_util::sync::CancellationToken;

/// A proxy replica running in this process.
pub struct Replica {
    pub addr: String,
    pub stop: CancellationToken,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts a proxy in front of `sim` with its Redis keys under `prefix`, plus `extra` settings;
/// returns once it is ready.
pub async fn replica(sim: &DiscordSim, prefix: &str, extra: &[(&str, &str)]) -> Replica {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = sim.base_url();
    let redis = swarmcord_testkit::redis_url();
    let mut pairs = vec![
        ("REDIS_URL", redis.as_str()),
        ("REDIS_PREFIX", prefix),
        ("DISCORD_API_BASE", base.as_str()),
        ("HTTP_ADDR", "127.0.0.1:0"),
    ];
    pairs.extend_from_slice(extra);
    let config = ProxyConfig::from_env(&Env::from_pairs(pairs.iter().copied())).expect("config");
    let stop = CancellationToken::new();
    let (addr, _task) = swarmcord_restproxy::serve(
        config,
        Health::new(),
        swarmcord_ops::telemetry::metrics_handle(),
        stop.clone(),
    )
    .await
    .expect("serve");
    let addr = addr.to_string();
    let ready = swarmcord_testkit::eventually(Duration::from_secs(10), || {
        let addr = addr.clone();
        async move {
            let answer = http::request(&addr, "GET", "/readyz", &[], None)
                .await
                .ok()?;
            (answer.status == 200).then_some(())
        }
    })
    .await;
    assert!(ready.is_some(), "proxy never became ready");
    Replica { addr, stop }
}

/// `Authorization: Bot <token>` of the simulator's bot.
pub fn auth(sim: &DiscordSim) -> String {
    format!("Bot {}", sim.token())
}

/// A request with the bot's token.
pub async fn call(
    addr: &str,
    sim: &DiscordSim,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let auth = auth(sim);
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    http::request(addr, method, path, &headers, body)
        .await
        .expect("request")
}

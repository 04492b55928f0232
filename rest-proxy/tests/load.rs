//! Two `rest-proxy` processes in front of the Discord simulator (real limits, a lowered global
//! limit so that two cores keep up), four clients sending like workers at twice the global
//! limit: zero 429s from the simulator, at least 95 % of the global limit used, every request
//! answered or cleanly timed out; and the same with one replica killed (SIGKILL) mid-run.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use swarmcord_sim::discord::RestLimits;
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

const GLOBAL: u32 = 20;
const CLIENTS: u32 = 4;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

async fn spawn_replica(sim: &DiscordSim, prefix: &str) -> (Child, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_rest-proxy"))
        .env_clear()
        .env("REDIS_URL", swarmcord_testkit::redis_url())
        .env("REDIS_PREFIX", prefix)
        .env("DISCORD_API_BASE", sim.base_url())
        .env("HTTP_ADDR", &addr)
        .env("GLOBAL_RATE_LIMIT", GLOBAL.to_string())
        .env("RATE_LIMIT_MARGIN_MS", "30")
        .env("LOG_FORMAT", "text")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn rest-proxy");
    let ready = swarmcord_testkit::eventually(Duration::from_secs(20), || {
        let addr = addr.clone();
        async move {
            let a = http::request(&addr, "GET", "/readyz", &[], None)
                .await
                .ok()?;
            (a.status == 200).then_some(())
        }
    })
    .await;
    assert!(ready.is_some(), "rest-proxy on {addr} never became ready");
    (child, addr)
}

/// How each request ended.
#[derive(Debug, Default)]
struct Tally {
    answered: BTreeMap<u16, u64>,
    timed_out: u64,
    other: Vec<String>,
    failovers: u64,
}

/// One request as a worker would send it: to its replica, to the other one if that one is gone.
async fn send(
    replicas: &[String],
    first: usize,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    token: &str,
    tally: &Mutex<Tally>,
) {
    let auth = format!("Bot {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("X-Proxy-Queue-Timeout", "2000"),
    ];
    for attempt in 0..replicas.len() {
        let addr = &replicas[(first + attempt) % replicas.len()];
        match http::request(addr, method, path, &headers, body).await {
            Ok(answer) => {
                let mut tally = tally.lock().await;
                match (answer.status, answer.header("x-proxy-refused")) {
                    (429, Some("queue-timeout")) => tally.timed_out += 1,
                    (status @ 200..=299, None) => *tally.answered.entry(status).or_default() += 1,
                    (status, reason) => tally.other.push(format!(
                        "{method} {path}: {status} {reason:?} {}",
                        answer.text()
                    )),
                }
                return;
            }
            Err(_) => tally.lock().await.failovers += 1,
        }
    }
    tally
        .lock()
        .await
        .other
        .push(format!("{method} {path}: no replica answered"));
}

fn now_us() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_micros(),
    )
    .expect("u64")
}

/// Runs the load for `duration` (killing replica 0 after `kill_after`, if set); returns the
/// tally, the simulator's REST records of the run and when the load started (Unix µs).
async fn run(duration: Duration, kill_after: Option<Duration>) -> (Tally, DiscordSim, u64) {
    let sim = DiscordSim::start(DiscordConfig {
        rest_limits: RestLimits {
            global_per_second: GLOBAL,
            ..RestLimits::default()
        },
        ..DiscordConfig::default()
    })
    .await
    .expect("sim");
    let guild = sim.control().create_guild(&GuildSpec {
        text_channels: 8,
        ..GuildSpec::default()
    });
    let prefix = swarmcord_testkit::unique_name("restload");
    let (mut first, a) = spawn_replica(&sim, &prefix).await;
    let (_second, b) = spawn_replica(&sim, &prefix).await;
    let replicas = Arc::new(vec![a, b]);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let token = sim.token();
    let started = Instant::now();
    let start_us = now_us();
    // Each client sends GLOBAL * 2 / CLIENTS requests per second, open loop (like a worker
    // handling a stream of events), over messages, channels, guild and user routes.
    let interval = Duration::from_secs_f64(f64::from(CLIENTS) / f64::from(GLOBAL * 2));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS as usize {
        let (replicas, tally, token, guild) = (
            Arc::clone(&replicas),
            Arc::clone(&tally),
            token.clone(),
            guild.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            let mut inflight = Vec::new();
            for i in 0usize.. {
                ticker.tick().await;
                if started.elapsed() >= duration {
                    break;
                }
                let channel = guild.text_channels[(i / 4 + client) % guild.text_channels.len()];
                let (method, path, body): (&str, String, Option<&'static [u8]>) = match i % 4 {
                    0 => (
                        "POST",
                        format!("/api/v10/channels/{channel}/messages"),
                        Some(b"{\"content\":\"load\"}"),
                    ),
                    1 => ("GET", "/api/v10/users/@me".to_owned(), None),
                    2 => ("GET", format!("/api/v10/channels/{channel}"), None),
                    _ => ("GET", format!("/api/v10/guilds/{}", guild.id), None),
                };
                let (replicas, tally, token) =
                    (Arc::clone(&replicas), Arc::clone(&tally), token.clone());
                inflight.push(tokio::spawn(async move {
                    send(&replicas, client % 2, method, &path, body, &token, &tally).await;
                }));
            }
            for task in inflight {
                task.await.expect("request task");
            }
        }));
    }
    if let Some(after) = kill_after {
        tokio::time::sleep(after).await;
        first.start_kill().expect("kill replica 0");
        let _ = first.wait().await;
    }
    for task in tasks {
        task.await.expect("client");
    }
    let tally = Arc::try_unwrap(tally).expect("tally").into_inner();
    (tally, sim, start_us)
}

fn check(tally: &Tally, sim: &DiscordSim) {
    let stats = sim.shared().rest.stats();
    assert_eq!(
        stats.rate_limited_global, 0,
        "global 429s from Discord: {stats:?}"
    );
    assert_eq!(
        stats.rate_limited_route, 0,
        "route 429s from Discord: {stats:?}"
    );
    // Every request was answered by Discord or refused cleanly (queue timeout): nothing else.
    assert!(
        tally.other.is_empty(),
        "unexpected answers: {:#?}",
        &tally.other[..tally.other.len().min(10)]
    );
}

/// Requests Discord received in the first `secs` seconds of the load, per second of limit.
#[allow(clippy::cast_precision_loss)]
fn utilisation(sim: &DiscordSim, start_us: u64, secs: u64) -> f64 {
    let end = start_us + secs * 1_000_000;
    let received = sim
        .control()
        .log(0, Some("rest"))
        .iter()
        .filter(|r| r.at_us >= start_us && r.at_us < end)
        .count();
    received as f64 / (f64::from(GLOBAL) * secs as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_keep_four_clients_under_the_limits_at_twice_the_global_rate() {
    let duration = Duration::from_secs(12);
    let (tally, sim, start_us) = run(duration, None).await;
    let offered = u64::from(GLOBAL) * 2 * duration.as_secs();
    let sent: u64 = tally.answered.values().sum::<u64>() + tally.timed_out;
    eprintln!("{tally:?}, {:?}", sim.shared().rest.stats());
    assert!(
        sent * 100 >= offered * 95 && sent <= offered,
        "{sent} of {offered}"
    );
    check(&tally, &sim);
    let used = utilisation(&sim, start_us, duration.as_secs() - 1);
    eprintln!("global limit used: {:.1} %", used * 100.0);
    assert!(
        used >= 0.95,
        "only {:.1} % of the global limit used",
        used * 100.0
    );
    assert!(tally.timed_out > 0, "the load should exceed the limit");
    assert_eq!(tally.failovers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_replica_mid_run_causes_no_429() {
    let duration = Duration::from_secs(10);
    let (tally, sim, _) = run(duration, Some(Duration::from_secs(4))).await;
    eprintln!("{tally:?}, {:?}", sim.shared().rest.stats());
    check(&tally, &sim);
    assert!(tally.failovers > 0, "no client noticed the kill: {tally:?}");
    assert!(
        tally.answered.values().sum::<u64>() > u64::from(GLOBAL) * 8,
        "{tally:?}"
    );
}

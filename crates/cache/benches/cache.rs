//! Cache benchmark: how fast dispatches become cache entries, next to what Redis itself does
//! with pipelined SET/HSET in the same run; and how much Redis memory a guild and a member
//! take, next to the JSON size of the member object.
//!
//! Run: `cargo bench -p swarmcord-cache --bench cache` (needs `redis-server` and
//! `redis-benchmark`; it starts its own Redis on a free port). Environment: `BENCH_GUILDS`
//! (default 20), `BENCH_MEMBERS` (members per guild, default 1000), `BENCH_UPDATES` (member
//! updates, default 50000), `BENCH_MESSAGES` (default 50000). Prints a Markdown report.
//!
//! The writer is driven the way the gateway's cache stage drives it: events in shard order,
//! `prepare` each, `apply` up to 512 of them as one pipeline, wait for the reply, next batch.
//! "Entity writes" are hash fields set, set members added, keys set or deleted, scripts run.

#![allow(clippy::print_stdout, reason = "the report is the benchmark's output")]
#![allow(
    clippy::cast_precision_loss,
    reason = "rates and ratios of counts far below 2^52"
)]

use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};
use swarmcord_cache::{CacheConfig, CacheWriter, Resources, Update};
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::redis_server::PrivateRedis;

const BATCH: usize = 512;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `redis-benchmark -P 64` requests/s for `test` (`set`, `hset`).
fn redis_benchmark(port: u16, test: &str) -> f64 {
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            test,
            "-n",
            "2000000",
            "-P",
            "64",
            "-q",
            "--csv",
        ])
        .output()
        .expect("run redis-benchmark");
    let csv = String::from_utf8_lossy(&output.stdout);
    csv.lines()
        .nth(1)
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or(0.0)
}

async fn connection(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("url");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("redis")
}

async fn used_memory(redis: &mut redis::aio::ConnectionManager) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(redis)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

async fn flush(redis: &mut redis::aio::ConnectionManager) {
    redis::cmd("FLUSHALL")
        .query_async::<()>(redis)
        .await
        .expect("FLUSHALL");
}

#[derive(Default, Clone, Copy)]
struct Run {
    /// Time spent turning dispatches into commands (parsing, encoding).
    prepare_seconds: f64,
    events: usize,
    writes: usize,
    commands: usize,
    seconds: f64,
}

impl Run {
    fn add(&mut self, other: Self) {
        self.events += other.events;
        self.writes += other.writes;
        self.commands += other.commands;
        self.seconds = self.seconds.max(other.seconds);
        self.prepare_seconds += other.prepare_seconds;
    }
}

/// Applies `events` in order, as one gateway shard's cache stage does: batches of up to
/// [`BATCH`] events as one pipeline each, the next batch parsed while the previous one is in
/// flight.
async fn stage(
    writer: &CacheWriter,
    (shard, shard_count): (u32, u32),
    events: &[(&'static str, String)],
) -> Run {
    let started = Instant::now();
    let mut run = Run::default();
    let prepare = |chunk: &[(&'static str, String)], run: &mut Run| -> Vec<Update> {
        let begun = Instant::now();
        let updates: Vec<Update> = chunk
            .iter()
            .map(|(kind, payload)| writer.prepare(shard, shard_count, kind, payload.as_bytes()))
            .collect();
        run.prepare_seconds += begun.elapsed().as_secs_f64();
        run.writes += updates.iter().map(Update::writes).sum::<usize>();
        run.events += chunk.len();
        updates
    };
    let mut chunks = events.chunks(BATCH);
    let mut current = chunks.next().map(|c| prepare(c, &mut run));
    while let Some(mut updates) = current {
        let next_chunk = chunks.next();
        let (applied, next) = tokio::join!(writer.apply(&mut updates), async {
            next_chunk.map(|c| prepare(c, &mut run))
        });
        let applied = applied.expect("apply");
        assert_eq!(applied.failed, 0);
        run.commands += applied.commands;
        current = next;
    }
    run.seconds = started.elapsed().as_secs_f64();
    run
}

/// Runs one stage per slice concurrently (shards of one gateway).
async fn stages(writer: &CacheWriter, slices: &[Vec<(&'static str, String)>]) -> Run {
    let mut tasks = Vec::new();
    let count = u32::try_from(slices.len()).expect("shard count");
    for (shard, slice) in slices.iter().enumerate() {
        let writer = writer.clone();
        let slice = slice.clone();
        tasks.push(tokio::spawn(async move {
            stage(
                &writer,
                (u32::try_from(shard).expect("shard"), count),
                &slice,
            )
            .await
        }));
    }
    let mut total = Run::default();
    for task in tasks {
        total.add(task.await.expect("stage"));
    }
    total
}

fn member_update(guild: &Value, member: &Value, k: usize) -> String {
    let mut update = member.clone();
    update["guild_id"] = guild["id"].clone();
    update["nick"] = json!(format!("nick {k}"));
    update.to_string()
}

fn message(guild: &Value, member: &Value, k: usize) -> String {
    json!({
        "id": (1_300_000_000_000_000_000u64 + k as u64).to_string(),
        "channel_id": guild["channels"][0]["id"], "guild_id": guild["id"],
        "author": member["user"], "member": {"roles": [], "joined_at": member["joined_at"], "deaf": false, "mute": false},
        "content": "x".repeat(200), "timestamp": "2026-11-24T12:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "components": [], "pinned": false,
        "type": 0, "flags": 0, "nonce": k.to_string()
    })
    .to_string()
}

fn row(label: &str, run: &Run, ceiling: f64) {
    let writes = run.writes as f64 / run.seconds;
    println!(
        "| {label} | {} | {:.0} | {:.0} | {:.0} | {:.0}% | {:.0}% |",
        run.events,
        run.events as f64 / run.seconds,
        writes,
        run.commands as f64 / run.seconds,
        100.0 * writes / ceiling,
        100.0 * run.prepare_seconds / run.seconds
    );
}

#[tokio::main]
#[allow(clippy::too_many_lines, reason = "a benchmark script, step by step")]
async fn main() {
    let guilds_n = env("BENCH_GUILDS", 20);
    let members_n = env("BENCH_MEMBERS", 1000);
    let updates_n = env("BENCH_UPDATES", 50_000);
    let messages_n = env("BENCH_MESSAGES", 50_000);

    let server = PrivateRedis::start().await;
    let set = redis_benchmark(server.port(), "set");
    let hset = redis_benchmark(server.port(), "hset");
    let ceiling = set.min(hset);
    let mut redis = connection(&server.url()).await;
    flush(&mut redis).await;

    // Payloads from the simulator: GUILD_CREATE exactly as its gateway sends it.
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("simulator");
    let control = sim.control();
    let make = |count: usize, members: usize| -> Vec<Value> {
        (0..count)
            .map(|i| {
                let guild = control.create_guild(&GuildSpec {
                    name: format!("bench {i}"),
                    members,
                    text_channels: 5,
                    voice_channels: 2,
                    announce: false,
                    ..GuildSpec::default()
                });
                control.guild_json(guild.id).expect("guild")
            })
            .collect()
    };
    let small_n = guilds_n * 10;
    let small = make(small_n, 0);
    let big = make(guilds_n, members_n);
    let member_json: Vec<usize> = big
        .iter()
        .flat_map(|g| g["members"].as_array().expect("members").iter())
        .map(|m| m.to_string().len())
        .collect();
    let member_json_avg = member_json.iter().sum::<usize>() as f64 / member_json.len() as f64;
    let guild_json_avg =
        big.iter().map(|g| g.to_string().len()).sum::<usize>() as f64 / big.len() as f64;

    let config = CacheConfig::new("bench")
        .resources(Resources::parse("default,messages").expect("resources"));
    let writer = CacheWriter::new(redis.clone(), config);
    writer.load_scripts().await.expect("scripts");

    // Memory: guilds with only their owner and the bot, then the same with members.
    let base = used_memory(&mut redis).await;
    let creates = |guilds: &[Value]| -> Vec<(&'static str, String)> {
        guilds
            .iter()
            .map(|g| ("GUILD_CREATE", g.to_string()))
            .collect()
    };
    stage(&writer, (0, 1), &creates(&small)).await;
    let with_small = used_memory(&mut redis).await;
    flush(&mut redis).await;
    writer.load_scripts().await.expect("scripts");
    let base_big = used_memory(&mut redis).await;
    let create_run = stage(&writer, (0, 1), &creates(&big)).await;
    let with_big = used_memory(&mut redis).await;
    let per_guild = (with_small.saturating_sub(base)) as f64 / small_n as f64;
    let per_member = (with_big.saturating_sub(base_big) as f64 - per_guild * guilds_n as f64)
        / (guilds_n * members_n) as f64;

    // The mix: member updates and messages, in shard order, after the guilds.
    let mut mix: Vec<(&'static str, String)> = Vec::with_capacity(updates_n + messages_n);
    let (mut u, mut m) = (0, 0);
    while u < updates_n || m < messages_n {
        let guild = &big[(u + m) % big.len()];
        let members = guild["members"].as_array().expect("members");
        let member = &members[(u * 7 + m) % members.len()];
        if u < updates_n {
            mix.push(("GUILD_MEMBER_UPDATE", member_update(guild, member, u)));
            u += 1;
        }
        if m < messages_n {
            mix.push(("MESSAGE_CREATE", message(guild, member, m)));
            m += 1;
        }
    }
    let updates_only: Vec<_> = mix
        .iter()
        .filter(|(k, _)| *k == "GUILD_MEMBER_UPDATE")
        .cloned()
        .collect();
    let messages_only: Vec<_> = mix
        .iter()
        .filter(|(k, _)| *k == "MESSAGE_CREATE")
        .cloned()
        .collect();
    let update_run = stage(&writer, (0, 1), &updates_only).await;
    let message_run = stage(&writer, (0, 1), &messages_only).await;
    let mut full = creates(&big);
    full.extend(mix.iter().cloned());
    flush(&mut redis).await;
    writer.load_scripts().await.expect("scripts");
    let mix_run = stage(&writer, (0, 1), &full).await;
    // Four shards at once, each with its own guilds and events.
    flush(&mut redis).await;
    writer.load_scripts().await.expect("scripts");
    let mut slices: Vec<Vec<(&'static str, String)>> = vec![Vec::new(); 4];
    for (i, event) in full.iter().enumerate() {
        slices[i % 4].push(event.clone());
    }
    let four = stages(&writer, &slices).await;

    println!(
        "### Cache updates (1 writer, pipelines of up to {BATCH} events, Redis on the same machine)\n"
    );
    println!(
        "Redis ceiling in this run: `redis-benchmark -P 64 -n 2000000`: SET {set:.0}/s, HSET {hset:.0}/s.\n"
    );
    println!(
        "| workload | events | events/s | entity writes/s | Redis commands/s | writes / pipelined ceiling | share of time parsing and encoding |"
    );
    println!("|---|---|---|---|---|---|---|");
    row(
        &format!("GUILD_CREATE ({members_n} members, {guild_json_avg:.0} bytes)"),
        &create_run,
        ceiling,
    );
    row("GUILD_MEMBER_UPDATE", &update_run, ceiling);
    row("MESSAGE_CREATE (messages cached)", &message_run, ceiling);
    row(
        "mix: the guilds, then updates and messages interleaved (1 shard)",
        &mix_run,
        ceiling,
    );
    row("the same mix over 4 shards at once", &four, ceiling);
    println!("\n### Redis memory\n");
    println!("| what | bytes |");
    println!("|---|---|");
    println!(
        "| per guild (5 text + 2 voice channels, 2 roles, owner and bot as members) | {per_guild:.0} |"
    );
    println!("| per member (member + user + guilds-of-user index) | {per_member:.0} |");
    println!("| JSON of the member object in GUILD_CREATE (average) | {member_json_avg:.0} |");
    println!(
        "| memory per member / JSON size | {:.2}× |",
        per_member / member_json_avg
    );
    sim.shutdown().await;
}

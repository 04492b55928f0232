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
use swarmcord_cache::{CacheConfig, CacheReader, CacheWriter, Resources, Update};
use swarmcord_sim::discord::control::GuildSpec;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::redis_server::PrivateRedis;
use twilight_model::id::Id;

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

/// Empties Redis and loads the writer's scripts again.
async fn flush(redis: &mut redis::aio::ConnectionManager, writer: &CacheWriter) {
    redis::cmd("FLUSHALL")
        .query_async::<()>(redis)
        .await
        .expect("FLUSHALL");
    writer.load_scripts().await.expect("scripts");
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
    assert_eq!(run.events, events.len(), "every event was applied");
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

/// The sizes of the workload (environment, see the module's documentation).
struct Sizes {
    guilds: usize,
    members: usize,
    updates: usize,
    messages: usize,
}

impl Sizes {
    fn from_env() -> Self {
        Self {
            guilds: env("BENCH_GUILDS", 20),
            members: env("BENCH_MEMBERS", 1000),
            updates: env("BENCH_UPDATES", 50_000),
            messages: env("BENCH_MESSAGES", 50_000),
        }
    }

    /// Guilds with only their owner and the bot as members (for the memory per guild).
    fn small_guilds(&self) -> usize {
        self.guilds * 10
    }
}

/// What Redis does alone with pipelined writes, in requests per second.
struct Ceiling {
    set: f64,
    hset: f64,
}

impl Ceiling {
    fn measure(port: u16) -> Self {
        Self {
            set: redis_benchmark(port, "set"),
            hset: redis_benchmark(port, "hset"),
        }
    }

    fn writes(&self) -> f64 {
        self.set.min(self.hset)
    }
}

/// The dispatches of the benchmark, `GUILD_CREATE`s exactly as the simulator's gateway sends
/// them.
struct Payloads {
    small: Vec<Value>,
    big: Vec<Value>,
    /// Member updates and messages, interleaved, in shard order after the guilds.
    mix: Vec<(&'static str, String)>,
    /// The guild and user of the last member update, with the nickname it set.
    last_update: (u64, u64, String),
}

fn id(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("snowflake")
}

impl Payloads {
    fn from_simulator(sim: &DiscordSim, sizes: &Sizes) -> Self {
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
        let small = make(sizes.small_guilds(), 0);
        let big = make(sizes.guilds, sizes.members);
        let mut mix = Vec::with_capacity(sizes.updates + sizes.messages);
        let mut last_update = (0, 0, String::new());
        let (mut u, mut m) = (0, 0);
        while u < sizes.updates || m < sizes.messages {
            let guild = &big[(u + m) % big.len()];
            let members = guild["members"].as_array().expect("members");
            let member = &members[(u * 7 + m) % members.len()];
            if u < sizes.updates {
                mix.push(("GUILD_MEMBER_UPDATE", member_update(guild, member, u)));
                last_update = (id(&guild["id"]), id(&member["user"]["id"]), nick(u));
                u += 1;
            }
            if m < sizes.messages {
                mix.push(("MESSAGE_CREATE", message(guild, member, m)));
                m += 1;
            }
        }
        Self {
            small,
            big,
            mix,
            last_update,
        }
    }

    fn creates(guilds: &[Value]) -> Vec<(&'static str, String)> {
        guilds
            .iter()
            .map(|g| ("GUILD_CREATE", g.to_string()))
            .collect()
    }

    /// The mix's events of one type.
    fn only(&self, kind: &str) -> Vec<(&'static str, String)> {
        self.mix
            .iter()
            .filter(|(k, _)| *k == kind)
            .cloned()
            .collect()
    }

    /// The big guilds' `GUILD_CREATE`s, then the mix.
    fn full(&self) -> Vec<(&'static str, String)> {
        let mut full = Self::creates(&self.big);
        full.extend(self.mix.iter().cloned());
        full
    }

    /// Average JSON size of a member object in the big guilds' `GUILD_CREATE`s.
    fn member_json_average(&self) -> f64 {
        let sizes: Vec<usize> = self
            .big
            .iter()
            .flat_map(|g| g["members"].as_array().expect("members").iter())
            .map(|m| m.to_string().len())
            .collect();
        sizes.iter().sum::<usize>() as f64 / sizes.len() as f64
    }

    /// Average JSON size of a big guild's `GUILD_CREATE`.
    fn guild_json_average(&self) -> f64 {
        self.big.iter().map(|g| g.to_string().len()).sum::<usize>() as f64 / self.big.len() as f64
    }
}

fn nick(k: usize) -> String {
    format!("nick {k}")
}

fn member_update(guild: &Value, member: &Value, k: usize) -> String {
    let mut update = member.clone();
    update["guild_id"] = guild["id"].clone();
    update["nick"] = json!(nick(k));
    update.to_string()
}

fn message_id(k: usize) -> u64 {
    1_300_000_000_000_000_000u64 + k as u64
}

fn message(guild: &Value, member: &Value, k: usize) -> String {
    json!({
        "id": message_id(k).to_string(),
        "channel_id": guild["channels"][0]["id"], "guild_id": guild["id"],
        "author": member["user"], "member": {"roles": [], "joined_at": member["joined_at"], "deaf": false, "mute": false},
        "content": "x".repeat(200), "timestamp": "2026-11-24T12:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "components": [], "pinned": false,
        "type": 0, "flags": 0, "nonce": k.to_string()
    })
    .to_string()
}

/// Asserts that the cache holds exactly `guilds`, each with all the members of its
/// `GUILD_CREATE`.
async fn assert_guilds_cached(reader: &CacheReader, guilds: &[Value]) {
    let cached = reader.guild_ids().await.expect("guild ids");
    assert_eq!(cached.len(), guilds.len(), "every guild is cached");
    for guild in guilds {
        let members = reader
            .member_ids(Id::new(id(&guild["id"])))
            .await
            .expect("member ids");
        let sent = guild["members"].as_array().expect("members").len();
        assert_eq!(members.len(), sent, "every member of the guild is cached");
    }
}

/// Asserts that the last member update and the last message of the mix are in the cache.
async fn assert_mix_cached(reader: &CacheReader, payloads: &Payloads, sizes: &Sizes) {
    let (guild, user, nick) = &payloads.last_update;
    if sizes.updates > 0 {
        let member = reader
            .member(Id::new(*guild), Id::new(*user))
            .await
            .expect("member")
            .expect("the updated member is cached");
        assert_eq!(
            member.nick.as_ref(),
            Some(nick),
            "the last update is applied"
        );
    }
    if sizes.messages > 0 {
        let last = reader
            .message(Id::new(message_id(sizes.messages - 1)))
            .await
            .expect("message");
        assert!(last.is_some(), "the last message is cached");
    }
}

/// Redis memory per guild and per member, and the run that created the big guilds.
struct Memory {
    per_guild: f64,
    per_member: f64,
    create_run: Run,
}

/// Creates the small guilds, then (after a flush) the big ones, measuring Redis's memory.
async fn measure_memory(bench: &mut Bench, payloads: &Payloads, sizes: &Sizes) -> Memory {
    let base = used_memory(&mut bench.redis).await;
    stage(&bench.writer, (0, 1), &Payloads::creates(&payloads.small)).await;
    assert_guilds_cached(&bench.reader, &payloads.small).await;
    let with_small = used_memory(&mut bench.redis).await;
    flush(&mut bench.redis, &bench.writer).await;
    let base_big = used_memory(&mut bench.redis).await;
    let create_run = stage(&bench.writer, (0, 1), &Payloads::creates(&payloads.big)).await;
    assert_guilds_cached(&bench.reader, &payloads.big).await;
    let with_big = used_memory(&mut bench.redis).await;
    let per_guild = (with_small.saturating_sub(base)) as f64 / sizes.small_guilds() as f64;
    let per_member = (with_big.saturating_sub(base_big) as f64 - per_guild * sizes.guilds as f64)
        / (sizes.guilds * sizes.members) as f64;
    Memory {
        per_guild,
        per_member,
        create_run,
    }
}

/// The runs of the throughput table.
struct Throughput {
    updates: Run,
    messages: Run,
    mix: Run,
    four_shards: Run,
}

/// Applies the updates alone and the messages alone (on the big guilds), then the guilds and
/// the mix on one shard and on four shards at once, each after a flush.
async fn measure_throughput(bench: &mut Bench, payloads: &Payloads, sizes: &Sizes) -> Throughput {
    let updates = stage(&bench.writer, (0, 1), &payloads.only("GUILD_MEMBER_UPDATE")).await;
    let messages = stage(&bench.writer, (0, 1), &payloads.only("MESSAGE_CREATE")).await;
    assert_mix_cached(&bench.reader, payloads, sizes).await;
    let full = payloads.full();
    flush(&mut bench.redis, &bench.writer).await;
    let mix = stage(&bench.writer, (0, 1), &full).await;
    assert_guilds_cached(&bench.reader, &payloads.big).await;
    assert_mix_cached(&bench.reader, payloads, sizes).await;
    flush(&mut bench.redis, &bench.writer).await;
    let mut slices: Vec<Vec<(&'static str, String)>> = vec![Vec::new(); 4];
    for (i, event) in full.iter().enumerate() {
        slices[i % 4].push(event.clone());
    }
    let four_shards = stages(&bench.writer, &slices).await;
    assert_eq!(four_shards.events, full.len(), "every event was applied");
    assert_guilds_cached(&bench.reader, &payloads.big).await;
    Throughput {
        updates,
        messages,
        mix,
        four_shards,
    }
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

fn report_throughput(
    ceiling: &Ceiling,
    memory: &Memory,
    runs: &Throughput,
    payloads: &Payloads,
    sizes: &Sizes,
) {
    let (set, hset) = (ceiling.set, ceiling.hset);
    println!(
        "### Cache updates (1 writer, pipelines of up to {BATCH} events, Redis on the same machine)\n"
    );
    println!(
        "Redis ceiling in this run: `redis-benchmark -P 64 -n 2000000`: SET {set:.0}/s, HSET {hset:.0}/s.\n"
    );
    println!(
        "Workload: {} guilds of {} members, {} member updates and {} messages. Checked: every event of every run applied with no failed command; after the guilds, every guild cached with all its members; after the updates and messages (one shard), the last update and the last message cached.\n",
        sizes.guilds, sizes.members, sizes.updates, sizes.messages
    );
    println!(
        "| workload | events | events/s | entity writes/s | Redis commands/s | writes / pipelined ceiling | share of time parsing and encoding |"
    );
    println!("|---|---|---|---|---|---|---|");
    let ceiling = ceiling.writes();
    row(
        &format!(
            "GUILD_CREATE ({} members, {:.0} bytes)",
            sizes.members,
            payloads.guild_json_average()
        ),
        &memory.create_run,
        ceiling,
    );
    row("GUILD_MEMBER_UPDATE", &runs.updates, ceiling);
    row("MESSAGE_CREATE (messages cached)", &runs.messages, ceiling);
    row(
        "mix: the guilds, then updates and messages interleaved (1 shard)",
        &runs.mix,
        ceiling,
    );
    row(
        "the same mix over 4 shards at once",
        &runs.four_shards,
        ceiling,
    );
}

fn report_memory(memory: &Memory, payloads: &Payloads, sizes: &Sizes) {
    let member_json = payloads.member_json_average();
    println!("\n### Redis memory\n");
    println!("| what | bytes |");
    println!("|---|---|");
    println!(
        "| per guild ({} guilds; 5 text + 2 voice channels, 2 roles, owner and bot as members) | {:.0} |",
        sizes.small_guilds(),
        memory.per_guild
    );
    println!(
        "| per member (member + user + guilds-of-user index) | {:.0} |",
        memory.per_member
    );
    println!("| JSON of the member object in GUILD_CREATE (average) | {member_json:.0} |");
    println!(
        "| memory per member / JSON size | {:.2}× |",
        memory.per_member / member_json
    );
}

/// The Redis the benchmark writes, through the writer under test, read back by a reader.
struct Bench {
    redis: redis::aio::ConnectionManager,
    writer: CacheWriter,
    reader: CacheReader,
}

#[tokio::main]
async fn main() {
    let sizes = Sizes::from_env();
    let server = PrivateRedis::start().await;
    let ceiling = Ceiling::measure(server.port());
    let redis = connection(&server.url()).await;
    let config = CacheConfig::new("bench")
        .resources(Resources::parse("default,messages").expect("resources"));
    let mut bench = Bench {
        writer: CacheWriter::new(redis.clone(), config),
        reader: CacheReader::new(redis.clone(), "bench"),
        redis,
    };
    flush(&mut bench.redis, &bench.writer).await;

    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("simulator");
    let payloads = Payloads::from_simulator(&sim, &sizes);
    let memory = measure_memory(&mut bench, &payloads, &sizes).await;
    let runs = measure_throughput(&mut bench, &payloads, &sizes).await;
    report_throughput(&ceiling, &memory, &runs, &payloads, &sizes);
    report_memory(&memory, &payloads, &sizes);
    sim.shutdown().await;
}

//! Fidelity of the gateway simulator, proven with a real client (twilight-gateway 0.18, with
//! zlib-stream transport compression) and, for what twilight never sends, a raw WebSocket
//! client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt as _};
use serde_json::{Value, json};
use swarmcord_sim::discord::control::{Control, GuildSpec, MessageSpec};
use swarmcord_sim::discord::gateway::ShardAction;
use swarmcord_sim::{DiscordConfig, DiscordSim};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use twilight_gateway::queue::Queue;
use twilight_gateway::{ConfigBuilder, Event, EventTypeFlags, Intents, Message, Shard, ShardId};
use twilight_model::gateway::payload::outgoing::{
    RequestGuildMembers, UpdatePresence, UpdateVoiceState,
};
use twilight_model::gateway::presence::{ActivityType, MinimalActivity, Status};
use twilight_model::id::Id;

const WAIT: Duration = Duration::from_secs(10);

/// An identify queue that never waits: the simulator's own bucket check is what is under test,
/// and twilight's in-memory queue would wait 5 s between identifies.
#[derive(Debug, Default)]
struct NoWaitQueue;

impl Queue for NoWaitQueue {
    fn enqueue(&self, _id: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        rx
    }
}

/// What the client saw, in order.
#[derive(Debug)]
enum Seen {
    /// A dispatch: its sequence number, type and twilight's parse of it.
    Dispatch {
        seq: u64,
        kind: String,
        raw: Value,
        event: Option<Box<Event>>,
    },
    /// A close frame (code).
    Close(Option<u16>),
    /// The shard ended (fatal close).
    End,
}

/// Drives a twilight shard on a task, forwarding everything it receives.
struct Client {
    rx: mpsc::UnboundedReceiver<Seen>,
    commands: twilight_gateway::MessageSender,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    fn start(sim: &DiscordSim, shard: ShardId, intents: Intents) -> Self {
        let config = ConfigBuilder::new(sim.token(), intents)
            .proxy_url(sim.gateway_url())
            .queue(NoWaitQueue)
            .build();
        Self::with_config(shard, config)
    }

    fn with_config(shard: ShardId, config: twilight_gateway::Config<NoWaitQueue>) -> Self {
        let mut shard = Shard::with_config(shard, config);
        let commands = shard.sender();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(item) = shard.next().await {
                let seen = match item {
                    Ok(Message::Text(text)) => {
                        let raw: Value =
                            serde_json::from_str(&text).expect("gateway payload is JSON");
                        if raw["op"] != 0 {
                            continue;
                        }
                        let event = twilight_gateway::parse(text, EventTypeFlags::all())
                            .unwrap_or_else(|e| panic!("twilight could not parse a dispatch: {e}"))
                            .map(|event| Box::new(Event::from(event)));
                        Seen::Dispatch {
                            seq: raw["s"].as_u64().expect("dispatch has s"),
                            kind: raw["t"].as_str().expect("dispatch has t").to_owned(),
                            raw: raw["d"].clone(),
                            event,
                        }
                    }
                    Ok(Message::Close(frame)) => Seen::Close(frame.map(|f| f.code)),
                    Err(_) => continue,
                };
                if tx.send(seen).is_err() {
                    return;
                }
            }
            let _ = tx.send(Seen::End);
        });
        Self { rx, commands, task }
    }

    /// Next dispatch of type `kind`, skipping others.
    async fn next_dispatch(&mut self, kind: &str) -> (u64, Value, Option<Event>) {
        loop {
            match tokio::time::timeout(WAIT, self.rx.recv())
                .await
                .expect("timed out waiting for a dispatch")
            {
                Some(Seen::Dispatch {
                    seq,
                    kind: k,
                    raw,
                    event,
                }) if k == kind => return (seq, raw, event.map(|e| *e)),
                Some(_) => {}
                None => panic!("shard task ended"),
            }
        }
    }

    /// Next close frame or end.
    async fn next_close(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.rx.recv())
                .await
                .expect("timed out waiting for a close")
            {
                Some(Seen::Close(code)) => return code,
                Some(Seen::End) | None => return None,
                Some(Seen::Dispatch { .. }) => {}
            }
        }
    }
}

async fn sim_with(config: DiscordConfig) -> DiscordSim {
    swarmcord_testkit::init_tracing();
    DiscordSim::start(config).await.expect("start simulator")
}

fn all_intents() -> Intents {
    Intents::GUILDS
        | Intents::GUILD_MEMBERS
        | Intents::GUILD_MESSAGES
        | Intents::MESSAGE_CONTENT
        | Intents::GUILD_VOICE_STATES
        | Intents::GUILD_MODERATION
}

fn say(control: &Control, channel_id: u64, author_id: u64, content: &str) -> u64 {
    control
        .post_message(&MessageSpec {
            channel_id,
            author_id,
            content: content.to_owned(),
        })
        .expect("post message")
}

#[tokio::test]
async fn twilight_identifies_and_receives_ready_guilds_and_messages() {
    let sim = sim_with(DiscordConfig::default()).await;
    let control = sim.control();
    let a = control.create_guild(&GuildSpec {
        name: "alpha".into(),
        members: 4,
        ..GuildSpec::default()
    });
    let b = control.create_guild(&GuildSpec {
        name: "beta".into(),
        members: 2,
        voice_channels: 2,
        ..GuildSpec::default()
    });

    let mut client = Client::start(&sim, ShardId::ONE, all_intents());
    let (seq, _, event) = client.next_dispatch("READY").await;
    assert_eq!(seq, 1);
    let Some(Event::Ready(ready)) = event else {
        panic!("READY did not parse as Ready")
    };
    assert_eq!(
        ready.resume_gateway_url,
        sim.gateway_url(),
        "resumes must come back to the simulator"
    );
    assert_eq!(ready.guilds.len(), 2);
    assert_eq!(ready.shard, Some(ShardId::ONE));
    assert_eq!(ready.user.id.get(), DiscordConfig::default().bot_id);

    let mut guilds = HashMap::new();
    for expected_seq in [2, 3] {
        let (seq, _, event) = client.next_dispatch("GUILD_CREATE").await;
        assert_eq!(seq, expected_seq);
        let Some(Event::GuildCreate(guild)) = event else {
            panic!("GUILD_CREATE did not parse")
        };
        let twilight_model::gateway::payload::incoming::GuildCreate::Available(guild) = *guild
        else {
            panic!("guild unavailable")
        };
        guilds.insert(guild.id.get(), guild);
    }
    let alpha = &guilds[&a.id];
    assert_eq!(alpha.name, "alpha");
    assert_eq!(alpha.members.len(), 6, "owner + 4 members + bot");
    assert_eq!(
        guilds[&b.id].channels.len(),
        3,
        "one text and two voice channels"
    );

    let author = a.members[0];
    let id = say(
        &control,
        a.text_channels[0],
        author,
        "hello <@1000000000000000001>",
    );
    let (seq, _, event) = client.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(seq, 4);
    let Some(Event::MessageCreate(message)) = event else {
        panic!("MESSAGE_CREATE did not parse")
    };
    assert_eq!(message.id.get(), id);
    assert_eq!(message.content, "hello <@1000000000000000001>");
    assert_eq!(message.author.id.get(), author);
    assert_eq!(message.guild_id.map(Id::get), Some(a.id));
    assert!(
        message.member.is_some(),
        "guild messages carry a partial member"
    );
    assert_eq!(message.mentions.len(), 1);

    let stats = control.gateway_stats();
    assert_eq!(stats.identifies, 1);
    assert_eq!(stats.session_start_remaining, 999);
}

#[tokio::test]
async fn message_content_is_empty_without_the_intent() {
    let sim = sim_with(DiscordConfig::default()).await;
    let control = sim.control();
    let g = control.create_guild(&GuildSpec::default());
    let mut client = Client::start(
        &sim,
        ShardId::ONE,
        Intents::GUILDS | Intents::GUILD_MESSAGES,
    );
    client.next_dispatch("GUILD_CREATE").await;
    say(&control, g.text_channels[0], g.members[0], "secret");
    let (_, raw, _) = client.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(raw["content"], "");
    say(
        &control,
        g.text_channels[0],
        g.members[0],
        "hi <@1000000000000000001>",
    );
    let (_, raw, _) = client.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(
        raw["content"], "hi <@1000000000000000001>",
        "mentions of the bot keep content"
    );
}

#[tokio::test]
async fn events_go_to_the_shard_that_owns_the_guild() {
    let sim = sim_with(DiscordConfig {
        recommended_shards: 2,
        max_concurrency: 2,
        ..DiscordConfig::default()
    })
    .await;
    let control = sim.control();
    let g0 = control.create_guild(&GuildSpec {
        shard: Some((0, 2)),
        ..GuildSpec::default()
    });
    let g1 = control.create_guild(&GuildSpec {
        shard: Some((1, 2)),
        ..GuildSpec::default()
    });
    let mut s0 = Client::start(&sim, ShardId::new(0, 2), all_intents());
    let mut s1 = Client::start(&sim, ShardId::new(1, 2), all_intents());
    let (_, raw0, _) = s0.next_dispatch("GUILD_CREATE").await;
    let (_, raw1, _) = s1.next_dispatch("GUILD_CREATE").await;
    assert_eq!(raw0["id"], g0.id.to_string());
    assert_eq!(raw1["id"], g1.id.to_string());
    let m1 = say(&control, g1.text_channels[0], g1.members[0], "to shard one");
    let m0 = say(
        &control,
        g0.text_channels[0],
        g0.members[0],
        "to shard zero",
    );
    let (_, raw, _) = s1.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(raw["id"], m1.to_string());
    let (_, raw, _) = s0.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(
        raw["id"],
        m0.to_string(),
        "shard 0 never saw shard 1's message first"
    );
}

#[tokio::test]
async fn resume_after_a_dropped_connection_replays_every_missed_event() {
    let sim = sim_with(DiscordConfig::default()).await;
    let control = sim.control();
    let g = control.create_guild(&GuildSpec::default());
    let mut client = Client::start(&sim, ShardId::ONE, all_intents());
    client.next_dispatch("GUILD_CREATE").await;

    assert_eq!(control.shard_action(0, ShardAction::Drop), 1);
    let sent: Vec<u64> = (0..50)
        .map(|i| say(&control, g.text_channels[0], g.members[0], &format!("m{i}")))
        .collect();

    let mut received = Vec::new();
    let mut last_seq = 2;
    while received.len() < sent.len() {
        let (seq, raw, _) = client.next_dispatch("MESSAGE_CREATE").await;
        assert_eq!(seq, last_seq + 1, "sequence numbers continue without a gap");
        last_seq = seq;
        received.push(
            raw["id"]
                .as_str()
                .expect("id")
                .parse::<u64>()
                .expect("snowflake"),
        );
    }
    assert_eq!(received, sent, "every missed event exactly once, in order");
    let (seq, _, _) = client.next_dispatch("RESUMED").await;
    assert_eq!(seq, last_seq + 1);

    let stats = control.gateway_stats();
    assert_eq!(stats.identifies, 1, "a resume is not an identify");
    assert_eq!(stats.resumes, 1);
    assert_eq!(stats.replayed, 50);
}

#[tokio::test]
async fn reconnect_opcode_makes_the_shard_resume() {
    let sim = sim_with(DiscordConfig::default()).await;
    let control = sim.control();
    let g = control.create_guild(&GuildSpec::default());
    let mut client = Client::start(&sim, ShardId::ONE, all_intents());
    client.next_dispatch("GUILD_CREATE").await;
    assert_eq!(control.shard_action(0, ShardAction::Reconnect), 1);
    client.next_dispatch("RESUMED").await;
    let id = say(
        &control,
        g.text_channels[0],
        g.members[0],
        "after reconnect",
    );
    let (_, raw, _) = client.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(raw["id"], id.to_string());
    let stats = control.gateway_stats();
    assert_eq!((stats.identifies, stats.resumes), (1, 1));
    assert_eq!(
        stats.closes_received.get(&4000),
        Some(&1),
        "twilight closes with 4000 to keep the session"
    );
}

#[tokio::test]
async fn invalid_session_resumable_resumes_and_not_resumable_reidentifies() {
    let sim = sim_with(DiscordConfig {
        identify_interval: Duration::from_millis(100),
        ..DiscordConfig::default()
    })
    .await;
    let control = sim.control();
    control.create_guild(&GuildSpec::default());
    let mut client = Client::start(&sim, ShardId::ONE, all_intents());
    client.next_dispatch("GUILD_CREATE").await;

    control.shard_action(0, ShardAction::InvalidateResumable);
    client.next_dispatch("RESUMED").await;
    assert_eq!(control.gateway_stats().identifies, 1);

    control.shard_action(0, ShardAction::Invalidate);
    let (seq, _, event) = client.next_dispatch("READY").await;
    assert_eq!(seq, 1, "a new session starts its sequence again");
    assert!(matches!(event, Some(Event::Ready(_))));
    let stats = control.gateway_stats();
    assert_eq!(stats.identifies, 2);
    assert_eq!(
        control.sessions().len(),
        1,
        "the invalidated session is gone"
    );
}

#[tokio::test]
async fn a_zombied_connection_is_detected_by_the_client_and_resumed() {
    let sim = sim_with(DiscordConfig {
        heartbeat_interval: Duration::from_millis(300),
        ..DiscordConfig::default()
    })
    .await;
    let control = sim.control();
    control.create_guild(&GuildSpec::default());
    let mut client = Client::start(&sim, ShardId::ONE, all_intents());
    client.next_dispatch("GUILD_CREATE").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        control.gateway_stats().heartbeats >= 1,
        "twilight heartbeats"
    );
    control.shard_action(0, ShardAction::Zombie);
    client.next_dispatch("RESUMED").await;
    assert_eq!(control.gateway_stats().identifies, 1);
}

async fn fatal_close_code(
    config: DiscordConfig,
    shard: ShardId,
    intents: Intents,
    token: Option<&str>,
) -> Option<u16> {
    let sim = sim_with(config).await;
    sim.control().create_guild(&GuildSpec::default());
    sim.control().create_guild(&GuildSpec::default());
    let config = ConfigBuilder::new(token.map_or_else(|| sim.token(), str::to_owned), intents)
        .proxy_url(sim.gateway_url())
        .queue(NoWaitQueue)
        .build();
    let mut client = Client::with_config(shard, config);
    let code = client.next_close().await;
    assert!(
        client.next_close().await.is_none(),
        "a fatal close ends the shard"
    );
    code
}

#[tokio::test]
async fn bad_token_is_refused_with_4004() {
    let code = fatal_close_code(
        DiscordConfig::default(),
        ShardId::ONE,
        Intents::GUILDS,
        Some("wrong"),
    )
    .await;
    assert_eq!(code, Some(4004));
}

#[tokio::test]
async fn privileged_intents_not_enabled_are_refused_with_4014() {
    let config = DiscordConfig {
        allowed_privileged_intents: 0,
        ..DiscordConfig::default()
    };
    let code = fatal_close_code(
        config,
        ShardId::ONE,
        Intents::GUILDS | Intents::MESSAGE_CONTENT,
        None,
    )
    .await;
    assert_eq!(code, Some(4014));
}

#[tokio::test]
async fn unknown_intents_are_refused_with_4013() {
    let code = fatal_close_code(
        DiscordConfig::default(),
        ShardId::ONE,
        Intents::from_bits_retain(1 << 40),
        None,
    )
    .await;
    assert_eq!(code, Some(4013));
}

#[tokio::test]
async fn too_many_guilds_for_one_shard_is_refused_with_4011() {
    let config = DiscordConfig {
        max_guilds_per_shard: 1,
        ..DiscordConfig::default()
    };
    let code = fatal_close_code(config, ShardId::ONE, Intents::GUILDS, None).await;
    assert_eq!(code, Some(4011));
}

#[tokio::test]
async fn gateway_commands_are_recorded_and_answered() {
    let sim = sim_with(DiscordConfig::default()).await;
    let control = sim.control();
    let g = control.create_guild(&GuildSpec {
        members: 2500,
        ..GuildSpec::default()
    });
    let mut client = Client::start(&sim, ShardId::ONE, all_intents());
    client.next_dispatch("GUILD_CREATE").await;
    let since = sim.shared().recorder.len();

    let activity = MinimalActivity {
        kind: ActivityType::Playing,
        name: "sim".into(),
        url: None,
    };
    let presence =
        UpdatePresence::new(vec![activity.into()], false, None, Status::Idle).expect("presence");
    client.commands.command(&presence).expect("send presence");
    let request = RequestGuildMembers::builder(Id::new(g.id))
        .nonce("n1")
        .query("", None);
    client
        .commands
        .command(&request)
        .expect("send member request");
    let voice = UpdateVoiceState::new(
        Id::new(g.id),
        Some(Id::new(g.voice_channels[0])),
        false,
        true,
    );
    client.commands.command(&voice).expect("send voice state");

    let mut total = 0;
    for index in 0..3 {
        let (_, chunk, event) = client.next_dispatch("GUILD_MEMBERS_CHUNK").await;
        assert!(matches!(event, Some(Event::MemberChunk(_))));
        assert_eq!(chunk["chunk_index"], index);
        assert_eq!(chunk["chunk_count"], 3);
        assert_eq!(chunk["nonce"], "n1");
        total += chunk["members"].as_array().expect("members").len();
    }
    assert_eq!(
        total, 2502,
        "owner, 2500 members and the bot, in chunks of 1000"
    );
    let (_, state, _) = client.next_dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(state["channel_id"], g.voice_channels[0].to_string());
    assert_eq!(
        state["user_id"],
        DiscordConfig::default().bot_id.to_string()
    );
    let (_, server, event) = client.next_dispatch("VOICE_SERVER_UPDATE").await;
    assert!(matches!(event, Some(Event::VoiceServerUpdate(_))));
    assert!(server["token"].as_str().is_some_and(|t| !t.is_empty()));

    let ops: Vec<String> = control
        .log(since, Some("gateway"))
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(
        ops,
        [
            "PRESENCE_UPDATE",
            "REQUEST_GUILD_MEMBERS",
            "VOICE_STATE_UPDATE"
        ]
    );
    let identify = control
        .log(0, Some("gateway"))
        .into_iter()
        .find(|r| r.method == "IDENTIFY")
        .expect("identify recorded");
    assert_eq!(
        identify.body["token"], "[redacted]",
        "the token never reaches the log"
    );
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket client: what twilight never sends.

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_connect(sim: &DiscordSim) -> Ws {
    let url = format!("{}/?v=10&encoding=json", sim.gateway_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let hello = raw_next(&mut ws).await;
    assert_eq!(hello["op"], 10);
    assert!(hello["d"]["heartbeat_interval"].as_u64().is_some());
    ws
}

async fn raw_next(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out")
            .expect("open")
            .expect("frame")
        {
            WsMessage::Text(text) => return serde_json::from_str(&text).expect("json"),
            WsMessage::Close(frame) => return json!({"close": frame.map(|f| u16::from(f.code))}),
            _ => {}
        }
    }
}

async fn raw_send(ws: &mut Ws, value: &Value) {
    ws.send(WsMessage::Text(value.to_string().into()))
        .await
        .expect("send");
}

fn identify(token: &str, shard: [u32; 2]) -> Value {
    json!({"op": 2, "d": {"token": token, "intents": 1, "shard": shard, "properties": {"os": "linux", "browser": "raw", "device": "raw"}}})
}

#[tokio::test]
async fn identifies_in_one_bucket_are_rate_limited_across_connections() {
    let sim = sim_with(DiscordConfig {
        max_concurrency: 2,
        identify_interval: Duration::from_secs(5),
        ..DiscordConfig::default()
    })
    .await;
    let token = sim.token();
    let mut first = raw_connect(&sim).await;
    raw_send(&mut first, &identify(&token, [0, 4])).await;
    assert_eq!(raw_next(&mut first).await["t"], "READY");
    let mut other_bucket = raw_connect(&sim).await;
    raw_send(&mut other_bucket, &identify(&token, [1, 4])).await;
    assert_eq!(
        raw_next(&mut other_bucket).await["t"],
        "READY",
        "bucket 1 is free"
    );
    let mut same_bucket = raw_connect(&sim).await;
    raw_send(&mut same_bucket, &identify(&token, [2, 4])).await;
    let answer = raw_next(&mut same_bucket).await;
    assert_eq!(
        answer["op"], 9,
        "bucket 0 identified less than 5 s ago: {answer}"
    );
    assert_eq!(answer["d"], false);
    let stats = sim.control().gateway_stats();
    assert_eq!(stats.identify_rate_limited, 1);
    assert_eq!(stats.max_identifies_per_bucket_window, 1);
    assert_eq!(stats.identify_log.iter().filter(|r| r.accepted).count(), 2);
}

#[tokio::test]
async fn protocol_errors_use_the_documented_close_codes() {
    let sim = sim_with(DiscordConfig::default()).await;
    let token = sim.token();

    let mut ws = raw_connect(&sim).await;
    raw_send(
        &mut ws,
        &json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}}),
    )
    .await;
    assert_eq!(
        raw_next(&mut ws).await["close"],
        4003,
        "payload before identify"
    );

    let mut ws = raw_connect(&sim).await;
    ws.send(WsMessage::Text("{not json".into()))
        .await
        .expect("send");
    assert_eq!(raw_next(&mut ws).await["close"], 4002);

    let mut ws = raw_connect(&sim).await;
    raw_send(&mut ws, &identify(&token, [3, 2])).await;
    assert_eq!(
        raw_next(&mut ws).await["close"],
        4010,
        "shard id beyond shard count"
    );

    let mut ws = raw_connect(&sim).await;
    raw_send(&mut ws, &identify(&token, [0, 1])).await;
    let ready = raw_next(&mut ws).await;
    let session_id = ready["d"]["session_id"]
        .as_str()
        .expect("session id")
        .to_owned();
    raw_send(&mut ws, &json!({"op": 99, "d": null})).await;
    assert_eq!(raw_next(&mut ws).await["close"], 4001);

    let mut ws = raw_connect(&sim).await;
    raw_send(
        &mut ws,
        &json!({"op": 6, "d": {"token": token, "session_id": session_id, "seq": 500}}),
    )
    .await;
    assert_eq!(
        raw_next(&mut ws).await["close"],
        4007,
        "resume beyond the session's sequence"
    );

    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}/?v=9&encoding=json", sim.gateway_url()))
            .await
            .expect("connect");
    assert_eq!(raw_next(&mut ws).await["close"], 4012);
}

#[tokio::test]
async fn a_client_close_frame_is_answered_and_1000_ends_the_session() {
    let sim = sim_with(DiscordConfig::default()).await;
    let mut ws = raw_connect(&sim).await;
    raw_send(&mut ws, &identify(&sim.token(), [0, 1])).await;
    assert_eq!(raw_next(&mut ws).await["t"], "READY");
    raw_send(&mut ws, &json!({"op": 1, "d": 1})).await;
    assert_eq!(raw_next(&mut ws).await["op"], 11, "heartbeat ACK");
    let normal = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "bye".into(),
    };
    ws.close(Some(normal)).await.expect("send close");
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("close reply in time");
    assert!(
        matches!(reply, Some(Ok(WsMessage::Close(_))) | None),
        "the simulator completes the close handshake: {reply:?}"
    );
    let sessions = swarmcord_testkit::eventually(WAIT, || async {
        let sessions = sim.control().sessions();
        sessions.is_empty().then_some(())
    })
    .await;
    assert!(sessions.is_some(), "close 1000 destroys the session");
}

#[tokio::test]
async fn session_start_limit_is_spent_by_identifies() {
    let sim = sim_with(DiscordConfig {
        identify_interval: Duration::ZERO,
        ..DiscordConfig::default()
    })
    .await;
    sim.control()
        .patch_config(&swarmcord_sim::discord::control::ConfigPatch {
            session_start_remaining: Some(1),
            ..Default::default()
        });
    let counter = AtomicU32::new(0);
    for expect_ready in [true, false] {
        let mut ws = raw_connect(&sim).await;
        raw_send(&mut ws, &identify(&sim.token(), [0, 1])).await;
        let answer = raw_next(&mut ws).await;
        if expect_ready {
            assert_eq!(answer["t"], "READY");
        } else {
            assert_eq!(answer["op"], 9, "no session starts left: {answer}");
        }
        counter.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(sim.control().gateway_stats().session_start_remaining, 0);
}

/// The stats record, per shard, the most connections attached to its sessions at once: a
/// second IDENTIFY for a connected shard makes it 2; a RESUME takes the session over from the
/// connection it had (which is dropped), so it stays 1.
#[tokio::test]
async fn the_most_concurrent_connections_of_each_shard_are_recorded() {
    let sim = sim_with(DiscordConfig {
        identify_interval: Duration::from_millis(100),
        max_concurrency: 2,
        ..DiscordConfig::default()
    })
    .await;
    let control = sim.control();
    let shard = |id| ShardId::new(id, 2);
    let mut first = Client::start(&sim, shard(0), all_intents());
    first.next_dispatch("READY").await;
    let mut other = Client::start(&sim, shard(1), all_intents());
    other.next_dispatch("READY").await;
    let max = |id: u32| {
        control
            .gateway_stats()
            .max_connections_per_shard
            .get(&[id, 2])
            .copied()
    };
    assert_eq!((max(0), max(1)), (Some(1), Some(1)));

    // A RESUME of shard 0's session on a new connection replaces the old one.
    control.shard_action(0, ShardAction::InvalidateResumable);
    first.next_dispatch("RESUMED").await;
    assert_eq!(max(0), Some(1), "a resume replaces the connection");
    assert_eq!(
        control.gateway_stats().resumes_replacing_a_connection,
        0,
        "op 9 had detached it"
    );
    // A RESUME elsewhere while the connection is still attached takes the session over.
    let session = control
        .sessions()
        .into_iter()
        .find(|s| s.shard == [0, 2])
        .expect("session");
    let config = ConfigBuilder::new(sim.token(), all_intents())
        .proxy_url(sim.gateway_url())
        .queue(NoWaitQueue)
        .session(twilight_gateway::Session::new(
            session.seq,
            session.session_id,
        ))
        .build();
    let mut taker = Client::with_config(shard(0), config);
    taker.next_dispatch("RESUMED").await;
    assert_eq!(control.gateway_stats().resumes_replacing_a_connection, 1);
    assert_eq!(max(0), Some(1));

    // A second session of shard 0 while the first is connected: two at once.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut second = Client::start(&sim, shard(0), all_intents());
    second.next_dispatch("READY").await;
    assert_eq!(max(0), Some(2), "two sessions of shard 0 connected at once");
    assert_eq!(max(1), Some(1));
}

/// A bot resharding from 2 to 4 shards is connected with both shard counts at once: each
/// guild's events reach exactly one shard of each count, and each of the six shards (shard 0
/// of 2 and shard 0 of 4 are different shards) has one connection.
#[tokio::test]
async fn a_bot_connected_with_two_shard_counts_gets_each_event_once_per_count() {
    let sim = sim_with(DiscordConfig {
        identify_interval: Duration::from_millis(1),
        max_concurrency: 4,
        ..DiscordConfig::default()
    })
    .await;
    let control = sim.control();
    let guilds: Vec<_> = (0..4)
        .map(|i| {
            control.create_guild(&GuildSpec {
                shard: Some((i, 4)),
                ..GuildSpec::default()
            })
        })
        .collect();
    let shards: Vec<[u32; 2]> = [(0, 2), (1, 2), (0, 4), (1, 4), (2, 4), (3, 4)]
        .map(|(id, count)| [id, count])
        .to_vec();
    let mut clients = Vec::new();
    for &[id, count] in &shards {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut client = Client::start(&sim, ShardId::new(id, count), all_intents());
        client.next_dispatch("READY").await;
        clients.push(client);
    }
    for guild in &guilds {
        say(&control, guild.text_channels[0], guild.members[0], "first");
    }
    for guild in &guilds {
        say(&control, guild.text_channels[0], guild.members[0], "end");
    }
    // Per shard: the guilds whose first message it got, read until the end message of each of
    // its own guilds (a connection's dispatches are in order: any first message sent to it
    // arrived before those).
    let mut got: HashMap<[u32; 2], Vec<u64>> = HashMap::new();
    for (client, &[id, count]) in clients.iter_mut().zip(&shards) {
        let own: Vec<u64> = guilds
            .iter()
            .map(|g| g.id)
            .filter(|g| (g >> 22) % u64::from(count) == u64::from(id))
            .collect();
        let mut ends = 0;
        let mut firsts = Vec::new();
        while ends < own.len() {
            let (_, raw, _) = client.next_dispatch("MESSAGE_CREATE").await;
            let guild: u64 = raw["guild_id"]
                .as_str()
                .and_then(|g| g.parse().ok())
                .expect("guild_id");
            match raw["content"].as_str() {
                Some("first") => firsts.push(guild),
                Some("end") if own.contains(&guild) => ends += 1,
                _ => {}
            }
        }
        firsts.sort_unstable();
        assert_eq!(firsts, own, "shard {id} of {count}");
        got.insert([id, count], firsts);
    }
    for count in [2u32, 4] {
        let mut all: Vec<u64> = got
            .iter()
            .filter(|(shard, _)| shard[1] == count)
            .flat_map(|(_, firsts)| firsts.iter().copied())
            .collect();
        all.sort_unstable();
        let mut expected: Vec<u64> = guilds.iter().map(|g| g.id).collect();
        expected.sort_unstable();
        assert_eq!(
            all, expected,
            "every guild once among the shards of {count}"
        );
    }
    let stats = control.gateway_stats();
    assert_eq!(
        stats
            .max_connections_per_shard
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        {
            let mut sorted = shards.clone();
            sorted.sort_unstable();
            sorted
        }
    );
    assert!(
        stats.max_connections_per_shard.values().all(|n| *n == 1),
        "{:?}",
        stats.max_connections_per_shard
    );
    let json = serde_json::to_value(&stats).expect("stats serialize");
    assert_eq!(json["max_connections_per_shard"]["3/4"], 1);
}

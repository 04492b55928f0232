//! Helpers shared by the interaction tests: raw REST calls, a raw gateway connection,
//! component builders and the control API's refusals.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the helpers"
)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use swarmcord_sim::discord::control::{
    ComponentSpec, ControlError, CreatedGuild, CreatedInteraction, GuildSpec, InteractionSpec,
};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use twilight_model::application::interaction::Interaction;

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn sim() -> DiscordSim {
    DiscordSim::start(DiscordConfig {
        identify_interval: Duration::ZERO,
        ..DiscordConfig::default()
    })
    .await
    .expect("simulator starts")
}

pub fn guild(sim: &DiscordSim) -> CreatedGuild {
    sim.control().create_guild(&GuildSpec {
        name: "interactions".to_owned(),
        members: 3,
        text_channels: 2,
        voice_channels: 1,
        announce: false,
        ..GuildSpec::default()
    })
}

pub struct Raw {
    pub status: u16,
    pub body: Value,
}

/// One request under `/api/v10` on a fresh connection, read to the end (a `null` body is
/// sent as an empty JSON body).
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Raw {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let addr = addr.to_string();
    let request = http::discord(&addr, method, path, token, Some(&body));
    let answer = tokio::time::timeout(WAIT, request)
        .await
        .expect("in time")
        .expect("answers");
    let body = answer.json().expect("JSON body");
    Raw {
        status: answer.status,
        body,
    }
}

/// A REST call as the bot.
pub async fn bot(sim: &DiscordSim, method: &str, path: &str, body: &Value) -> Raw {
    raw(sim.addr(), method, path, Some(&sim.token()), body).await
}

/// An interaction callback (authenticated by the token in the path).
pub async fn callback(sim: &DiscordSim, created: &CreatedInteraction, body: &Value) -> Raw {
    let path = format!("/interactions/{}/{}/callback", created.id, created.token);
    raw(sim.addr(), "POST", &path, None, body).await
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A raw gateway connection, identified (shard 0 of 1), after READY.
pub async fn gateway(sim: &DiscordSim) -> Ws {
    let url = format!("{}/?v=10&encoding=json", sim.gateway_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let identify = json!({"op": 2, "d": {"token": sim.token(), "intents": 1 | 512 | 32768,
        "shard": [0, 1], "properties": {"os": "linux", "browser": "raw", "device": "raw"}}});
    ws.send(Message::Text(identify.to_string().into()))
        .await
        .expect("identify");
    next_dispatch(&mut ws, "READY").await;
    ws
}

pub async fn next_dispatch(ws: &mut Ws, t: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let payload: Value = serde_json::from_str(&text).expect("json");
            if payload["t"] == t {
                return payload["d"].clone();
            }
        }
    }
}

/// The next `INTERACTION_CREATE`, its raw JSON and twilight's model of it.
pub async fn next_interaction(ws: &mut Ws) -> (Value, Interaction) {
    let raw = next_dispatch(ws, "INTERACTION_CREATE").await;
    let model: Interaction = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("twilight parses the interaction: {e}\n{raw:#}"));
    (raw, model)
}

pub fn button(custom_id: &str, label: &str) -> Value {
    json!({"type": 2, "style": 1, "custom_id": custom_id, "label": label})
}

pub fn row(components: Vec<Value>) -> Value {
    let mut row = json!({"type": 1});
    row["components"] = Value::Array(components);
    row
}

/// The bot posts `body` in `channel`; the created message.
pub async fn post(sim: &DiscordSim, channel: u64, body: &Value) -> Value {
    let created = bot(sim, "POST", &format!("/channels/{channel}/messages"), body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    created.body
}

pub fn id_of(message: &Value) -> u64 {
    message["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("snowflake")
}

pub fn click(message_id: u64, user_id: u64, custom_id: &str) -> ComponentSpec {
    ComponentSpec {
        message_id,
        user_id,
        custom_id: custom_id.to_owned(),
        values: Vec::new(),
    }
}

pub fn slash(g: &CreatedGuild, name: &str, options: Value) -> InteractionSpec {
    InteractionSpec {
        guild_id: Some(g.id),
        channel_id: g.text_channels[0],
        user_id: g.members[0],
        name: name.to_owned(),
        options,
    }
}

pub fn assert_invalid(result: Result<CreatedInteraction, ControlError>, needle: &str) {
    match result {
        Err(ControlError::Invalid(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
    }
}

//! A Lavalink v4 node simulator: REST + WebSocket, sessions and resuming, simulated playback of a
//! deterministic fake track catalogue, and a control API for tests.
//!
//! Everything is served on one port:
//!
//! | path | what |
//! |---|---|
//! | `GET /v4/websocket` | the node WebSocket (`Authorization`, `User-Id`, `Client-Name`, optional `Session-Id` headers) |
//! | `GET /version` | version as plain text |
//! | `GET /v4/info`, `GET /v4/stats` | node info and stats |
//! | `GET /v4/loadtracks?identifier=` | the fake catalogue (see [`catalogue`]) |
//! | `GET /v4/decodetrack?encodedTrack=`, `POST /v4/decodetracks` | decode tracks made by [`catalogue::encode`] |
//! | `PATCH /v4/sessions/{sessionId}` | `{resuming, timeout}` |
//! | `GET /v4/sessions/{sessionId}/players` | every player of a session |
//! | `GET`/`PATCH`/`DELETE /v4/sessions/{sessionId}/players/{guildId}` | one player (`?noReplace=true` honoured) |
//! | `GET /_sim/players`, `/_sim/sessions`, `/_sim/stats` | control API: state snapshots and counters ([`PlayerSnapshot`], [`SessionSnapshot`], [`SimStats`]) |
//! | `GET /_sim/log?since=N[&kind=K]` | control API: the [`Recorder`] log |
//! | `POST /_sim/kill`, `/_sim/crash`, `/_sim/revive` | control API: see [`LavalinkSim::kill`], [`LavalinkSim::crash`], [`LavalinkSim::revive`] |
//! | `POST /_sim/players/{guildId}/voice-closed?code=&reason=&byRemote=` | control API: [`LavalinkSim::voice_closed`] (204, 404 without player) |
//! | `POST /_sim/players/{guildId}/stuck?thresholdMs=` | control API: [`LavalinkSim::track_stuck`] (204, 404 without track) |
//!
//! Every route except `/_sim/...` requires `Authorization: <password>`: as Lavalink 4.0.8, REST
//! answers 401 without the header and 403 with a wrong one, the WebSocket upgrade 401 in both
//! cases, with empty bodies. Every response carries `Lavalink-Api-Version: 4`. Other errors use
//! Lavalink's body `{timestamp, status, error, message, path}` (plus `trace` with `?trace=true`);
//! a voice state with an empty field is 400 `Partial Lavalink voice state: ...`.
//!
//! # Behaviour
//!
//! - A new WebSocket gets `{"op":"ready","resumed":false,"sessionId":..}` and the upgrade
//!   response header `Session-Resumed: false`. With a `Session-Id` naming a disconnected session
//!   that has resuming enabled and is within its timeout, the session is resumed instead:
//!   `Session-Resumed: true`, `ready` with `resumed: true`, then every event buffered while it was
//!   disconnected, in order, then a `playerUpdate` for each player with a track.
//! - When a socket closes, a session with resuming enabled keeps playing for `timeout` seconds
//!   (default 60), buffering events; otherwise it is destroyed with its players.
//! - `stats` is sent to each session right after its `ready` (as Lavalink schedules it per
//!   session, first at once), then every [`LavalinkConfig::stats_interval`] while connected, and
//!   `playerUpdate` every [`LavalinkConfig::player_update_interval`] for each player that has a
//!   track (playing or paused), starting when the track starts, as Lavalink does. Player updates
//!   are not buffered for resuming; events are.
//! - A seek of a loaded track, a filter change and a `WebSocketClosedEvent` are each followed by
//!   an immediate `playerUpdate` (the last with `connected: false`), as Lavalink sends them.
//!   `frameStats` is left out of `GET /v4/stats` and of `stats` ops without players.
//! - A client's close frame is answered with one (the close handshake completes).
//! - Playback is simulated: the position advances by wall time × [`LavalinkConfig::playback_speed`]
//!   while not paused. A new track or a stop (`track.encoded: null`) sets `paused` to the
//!   request's value, `false` when absent (Lavalink's rule; `noReplace` with a track playing
//!   ignores both). Starting a track emits `TrackStartEvent`; reaching the end (or `endTime`)
//!   `TrackEndEvent` `finished`; a new track `replaced`; `track.encoded: null` or
//!   `DELETE` of the player `stopped`; a failing catalogue track (`https://sim.lavalink/broken/..`
//!   or `..?fail=<ms>`) `TrackExceptionEvent` then `TrackEndEvent` `loadFailed`.
//! - Every `PATCH` and `DELETE` (including ones refused with 401/503) is recorded in
//!   [`LavalinkSim::recorder`] with kind `"lavalink"`, the request path (without query), the
//!   response status and the request body as JSON (a string if it was not JSON).
//!   WebSocket connects, resumes and disconnects are recorded with kind `"lavalink-ws"`.

pub mod catalogue;
mod control;
mod rest;
mod state;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::routing::{get, patch, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use catalogue::{LoadResult, Track, TrackInfo};
pub use state::{PlayerSnapshot, SessionSnapshot, SimStats, VoiceState};

use crate::record::Recorder;
use state::Node;

/// Configuration of a [`LavalinkSim`].
#[derive(Debug, Clone)]
pub struct LavalinkConfig {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// The password clients must send in `Authorization`.
    pub password: String,
    /// Interval of the `stats` op (Lavalink: 60 s), per session, the first right after `ready`.
    /// Zero disables it.
    pub stats_interval: Duration,
    /// Interval of `playerUpdate` ops (Lavalink's default: 5 s). Zero disables them.
    pub player_update_interval: Duration,
    /// How fast simulated playback runs: 1.0 is real time, 10.0 plays a 30 s track in 3 s.
    /// Values that are not finite and positive are treated as 1.0.
    pub playback_speed: f64,
    /// The version reported by `/version` and `/v4/info`.
    pub version: String,
    /// A name for this node, used in logs and the control API.
    pub node_name: String,
}

impl Default for LavalinkConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            password: "youshallnotpass".to_owned(),
            stats_interval: Duration::from_secs(60),
            player_update_interval: Duration::from_secs(5),
            playback_speed: 1.0,
            version: "4.0.8".to_owned(),
            node_name: "sim-lavalink".to_owned(),
        }
    }
}

/// A running Lavalink node simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct LavalinkSim {
    node: Arc<Node>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    engine: Option<JoinHandle<()>>,
}

impl LavalinkSim {
    /// Binds `config.bind` and serves the node until dropped or [`LavalinkSim::shutdown`].
    pub async fn start(mut config: LavalinkConfig) -> std::io::Result<Self> {
        if !(config.playback_speed.is_finite() && config.playback_speed > 0.0) {
            config.playback_speed = 1.0;
        }
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let node_name = config.node_name.clone();
        let node = Arc::new(Node::new(config));
        let app = router(Arc::clone(&node));
        let mut shutdown = node.shutdown.subscribe();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "lavalink simulator server stopped");
            }
        });
        let engine_node = Arc::clone(&node);
        let engine = tokio::spawn(async move { engine_node.run_engine().await });
        tracing::info!(%addr, node = %node_name, "lavalink simulator listening");
        Ok(Self {
            node,
            addr,
            server: Some(server),
            engine: Some(engine),
        })
    }

    /// The address the simulator listens on (what `twilight_lavalink` keys nodes by).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The password clients must send in `Authorization`.
    pub fn password(&self) -> &str {
        &self.node.config.password
    }

    /// The configuration in use.
    pub fn config(&self) -> &LavalinkConfig {
        &self.node.config
    }

    /// The log of player/session updates (kind `"lavalink"`) and socket events
    /// (kind `"lavalink-ws"`).
    pub fn recorder(&self) -> &Recorder {
        &self.node.recorder
    }

    /// Every player of every session, sorted by session id then guild id.
    pub fn players(&self) -> Vec<PlayerSnapshot> {
        self.node.players()
    }

    /// The player of `guild_id`, in whichever session has one.
    pub fn player(&self, guild_id: u64) -> Option<PlayerSnapshot> {
        self.players().into_iter().find(|p| p.guild_id == guild_id)
    }

    /// Every session (connected or waiting to be resumed), sorted by id.
    pub fn sessions(&self) -> Vec<SessionSnapshot> {
        self.node.sessions()
    }

    /// Counters: connections, resumes, sessions created, and current totals.
    pub fn stats(&self) -> SimStats {
        self.node.sim_stats()
    }

    /// Simulates a network failure: drops every WebSocket abruptly (no close frame) and refuses
    /// every new request with 503 until [`LavalinkSim::revive`]. Sessions follow the normal close
    /// rules: resumable ones wait for their timeout, the others are destroyed.
    pub fn kill(&self) {
        self.node.kill(false);
    }

    /// Simulates a node crash: like [`LavalinkSim::kill`], but every session and player is lost.
    pub fn crash(&self) {
        self.node.kill(true);
    }

    /// Simulates Discord closing the voice connection of `guild_id`'s player: its voice state is
    /// cleared (`state.connected` becomes false) and a `WebSocketClosedEvent` with `code`,
    /// `reason` and `byRemote` is emitted. Returns whether the player exists.
    pub fn voice_closed(&self, guild_id: u64, code: u16, reason: &str, by_remote: bool) -> bool {
        self.node.voice_closed(guild_id, code, reason, by_remote)
    }

    /// Emits a `TrackStuckEvent` with `threshold_ms` for the track `guild_id`'s player is
    /// playing (the track keeps playing). Returns whether there is such a track.
    pub fn track_stuck(&self, guild_id: u64, threshold_ms: u64) -> bool {
        self.node.track_stuck(guild_id, threshold_ms)
    }

    /// Accepts connections and requests again after [`LavalinkSim::kill`] or
    /// [`LavalinkSim::crash`].
    pub fn revive(&self) {
        self.node.revive();
    }

    /// Stops the server: open sockets get a 1001 close frame, then every task ends.
    pub async fn shutdown(mut self) {
        self.node.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if let Some(engine) = self.engine.take() {
            let _ = engine.await;
        }
    }
}

impl Drop for LavalinkSim {
    fn drop(&mut self) {
        self.node.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(engine) = self.engine.take() {
            engine.abort();
        }
    }
}

fn router(node: Arc<Node>) -> Router {
    let lavalink = Router::new()
        .route("/v4/websocket", get(ws::websocket))
        .route("/version", get(rest::version))
        .route("/v4/info", get(rest::info))
        .route("/v4/stats", get(rest::stats))
        .route("/v4/loadtracks", get(rest::load_tracks))
        .route("/v4/decodetrack", get(rest::decode_track))
        .route("/v4/decodetracks", post(rest::decode_tracks))
        .route("/v4/sessions/{session_id}", patch(rest::update_session))
        .route("/v4/sessions/{session_id}/players", get(rest::list_players))
        .route(
            "/v4/sessions/{session_id}/players/{guild_id}",
            get(rest::get_player)
                .patch(rest::update_player)
                .delete(rest::destroy_player),
        )
        .method_not_allowed_fallback(rest::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&node),
            rest::auth,
        ));
    Router::new()
        .merge(lavalink)
        .nest("/_sim", control::router())
        .fallback(rest::not_found)
        .layer(middleware::from_fn(rest::api_version))
        .with_state(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request on a fresh connection; returns the status and the body.
    async fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        auth: Option<&str>,
    ) -> (u16, String) {
        let headers: Vec<_> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let answer =
            swarmcord_testkit::http::request(&addr.to_string(), method, path, &headers, None)
                .await
                .expect("answers");
        (answer.status, answer.text())
    }

    #[tokio::test]
    async fn every_lavalink_route_requires_the_password() {
        let sim = LavalinkSim::start(LavalinkConfig::default())
            .await
            .expect("start");
        let addr = sim.addr();
        for (method, path) in [
            ("GET", "/version"),
            ("GET", "/v4/info"),
            ("GET", "/v4/stats"),
            ("GET", "/v4/loadtracks?identifier=ytsearch:x"),
            ("GET", "/v4/decodetrack?encodedTrack=x"),
            ("POST", "/v4/decodetracks"),
            ("PATCH", "/v4/sessions/abc"),
            ("GET", "/v4/sessions/abc/players"),
            ("GET", "/v4/sessions/abc/players/1"),
            ("PATCH", "/v4/sessions/abc/players/1"),
            ("DELETE", "/v4/sessions/abc/players/1"),
            ("GET", "/v4/websocket"),
        ] {
            for auth in [
                None,
                Some("wrong"),
                Some("YOUSHALLNOTPASS"),
                Some("youshallnotpas"),
            ] {
                let (status, body) = request(addr, method, path, auth).await;
                let expected = if auth.is_none() || path == "/v4/websocket" {
                    401
                } else {
                    403
                };
                assert_eq!(status, expected, "{method} {path} with {auth:?}");
                assert_eq!(body, "", "{method} {path} with {auth:?}: empty body");
            }
        }
        // With the password, the same routes answer (404 for the unknown session).
        let (status, _) = request(
            addr,
            "GET",
            "/v4/sessions/abc/players",
            Some("youshallnotpass"),
        )
        .await;
        assert_eq!(status, 404);
        let (status, body) = request(addr, "GET", "/version", Some("youshallnotpass")).await;
        assert_eq!((status, body.as_str()), (200, "4.0.8"));
        // Wrong method: Lavalink-shaped 405. Control API: no password needed.
        let (status, body) = request(addr, "DELETE", "/v4/info", Some("youshallnotpass")).await;
        assert_eq!(status, 405, "{body}");
        let (status, _) = request(addr, "GET", "/_sim/stats", None).await;
        assert_eq!(status, 200);
        // Killed: everything but the control API is refused.
        sim.kill();
        let (status, _) = request(addr, "GET", "/version", Some("youshallnotpass")).await;
        assert_eq!(status, 503);
        sim.revive();
        let (status, _) = request(addr, "GET", "/version", Some("youshallnotpass")).await;
        assert_eq!(status, 200);
        let rejected = sim.recorder().since(0, Some("lavalink"));
        assert_eq!(rejected.len(), 12);
        assert!(rejected.iter().all(|r| matches!(r.status, 401 | 403)));
    }
}

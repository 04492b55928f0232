//! Lavalink's `stats` op and `/v4/stats`, and snapshots for tests and the control API.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};

use super::player::u64_to_f64;
use super::{Node, PlayerSnapshot, SessionSnapshot, SimStats, State};

const MIB: u64 = 1024 * 1024;

impl Node {
    // ---- stats and snapshots ------------------------------------------------------------

    pub(super) fn counts(st: &State) -> (usize, usize) {
        let players = st.sessions.values().map(|s| s.players.len()).sum();
        let playing = st
            .sessions
            .values()
            .flat_map(|s| s.players.values())
            .filter(|p| p.playing.is_some() && !p.paused)
            .count();
        (players, playing)
    }

    pub(super) fn stats_from(&self, st: &State, op: bool) -> Value {
        let (players, playing) = Self::counts(st);
        let players_u64 = u64::try_from(players).unwrap_or(u64::MAX);
        let used = 96 * MIB + players_u64 * MIB;
        let allocated = 512 * MIB;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut stats = json!({
            "players": players,
            "playingPlayers": playing,
            "uptime": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "memory": {
                "free": allocated.saturating_sub(used),
                "used": used,
                "allocated": allocated,
                "reservable": 4096 * MIB,
            },
            "cpu": {
                "cores": cores,
                "systemLoad": 0.05,
                "lavalinkLoad": 0.01 + 0.001 * u64_to_f64(players_u64),
            },
        });
        if op {
            stats["op"] = json!("stats");
            if players > 0 {
                // Lavalink's per-minute averages per player: 3000 frames for a healthy player.
                stats["frameStats"] = json!({"sent": 3000, "nulled": 0, "deficit": 0});
            }
        }
        stats
    }

    /// `GET /v4/stats` (no `op`, no `frameStats`: Lavalink omits the null default).
    pub(crate) fn stats_json(&self) -> Value {
        let st = self.lock();
        self.stats_from(&st, false)
    }

    pub(crate) fn sim_stats(&self) -> SimStats {
        let st = self.lock();
        let (players, playing_players) = Self::counts(&st);
        SimStats {
            connections: self.connections.load(Ordering::Relaxed),
            resumes: self.resumes.load(Ordering::Relaxed),
            sessions: self.sessions_created.load(Ordering::Relaxed),
            active_sessions: st.sessions.len(),
            players,
            playing_players,
            killed: self.is_killed(),
        }
    }

    pub(crate) fn players(&self) -> Vec<PlayerSnapshot> {
        let now = Instant::now();
        let st = self.lock();
        let mut out: Vec<PlayerSnapshot> = st
            .sessions
            .values()
            .flat_map(|s| {
                s.players
                    .values()
                    .map(|p| p.snapshot(&s.id, now, self.speed()))
            })
            .collect();
        out.sort_by(|a, b| (&a.session_id, a.guild_id).cmp(&(&b.session_id, b.guild_id)));
        out
    }

    pub(crate) fn sessions(&self) -> Vec<SessionSnapshot> {
        let st = self.lock();
        let mut out: Vec<SessionSnapshot> = st
            .sessions
            .values()
            .map(|s| SessionSnapshot {
                id: s.id.clone(),
                user_id: s.user_id,
                client_name: s.client_name.clone(),
                resuming: s.resuming,
                timeout: s.timeout,
                connected: s.conn.is_some(),
                players: s.players.len(),
                buffered_events: s.backlog.len(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

//! The playback engine: track ends and failures, `playerUpdate` and `stats` ops, resume
//! timeouts, and injected voice closes and stuck tracks.

use std::time::Instant;

use serde_json::json;

use super::player::{
    after, event_json, nonzero, player_update_json, track_end_json, track_exception_json,
    u64_to_f64,
};
use super::{MAX_SLEEP, Node, VoiceState};

impl Node {
    /// Simulates Discord closing the voice WebSocket of `guild_id`'s player: the voice state is
    /// cleared (`connected: false`) and a `WebSocketClosedEvent` is emitted. Returns whether a
    /// player was found (the first session having one for that guild).
    pub(crate) fn voice_closed(
        &self,
        guild_id: u64,
        code: u16,
        reason: &str,
        by_remote: bool,
    ) -> bool {
        let mut st = self.lock();
        for session in st.sessions.values_mut() {
            if let Some(player) = session.players.get_mut(&guild_id) {
                player.voice = VoiceState::default();
                let msg = json!({
                    "op": "event",
                    "type": "WebSocketClosedEvent",
                    "guildId": guild_id.to_string(),
                    "code": code,
                    "reason": reason,
                    "byRemote": by_remote,
                });
                // Lavalink follows the event with a playerUpdate (now `connected: false`).
                let update = player_update_json(player, Instant::now(), self.speed());
                session.send(msg.to_string(), true);
                session.send(update, false);
                return true;
            }
        }
        false
    }

    /// Emits a `TrackStuckEvent` for the track `guild_id`'s player is playing (the track keeps
    /// playing, as in Lavalink). Returns whether such a track was found.
    pub(crate) fn track_stuck(&self, guild_id: u64, threshold_ms: u64) -> bool {
        let now = Instant::now();
        let speed = self.speed();
        let mut st = self.lock();
        for session in st.sessions.values_mut() {
            if let Some(player) = session.players.get(&guild_id)
                && let Some(p) = &player.playing
            {
                let track = p.track.to_json_at(player.position(now, speed));
                let msg = event_json(
                    guild_id,
                    "TrackStuckEvent",
                    &track,
                    Some(("thresholdMs", json!(threshold_ms))),
                );
                session.send(msg, true);
                return true;
            }
        }
        false
    }

    // ---- playback engine ----------------------------------------------------------------

    /// Runs the engine until shutdown: track ends and failures, `playerUpdate` and `stats`
    /// ops, resume timeouts.
    pub(crate) async fn run_engine(&self) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let next = self.tick(Instant::now());
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = self.wake.notified() => {}
                () = crate::lavalink::ws::stopped(&mut shutdown) => return,
            }
        }
    }

    /// Does everything due at `now`; returns when to look again.
    pub(super) fn tick(&self, now: Instant) -> Instant {
        let speed = self.speed();
        let update_interval = nonzero(self.config.player_update_interval);
        let stats_interval = nonzero(self.config.stats_interval);
        let mut st = self.lock();
        let mut next = now + MAX_SLEEP;

        if let Some(interval) = stats_interval {
            let due_now = st
                .sessions
                .values()
                .any(|s| s.next_stats.is_some_and(|due| due <= now));
            let stats = due_now.then(|| self.stats_from(&st, true).to_string());
            for session in st.sessions.values_mut() {
                let Some(due) = session.next_stats else {
                    continue;
                };
                if due <= now {
                    // Sent only while connected (not buffered for resuming), on the
                    // session's own cadence either way.
                    if session.conn.is_some()
                        && let Some(stats) = &stats
                    {
                        session.send(stats.clone(), false);
                    }
                    let mut due = due + interval;
                    if due <= now {
                        due = now + interval;
                    }
                    session.next_stats = Some(due);
                }
                if let Some(due) = session.next_stats {
                    next = next.min(due);
                }
            }
        }

        st.sessions
            .retain(|_, s| s.conn.is_some() || s.expires_at().is_some_and(|at| now < at));

        for session in st.sessions.values_mut() {
            if let Some(at) = session.expires_at() {
                next = next.min(at);
            }
            let connected = session.conn.is_some();
            let mut outbox = Vec::new();
            for player in session.players.values_mut() {
                let Some((stop_at, failed)) = player.stop_point() else {
                    continue;
                };
                let position = player.position_f(now, speed);
                if position >= u64_to_f64(stop_at) {
                    if let Some(p) = player.playing.take() {
                        let pos = stop_at.min(p.track.info.length);
                        if failed {
                            outbox.push(track_exception_json(player.guild_id, &p.track, pos));
                            outbox.push(track_end_json(
                                player.guild_id,
                                &p.track,
                                pos,
                                "loadFailed",
                            ));
                        } else {
                            outbox.push(track_end_json(player.guild_id, &p.track, pos, "finished"));
                        }
                    }
                    player.next_update = None;
                    continue;
                }
                if !player.paused {
                    let ms_left = (u64_to_f64(stop_at) - position) / speed;
                    next = next.min(after(now, ms_left));
                }
                if let (Some(due), Some(interval)) = (player.next_update, update_interval)
                    && due <= now
                {
                    if connected {
                        outbox.push(player_update_json(player, now, speed));
                    }
                    let mut due = due + interval;
                    if due <= now {
                        due = now + interval;
                    }
                    player.next_update = Some(due);
                }
                if let Some(due) = player.next_update {
                    next = next.min(due);
                }
            }
            for msg in outbox {
                let replay = !msg.starts_with(r#"{"op":"playerUpdate""#);
                session.send(msg, replay);
            }
        }
        next
    }
}

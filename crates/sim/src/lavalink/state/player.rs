//! One player: position arithmetic, its JSON, and the events and updates it sends.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{MAX_SLEEP, Player, PlayerSnapshot, SIM_PING_MS, VoiceState};
use crate::lavalink::catalogue::Track;
use crate::util::unix_ms;

impl Player {
    pub(super) fn new(guild_id: u64) -> Self {
        Self {
            guild_id,
            playing: None,
            volume: 100,
            paused: false,
            filters: json!({}),
            voice: VoiceState::default(),
            next_update: None,
        }
    }

    pub(super) fn connected(&self) -> bool {
        !self.voice.token.is_empty()
            && !self.voice.endpoint.is_empty()
            && !self.voice.session_id.is_empty()
    }

    pub(super) fn position_f(&self, now: Instant, speed: f64) -> f64 {
        let Some(p) = &self.playing else { return 0.0 };
        let pos = if self.paused {
            p.anchor_pos
        } else {
            p.anchor_pos + now.saturating_duration_since(p.anchor_at).as_secs_f64() * 1000.0 * speed
        };
        pos.min(u64_to_f64(p.track.info.length))
    }

    pub(super) fn position(&self, now: Instant, speed: f64) -> u64 {
        f64_to_u64(self.position_f(now, speed))
    }

    /// Re-anchors the position at `now` (before a pause change or a seek).
    pub(super) fn rebase(&mut self, now: Instant, speed: f64) {
        let pos = self.position_f(now, speed);
        if let Some(p) = &mut self.playing {
            p.anchor_pos = pos;
            p.anchor_at = now;
        }
    }

    /// Where the current track stops by itself, and whether that is a failure.
    pub(super) fn stop_point(&self) -> Option<(u64, bool)> {
        let p = self.playing.as_ref()?;
        let mut end = (p.track.info.length, false);
        if p.track.info.is_stream {
            end.0 = u64::MAX;
        }
        if let Some(t) = p.end_time {
            end.0 = end.0.min(t);
        }
        if let Some(f) = p.track.fail_at()
            && f <= end.0
        {
            end = (f, true);
        }
        Some(end)
    }

    pub(super) fn state_json(&self, now: Instant, speed: f64) -> Value {
        let connected = self.connected();
        json!({
            "time": unix_ms(),
            "position": self.position(now, speed),
            "connected": connected,
            "ping": if connected { SIM_PING_MS } else { -1 },
        })
    }

    pub(super) fn to_json(&self, now: Instant, speed: f64) -> Value {
        let position = self.position(now, speed);
        json!({
            "guildId": self.guild_id.to_string(),
            "track": self.playing.as_ref().map(|p| p.track.to_json_at(position)),
            "volume": self.volume,
            "paused": self.paused,
            "state": self.state_json(now, speed),
            "voice": self.voice,
            "filters": self.filters,
        })
    }

    pub(super) fn snapshot(&self, session_id: &str, now: Instant, speed: f64) -> PlayerSnapshot {
        let position = self.position(now, speed);
        PlayerSnapshot {
            session_id: session_id.to_owned(),
            guild_id: self.guild_id,
            track: self.playing.as_ref().map(|p| {
                let mut t = p.track.clone();
                t.info.position = position;
                t
            }),
            position,
            paused: self.paused,
            volume: self.volume,
            connected: self.connected(),
            voice: self.voice.clone(),
            filters: self.filters.clone(),
            end_time: self.playing.as_ref().and_then(|p| p.end_time),
        }
    }
}

pub(super) fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// `now` plus `ms` milliseconds (clamped to `[0, MAX_SLEEP]`).
pub(super) fn after(now: Instant, ms: f64) -> Instant {
    let secs = (ms / 1000.0).clamp(0.0, MAX_SLEEP.as_secs_f64());
    now + Duration::try_from_secs_f64(secs).unwrap_or(MAX_SLEEP)
}

#[allow(clippy::cast_precision_loss)]
pub(super) fn u64_to_f64(x: u64) -> f64 {
    x as f64
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(super) fn f64_to_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        // `as` saturates at u64::MAX.
        x as u64
    }
}

pub(super) fn event_json(
    guild_id: u64,
    kind: &str,
    track: &Value,
    extra: Option<(&str, Value)>,
) -> String {
    let mut event = json!({
        "op": "event",
        "type": kind,
        "guildId": guild_id.to_string(),
        "track": track,
    });
    if let Some((key, value)) = extra {
        event[key] = value;
    }
    event.to_string()
}

pub(super) fn track_end_json(guild_id: u64, track: &Track, position: u64, reason: &str) -> String {
    event_json(
        guild_id,
        "TrackEndEvent",
        &track.to_json_at(position),
        Some(("reason", json!(reason))),
    )
}

pub(super) fn track_exception_json(guild_id: u64, track: &Track, position: u64) -> String {
    let exception = json!({
        "message": "Something broke when playing the track.",
        "severity": "fault",
        "cause": "java.lang.IllegalStateException: simulated playback failure",
        "causeStackTrace": "java.lang.IllegalStateException: simulated playback failure\n\tat sim.lavalink.Playback.fail(Playback.kt:1)\n",
    });
    event_json(
        guild_id,
        "TrackExceptionEvent",
        &track.to_json_at(position),
        Some(("exception", exception)),
    )
}

pub(super) fn player_update_json(player: &Player, now: Instant, speed: f64) -> String {
    json!({
        "op": "playerUpdate",
        "guildId": player.guild_id.to_string(),
        "state": player.state_json(now, speed),
    })
    .to_string()
}

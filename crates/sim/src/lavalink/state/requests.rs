//! The REST API's state changes: session and player updates (validated before anything
//! changes), reading and destroying players.

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use super::player::{event_json, nonzero, player_update_json, track_end_json, u64_to_f64};
use super::{ApiError, Node, Player, Playing, VoiceState};
use crate::lavalink::catalogue::{self, LoadResult, Track};

/// What a player update asks for, validated before anything changes.
#[derive(Debug, Default)]
// `end_time`: absent (unchanged), `null` (cleared) or a value, as in the JSON.
#[allow(clippy::option_option)]
struct Update {
    track: Option<TrackChange>,
    position: Option<u64>,
    end_time: Option<Option<u64>>,
    volume: Option<u16>,
    paused: Option<bool>,
    filters: Option<Value>,
    voice: Option<VoiceState>,
}

#[derive(Debug)]
enum TrackChange {
    Play(Box<Track>),
    Stop,
    UserData(Value),
}

impl Node {
    // ---- REST ---------------------------------------------------------------------------

    /// `PATCH /v4/sessions/{id}`.
    pub(crate) fn update_session(&self, session_id: &str, body: &Value) -> Result<Value, ApiError> {
        let SessionRequest { resuming, timeout } = request(body)?;
        let mut st = self.lock();
        let session = st.session_mut(session_id)?;
        if let Some(r) = resuming {
            session.resuming = r;
        }
        if let Some(t) = timeout {
            session.timeout = t;
        }
        Ok(json!({"resuming": session.resuming, "timeout": session.timeout}))
    }

    /// `GET /v4/sessions/{id}/players`.
    pub(crate) fn players_json(&self, session_id: &str) -> Result<Value, ApiError> {
        let now = Instant::now();
        let st = self.lock();
        let session = st.session(session_id)?;
        Ok(Value::Array(
            session
                .players
                .values()
                .map(|p| p.to_json(now, self.speed()))
                .collect(),
        ))
    }

    /// `GET /v4/sessions/{id}/players/{guild}`.
    pub(crate) fn player_json(&self, session_id: &str, guild_id: u64) -> Result<Value, ApiError> {
        let now = Instant::now();
        let st = self.lock();
        let session = st.session(session_id)?;
        let player = session
            .players
            .get(&guild_id)
            .ok_or_else(|| ApiError::new(404, "Player not found"))?;
        Ok(player.to_json(now, self.speed()))
    }

    /// `DELETE /v4/sessions/{id}/players/{guild}`. A playing track ends with reason `stopped`
    /// (what Lavaplayer's `AudioPlayer.destroy()` reports).
    pub(crate) fn destroy_player(&self, session_id: &str, guild_id: u64) -> Result<(), ApiError> {
        let now = Instant::now();
        let speed = self.speed();
        let mut st = self.lock();
        let session = st.session_mut(session_id)?;
        if let Some(player) = session.players.remove(&guild_id)
            && let Some(p) = &player.playing
        {
            let pos = player.position(now, speed);
            let msg = track_end_json(guild_id, &p.track, pos, "stopped");
            session.send(msg, true);
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// `PATCH /v4/sessions/{id}/players/{guild}[?noReplace=true]`.
    pub(crate) fn update_player(
        &self,
        session_id: &str,
        guild_id: u64,
        body: &Value,
        no_replace: bool,
    ) -> Result<Value, ApiError> {
        let update = parse_update(body)?;
        let now = Instant::now();
        let speed = self.speed();
        let update_interval = nonzero(self.config.player_update_interval);
        let mut st = self.lock();
        let session = st.session_mut(session_id)?;
        let player = session
            .players
            .entry(guild_id)
            .or_insert_with(|| Player::new(guild_id));
        let mut outbox = Vec::new();
        // Lavalink's immediate `playerUpdate`s (after a seek of a loaded track, after a filter
        // change; not while the session is disconnected): sent before the events, not buffered.
        let mut updates = Vec::new();
        let connected = session.conn.is_some();
        let filters_changed = connected && update.filters.is_some();
        let seek = connected && update.position.is_some();

        if let Some(voice) = update.voice {
            player.voice = voice;
        }
        if let Some(filters) = update.filters {
            player.filters = filters;
        }
        if let Some(volume) = update.volume {
            player.volume = volume;
        }
        // With a track update, Lavalink applies the filters (and sends their playerUpdate)
        // before the track changes.
        if filters_changed && matches!(update.track, Some(TrackChange::Play(_) | TrackChange::Stop))
        {
            updates.push(player_update_json(player, now, speed));
        }
        let mut paused = update.paused;
        match update.track {
            Some(TrackChange::Play(_) | TrackChange::Stop)
                if no_replace && player.playing.is_some() =>
            {
                // noReplace: the current track stays, and so do its position, end time and
                // pause (Lavalink answers before looking at them).
                paused = None;
            }
            Some(TrackChange::Play(track)) => {
                if let Some(old) = &player.playing {
                    let pos = player.position(now, speed);
                    outbox.push(track_end_json(guild_id, &old.track, pos, "replaced"));
                }
                // Lavalink: a new track sets `paused` to the request's value, false if absent.
                player.paused = paused.take().unwrap_or(false);
                let start = update.position.unwrap_or(0).min(track.info.length);
                outbox.push(event_json(
                    guild_id,
                    "TrackStartEvent",
                    &track.to_json_at(start),
                    None,
                ));
                player.playing = Some(Playing {
                    track: *track,
                    anchor_pos: u64_to_f64(start),
                    anchor_at: now,
                    end_time: update.end_time.flatten(),
                });
                player.next_update = update_interval.map(|_| now);
            }
            Some(TrackChange::Stop) => {
                let pos = player.position(now, speed);
                if let Some(old) = player.playing.take() {
                    outbox.push(track_end_json(guild_id, &old.track, pos, "stopped"));
                }
                // As for a new track: `paused` becomes the request's value, false if absent.
                player.paused = paused.take().unwrap_or(false);
                player.next_update = None;
            }
            Some(TrackChange::UserData(data)) => {
                if let Some(p) = &mut player.playing {
                    p.track.user_data = data;
                }
                apply_seek_and_end(player, update.position, update.end_time, now);
                seek_and_filter_updates(player, seek, filters_changed, now, speed, &mut updates);
            }
            None => {
                apply_seek_and_end(player, update.position, update.end_time, now);
                seek_and_filter_updates(player, seek, filters_changed, now, speed, &mut updates);
            }
        }
        if let Some(p) = paused
            && p != player.paused
        {
            player.rebase(now, speed);
            player.paused = p;
        }
        let response = player.to_json(now, speed);
        for msg in updates {
            session.send(msg, false);
        }
        for msg in outbox {
            session.send(msg, true);
        }
        drop(st);
        self.wake.notify_one();
        Ok(response)
    }
}

/// The `playerUpdate`s Lavalink sends for an update without a new track, in its order: one
/// after a seek of a loaded track, one after a filter change (the flags are false while the
/// session is disconnected).
fn seek_and_filter_updates(
    player: &Player,
    seek: bool,
    filters: bool,
    now: Instant,
    speed: f64,
    updates: &mut Vec<String>,
) {
    if seek && player.playing.is_some() {
        updates.push(player_update_json(player, now, speed));
    }
    if filters {
        updates.push(player_update_json(player, now, speed));
    }
}

#[allow(clippy::option_option)]
fn apply_seek_and_end(
    player: &mut Player,
    position: Option<u64>,
    end_time: Option<Option<u64>>,
    now: Instant,
) {
    let Some(p) = &mut player.playing else { return };
    if let Some(end) = end_time {
        p.end_time = end;
    }
    if let Some(pos) = position
        && p.track.info.is_seekable
    {
        p.anchor_pos = u64_to_f64(pos.min(p.track.info.length));
        p.anchor_at = now;
    }
}

fn load_single(identifier: &str) -> Result<Track, ApiError> {
    match catalogue::load(identifier) {
        LoadResult::Track(track) => Ok(track),
        LoadResult::Error { message, .. } => Err(ApiError::bad(format!(
            "Failed to load track for identifier '{identifier}': {message}"
        ))),
        LoadResult::Empty | LoadResult::Search(_) | LoadResult::Playlist { .. } => {
            Err(ApiError::bad(format!(
                "No single track found for identifier '{identifier}'"
            )))
        }
    }
}

fn decode_encoded(encoded: &str) -> Result<Track, ApiError> {
    catalogue::decode_track(encoded)
        .ok_or_else(|| ApiError::bad(format!("Failed to decode track '{encoded}'")))
}

/// `PATCH /v4/sessions/{id}`'s body.
#[derive(Debug, Deserialize)]
struct SessionRequest {
    resuming: Option<bool>,
    timeout: Option<u64>,
}

/// `PATCH /v4/sessions/{id}/players/{guild}`'s body, as the client sent it. Fields that may be
/// `null` with a meaning of their own are `Option<Option<_>>`: absent, `null`, or a value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::option_option)]
struct PlayerRequest {
    #[serde(default, deserialize_with = "present")]
    track: Option<Option<TrackRequest>>,
    /// Deprecated: `track.encoded`.
    #[serde(default, deserialize_with = "present")]
    encoded_track: Option<Option<String>>,
    /// Deprecated: `track.identifier`.
    identifier: Option<String>,
    position: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    end_time: Option<Option<u64>>,
    volume: Option<u64>,
    paused: Option<bool>,
    filters: Option<Map<String, Value>>,
    voice: Option<VoiceRequest>,
}

/// The `track` of a [`PlayerRequest`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::option_option)]
struct TrackRequest {
    #[serde(default, deserialize_with = "present")]
    encoded: Option<Option<String>>,
    identifier: Option<String>,
    user_data: Option<Map<String, Value>>,
}

/// The `voice` of a [`PlayerRequest`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VoiceRequest {
    token: Option<String>,
    endpoint: Option<String>,
    session_id: Option<String>,
    channel_id: Option<ChannelId>,
}

/// A voice channel id, as a string or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ChannelId {
    Text(String),
    Number(serde_json::Number),
}

/// For `Option<Option<T>>` fields with `#[serde(default)]`: a present field (`null` included)
/// is `Some`, so that `null` and absent differ.
#[allow(clippy::option_option)]
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A request body as `T`: a JSON object whose fields have the right types.
fn request<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad("Request body must be a JSON object"));
    }
    serde_json::from_value(body.clone()).map_err(|e| ApiError::bad(e.to_string()))
}

impl TrackRequest {
    fn change(self) -> Result<Option<TrackChange>, ApiError> {
        let play = match (self.encoded, self.identifier) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(
                    "Cannot specify both track.encoded and track.identifier",
                ));
            }
            (Some(None), None) => return Ok(Some(TrackChange::Stop)),
            (Some(Some(encoded)), None) => decode_encoded(&encoded)?,
            (None, Some(identifier)) => load_single(&identifier)?,
            (None, None) => return Ok(self.user_data.map(|d| TrackChange::UserData(d.into()))),
        };
        let mut track = Box::new(play);
        track.user_data = self.user_data.map_or_else(|| json!({}), Value::Object);
        Ok(Some(TrackChange::Play(track)))
    }
}

impl PlayerRequest {
    fn track_change(&mut self) -> Result<Option<TrackChange>, ApiError> {
        let deprecated = self.encoded_track.is_some() || self.identifier.is_some();
        match self.track.take() {
            Some(_) if deprecated => Err(ApiError::bad(
                "Cannot specify both track and the deprecated encodedTrack/identifier",
            )),
            Some(None) => Err(ApiError::bad("track must be an object")),
            Some(Some(track)) => track.change(),
            None => match (self.encoded_track.take(), self.identifier.take()) {
                (Some(_), Some(_)) => Err(ApiError::bad(
                    "Cannot specify both encodedTrack and identifier",
                )),
                (Some(None), None) => Ok(Some(TrackChange::Stop)),
                (Some(Some(encoded)), None) => {
                    Ok(Some(TrackChange::Play(Box::new(decode_encoded(&encoded)?))))
                }
                (None, Some(identifier)) => {
                    Ok(Some(TrackChange::Play(Box::new(load_single(&identifier)?))))
                }
                (None, None) => Ok(None),
            },
        }
    }
}

impl VoiceRequest {
    fn state(self) -> Result<VoiceState, ApiError> {
        let required = |value: Option<String>, name: &str| {
            value.ok_or_else(|| {
                ApiError::bad(format!("voice.{name} is required and must be a string"))
            })
        };
        let voice = VoiceState {
            token: required(self.token, "token")?,
            endpoint: required(self.endpoint, "endpoint")?,
            session_id: required(self.session_id, "sessionId")?,
            channel_id: self.channel_id.map(|id| match id {
                ChannelId::Text(text) => text,
                ChannelId::Number(number) => number.to_string(),
            }),
        };
        if voice.token.is_empty() || voice.endpoint.is_empty() || voice.session_id.is_empty() {
            // Lavalink's message ends with the Kotlin data class's toString.
            return Err(ApiError::bad(format!(
                "Partial Lavalink voice state: VoiceState(token={}, endpoint={}, sessionId={})",
                voice.token, voice.endpoint, voice.session_id
            )));
        }
        Ok(voice)
    }
}

fn parse_update(body: &Value) -> Result<Update, ApiError> {
    let mut req: PlayerRequest = request(body)?;
    let track = req.track_change()?;
    if req.end_time == Some(Some(0)) {
        return Err(ApiError::bad("endTime must be an integer greater than 0"));
    }
    let volume = req
        .volume
        .map(|v| {
            u16::try_from(v)
                .ok()
                .filter(|&v| v <= 1000)
                .ok_or_else(|| ApiError::bad("Volume must be between 0 and 1000"))
        })
        .transpose()?;
    Ok(Update {
        track,
        position: req.position,
        end_time: req.end_time,
        volume,
        paused: req.paused,
        filters: req.filters.map(Value::Object),
        voice: req.voice.map(VoiceRequest::state).transpose()?,
    })
}

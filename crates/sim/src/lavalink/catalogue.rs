//! The simulator's deterministic track catalogue and its track encoding.
//!
//! Nothing here touches the network: every identifier resolves to made-up tracks derived from the
//! identifier itself, so the same query always gives the same tracks.
//!
//! # Identifiers understood by `GET /v4/loadtracks`
//!
//! | identifier | `loadType` |
//! |---|---|
//! | `ytsearch:<q>`, `ytmsearch:<q>`, `scsearch:<q>` | `search`: 5 tracks derived from `<q>` |
//! | the same with a blank `<q>` or a `<q>` starting with `sim:empty` | `empty` |
//! | the same with a `<q>` starting with `sim:error` | `error` |
//! | `https://sim.lavalink/track/<name>?length=<ms>[&fail=<ms>]` | `track` (default length 180 000 ms) |
//! | `https://sim.lavalink/broken/<name>[?length=<ms>]` | `track` whose playback fails at once |
//! | `https://sim.lavalink/stream/<name>` | `track`, a live stream (never ends, not seekable) |
//! | `https://sim.lavalink/playlist/<name>?tracks=<n>[&selected=<i>]` | `playlist` of `n` tracks (default 3, at most 500) |
//! | `https://sim.lavalink/error[?message=..&severity=common\|suspicious\|fault]` | `error` |
//! | anything else | `empty` |
//!
//! A track whose URI has `fail=<ms>` (or is a `/broken/` track, `fail=0`) emits a
//! `TrackExceptionEvent` followed by a `TrackEndEvent` with reason `loadFailed` once playback
//! reaches that position.
//!
//! # Encoded tracks
//!
//! [`encode`] is **not** Lavaplayer's binary message format: it is standard base64 (with padding)
//! of the 4 bytes `SIM\x01` followed by the track info as JSON. Clients must treat encoded tracks
//! as opaque strings anyway; [`decode`] (and so `/v4/decodetrack(s)` and player updates) accepts
//! exactly what [`encode`] produces and rejects anything else.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Scheme and host of the simulator's own track URLs.
pub const SIM_HOST: &str = "https://sim.lavalink";

/// Length Lavalink reports for live streams (`Long.MAX_VALUE`).
pub const STREAM_LENGTH: u64 = i64::MAX as u64;

/// Default length of a `https://sim.lavalink/track/...` track without `length`.
pub const DEFAULT_LENGTH_MS: u64 = 180_000;

/// Number of tracks a search returns.
pub const SEARCH_RESULTS: usize = 5;

/// Most tracks a simulated playlist holds.
pub const MAX_PLAYLIST_TRACKS: usize = 500;

/// Magic prefix of the simulator's encoded tracks (`SIM` + format version 1).
const MAGIC: &[u8] = b"SIM\x01";

/// Lavalink's track info object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    /// The track identifier (source specific).
    pub identifier: String,
    /// Whether the track is seekable.
    pub is_seekable: bool,
    /// The track author.
    pub author: String,
    /// The track length in milliseconds ([`STREAM_LENGTH`] for streams).
    pub length: u64,
    /// Whether the track is a stream.
    pub is_stream: bool,
    /// The current playback position in milliseconds.
    pub position: u64,
    /// The track title.
    pub title: String,
    /// The track URI.
    pub uri: Option<String>,
    /// The track artwork URL.
    pub artwork_url: Option<String>,
    /// The track ISRC.
    pub isrc: Option<String>,
    /// The name of the source manager (`youtube`, `soundcloud`, `http`).
    pub source_name: String,
}

/// Lavalink's track object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    /// The encoded track (see the [module docs](self) for the format).
    pub encoded: String,
    /// Information about the track.
    pub info: TrackInfo,
    /// Additional data from plugins (always `{}` here).
    pub plugin_info: Value,
    /// Data attached by the client in a player update (`{}` otherwise).
    pub user_data: Value,
}

impl Track {
    /// A track from its info, with a fresh encoding, empty `pluginInfo` and `userData`.
    pub fn from_info(info: TrackInfo) -> Self {
        Self {
            encoded: encode(&info),
            info,
            plugin_info: json!({}),
            user_data: json!({}),
        }
    }

    /// The position at which playback of this track fails, if it is a failing simulator track.
    pub fn fail_at(&self) -> Option<u64> {
        let uri = self.info.uri.as_deref()?;
        let rest = uri.strip_prefix(SIM_HOST)?.strip_prefix('/')?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let param = query_param(query, "fail").and_then(|v| v.parse().ok());
        if path.starts_with("broken/") {
            Some(param.unwrap_or(0))
        } else if path.starts_with("track/") {
            param
        } else {
            None
        }
    }

    /// The track as JSON with `info.position` set to `position`.
    pub fn to_json_at(&self, position: u64) -> Value {
        let mut track = self.clone();
        track.info.position = position.min(track.info.length);
        serde_json::to_value(track).unwrap_or(Value::Null)
    }
}

/// What a `loadtracks` identifier resolved to.
// Boxing the track would make matching on results clumsier for a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum LoadResult {
    /// A single track.
    Track(Track),
    /// A playlist.
    Playlist {
        /// The playlist name.
        name: String,
        /// Index of the selected track, -1 for none.
        selected_track: i64,
        /// The tracks.
        tracks: Vec<Track>,
    },
    /// Search results.
    Search(Vec<Track>),
    /// Nothing matched.
    Empty,
    /// Loading failed.
    Error {
        /// The error message.
        message: String,
        /// `common`, `suspicious` or `fault`.
        severity: String,
        /// The cause.
        cause: String,
    },
}

impl LoadResult {
    /// The `loadType` name.
    pub fn load_type(&self) -> &'static str {
        match self {
            Self::Track(_) => "track",
            Self::Playlist { .. } => "playlist",
            Self::Search(_) => "search",
            Self::Empty => "empty",
            Self::Error { .. } => "error",
        }
    }

    /// Lavalink's `{"loadType": .., "data": ..}` response body.
    pub fn to_json(&self) -> Value {
        let data = match self {
            Self::Track(track) => json!(track),
            Self::Playlist {
                name,
                selected_track,
                tracks,
            } => json!({
                "info": {"name": name, "selectedTrack": selected_track},
                "pluginInfo": {},
                "tracks": tracks,
            }),
            Self::Search(tracks) => json!(tracks),
            Self::Empty => json!({}),
            Self::Error {
                message,
                severity,
                cause,
            } => json!({
                "message": message,
                "severity": severity,
                "cause": cause,
                "causeStackTrace": format!("{cause}\n\tat sim.lavalink.Loader.load(Loader.kt:1)\n"),
            }),
        };
        json!({"loadType": self.load_type(), "data": data})
    }
}

/// Encodes a track info into the simulator's opaque track string.
pub fn encode(info: &TrackInfo) -> String {
    let mut info = info.clone();
    info.position = 0;
    let mut bytes = MAGIC.to_vec();
    bytes.extend(serde_json::to_vec(&info).unwrap_or_default());
    STANDARD.encode(bytes)
}

/// Decodes a string made by [`encode`] (`None` for anything else).
pub fn decode(encoded: &str) -> Option<TrackInfo> {
    let bytes = STANDARD.decode(encoded.trim()).ok()?;
    let json = bytes.strip_prefix(MAGIC)?;
    serde_json::from_slice(json).ok()
}

/// Decodes an encoded track into a full track object (`None` if it is not one of ours).
pub fn decode_track(encoded: &str) -> Option<Track> {
    decode(encoded).map(|info| Track {
        encoded: encoded.trim().to_owned(),
        info,
        plugin_info: json!({}),
        user_data: json!({}),
    })
}

/// Resolves a `loadtracks` identifier (see the [module docs](self)).
pub fn load(identifier: &str) -> LoadResult {
    let identifier = identifier.trim();
    for (prefix, source) in [
        ("ytsearch:", Source::YouTube),
        ("ytmsearch:", Source::YouTube),
        ("scsearch:", Source::SoundCloud),
    ] {
        if let Some(query) = identifier.strip_prefix(prefix) {
            return search(source, query.trim());
        }
    }
    if let Some(rest) = identifier
        .strip_prefix(SIM_HOST)
        .and_then(|r| r.strip_prefix('/'))
    {
        return sim_url(identifier, rest);
    }
    LoadResult::Empty
}

#[derive(Debug, Clone, Copy)]
enum Source {
    YouTube,
    SoundCloud,
}

fn search(source: Source, query: &str) -> LoadResult {
    if query.is_empty() || query.starts_with("sim:empty") {
        return LoadResult::Empty;
    }
    if query.starts_with("sim:error") {
        return LoadResult::Error {
            message: "Something went wrong while looking up the track.".to_owned(),
            severity: "fault".to_owned(),
            cause: "java.io.IOException: simulated search failure".to_owned(),
        };
    }
    let tracks = (0..SEARCH_RESULTS)
        .map(|n| {
            let hash = fnv1a(&format!("{query}\u{0}{n}"));
            let length = (60 + hash % 300) * 1000;
            let author = format!(
                "Sim Artist {}",
                char::from(b'A' + u8::try_from(hash % 26).unwrap_or(0))
            );
            let title = format!("{query} (result {})", n + 1);
            let info = match source {
                Source::YouTube => {
                    let id = youtube_id(hash);
                    TrackInfo {
                        uri: Some(format!("https://www.youtube.com/watch?v={id}")),
                        artwork_url: Some(format!("https://i.ytimg.com/vi/{id}/mqdefault.jpg")),
                        identifier: id,
                        is_seekable: true,
                        author,
                        length,
                        is_stream: false,
                        position: 0,
                        title,
                        isrc: None,
                        source_name: "youtube".to_owned(),
                    }
                }
                Source::SoundCloud => TrackInfo {
                    identifier: format!("{}", hash % 1_000_000_000),
                    is_seekable: true,
                    uri: Some(format!(
                        "https://soundcloud.com/{}/{}",
                        slug(&author),
                        slug(&title)
                    )),
                    author,
                    length,
                    is_stream: false,
                    position: 0,
                    title,
                    artwork_url: None,
                    isrc: None,
                    source_name: "soundcloud".to_owned(),
                },
            };
            Track::from_info(info)
        })
        .collect();
    LoadResult::Search(tracks)
}

fn sim_url(uri: &str, rest: &str) -> LoadResult {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (kind, name) = path.split_once('/').unwrap_or((path, ""));
    let name = percent_decode(name);
    match kind {
        "track" | "broken" if !name.is_empty() => {
            let length = query_param(query, "length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(DEFAULT_LENGTH_MS);
            LoadResult::Track(http_track(uri, &name, length, false))
        }
        "stream" if !name.is_empty() => {
            LoadResult::Track(http_track(uri, &name, STREAM_LENGTH, true))
        }
        "playlist" if !name.is_empty() => {
            let count = query_param(query, "tracks")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(3)
                .min(MAX_PLAYLIST_TRACKS);
            let selected_track = query_param(query, "selected")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|&n| usize::try_from(n).is_ok_and(|n| n < count))
                .unwrap_or(-1);
            let tracks = (0..count)
                .map(|n| {
                    let hash = fnv1a(&format!("{name}\u{0}{n}"));
                    let length = (60 + hash % 300) * 1000;
                    let track_name = format!("{name}-{}", n + 1);
                    let uri = format!("{SIM_HOST}/track/{track_name}?length={length}");
                    http_track(&uri, &track_name, length, false)
                })
                .collect();
            LoadResult::Playlist {
                name,
                selected_track,
                tracks,
            }
        }
        "error" => LoadResult::Error {
            message: query_param(query, "message")
                .unwrap_or_else(|| "Simulated load failure".to_owned()),
            severity: query_param(query, "severity")
                .filter(|s| matches!(s.as_str(), "common" | "suspicious" | "fault"))
                .unwrap_or_else(|| "common".to_owned()),
            cause: "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: simulated".to_owned(),
        },
        _ => LoadResult::Empty,
    }
}

fn http_track(uri: &str, name: &str, length: u64, stream: bool) -> Track {
    Track::from_info(TrackInfo {
        identifier: uri.to_owned(),
        is_seekable: !stream,
        author: "Unknown artist".to_owned(),
        length,
        is_stream: stream,
        position: 0,
        title: name.to_owned(),
        uri: Some(uri.to_owned()),
        artwork_url: None,
        isrc: None,
        source_name: "http".to_owned(),
    })
}

/// The value of `key` in a `a=1&b=2` query string, percent-decoded.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// 64-bit FNV-1a.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An 11-character YouTube-style video id from a hash.
fn youtube_id(mut hash: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..11)
        .map(|i| {
            if i == 10 {
                hash = fnv1a(&hash.to_string());
            }
            let c = ALPHABET[usize::try_from(hash % 64).unwrap_or(0)];
            hash /= 64;
            char::from(c)
        })
        .collect()
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let LoadResult::Track(track) = load("https://sim.lavalink/track/song?length=30000") else {
            panic!("not a track");
        };
        assert_eq!(track.info.length, 30_000);
        assert_eq!(track.info.title, "song");
        assert_eq!(track.info.source_name, "http");
        assert_eq!(decode(&track.encoded), Some(track.info.clone()));
        assert_eq!(decode_track(&track.encoded), Some(track.clone()));
        assert_eq!(decode("not base64!"), None);
        assert_eq!(decode(&STANDARD.encode(b"SIM\x01{}")), None);
        assert_eq!(decode(&STANDARD.encode(b"{\"identifier\":1}")), None);
        // Lavaplayer's real format is not accepted either.
        assert_eq!(
            decode("QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAA"),
            None
        );
    }

    #[test]
    fn searches_are_deterministic() {
        let a = load("ytsearch:never gonna give you up");
        let b = load("ytsearch: never gonna give you up ");
        assert_eq!(a, b);
        let LoadResult::Search(tracks) = a else {
            panic!("not a search");
        };
        assert_eq!(tracks.len(), SEARCH_RESULTS);
        assert_eq!(tracks[0].info.title, "never gonna give you up (result 1)");
        assert_eq!(tracks[0].info.identifier.len(), 11);
        assert_eq!(tracks[0].info.source_name, "youtube");
        assert!(
            tracks
                .iter()
                .all(|t| decode(&t.encoded) == Some(t.info.clone()))
        );
        let LoadResult::Search(sc) = load("scsearch:lofi") else {
            panic!("not a search");
        };
        assert_eq!(sc[0].info.source_name, "soundcloud");
        assert_ne!(
            load("ytsearch:other"),
            load("ytsearch:never gonna give you up")
        );
    }

    #[test]
    fn special_identifiers() {
        assert_eq!(load("ytsearch:"), LoadResult::Empty);
        assert_eq!(load("ytsearch:sim:empty"), LoadResult::Empty);
        assert_eq!(load("https://example.com/x.mp3"), LoadResult::Empty);
        assert_eq!(load("whatever"), LoadResult::Empty);
        assert_eq!(load("ytsearch:sim:error").load_type(), "error");
        let err = load("https://sim.lavalink/error?message=nope%20here&severity=suspicious");
        let data = &err.to_json()["data"];
        assert_eq!(data["message"], "nope here");
        assert_eq!(data["severity"], "suspicious");
        assert_eq!(
            data["cause"],
            "com.sedmelluq.discord.lavaplayer.tools.FriendlyException: simulated"
        );
        assert!(data["causeStackTrace"].is_string());
        let LoadResult::Track(stream) = load("https://sim.lavalink/stream/radio") else {
            panic!("not a track");
        };
        assert!(stream.info.is_stream && !stream.info.is_seekable);
        assert_eq!(stream.info.length, STREAM_LENGTH);
        let LoadResult::Track(broken) = load("https://sim.lavalink/broken/x") else {
            panic!("not a track");
        };
        assert_eq!(broken.fail_at(), Some(0));
        let LoadResult::Track(late) = load("https://sim.lavalink/track/x?length=5000&fail=2000")
        else {
            panic!("not a track");
        };
        assert_eq!(late.fail_at(), Some(2000));
        assert_eq!(stream.fail_at(), None);
    }

    #[test]
    fn playlists() {
        let result = load("https://sim.lavalink/playlist/mix?tracks=4&selected=2");
        let json = result.to_json();
        assert_eq!(json["loadType"], "playlist");
        assert_eq!(
            json["data"]["info"],
            json!({"name": "mix", "selectedTrack": 2})
        );
        assert_eq!(json["data"]["pluginInfo"], json!({}));
        assert_eq!(json["data"]["tracks"].as_array().map(Vec::len), Some(4));
        assert_eq!(json["data"]["tracks"][0]["info"]["title"], "mix-1");
        let none = load("https://sim.lavalink/playlist/mix?tracks=2&selected=7").to_json();
        assert_eq!(none["data"]["info"]["selectedTrack"], -1);
        let LoadResult::Playlist { tracks, .. } =
            load("https://sim.lavalink/playlist/big?tracks=99999")
        else {
            panic!("not a playlist");
        };
        assert_eq!(tracks.len(), MAX_PLAYLIST_TRACKS);
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}

//! Music: `join`, `leave`, `play` (a URL, or a search answered by a choice prompt), `pause`,
//! `resume`, `skip`, `stop`, `queue`, `nowplaying`, `volume`, `seek`, `loop`, `shuffle`.
//!
//! Controlling music that is playing (everything but `play`, `queue` and `nowplaying`) needs
//! being in the bot's voice channel, the guild's DJ role or Manage Channels
//! ([`Voice::may_control`]).
//!
//! Every command works on any worker replica: the state is in Redis and the player is driven
//! through the node's REST API ([`swarmcord::voice::Music`]).

use std::fmt::Write as _;

use swarmcord::commands::precondition::BoxFuture;
use swarmcord::commands::{
    ArgSpec, Args, Command, CommandError, CommandSpec, InvocationContext, PromptState, Reply,
};
use swarmcord::model::guild::Permissions;
use swarmcord::model::id::Id;
use swarmcord::model::id::marker::{ChannelMarker, GuildMarker, UserMarker};
use swarmcord::voice::model::{LoadResult, Track};
use swarmcord::voice::{Enqueued, LoopMode, Music, MusicError};

use swarmcord::{Setup, SetupError};

/// What the music commands use.
#[derive(Clone)]
struct Voice {
    /// The worker's services (component state for the queue's page buttons).
    sdk: swarmcord::Services,
    cache: swarmcord::cache::FallbackReader,
    music: Music,
    bot_id: Id<UserMarker>,
}

/// The music commands, in the order they are registered.
#[derive(Clone, Copy)]
enum Action {
    Join,
    Leave,
    Play,
    Pause,
    Resume,
    Skip,
    Stop,
    Queue,
    NowPlaying,
    Volume,
    Seek,
    Loop,
    Shuffle,
}

impl Action {
    /// Whether the action changes music that someone else may have started (it then needs
    /// [`Voice::may_control`]); `play`, `queue` and `nowplaying` stay open.
    fn controls(self) -> bool {
        !matches!(self, Self::Play | Self::Queue | Self::NowPlaying)
    }
}

/// Registers the music commands (call only when Lavalink nodes are configured).
pub(crate) fn register(
    setup: &mut Setup<'_>,
    cache: swarmcord::cache::FallbackReader,
    music: Music,
    bot_id: Id<UserMarker>,
) -> Result<(), SetupError> {
    crate::queue::register(setup, &music)?;
    let voice = Voice {
        sdk: setup.services().clone(),
        cache,
        music,
        bot_id,
    };
    let spec = |name: &str, description: &str| {
        CommandSpec::builder(name)
            .description(description)
            .category("Music")
            .guild_only()
            .reads_permissions()
    };
    let commands = [
        (
            spec("join", "Join your voice channel").build()?,
            Action::Join,
        ),
        (
            spec("leave", "Leave the voice channel and forget the queue")
                .alias("disconnect")
                .build()?,
            Action::Leave,
        ),
        (
            spec("play", "Play a URL, or search and pick a result")
                .alias("p")
                .arg(ArgSpec::rest("query").describe("a URL or words to search for"))
                .build()?,
            Action::Play,
        ),
        (spec("pause", "Pause playback").build()?, Action::Pause),
        (spec("resume", "Resume playback").build()?, Action::Resume),
        (
            spec("skip", "Skip to the next track").build()?,
            Action::Skip,
        ),
        (
            spec("stop", "Stop and clear the queue").build()?,
            Action::Stop,
        ),
        (
            spec("queue", "Show the queue")
                .alias("q")
                .arg(
                    ArgSpec::integer_in("page", 1, 1000)
                        .describe("page (10 tracks each)")
                        .default(1_i64),
                )
                .build()?,
            Action::Queue,
        ),
        (
            spec("nowplaying", "Show the current track and its position")
                .alias("np")
                .build()?,
            Action::NowPlaying,
        ),
        (
            spec("volume", "Set the volume (100 is unchanged)")
                .alias("vol")
                .arg(ArgSpec::integer_in("percent", 0, 1000).describe("0 to 1000"))
                .build()?,
            Action::Volume,
        ),
        (
            spec("seek", "Jump to a position of the current track")
                .arg(ArgSpec::duration("position").describe("e.g. 1:30, 90s or 1m30s"))
                .build()?,
            Action::Seek,
        ),
        (
            spec("loop", "Repeat nothing, the track or the queue")
                .arg(ArgSpec::string("mode").describe("off, track or queue"))
                .build()?,
            Action::Loop,
        ),
        (
            spec("shuffle", "Shuffle the queue").build()?,
            Action::Shuffle,
        ),
    ];
    for (spec, action) in commands {
        setup.command_impl(
            spec,
            MusicCommand {
                voice: voice.clone(),
                action,
            },
        )?;
    }
    Ok(())
}

struct MusicCommand {
    voice: Voice,
    action: Action,
}

/// The user-facing form of a music error (by value: used as `map_err(user_error)`).
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn user_error(error: MusicError) -> CommandError {
    if error.is_user_error() {
        CommandError::user(error.to_string())
    } else {
        CommandError::internal(error.to_string())
    }
}

/// `m:ss` (or `h:mm:ss`).
pub(crate) fn clock(ms: u64) -> String {
    let total = ms / 1000;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

pub(crate) fn describe(track: &Track) -> String {
    let length = if track.info.is_stream {
        "live".to_owned()
    } else {
        clock(track.info.length)
    };
    format!(
        "**{}** by {} ({length})",
        track.info.title, track.info.author
    )
}

/// The permissions a voice channel needs from the bot.
const VOICE_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::CONNECT)
    .union(Permissions::SPEAK);

impl Voice {
    /// Checks that the invoker may control the music: anyone while the bot is in no voice
    /// channel; then bot owners, members with Manage Channels, members with the guild's DJ
    /// role and members in the bot's voice channel.
    async fn may_control(
        &self,
        ctx: &InvocationContext,
        guild_id: Id<GuildMarker>,
    ) -> Result<(), CommandError> {
        let guild = guild_id.get();
        let state = self
            .music
            .store()
            .guild(guild)
            .await
            .map_err(|e| CommandError::internal(e.to_string()))?;
        let Some(bot_channel) = state.and_then(|s| s.voice_channel) else {
            return Ok(());
        };
        if ctx.is_owner
            || ctx
                .member_permissions
                .is_some_and(|p| p.contains(Permissions::MANAGE_CHANNELS))
        {
            return Ok(());
        }
        // Settings or member unavailable: no DJ role (refusing is the safe side).
        let dj_role = match self.sdk.settings().guild(guild).await {
            Ok(settings) => settings.dj_role.and_then(Id::new_checked),
            Err(error) => {
                tracing::warn!(%error, guild, "guild settings unavailable for the DJ role");
                None
            }
        };
        if let Some(role) = dj_role
            && let Ok(Some((member, _))) = self.cache.member(guild_id, ctx.user_id).await
            && member.roles.contains(&role)
        {
            return Ok(());
        }
        let user_channel = self
            .music
            .user_channel(guild, ctx.user_id.get())
            .await
            .map_err(user_error)?;
        if user_channel == Some(bot_channel) {
            return Ok(());
        }
        let dj = dj_role.map_or_else(String::new, |r| format!("the <@&{r}> role or "));
        Err(CommandError::user(format!(
            "To control the music, join <#{bot_channel}>; from elsewhere it needs {dj}the Manage Channels permission."
        )))
    }

    /// Joins the invoking user's channel unless the bot has a player here already. Returns
    /// the channel when it joined.
    async fn ensure_joined(
        &self,
        ctx: &InvocationContext,
        guild_id: Id<GuildMarker>,
        force: bool,
    ) -> Result<Option<u64>, CommandError> {
        let guild = guild_id.get();
        if !force
            && let Ok(Some(state)) = self.music.store().guild(guild).await
            && state.node.is_some()
            && state.voice_channel.is_some()
        {
            return Ok(None);
        }
        let channel = self
            .music
            .user_channel(guild, ctx.user_id.get())
            .await
            .map_err(user_error)?
            .ok_or_else(|| user_error(MusicError::UserNotInVoice))?;
        let Some(channel_id) = Id::<ChannelMarker>::new_checked(channel) else {
            return Err(user_error(MusicError::UserNotInVoice));
        };
        match self
            .sdk
            .permissions_in(guild_id, channel_id, self.bot_id)
            .await
        {
            Some(p) if p.contains(VOICE_PERMISSIONS) => {}
            Some(_) => {
                return Err(CommandError::user(format!(
                    "I can't join <#{channel}>: I need the View Channel, Connect and Speak permissions there."
                )));
            }
            None => {
                return Err(CommandError::user(
                    "I could not check my permissions in your voice channel; try again in a moment.",
                ));
            }
        }
        self.music
            .join(guild, channel, ctx.channel_id.get())
            .await
            .map_err(user_error)?;
        Ok(Some(channel))
    }

    async fn enqueue(
        &self,
        guild: u64,
        tracks: Vec<Track>,
        requester: u64,
        playlist: Option<&str>,
    ) -> Result<String, CommandError> {
        let count = tracks.len();
        let done = self
            .music
            .enqueue(guild, tracks, requester)
            .await
            .map_err(user_error)?;
        if let Some(name) = playlist {
            return Ok(format!(
                "Queued {} from **{name}**.",
                crate::queue::count(count, "track")
            ));
        }
        Ok(match done.first() {
            Some(Enqueued::Playing(entry)) => format!("Now playing {}.", describe(&entry.track)),
            Some(Enqueued::Queued(entry, place)) => {
                format!("Queued {} at position {place}.", describe(&entry.track))
            }
            None => "Nothing was queued.".to_owned(),
        })
    }
}

impl Command for MusicCommand {
    fn run<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        args: Args,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let guild_id = crate::guild(ctx)?;
            let guild = guild_id.get();
            let voice = &self.voice;
            let music = &voice.music;
            if self.action.controls() {
                voice.may_control(ctx, guild_id).await?;
            }
            let text = match self.action {
                Action::Join => match voice.ensure_joined(ctx, guild_id, true).await? {
                    Some(channel) => format!("Joined <#{channel}>."),
                    None => "I'm already here.".to_owned(),
                },
                Action::Leave => {
                    music.leave(guild).await.map_err(user_error)?;
                    "Left the voice channel.".to_owned()
                }
                Action::Play => {
                    let query = args.string("query").unwrap_or_default().trim().to_owned();
                    if query.is_empty() {
                        return Err(CommandError::user("Tell me what to play."));
                    }
                    voice.ensure_joined(ctx, guild_id, false).await?;
                    match music.load(guild, &query).await.map_err(user_error)? {
                        LoadResult::Track(track) => {
                            voice
                                .enqueue(guild, vec![track], ctx.user_id.get(), None)
                                .await?
                        }
                        LoadResult::Playlist { name, tracks } => {
                            voice
                                .enqueue(guild, tracks, ctx.user_id.get(), Some(&name))
                                .await?
                        }
                        LoadResult::Search(mut tracks) => {
                            tracks.truncate(5);
                            return Ok(Reply::ask(choice_prompt(&tracks).encode()?));
                        }
                        _ => return Err(user_error(MusicError::NoResults(query))),
                    }
                }
                Action::Pause | Action::Resume => {
                    let pause = matches!(self.action, Action::Pause);
                    music.set_paused(guild, pause).await.map_err(user_error)?;
                    if pause { "Paused." } else { "Resumed." }.to_owned()
                }
                Action::Skip => match music.skip(guild).await.map_err(user_error)? {
                    Some(next) => format!("Skipped. Now playing {}.", describe(&next.track)),
                    None => "Skipped. The queue is empty.".to_owned(),
                },
                Action::Stop => {
                    music.stop(guild).await.map_err(user_error)?;
                    "Stopped and cleared the queue.".to_owned()
                }
                Action::Queue => {
                    let page = usize::try_from(args.integer("page").unwrap_or(1)).unwrap_or(1);
                    return crate::queue::show(&self.voice.sdk, music, guild, page).await;
                }
                Action::NowPlaying => {
                    let now = music.now_playing(guild).await.map_err(user_error)?;
                    let length = if now.entry.track.info.is_stream {
                        "live".to_owned()
                    } else {
                        clock(now.entry.track.info.length)
                    };
                    format!(
                        "Now playing **{}** by {} — {} / {length}{} · volume {} · loop {}",
                        now.entry.track.info.title,
                        now.entry.track.info.author,
                        clock(now.position_ms),
                        if now.paused { " (paused)" } else { "" },
                        now.volume,
                        now.loop_mode.as_str()
                    )
                }
                Action::Volume => {
                    let volume = args
                        .integer("percent")
                        .and_then(|v| u16::try_from(v).ok())
                        .ok_or_else(|| CommandError::user("Give a volume from 0 to 1000."))?;
                    music.set_volume(guild, volume).await.map_err(user_error)?;
                    format!("Volume set to {volume}.")
                }
                Action::Seek => {
                    let position = args
                        .duration("position")
                        .ok_or_else(|| CommandError::user("Give a position such as 1:30."))?;
                    let ms = u64::try_from(position.as_millis()).unwrap_or(u64::MAX);
                    let at = music.seek(guild, ms).await.map_err(user_error)?;
                    format!("Seeked to {}.", clock(at))
                }
                Action::Loop => {
                    let mode = args
                        .string("mode")
                        .and_then(LoopMode::parse)
                        .ok_or_else(|| {
                            CommandError::user("Loop mode must be off, track or queue.")
                        })?;
                    music.set_loop(guild, mode).await.map_err(user_error)?;
                    format!("Loop: {}.", mode.as_str())
                }
                Action::Shuffle => {
                    let len = music.shuffle(guild).await.map_err(user_error)?;
                    format!("Shuffled {}.", crate::queue::count(len, "track"))
                }
            };
            Ok(Reply::text(text))
        })
    }

    fn on_answer<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        state: PromptState,
        answer: String,
    ) -> BoxFuture<'a, Result<Reply, CommandError>> {
        Box::pin(async move {
            let Some(guild_id) = ctx.guild_id else {
                return Err(CommandError::internal("prompt without a guild"));
            };
            let tracks = state.decode::<Vec<Track>>()?.data;
            let Some(track) = answer
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| tracks.get(i))
            else {
                return Ok(Reply::text(format!(
                    "That is not a number from 1 to {}; nothing was queued.",
                    tracks.len()
                )));
            };
            let text = self
                .voice
                .enqueue(guild_id.get(), vec![track.clone()], ctx.user_id.get(), None)
                .await?;
            Ok(Reply::text(text))
        })
    }
}

/// The search results as a question; the tracks travel in the prompt's data.
fn choice_prompt(tracks: &[Track]) -> PromptState<&[Track]> {
    let mut question = String::from("Pick a track (answer with its number, or `cancel`):\n");
    for (i, track) in tracks.iter().enumerate() {
        let _ = writeln!(question, "{}. {}", i + 1, describe(track));
    }
    PromptState::new("play", question.clone()).next(1, tracks, question)
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmcord::voice::model::TrackInfo;

    fn track(title: &str, length: u64) -> Track {
        Track {
            encoded: format!("enc-{title}"),
            info: TrackInfo {
                identifier: title.to_owned(),
                is_seekable: true,
                author: "someone".to_owned(),
                length,
                is_stream: false,
                title: title.to_owned(),
                uri: None,
            },
            user_data: serde_json::Value::Null,
        }
    }

    #[test]
    fn clocks_pages_and_prompts() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(61_000), "1:01");
        assert_eq!(clock(3_725_000), "1:02:05");
        let tracks = [track("a", 1000), track("b", 2000)];
        let prompt = choice_prompt(&tracks);
        assert!(prompt.question.contains("2. **b** by someone (0:02)"));
        let back = prompt.encode().expect("json").decode::<Vec<Track>>();
        let back = back.expect("tracks").data;
        assert_eq!(back.len(), 2);
    }
}

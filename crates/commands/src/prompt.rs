//! Interactive prompts whose state lives in Redis, so any worker replica can continue a
//! conversation, including after the replica that started it died.
//!
//! A conversation is a serialisable state machine ([`PromptState`]: command, step, the
//! command's own data, the question asked). At most one prompt is open per (channel, user); starting a
//! new one replaces the old one.
//!
//! Redis layout, under a key prefix:
//! - `{prefix}:prompt:{channel}:{user}`: the JSON state, kept for the timeout plus
//!   [`STATE_GRACE`] (so a late sweeper still finds it to send the timed-out message);
//! - `{prefix}:prompt:deadlines`: a sorted set of `{channel}:{user}` scored by the deadline
//!   (Unix ms).
//!
//! Every transition is one atomic Lua script: [`Prompts::take`] claims a live state
//! (compare-and-delete on the deadline), [`Prompts::due_timeouts`] claims expired ones. A state
//! is therefore handed out at most once: two replicas receiving the same answer, or two
//! sweepers, cannot both continue it. Deadlines are compared with the callers' wall clocks
//! (Unix ms), so replicas' clocks should be NTP-synchronised (prompt timeouts are tens of
//! seconds; skew of a few ms is harmless). Scripts build the state keys from the prefix, so
//! this module expects a single Redis (not Redis Cluster).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, UserMarker};

/// How long a state is kept in Redis after its deadline, for the timeout sweeper.
pub const STATE_GRACE: Duration = Duration::from_secs(3_600);

/// Stores a state and its deadline (replacing any previous prompt of the pair).
static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
",
    )
});

/// Claims a live (not yet expired) state: returns it and deletes it, or returns nil.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline then return false end
if tonumber(deadline) <= tonumber(ARGV[2]) then return false end
local state = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not state then return false end
redis.call('DEL', KEYS[1])
return state
",
    )
});

/// Claims up to ARGV[2] states whose deadline is at or before ARGV[1].
static DUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, member in ipairs(members) do
  redis.call('ZREM', KEYS[1], member)
  local key = ARGV[3] .. member
  local state = redis.call('GET', key)
  if state then
    redis.call('DEL', key)
    table.insert(out, state)
  end
end
return out
",
    )
});

/// Unix milliseconds now.
pub use swarmcord_protocol::time::unix_ms as now_ms;

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Where a conversation is: which command owns it, the step, the data collected so far and the
/// question the user is expected to answer.
///
/// `T` is the command's own data type. The dispatcher stores and hands out the JSON form
/// (`PromptState`, data as [`serde_json::Value`]); a command reads its data with
/// [`PromptState::decode`] and writes it back with [`PromptState::encode`] (or passes JSON
/// directly), so no field is read by name from untyped JSON:
///
/// ```
/// # use swarmcord_commands::PromptState;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Ban { user: u64 }
///
/// let asked = PromptState::new("ban", "Really?").next(1, Ban { user: 5 }, "Really?");
/// let stored: PromptState = asked.encode().unwrap();
/// let answered: PromptState<Ban> = stored.decode().unwrap();
/// assert_eq!(answered.data.user, 5);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptState<T = serde_json::Value> {
    /// The command (name) that continues the conversation.
    pub command: String,
    /// The step of the command's state machine.
    pub step: u32,
    /// Data collected so far (command-defined).
    pub data: T,
    /// The question asked (shown again in the timed-out message).
    pub question: String,
    /// Deadline, Unix ms; set by [`Prompts::start`].
    #[serde(default)]
    pub expires_at: u64,
}

impl PromptState {
    /// Step 0 of `command`, asking `question`, with no data.
    pub fn new(command: &str, question: impl Into<String>) -> Self {
        Self {
            command: command.to_owned(),
            step: 0,
            data: serde_json::Value::Null,
            question: question.into(),
            expires_at: 0,
        }
    }

    /// The same state with its data read as `T`: an error (not a panic) if the stored data is
    /// not a `T`, for example a state written by an older version of the command.
    pub fn decode<T: DeserializeOwned>(self) -> Result<PromptState<T>, PromptError> {
        self.try_map(serde_json::from_value)
    }
}

impl<T: Serialize> PromptState<T> {
    /// The same state with its data as JSON, as the dispatcher stores it.
    pub fn encode(self) -> Result<PromptState, PromptError> {
        self.try_map(|data| serde_json::to_value(data))
    }
}

impl<T> PromptState<T> {
    /// The next state: `step`, `question`, same command, `data` replaced.
    #[must_use]
    pub fn next<U>(&self, step: u32, data: U, question: impl Into<String>) -> PromptState<U> {
        PromptState {
            command: self.command.clone(),
            step,
            data,
            question: question.into(),
            expires_at: 0,
        }
    }

    /// Sets the step.
    #[must_use]
    pub fn with_step(mut self, step: u32) -> Self {
        self.step = step;
        self
    }

    /// Replaces the data (of any type: see [`PromptState::encode`]).
    #[must_use]
    pub fn with_data<U>(self, data: U) -> PromptState<U> {
        let Self {
            command,
            step,
            question,
            expires_at,
            ..
        } = self;
        PromptState {
            command,
            step,
            data,
            question,
            expires_at,
        }
    }

    /// The same state with its data converted by `convert`.
    fn try_map<U>(
        self,
        convert: impl FnOnce(T) -> Result<U, serde_json::Error>,
    ) -> Result<PromptState<U>, PromptError> {
        let Self {
            command,
            step,
            data,
            question,
            expires_at,
        } = self;
        let data = convert(data)?;
        Ok(PromptState {
            command,
            step,
            data,
            question,
            expires_at,
        })
    }
}

/// What is stored in Redis.
#[derive(Serialize, Deserialize)]
struct Stored {
    channel_id: Id<ChannelMarker>,
    user_id: Id<UserMarker>,
    state: PromptState,
}

/// A prompt that timed out, claimed by exactly one caller of [`Prompts::due_timeouts`].
#[derive(Clone, Debug, PartialEq)]
pub struct Expired {
    /// Channel of the conversation.
    pub channel_id: Id<ChannelMarker>,
    /// User who was asked.
    pub user_id: Id<UserMarker>,
    /// The state at the time out.
    pub state: PromptState,
}

/// The result of offering a message to [`Prompts::answer`].
#[derive(Clone, Debug, PartialEq)]
pub enum PromptAnswer {
    /// The message answers an open prompt, now claimed by this caller: continue the command.
    Continue {
        /// The claimed state.
        state: PromptState,
        /// The answer text (trimmed).
        answer: String,
    },
    /// The user typed a cancel word; the prompt is closed.
    Cancelled(PromptState),
    /// No open prompt (or another replica claimed it first): handle the message normally.
    NoPrompt,
}

/// A Redis or decoding failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Redis failed.
    #[error("prompt store unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored state could not be decoded (it has been removed), or a state's data is not of
    /// the type a command reads or writes ([`PromptState::decode`], [`PromptState::encode`]).
    #[error("corrupt prompt state: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Prompt states in Redis. Cheap to clone.
#[derive(Clone)]
pub struct Prompts {
    conn: ConnectionManager,
    prefix: Arc<str>,
    cancel_words: Arc<[String]>,
}

impl std::fmt::Debug for Prompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompts")
            .field("prefix", &self.prefix)
            .field("cancel_words", &self.cancel_words)
            .finish_non_exhaustive()
    }
}

impl Prompts {
    /// Prompts under the key prefix `prefix`, with the cancel word `cancel`.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: Arc::from(prefix.into()),
            cancel_words: Arc::from(vec!["cancel".to_owned()]),
        }
    }

    /// Replaces the cancel words (matched case-insensitively against the whole trimmed answer).
    #[must_use]
    pub fn with_cancel_words(mut self, words: &[&str]) -> Self {
        self.cancel_words = words.iter().map(|w| w.trim().to_lowercase()).collect();
        self
    }

    /// The cancel words.
    pub fn cancel_words(&self) -> &[String] {
        &self.cancel_words
    }

    fn state_key(&self, channel: Id<ChannelMarker>, user: Id<UserMarker>) -> String {
        format!("{}:prompt:{}", self.prefix, member(channel, user))
    }

    fn deadlines_key(&self) -> String {
        format!("{}:prompt:deadlines", self.prefix)
    }

    /// Opens (or replaces) the prompt of `user` in `channel`, expiring after `timeout`.
    /// Returns the stored state (with `expires_at` set).
    pub async fn start(
        &self,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
        mut state: PromptState,
        timeout: Duration,
    ) -> Result<PromptState, PromptError> {
        state.expires_at = now_ms().saturating_add(millis(timeout));
        let stored = Stored {
            channel_id: channel,
            user_id: user,
            state,
        };
        let json = serde_json::to_string(&stored)?;
        let () = START
            .key(self.state_key(channel, user))
            .key(self.deadlines_key())
            .arg(json)
            .arg(millis(timeout + STATE_GRACE))
            .arg(member(channel, user))
            .arg(stored.state.expires_at)
            .invoke_async(&mut self.conn.clone())
            .await
            .map(|_: i64| ())?;
        Ok(stored.state)
    }

    /// The open prompt of `user` in `channel`, if any and not expired (read only).
    pub async fn pending(
        &self,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
    ) -> Result<Option<PromptState>, PromptError> {
        let json: Option<String> = redis::cmd("GET")
            .arg(self.state_key(channel, user))
            .query_async(&mut self.conn.clone())
            .await?;
        let Some(json) = json else { return Ok(None) };
        let stored: Stored = serde_json::from_str(&json)?;
        Ok((stored.state.expires_at > now_ms()).then_some(stored.state))
    }

    /// Atomically claims the open prompt of `user` in `channel`: at most one caller gets it.
    /// Expired prompts are not returned (they belong to the timeout sweeper).
    pub async fn take(
        &self,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
    ) -> Result<Option<PromptState>, PromptError> {
        let json: Option<String> = TAKE
            .key(self.state_key(channel, user))
            .key(self.deadlines_key())
            .arg(member(channel, user))
            .arg(now_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let Some(json) = json else { return Ok(None) };
        let stored: Stored = serde_json::from_str(&json)?;
        Ok(Some(stored.state))
    }

    /// Offers a message from `user` in `channel` as an answer: claims the open prompt, if any,
    /// and tells whether to continue it or whether the user cancelled it.
    pub async fn answer(
        &self,
        channel: Id<ChannelMarker>,
        user: Id<UserMarker>,
        text: &str,
    ) -> Result<PromptAnswer, PromptError> {
        let Some(state) = self.take(channel, user).await? else {
            return Ok(PromptAnswer::NoPrompt);
        };
        let answer = text.trim();
        let lower = answer.to_lowercase();
        if self.cancel_words.contains(&lower) {
            return Ok(PromptAnswer::Cancelled(state));
        }
        Ok(PromptAnswer::Continue {
            state,
            answer: answer.to_owned(),
        })
    }

    /// Claims up to `limit` prompts whose deadline is at or before `now` (Unix ms). Each
    /// expired prompt is returned to exactly one caller, across all replicas, so exactly one
    /// "timed out" message is sent. Undecodable states are dropped (and logged).
    pub async fn due_timeouts(&self, now: u64, limit: usize) -> Result<Vec<Expired>, PromptError> {
        let states: Vec<String> = DUE
            .key(self.deadlines_key())
            .arg(now)
            .arg(limit.max(1))
            .arg(format!("{}:prompt:", self.prefix))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(states
            .iter()
            .filter_map(|json| match serde_json::from_str::<Stored>(json) {
                Ok(stored) => Some(Expired {
                    channel_id: stored.channel_id,
                    user_id: stored.user_id,
                    state: stored.state,
                }),
                Err(error) => {
                    tracing::warn!(%error, "dropping an undecodable prompt state");
                    None
                }
            })
            .collect())
    }
}

fn member(channel: Id<ChannelMarker>, user: Id<UserMarker>) -> String {
    format!("{channel}:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Ban {
        user: Id<UserMarker>,
        reason: Option<String>,
    }

    #[test]
    fn typed_data_round_trips_through_the_stored_form() {
        let ban = Ban {
            user: Id::new(5),
            reason: Some("spam".to_owned()),
        };
        let asked = PromptState::new("ban", "Sure?").next(1, ban, "Really?");
        let stored = asked.encode().expect("encodes");
        assert_eq!(
            stored.data,
            serde_json::json!({"user": "5", "reason": "spam"})
        );
        let back: PromptState<Ban> = stored.clone().decode().expect("decodes");
        assert_eq!((back.step, back.question.as_str()), (1, "Really?"));
        assert_eq!(back.data.user, Id::new(5));
        assert_eq!(back.encode().expect("encodes"), stored);
    }

    #[test]
    fn data_of_another_shape_is_an_error_not_a_panic() {
        let stored = PromptState::new("ban", "Sure?").with_data(serde_json::json!({"user": 0}));
        let error = stored.decode::<Ban>().expect_err("a zero id is not a user");
        assert!(matches!(error, PromptError::Corrupt(_)), "{error}");
        let stored = PromptState::new("ban", "Sure?");
        assert!(stored.decode::<Ban>().is_err(), "no data at all");
    }
}

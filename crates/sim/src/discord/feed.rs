//! The bot's visible activity, in order: every message it creates or edits (channel messages,
//! interaction responses and follow-ups), its deletions, the "thinking…" of a deferred
//! response and the modals it opens. A client that shows the channel as it changes (the
//! sandbox's console, through `GET /_sim/feed`) reads it with a cursor; entries name the
//! message and are rendered from the world when read, so an entry shows the message as it is
//! now.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use super::Shared;

/// Entries kept; older ones are forgotten (a reader that far behind skips them).
const CAPACITY: usize = 4096;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// The bot posted a message.
    Created,
    /// The bot edited a message (an update callback, an edit through REST or the webhook).
    Edited,
    /// The bot deleted a message.
    Deleted,
    /// A deferred interaction response: the client shows "thinking…".
    Thinking,
    /// The bot opened a modal for a user.
    Modal,
}

/// One entry.
#[derive(Debug, Clone, Serialize)]
pub struct FeedEntry {
    /// Position in the feed, from 0.
    pub seq: u64,
    /// What happened.
    pub kind: FeedKind,
    /// The message (for a modal: the message whose component opened it, if any).
    #[serde(serialize_with = "opt_id")]
    pub message_id: Option<u64>,
    /// The channel.
    #[serde(serialize_with = "opt_id")]
    pub channel_id: Option<u64>,
    /// The interaction this answers, if any.
    #[serde(serialize_with = "opt_id")]
    pub interaction_id: Option<u64>,
    /// For a modal: the callback's `data`.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub modal: Value,
}

#[allow(
    clippy::ref_option,
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's `serialize_with` calls it with a reference"
)]
fn opt_id<S: serde::Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_string()),
        None => s.serialize_none(),
    }
}

/// The feed.
#[derive(Debug)]
pub struct Feed {
    entries: Mutex<VecDeque<FeedEntry>>,
    /// The next `seq`, for waiting readers.
    next: watch::Sender<u64>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            next: watch::channel(0).0,
        }
    }
}

impl Feed {
    /// The `seq` the next entry gets.
    pub fn next_seq(&self) -> u64 {
        *self.next.borrow()
    }

    /// Appends an entry (its `seq` is assigned here).
    pub fn push(&self, mut entry: FeedEntry) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // The response replacing a "thinking…" shows as the message it is, not as an edit.
        if entry.kind == FeedKind::Edited
            && entry.message_id.is_some()
            && entries
                .iter()
                .rev()
                .take(64)
                .find(|e| e.message_id == entry.message_id)
                .is_some_and(|e| e.kind == FeedKind::Thinking)
        {
            entry.kind = FeedKind::Created;
        }
        entry.seq = self.next_seq();
        entries.push_back(entry);
        if entries.len() > CAPACITY {
            entries.pop_front();
        }
        let next = self.next_seq() + 1;
        self.next.send_replace(next);
    }

    /// Entries with `seq >= since`.
    pub fn since(&self, since: u64) -> Vec<FeedEntry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().filter(|e| e.seq >= since).cloned().collect()
    }

    /// Waits until there is an entry with `seq >= since` or `timeout` passes.
    pub async fn wait(&self, since: u64, timeout: std::time::Duration) {
        let mut rx = self.next.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|next| *next > since)).await;
    }
}

fn entry(kind: FeedKind, message_id: Option<u64>, channel_id: Option<u64>) -> FeedEntry {
    FeedEntry {
        seq: 0,
        kind,
        message_id,
        channel_id,
        interaction_id: None,
        modal: Value::Null,
    }
}

fn id_of(value: &Value) -> Option<u64> {
    value.as_str().and_then(|s| s.parse().ok())
}

/// Notes what a successful REST request of the bot did to what users see: called by the REST
/// handler with the request's method and path (under `/api/v10`) and the JSON it answered.
pub(crate) fn observe(shared: &Shared, method: &str, path: &str, body: Option<&Value>) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut found = match (method, segments.as_slice()) {
        ("POST", ["interactions", id, _, "callback"]) => {
            let Some(id) = id.parse::<u64>().ok() else {
                return;
            };
            let world = shared.world();
            let Some(interaction) = world.interactions.get(&id) else {
                return;
            };
            let mut found = match interaction.state {
                super::world::InteractionState::Responded(4) => entry(
                    FeedKind::Created,
                    interaction.original_message,
                    Some(interaction.channel_id),
                ),
                super::world::InteractionState::Responded(5) => entry(
                    FeedKind::Thinking,
                    interaction.original_message,
                    Some(interaction.channel_id),
                ),
                super::world::InteractionState::Responded(7) => entry(
                    FeedKind::Edited,
                    interaction.original_message,
                    Some(interaction.channel_id),
                ),
                super::world::InteractionState::Responded(9) => {
                    let Some(modal) = world.modals.get(&id) else {
                        return;
                    };
                    let mut found =
                        entry(FeedKind::Modal, modal.message_id, Some(modal.channel_id));
                    found.modal = modal.data.clone();
                    found
                }
                _ => return,
            };
            found.interaction_id = Some(id);
            found
        }
        ("DELETE", [.., "messages", id]) => {
            let channel = match segments.as_slice() {
                ["channels", channel, ..] => channel.parse().ok(),
                _ => None,
            };
            entry(FeedKind::Deleted, id.parse().ok(), channel)
        }
        ("POST" | "PATCH", _) => {
            let Some(message) =
                body.filter(|b| b["author"]["id"].is_string() && b["channel_id"].is_string())
            else {
                return;
            };
            if id_of(&message["author"]["id"]) != Some(shared.world().bot.id) {
                return;
            }
            let kind = if method == "POST" && !path.contains("/messages/") {
                FeedKind::Created
            } else {
                FeedKind::Edited
            };
            entry(kind, id_of(&message["id"]), id_of(&message["channel_id"]))
        }
        _ => return,
    };
    if found.interaction_id.is_none()
        && segments.first() == Some(&"webhooks")
        && let Some(token) = segments.get(2)
    {
        let world = shared.world();
        found.interaction_id = world
            .interactions
            .values()
            .find(|i| i.token == *token)
            .map(|i| i.id);
    }
    shared.feed.push(found);
}

//! The music queue, one page at a time, with buttons to the previous and next page.
//!
//! Each enabled button's `custom_id` points at a small state in Redis (the guild and the page
//! it shows, [`swarmcord::Services::stash`]): any worker replica handles the click, also after
//! every worker restarted, and a click after [`PAGES_TTL`] gets the expiry message.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use swarmcord::commands::{CommandError, Reply};
use swarmcord::components::{button, row};
use swarmcord::model::channel::message::Component;
use swarmcord::model::channel::message::component::ButtonStyle;
use swarmcord::voice::{Entry, Music};
use swarmcord::{ComponentContext, Services, Setup, SetupError};

use super::voice::{describe, user_error};

/// Handler name of the page buttons.
const PAGES: &str = "music-queue";
/// How long the page buttons work.
pub(crate) const PAGES_TTL: Duration = Duration::from_secs(15 * 60);
/// Tracks per page.
const PAGE_SIZE: usize = 10;

/// What a page button's state in Redis holds.
#[derive(Debug, Serialize, Deserialize)]
struct Page {
    guild: u64,
    page: usize,
}

/// Registers the page buttons' handler.
pub(crate) fn register(setup: &mut Setup<'_>, music: &Music) -> Result<(), SetupError> {
    let music = music.clone();
    setup.component(PAGES, move |ctx: ComponentContext| {
        let music = music.clone();
        async move {
            let target: Page = ctx.state().await?;
            if ctx.guild_id().map(swarmcord::model::id::Id::get) != Some(target.guild) {
                return Err(CommandError::user("This queue belongs to another server."));
            }
            let reply = show(&ctx, &music, target.guild, target.page).await?;
            Ok(reply.update_message())
        }
    })?;
    Ok(())
}

/// Page `page` (from 1) of the guild's queue, with the page buttons when there is more than
/// one page.
pub(crate) async fn show(
    sdk: &Services,
    music: &Music,
    guild: u64,
    page: usize,
) -> Result<Reply, CommandError> {
    let page = page.max(1);
    let (entries, len) = music.queue(guild, page).await.map_err(user_error)?;
    if len == 0
        && let Ok(now) = music.now_playing(guild).await
    {
        // "The queue is empty" while a track plays reads as if nothing played.
        return Ok(Reply::text(format!(
            "Nothing is queued after {}.",
            describe(&now.entry.track)
        )));
    }
    let text = render(&entries, len, page);
    let pages = len.div_ceil(PAGE_SIZE);
    if pages <= 1 || entries.is_empty() {
        return Ok(Reply::text(text));
    }
    let previous = page_button(sdk, guild, page - 1, "◀ Previous", page > 1).await?;
    let next = page_button(sdk, guild, page + 1, "Next ▶", page < pages).await?;
    Ok(Reply::text(text).with_components([row([previous, next])]))
}

/// A button to `page`; a disabled one (without state) when there is no such page.
async fn page_button(
    sdk: &Services,
    guild: u64,
    page: usize,
    label: &str,
    enabled: bool,
) -> Result<Component, CommandError> {
    if !enabled {
        // Never clickable, so no state: the `custom_id` only has to be unique.
        let id = format!("{PAGES}:none-{}", if page == 0 { "prev" } else { "next" });
        let mut button = button(&id, label, ButtonStyle::Secondary);
        if let Component::Button(inner) = &mut button {
            inner.disabled = true;
        }
        return Ok(button);
    }
    let id = sdk.stash(PAGES, &Page { guild, page }, PAGES_TTL).await?;
    Ok(button(&id, label, ButtonStyle::Primary))
}

/// `count` with the singular or plural of `noun`: `1 track`, `2 tracks`.
pub(crate) fn count(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The text of one page.
fn render(entries: &[Entry], len: usize, page: usize) -> String {
    if len == 0 {
        return "The queue is empty.".to_owned();
    }
    let pages = len.div_ceil(PAGE_SIZE);
    if entries.is_empty() {
        return format!(
            "There {} only {}.",
            if pages == 1 { "is" } else { "are" },
            count(pages, "page")
        );
    }
    let first = (page - 1) * PAGE_SIZE;
    let mut text = format!("Queue ({}, page {page}/{pages}):\n", count(len, "track"));
    for (i, entry) in entries.iter().enumerate() {
        let _ = writeln!(text, "{}. {}", first + i + 1, describe(&entry.track));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmcord::voice::model::{Track, TrackInfo};

    fn entry(title: &str) -> Entry {
        Entry {
            id: "1".into(),
            track: Track {
                encoded: format!("enc-{title}"),
                info: TrackInfo {
                    identifier: title.to_owned(),
                    is_seekable: true,
                    author: "someone".to_owned(),
                    length: 5000,
                    is_stream: false,
                    title: title.to_owned(),
                    uri: None,
                },
                user_data: serde_json::Value::Null,
            },
            requester: "1".into(),
        }
    }

    #[test]
    fn pages_count_tracks_in_the_singular_and_plural() {
        assert_eq!(render(&[], 0, 1), "The queue is empty.");
        assert_eq!(render(&[], 12, 3), "There are only 2 pages.");
        assert_eq!(render(&[], 3, 2), "There is only 1 page.");
        assert!(render(&[entry("x")], 1, 1).starts_with("Queue (1 track, page 1/1):\n1. **x**"));
        assert!(
            render(&[entry("x")], 11, 2).starts_with("Queue (11 tracks, page 2/2):\n11. **x**")
        );
        assert_eq!(count(0, "track"), "0 tracks");
    }
}

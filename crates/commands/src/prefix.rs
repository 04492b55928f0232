//! Recognising a prefix command in a message: a configured prefix (per guild) or a mention of
//! the bot, then the command name.

use twilight_model::id::Id;
use twilight_model::id::marker::UserMarker;

/// A recognised prefix invocation, borrowing from the message content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// The prefix as written (a configured prefix, or the bot mention).
    pub prefix: &'a str,
    /// The command name as written (look it up case-insensitively).
    pub name: &'a str,
    /// Everything after the name, with leading whitespace removed.
    pub rest: &'a str,
}

/// Recognises `{prefix}{name} {rest}` where the prefix is one of `prefixes` (matched
/// case-insensitively for ASCII; the longest match wins) or a mention of `bot_id`
/// (`<@id>` or `<@!id>`). Whitespace is allowed between the prefix and the name. Returns
/// `None` when the message is not an invocation. Never panics.
pub fn parse_prefix<'a>(
    content: &'a str,
    prefixes: &[&str],
    bot_id: Id<UserMarker>,
) -> Option<Invocation<'a>> {
    let content = content.trim_start();
    let mention_len = mention_prefix_len(content, bot_id);
    let prefix_len = mention_len.or_else(|| {
        prefixes
            .iter()
            .filter(|p| !p.is_empty())
            .filter(|p| {
                content
                    .get(..p.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(p))
            })
            .map(|p| p.len())
            .max()
    })?;
    let prefix = &content[..prefix_len];
    let after = content[prefix_len..].trim_start();
    let name_end = after.find(char::is_whitespace).unwrap_or(after.len());
    let name = &after[..name_end];
    if name.is_empty() {
        return None;
    }
    Some(Invocation {
        prefix,
        name,
        rest: after[name_end..].trim_start(),
    })
}

fn mention_prefix_len(content: &str, bot_id: Id<UserMarker>) -> Option<usize> {
    let id = bot_id.to_string();
    ["<@", "<@!"].iter().find_map(|open| {
        let tail = content.strip_prefix(open)?.strip_prefix(id.as_str())?;
        tail.starts_with('>').then(|| open.len() + id.len() + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: Id<UserMarker> = Id::new(42);

    fn parse<'a>(content: &'a str, prefixes: &[&str]) -> Option<(&'a str, &'a str, &'a str)> {
        parse_prefix(content, prefixes, BOT).map(|i| (i.prefix, i.name, i.rest))
    }

    #[test]
    fn prefixes_and_mentions() {
        assert_eq!(parse("!ping", &["!"]), Some(("!", "ping", "")));
        assert_eq!(
            parse("  !ban <@1>  7 spam ", &["!"]),
            Some(("!", "ban", "<@1>  7 spam "))
        );
        assert_eq!(parse("! ping", &["!"]), Some(("!", "ping", "")));
        assert_eq!(parse("??help x", &["?", "??"]), Some(("??", "help", "x")));
        assert_eq!(parse("BOT help", &["bot "]), Some(("BOT ", "help", "")));
        assert_eq!(parse("<@42> ping", &["!"]), Some(("<@42>", "ping", "")));
        assert_eq!(parse("<@!42>ping a", &[]), Some(("<@!42>", "ping", "a")));
        assert_eq!(parse("<@43> ping", &["!"]), None);
        assert_eq!(parse("<@42>", &["!"]), None);
        assert_eq!(parse("!", &["!"]), None);
        assert_eq!(parse("hello", &["!"]), None);
        assert_eq!(parse("", &["!"]), None);
        assert_eq!(parse("!ping", &[""]), None);
        // A multi-byte character where a prefix would end must not panic.
        assert_eq!(parse("é!", &["!!"]), None);
        assert_eq!(parse("日本 x", &["日"]), Some(("日", "本", "x")));
    }
}

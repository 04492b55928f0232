//! What a Discord client shows, as plain text: a message with its embeds and components, a
//! modal, and the client-side step that turns typed `@name`, `@role` and `#channel` into
//! `<@id>`, `<@&id>` and `<#id>` before sending. Used by the console routes (the sandbox's
//! console, `/_sim/say?format=text`, `/_sim/feed`); pure functions over the documented JSON.

use std::fmt::Write as _;

use serde_json::Value;

/// Component types (Discord's numbering).
const ACTION_ROW: u64 = 1;
const BUTTON: u64 = 2;
const STRING_SELECT: u64 = 3;
const TEXT_INPUT: u64 = 4;
const SECTION: u64 = 9;
const TEXT_DISPLAY: u64 = 10;
const THUMBNAIL: u64 = 11;
const MEDIA_GALLERY: u64 = 12;
const FILE: u64 = 13;
const SEPARATOR: u64 = 14;
const CONTAINER: u64 = 17;
const LABEL: u64 = 18;
/// Button styles without a `custom_id`.
const LINK: u64 = 5;
const PREMIUM: u64 = 6;

/// Longest `custom_id` shown in full; longer ones are cut in the middle.
const ID_WIDTH: usize = 28;

/// A name a user can type after `@` or `#`, and the mention it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `'@'` for members and roles, `'#'` for channels.
    pub sigil: char,
    /// The name as typed (matched case-insensitively).
    pub name: String,
    /// What replaces it: `<@id>`, `<@&id>` or `<#id>`.
    pub mention: String,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Whether a name can end before `after`: at its end, or before a character that cannot
/// continue a name, or before a `.` ending a sentence.
fn ends_name(after: &str) -> bool {
    let mut chars = after.chars();
    match chars.next() {
        None => true,
        Some('.') => !chars.next().is_some_and(is_name_char),
        Some(c) => !is_name_char(c),
    }
}

/// `rest` starts with `name`, ignoring ASCII case, followed by a character that cannot continue
/// a name: the byte length matched.
fn starts_with_name(rest: &str, name: &str) -> Option<usize> {
    let head = rest.get(..name.len())?;
    (head.eq_ignore_ascii_case(name) && ends_name(&rest[name.len()..])).then_some(name.len())
}

/// The candidate a sigil at the start of `rest` (after the sigil) refers to, and the length
/// of the name it consumed: the longest exact name first (names may contain spaces), otherwise
/// the one candidate the typed word is a prefix of (Discord's autocomplete with one entry).
fn pick<'c>(
    sigil: char,
    rest: &str,
    candidates: &'c [Candidate],
) -> Option<(&'c Candidate, usize)> {
    let exact = candidates
        .iter()
        .filter(|c| c.sigil == sigil && !c.name.is_empty())
        .filter_map(|c| starts_with_name(rest, &c.name).map(|len| (c, len)))
        .max_by_key(|(_, len)| *len);
    if exact.is_some() {
        return exact;
    }
    let mut word_len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
    while rest[..word_len].ends_with('.') {
        word_len -= 1;
    }
    let word = &rest[..word_len];
    if word.is_empty() {
        return None;
    }
    let mut found = candidates.iter().filter(|c| {
        c.sigil == sigil
            && c.name
                .get(..word.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(word))
    });
    let first = found.next()?;
    found
        .all(|other| other.mention == first.mention)
        .then_some((first, word_len))
}

/// Replaces typed `@name` and `#name` with the mentions they stand for, as Discord's client
/// does on sending: only at the start of a word, not inside `` `code` ``, and leaving
/// `@everyone`, `@here` and anything that matches no candidate (or several) as typed.
pub fn resolve_names(content: &str, candidates: &[Candidate]) -> String {
    let mut out = String::with_capacity(content.len());
    let mut in_code = false;
    let mut prev: Option<char> = None;
    let mut i = 0;
    while let Some(c) = content[i..].chars().next() {
        let word_start = prev.is_none_or(|p| !(is_name_char(p) || p == '<' || p == '@'));
        if c == '`' {
            in_code = !in_code;
        } else if (c == '@' || c == '#') && word_start && !in_code {
            let rest = &content[i + 1..];
            let special = c == '@'
                && ["everyone", "here"]
                    .iter()
                    .any(|s| starts_with_name(rest, s).is_some());
            if !special && let Some((candidate, len)) = pick(c, rest, candidates) {
                out.push_str(&candidate.mention);
                i += 1 + len;
                prev = Some('>');
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
        i += c.len_utf8();
    }
    out
}

/// A mention in a message's text, for [`render_message`]'s `names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mention {
    /// `<@id>` or `<@!id>`.
    User(u64),
    /// `<@&id>`.
    Role(u64),
    /// `<#id>`.
    Channel(u64),
}

/// Shows mentions as a client does (`@name`, `@role`, `#channel`) when `names` knows them.
pub fn display_mentions(text: &str, names: &dyn Fn(Mention) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let parsed = tail.find('>').and_then(|end| {
            let inner = &tail[1..end];
            if let Some(stamp) = inner.strip_prefix("t:") {
                // <t:unix[:style]>: a client shows the date in the reader's time zone.
                let secs: u64 = stamp.split(':').next()?.parse().ok()?;
                let iso = crate::util::iso_from_unix_ms(secs.saturating_mul(1000));
                let shown = iso.get(..16).unwrap_or(&iso).replace('T', " ");
                return Some((format!("{shown} UTC"), end + 1));
            }
            let mention = if let Some(id) = inner.strip_prefix("@&") {
                Mention::Role(id.parse().ok()?)
            } else if let Some(id) = inner.strip_prefix('@') {
                Mention::User(id.strip_prefix('!').unwrap_or(id).parse().ok()?)
            } else if let Some(id) = inner.strip_prefix('#') {
                Mention::Channel(id.parse().ok()?)
            } else {
                return None;
            };
            let sigil = if matches!(mention, Mention::Channel(_)) {
                '#'
            } else {
                '@'
            };
            names(mention).map(|name| (format!("{sigil}{name}"), end + 1))
        });
        if let Some((shown, len)) = parsed {
            out.push_str(&shown);
            rest = &tail[len..];
        } else {
            out.push('<');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The components a user can act on (buttons other than link and premium ones, select menus),
/// in the order a client lays them out: the numbering [`render_message`] shows.
pub fn numbered_components(components: &[Value]) -> Vec<&Value> {
    fn walk<'a>(components: &'a [Value], out: &mut Vec<&'a Value>) {
        for c in components {
            let kind = c["type"].as_u64().unwrap_or(0);
            let style = c["style"].as_u64().unwrap_or(0);
            if (kind == BUTTON && style != LINK && style != PREMIUM)
                || matches!(kind, STRING_SELECT | 5..=8)
            {
                out.push(c);
            }
            if let Some(children) = c["components"].as_array() {
                walk(children, out);
            }
            for key in ["component", "accessory"] {
                if let Some(child) = c.get(key) {
                    walk(std::slice::from_ref(child), out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(components, &mut out);
    out
}

/// `custom_id`, cut in the middle when long.
fn compact(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= ID_WIDTH {
        return id.to_owned();
    }
    let head: String = chars[..ID_WIDTH - 9].iter().collect();
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("{head}…{tail}")
}

fn str_of<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_default()
}

fn emoji_prefix(component: &Value) -> String {
    match component["emoji"]["name"].as_str() {
        Some(name) if !name.is_empty() => format!("{name} "),
        _ => String::new(),
    }
}

/// Appends `text` with every line prefixed by `prefix`.
fn push_lines(out: &mut Vec<String>, prefix: &str, text: &str) {
    for line in text.lines() {
        out.push(format!("{prefix}{line}"));
    }
}

fn render_embed(out: &mut Vec<String>, embed: &Value, names: &dyn Fn(Mention) -> Option<String>) {
    let bar = "│ ";
    let shown = |key: &str, v: &Value| display_mentions(str_of(v, key), names);
    let author = str_of(&embed["author"], "name");
    if !author.is_empty() {
        out.push(format!("{bar}{author}"));
    }
    let title = str_of(embed, "title");
    if !title.is_empty() {
        match embed["url"].as_str() {
            Some(url) => out.push(format!("{bar}**{title}** ({url})")),
            None => out.push(format!("{bar}**{title}**")),
        }
    }
    push_lines(out, bar, &shown("description", embed));
    for field in embed["fields"].as_array().into_iter().flatten() {
        let value = shown("value", field);
        let mut lines = value.lines();
        out.push(format!(
            "{bar}{}: {}",
            str_of(field, "name"),
            lines.next().unwrap_or_default()
        ));
        for more in lines {
            out.push(format!("{bar}  {more}"));
        }
    }
    for key in ["image", "thumbnail"] {
        if let Some(url) = embed[key]["url"].as_str() {
            out.push(format!("{bar}({key}: {url})"));
        }
    }
    let footer = str_of(&embed["footer"], "text");
    if !footer.is_empty() {
        out.push(format!("{bar}— {footer}"));
    }
}

/// One numbered component: a button's `[n Label]` (with its id noted in `ids`), a select's
/// line and its options.
fn render_interactive(
    c: &Value,
    number: Option<usize>,
    buttons: &mut Vec<String>,
    ids: &mut Vec<String>,
    lines: &mut Vec<String>,
) {
    let kind = c["type"].as_u64().unwrap_or(0);
    let disabled = c["disabled"].as_bool() == Some(true);
    let n = number.map_or_else(String::new, |n| format!("{n} "));
    if kind == BUTTON {
        let label = format!("{}{}", emoji_prefix(c), str_of(c, "label"));
        match c["style"].as_u64() {
            Some(LINK) => buttons.push(format!("[{label}]({})", str_of(c, "url"))),
            Some(PREMIUM) => buttons.push(format!("[premium {}]", str_of(c, "sku_id"))),
            _ => {
                let off = if disabled { ", disabled" } else { "" };
                buttons.push(format!("[{n}{}{off}]", label.trim_end()));
                ids.push(format!("{}{}", n, compact(str_of(c, "custom_id"))));
            }
        }
        return;
    }
    let what = match kind {
        STRING_SELECT => "",
        5 => "user ",
        6 => "role ",
        7 => "user or role ",
        _ => "channel ",
    };
    let (min, max) = (
        c["min_values"].as_u64().unwrap_or(1),
        c["max_values"].as_u64().unwrap_or(1),
    );
    let count = if min == max {
        format!("{min}")
    } else {
        format!("{min} to {max}")
    };
    let placeholder = c["placeholder"].as_str().unwrap_or("choose");
    let off = if disabled { ", disabled" } else { "" };
    lines.push(format!(
        "<{n}{placeholder}> ({what}select, choose {count}{off}; id {})",
        compact(str_of(c, "custom_id"))
    ));
    for (i, option) in c["options"].as_array().into_iter().flatten().enumerate() {
        let mut line = format!(
            "   {}. {}{}",
            i + 1,
            emoji_prefix(option),
            str_of(option, "label")
        );
        let value = str_of(option, "value");
        if value != str_of(option, "label") {
            let _ = write!(line, " = {value}");
        }
        let description = str_of(option, "description");
        if !description.is_empty() {
            let _ = write!(line, " — {description}");
        }
        if option["default"].as_bool() == Some(true) {
            line.push_str(" (default)");
        }
        lines.push(line);
    }
}

/// Renders a list of components (rows, v2 layout components) into `out`, numbering the
/// interactive ones in [`numbered_components`]' order.
fn render_components(
    out: &mut Vec<String>,
    components: &[Value],
    numbers: &[&Value],
    prefix: &str,
) {
    let number_of = |c: &Value| {
        numbers
            .iter()
            .position(|n| std::ptr::eq(*n, c))
            .map(|i| i + 1)
    };
    for c in components {
        let kind = c["type"].as_u64().unwrap_or(0);
        match kind {
            ACTION_ROW => {
                let (mut buttons, mut ids, mut lines) = (Vec::new(), Vec::new(), Vec::new());
                for child in c["components"].as_array().into_iter().flatten() {
                    render_interactive(child, number_of(child), &mut buttons, &mut ids, &mut lines);
                }
                if !buttons.is_empty() {
                    out.push(format!("{prefix}{}", buttons.join(" ")));
                }
                if !ids.is_empty() {
                    out.push(format!("{prefix}  ids: {}", ids.join(", ")));
                }
                out.extend(lines.into_iter().map(|l| format!("{prefix}{l}")));
            }
            BUTTON | STRING_SELECT | 5..=8 => {
                let (mut buttons, mut ids, mut lines) = (Vec::new(), Vec::new(), Vec::new());
                render_interactive(c, number_of(c), &mut buttons, &mut ids, &mut lines);
                out.extend(buttons.into_iter().map(|b| format!("{prefix}{b}")));
                if !ids.is_empty() {
                    out.push(format!("{prefix}  id: {}", ids.join(", ")));
                }
                out.extend(lines.into_iter().map(|l| format!("{prefix}{l}")));
            }
            TEXT_DISPLAY => push_lines(out, prefix, str_of(c, "content")),
            SECTION => {
                render_components(
                    out,
                    c["components"].as_array().map_or(&[], Vec::as_slice),
                    numbers,
                    prefix,
                );
                if let Some(accessory) = c.get("accessory") {
                    render_components(out, std::slice::from_ref(accessory), numbers, prefix);
                }
            }
            CONTAINER => {
                let inner = format!("{prefix}┃ ");
                render_components(
                    out,
                    c["components"].as_array().map_or(&[], Vec::as_slice),
                    numbers,
                    &inner,
                );
            }
            SEPARATOR => out.push(format!("{prefix}────────")),
            THUMBNAIL => out.push(format!(
                "{prefix}(thumbnail: {})",
                str_of(&c["media"], "url")
            )),
            MEDIA_GALLERY => {
                for item in c["items"].as_array().into_iter().flatten() {
                    out.push(format!(
                        "{prefix}(media: {})",
                        str_of(&item["media"], "url")
                    ));
                }
            }
            FILE => out.push(format!("{prefix}(file: {})", str_of(&c["file"], "url"))),
            _ => out.push(format!("{prefix}(component of type {kind})")),
        }
    }
}

/// A message as a client shows it, in text: the content (mentions shown by name through
/// `names`), each embed (`│ `-prefixed: author, title, description, `name: value` fields,
/// images, `— footer`), then the components: buttons as `[n Label]` with their `custom_id`s on
/// an `ids:` line, link buttons as `[Label](url)`, disabled ones marked, select menus as
/// `<n placeholder>` with their numbered options. `n` numbers the usable components in
/// [`numbered_components`]' order. Empty content with nothing else renders as `(empty message)`.
pub fn render_message(message: &Value, names: &dyn Fn(Mention) -> Option<String>) -> String {
    let mut out = Vec::new();
    push_lines(
        &mut out,
        "",
        &display_mentions(str_of(message, "content"), names),
    );
    for embed in message["embeds"].as_array().into_iter().flatten() {
        render_embed(&mut out, embed, names);
    }
    for attachment in message["attachments"].as_array().into_iter().flatten() {
        out.push(format!("(attachment: {})", str_of(attachment, "filename")));
    }
    let components = message["components"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let numbers = numbered_components(components);
    render_components(&mut out, components, &numbers, "");
    if out.is_empty() {
        return "(empty message)".to_owned();
    }
    out.join("\n")
}

/// A modal (the callback `data`: `title`, `custom_id`, components) as text: its title and id,
/// then one line per text input, `custom_id: Label [paragraph, required] = "prefilled"`.
pub fn render_modal(modal: &Value) -> String {
    let mut out = vec![format!(
        "form \"{}\" (id {})",
        str_of(modal, "title"),
        compact(str_of(modal, "custom_id"))
    )];
    for top in modal["components"].as_array().into_iter().flatten() {
        let (input, label) = match top["type"].as_u64() {
            Some(ACTION_ROW) => (
                &top["components"][0],
                str_of(&top["components"][0], "label"),
            ),
            Some(LABEL) => (&top["component"], str_of(top, "label")),
            Some(TEXT_DISPLAY) => {
                push_lines(&mut out, "  ", str_of(top, "content"));
                continue;
            }
            _ => continue,
        };
        if input["type"].as_u64() != Some(TEXT_INPUT) {
            continue;
        }
        let mut notes = Vec::new();
        if input["style"].as_u64() == Some(2) {
            notes.push("paragraph");
        }
        if input["required"].as_bool() != Some(false) {
            notes.push("required");
        }
        let mut line = format!("  {}: {label}", str_of(input, "custom_id"));
        if !notes.is_empty() {
            let _ = write!(line, " [{}]", notes.join(", "));
        }
        if let Some(value) = input["value"].as_str().filter(|v| !v.is_empty()) {
            let _ = write!(line, " = {value:?}");
        }
        out.push(line);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates() -> Vec<Candidate> {
        let c = |sigil, name: &str, mention: &str| Candidate {
            sigil,
            name: name.to_owned(),
            mention: mention.to_owned(),
        };
        vec![
            c('@', "user2-99", "<@2>"),
            c('@', "user1-99", "<@1>"),
            c('@', "Moderator", "<@&7>"),
            c('@', "Muted Members", "<@&8>"),
            c('#', "text-0", "<#5>"),
        ]
    }

    #[test]
    fn names_become_mentions() {
        let c = candidates();
        assert_eq!(resolve_names("!ban @user2 spam", &c), "!ban <@2> spam");
        assert_eq!(resolve_names("@USER1-99, hi", &c), "<@1>, hi");
        assert_eq!(resolve_names("@user nope", &c), "@user nope", "ambiguous");
        assert_eq!(
            resolve_names("to @Muted Members in #text-0.", &c),
            "to <@&8> in <#5>."
        );
        assert_eq!(
            resolve_names("a@user2 `@user2` <@2> @everyone", &c),
            "a@user2 `@user2` <@2> @everyone"
        );
    }

    #[test]
    fn mentions_and_timestamps_show_as_a_client_shows_them() {
        let names = |m: Mention| match m {
            Mention::User(2) => Some("user2".to_owned()),
            Mention::Channel(5) => Some("text-0".to_owned()),
            _ => None,
        };
        assert_eq!(
            display_mentions("<@!2> in <#5> <@9> <x", &names),
            "@user2 in #text-0 <@9> <x"
        );
    }
}

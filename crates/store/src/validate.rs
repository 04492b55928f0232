//! Input validation and conversions shared by the repositories.

use std::time::SystemTime;

use mongodb::bson::DateTime;

use crate::StoreError;

/// Longest accepted command prefix, in characters.
pub const MAX_PREFIX_CHARS: usize = 16;
/// Longest accepted command name, in characters (Discord's limit for command names).
pub const MAX_COMMAND_NAME_CHARS: usize = 32;

/// Converts a Discord snowflake to the `i64` stored in MongoDB.
///
/// Snowflakes are below 2^63, so this only fails for values that are not snowflakes.
pub(crate) fn snowflake_to_db(what: &str, id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::invalid(format!("{what} {id} is out of range")))
}

/// Converts a stored `i64` back to a snowflake.
pub(crate) fn snowflake_from_db(what: &str, id: i64) -> Result<u64, StoreError> {
    u64::try_from(id).map_err(|_| StoreError::corrupt(what, format!("negative id {id}")))
}

/// Converts a time to the stored millisecond `DateTime` (sub-millisecond precision is lost).
pub(crate) fn time_to_db(time: SystemTime) -> DateTime {
    DateTime::from_system_time(time)
}

/// Truncates `time` to the millisecond precision that MongoDB stores, so that a value read
/// back compares equal to the value written.
pub fn truncate_to_millis(time: SystemTime) -> SystemTime {
    DateTime::from_system_time(time).to_system_time()
}

/// Checks a command prefix: 1 to [`MAX_PREFIX_CHARS`] characters, no whitespace, control,
/// invisible or format characters (zero-width spaces and joiners, bidi overrides, soft
/// hyphens: Unicode category Cf and fillers that render as nothing) and no backtick (the
/// bot shows prefixes in code spans, which a backtick would break open).
pub fn prefix(prefix: &str) -> Result<(), StoreError> {
    let chars = prefix.chars().count();
    if chars == 0 || chars > MAX_PREFIX_CHARS {
        return Err(StoreError::invalid(format!(
            "a prefix must be 1 to {MAX_PREFIX_CHARS} characters long, got {chars}"
        )));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::invalid(
            "a prefix must not contain whitespace or control characters",
        ));
    }
    if let Some(c) = prefix.chars().find(|&c| is_invisible(c)) {
        return Err(StoreError::invalid(format!(
            "a prefix must not contain invisible or formatting characters (found U+{:04X})",
            u32::from(c)
        )));
    }
    if prefix.contains('`') {
        return Err(StoreError::invalid(
            "a prefix must not contain a backtick (`), it breaks the formatting of messages",
        ));
    }
    Ok(())
}

/// Whether `c` renders as nothing: Unicode general category Cf (format characters such as
/// zero-width space/joiners, word joiner, BOM, bidi embeddings, overrides and isolates, soft
/// hyphen, tag characters) plus the blank fillers and variation selectors that look empty.
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        // Category Cf (Unicode 15).
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            // Combining grapheme joiner, Hangul fillers, braille blank, variation selectors.
            | 0x34F | 0x115F..=0x1160 | 0x2800 | 0x3164 | 0xFFA0 | 0xFE00..=0xFE0F
            | 0xE0100..=0xE01EF
    )
}

/// Checks and normalises a command name: 1 to [`MAX_COMMAND_NAME_CHARS`] characters, no
/// control characters, and no whitespace but single inner spaces (a context-menu command is
/// called "User info"); returned in lower case (command names are case-insensitive).
pub(crate) fn command_name(name: &str) -> Result<String, StoreError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_COMMAND_NAME_CHARS {
        return Err(StoreError::invalid(format!(
            "a command name must be 1 to {MAX_COMMAND_NAME_CHARS} characters long, got {chars}"
        )));
    }
    let odd_space = name.trim() != name
        || name.contains("  ")
        || name.chars().any(|c| c != ' ' && c.is_whitespace());
    if odd_space || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "a command name must not contain control characters, or whitespace other than single spaces between words",
        ));
    }
    Ok(name.to_lowercase())
}

/// Checks a locale tag of the form Discord uses: a 2–3 letter lower-case language, optionally
/// followed by `-` and a 2-letter upper-case region or a 3-digit area (`fr`, `en-US`,
/// `es-419`).
pub fn locale(locale: &str) -> Result<(), StoreError> {
    let (language, region) = match locale.split_once('-') {
        Some((language, region)) => (language, Some(region)),
        None => (locale, None),
    };
    let language_ok =
        (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = region.is_none_or(|r| {
        r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase())
            || r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit())
    });
    if language_ok && region_ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "{locale:?} is not a locale like `en-US`, `fr` or `es-419`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(prefix("!").is_ok());
        assert!(prefix("ñ?").is_ok());
        assert!(prefix(&"x".repeat(16)).is_ok());
        assert!(prefix("").is_err());
        assert!(prefix(&"x".repeat(17)).is_err());
        assert!(prefix("a b").is_err());
        assert!(prefix("a\tb").is_err());
    }

    #[test]
    fn prefixes_without_invisible_or_markdown_breaking_characters() {
        for (bad, names) in [
            ("!\u{200B}", "U+200B"),
            ("\u{200C}!", "U+200C"),
            ("!\u{200D}", "U+200D"),
            ("!\u{2060}", "U+2060"),
            ("\u{FEFF}!", "U+FEFF"),
            ("!\u{202A}", "U+202A"),
            ("\u{202E}!", "U+202E"),
            ("!\u{2066}", "U+2066"),
            ("!\u{2069}", "U+2069"),
            ("a\u{AD}b", "U+00AD"),
            ("!\u{E0041}", "U+E0041"),
            ("\u{3164}", "U+3164"),
            ("a\u{7}", "control"),
            ("a\u{85}", "control"),
            ("`", "backtick"),
            ("x`@everyone`x", "backtick"),
            ("``!", "backtick"),
        ] {
            let error = prefix(bad).expect_err(bad).to_string();
            assert!(error.contains(names), "{bad:?}: {error}");
        }
        for good in [
            "!", "?", "$", "->", ">>", "ñ!", "é", "日本", "*", "_", "~", "|", "🎵",
        ] {
            assert!(prefix(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn locales() {
        for ok in ["en-US", "fr", "es-419", "zh-CN", "pt-BR"] {
            assert!(locale(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "en_US", "EN-us", "en-us", "english", "en-", "-US", "en-USA", "en-US-x", "e",
        ] {
            assert!(locale(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_names() {
        assert_eq!(command_name("Ping").unwrap(), "ping");
        assert!(command_name("").is_err());
        assert_eq!(command_name("User info").unwrap(), "user info");
        for bad in [" info", "info ", "user  info", "user\tinfo", "a\u{0}b"] {
            assert!(command_name(bad).is_err(), "{bad:?}");
        }
        assert!(command_name(&"x".repeat(33)).is_err());
    }

    #[test]
    fn snowflakes() {
        assert_eq!(snowflake_to_db("guild id", 42).unwrap(), 42);
        assert!(
            snowflake_to_db("guild id", u64::MAX)
                .unwrap_err()
                .is_invalid()
        );
        assert!(snowflake_from_db("guild", -1).is_err());
    }
}

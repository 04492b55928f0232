//! Durations as users type them (`1h30m`, `0:27`) and as the bot shows them.

use std::time::Duration;

/// Parses a duration: `90s`, `10m`, `1h30m`, `2d`, `1w`, `1d 12h`, plain seconds (`90`), or a
/// clock as the bot displays positions (`m:ss`, `h:mm:ss`: `0:27`, `1:02:05`). Units (case-insensitive): `s`/`sec`/`secs`/`second(s)`, `m`/`min`/`mins`/`minute(s)`,
/// `h`/`hr`/`hrs`/`hour(s)`, `d`/`day(s)`, `w`/`week(s)`. Returns `None` on anything else,
/// including overflow.
pub fn parse_duration(input: &str) -> Option<Duration> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    if input.bytes().all(|b| b.is_ascii_digit()) {
        return input.parse::<u64>().ok().map(Duration::from_secs);
    }
    if input.contains(':') {
        return parse_clock(input);
    }
    let mut total: u64 = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let amount: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| !c.is_ascii_alphabetic())
            .map_or(rest.len(), |(i, _)| i);
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = rest[unit_len..].trim_start();
        let seconds: u64 = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return None,
        };
        total = total.checked_add(amount.checked_mul(seconds)?)?;
    }
    Some(Duration::from_secs(total))
}

/// `m:ss` or `h:mm:ss` (minutes and seconds after the first part: two digits, below 60).
fn parse_clock(input: &str) -> Option<Duration> {
    let parts: Vec<&str> = input.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let (first, rest) = parts.split_first()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut total: u64 = first.parse().ok()?;
    for part in rest {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = part.parse().ok()?;
        if value >= 60 {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(value)?;
    }
    Some(Duration::from_secs(total))
}

/// Formats a duration for humans: `1h 30m`, `45s`, `1.5s`, `250ms`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    if secs < 10 && duration.subsec_millis() >= 100 {
        return format!("{secs}.{}s", duration.subsec_millis() / 100);
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
        (secs % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

//! Small helpers shared by both simulators: snowflakes, timestamps and ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Discord's epoch (2015-01-01T00:00:00Z) in milliseconds since the Unix epoch.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Generates unique, time-ordered Discord snowflakes.
///
/// The layout is Discord's: 42 bits of milliseconds since [`DISCORD_EPOCH_MS`], 5 bits worker,
/// 5 bits process, 12 bits increment. The increment is global, so ids are unique even when many
/// are made in the same millisecond.
#[derive(Debug, Default)]
pub struct Snowflakes {
    increment: AtomicU64,
}

impl Snowflakes {
    /// A new generator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next snowflake.
    pub fn next(&self) -> u64 {
        let inc = self.increment.fetch_add(1, Ordering::Relaxed);
        let ms = unix_ms().saturating_sub(DISCORD_EPOCH_MS);
        // Carry the increment's high bits into the timestamp so ids stay unique past 4096 per ms.
        ((ms + (inc >> 12)) << 22) | (1 << 17) | (inc & 0xfff)
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The current time as an ISO 8601 timestamp with microseconds and `+00:00`, as Discord writes it.
pub fn iso_now() -> String {
    iso_from_unix_ms(unix_ms())
}

/// An ISO 8601 timestamp (`2024-01-02T03:04:05.678000+00:00`) for a Unix time in milliseconds.
pub fn iso_from_unix_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}000+00:00")
}

/// Parses an ISO 8601 UTC timestamp as clients send it (`2024-01-02T03:04:05[.fff…](Z|+00:00)`)
/// into Unix milliseconds; `None` for anything else (other offsets included).
pub fn unix_ms_from_iso(iso: &str) -> Option<u64> {
    let rest = iso
        .strip_suffix('Z')
        .or_else(|| iso.strip_suffix("+00:00"))?;
    let (date, time) = rest.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, d) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock = clock.splitn(3, ':').map(str::parse::<i64>);
    let (hh, mm, ss) = (
        clock.next()?.ok()?,
        clock.next()?.ok()?,
        clock.next()?.ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    // Howard Hinnant's days-from-civil, the inverse of `civil_from_days`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + millis).ok()
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A random lowercase hex string of `len` characters (session ids, tokens).
pub fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A snowflake as Discord accepts it in JSON ("ID Serialization"): a string of digits or an
/// integer.
pub(crate) fn snowflake(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_parse_back() {
        for ms in [0, 1_704_164_645_678, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(unix_ms_from_iso(&iso_from_unix_ms(ms)), Some(ms));
        }
        assert_eq!(
            unix_ms_from_iso("2024-01-02T03:04:05Z"),
            Some(1_704_164_645_000)
        );
        assert_eq!(
            unix_ms_from_iso("2024-01-02T03:04:05.6Z"),
            Some(1_704_164_645_600)
        );
        for bad in [
            "",
            "2024-01-02",
            "2024-13-02T00:00:00Z",
            "2024-01-02T03:04:05+02:00",
            "x",
        ] {
            assert_eq!(unix_ms_from_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso_timestamps_match_known_dates() {
        assert_eq!(iso_from_unix_ms(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso_from_unix_ms(DISCORD_EPOCH_MS),
            "2015-01-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            iso_from_unix_ms(1_709_251_199_123),
            "2024-02-29T23:59:59.123000+00:00"
        );
    }

    #[test]
    fn snowflakes_are_unique_and_ordered() {
        let snowflakes = Snowflakes::new();
        let ids: Vec<u64> = (0..10_000).map(|_| snowflakes.next()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        let ts = (ids[0] >> 22) + DISCORD_EPOCH_MS;
        assert!(ts.abs_diff(unix_ms()) < 60_000);
    }
}

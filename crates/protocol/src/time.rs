//! The wall clock as Unix time: the one definition every service uses for timestamps that
//! cross a process (event headers, prompt expiries, voice session leases, timeouts).

use std::time::{SystemTime, UNIX_EPOCH};

fn since_epoch() -> std::time::Duration {
    // A clock before 1970 reads as the epoch.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> i64 {
    i64::try_from(since_epoch().as_secs()).unwrap_or(i64::MAX)
}

/// Microseconds since the Unix epoch.
pub fn unix_micros() -> i64 {
    i64::try_from(since_epoch().as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_units_agree() {
        let (ms, secs, micros) = (unix_ms(), unix_secs(), unix_micros());
        assert!(ms > 1_700_000_000_000, "after 2023: {ms}");
        assert!((i64::try_from(ms / 1000).expect("fits") - secs).abs() <= 1);
        assert!((micros / 1000 - i64::try_from(ms).expect("fits")).abs() <= 1000);
    }
}

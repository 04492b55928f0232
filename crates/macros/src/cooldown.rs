//! `cooldown = "user:1/2s"`: parsed at compile time, so a malformed cooldown is a compile error
//! pointing at the string.

/// A parsed cooldown: the scope's variant name, the number of uses and the window.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cooldown {
    pub(crate) scope: &'static str,
    pub(crate) limit: u32,
    pub(crate) per_ms: u64,
}

/// Parses `scope:limit/window`, e.g. `user:1/2s`, `channel:5/10s`, `guild:3/1m`.
pub(crate) fn parse(text: &str) -> Result<Cooldown, String> {
    let usage = "expected \"scope:uses/window\", e.g. \"user:1/2s\" (scope: user, guild or \
                 channel; window: ms, s, m or h)";
    let (scope, rest) = text.split_once(':').ok_or(usage)?;
    let scope = match scope.trim() {
        "user" => "User",
        "guild" => "Guild",
        "channel" => "Channel",
        _ => return Err(usage.to_owned()),
    };
    let (limit, window) = rest.split_once('/').ok_or(usage)?;
    let limit: u32 = limit
        .trim()
        .parse()
        .ok()
        .filter(|l| *l > 0)
        .ok_or("the number of uses must be a whole number of at least 1")?;
    let window = window.trim();
    let split = window.find(|c: char| !c.is_ascii_digit()).ok_or(usage)?;
    let (amount, unit) = window.split_at(split);
    let amount: u64 = amount.parse().map_err(|_| usage.to_owned())?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(usage.to_owned()),
    };
    let per_ms = amount
        .checked_mul(factor)
        .filter(|ms| *ms > 0)
        .ok_or("the window must be positive")?;
    Ok(Cooldown {
        scope,
        limit,
        per_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldowns_parse_or_explain() {
        assert_eq!(
            parse("user:1/2s"),
            Ok(Cooldown {
                scope: "User",
                limit: 1,
                per_ms: 2000
            })
        );
        assert_eq!(parse("channel:5/500ms").map(|c| c.per_ms), Ok(500));
        assert_eq!(parse("guild:3/1m").map(|c| c.scope), Ok("Guild"));
        for bad in [
            "user",
            "user:0/2s",
            "team:1/2s",
            "user:1/2",
            "user:1/0s",
            "user:1/2d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

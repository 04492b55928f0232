//! What to cache.

use std::fmt;
use std::time::Duration;

/// One kind of cached entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// Guilds' own fields (needed by every permission lookup).
    Guilds,
    /// Channels and the channels-of-a-guild index.
    Channels,
    /// Roles.
    Roles,
    /// Members and the guilds-of-a-user index.
    Members,
    /// Users.
    Users,
    /// Custom emojis.
    Emojis,
    /// Voice states and the voice-channel-occupants index.
    VoiceStates,
    /// Presences (off by default: very high volume).
    Presences,
    /// Messages, each kept for a time-to-live (off by default).
    Messages,
}

impl Resource {
    /// Every resource, in the documented order.
    pub const ALL: [Self; 9] = [
        Self::Guilds,
        Self::Channels,
        Self::Roles,
        Self::Members,
        Self::Users,
        Self::Emojis,
        Self::VoiceStates,
        Self::Presences,
        Self::Messages,
    ];

    /// The name used in `CACHE_RESOURCES`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Guilds => "guilds",
            Self::Channels => "channels",
            Self::Roles => "roles",
            Self::Members => "members",
            Self::Users => "users",
            Self::Emojis => "emojis",
            Self::VoiceStates => "voice_states",
            Self::Presences => "presences",
            Self::Messages => "messages",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Resource`]s.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Resources(u16);

impl Resources {
    /// Nothing: the cache is off.
    pub const NONE: Self = Self(0);

    /// The default: everything but presences and messages.
    pub fn default_set() -> Self {
        Self::NONE
            .with(Resource::Guilds)
            .with(Resource::Channels)
            .with(Resource::Roles)
            .with(Resource::Members)
            .with(Resource::Users)
            .with(Resource::Emojis)
            .with(Resource::VoiceStates)
    }

    /// This set plus `resource`.
    #[must_use]
    pub fn with(self, resource: Resource) -> Self {
        Self(self.0 | resource.bit())
    }

    /// Whether `resource` is cached.
    pub fn contains(self, resource: Resource) -> bool {
        self.0 & resource.bit() != 0
    }

    /// Whether nothing is cached.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses a comma-separated list of resource names; `none` (or an empty string) is the
    /// empty set, `default` the default set, `all` everything.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut set = Self::NONE;
        for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "none" => {}
                "default" => set = Self(set.0 | Self::default_set().0),
                "all" => set = Self(set.0 | Resource::ALL.iter().fold(0, |b, r| b | r.bit())),
                _ => {
                    let resource = Resource::ALL
                        .into_iter()
                        .find(|r| r.name() == name)
                        .ok_or_else(|| {
                            format!(
                                "unknown cache resource {name:?} (known: {})",
                                Resource::ALL.map(Resource::name).join(", ")
                            )
                        })?;
                    set = set.with(resource);
                }
            }
        }
        Ok(set)
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                Resource::ALL
                    .into_iter()
                    .filter(|r| self.contains(*r))
                    .map(Resource::name),
            )
            .finish()
    }
}

/// How the gateway maintains the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Cluster prefix of every Redis key (`REDIS_PREFIX`).
    pub prefix: String,
    /// What to cache.
    pub resources: Resources,
    /// How long a cached message lives.
    pub message_ttl: Duration,
    /// Return the previous state of updated and deleted entities ([`Update::previous`]);
    /// costs a Lua call instead of a plain `HSET`/`HDEL` for those updates.
    ///
    /// [`Update::previous`]: crate::Update::previous
    pub previous_state: bool,
}

impl CacheConfig {
    /// The default resources under `prefix`, messages kept for 10 minutes when switched on, no
    /// previous states.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            resources: Resources::default_set(),
            message_ttl: Duration::from_secs(600),
            previous_state: false,
        }
    }

    /// With or without previous states.
    #[must_use]
    pub fn previous_state(mut self, on: bool) -> Self {
        self.previous_state = on;
        self
    }

    /// With these resources.
    #[must_use]
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_parse() {
        let set = Resources::parse("guilds, roles,MEMBERS").expect("valid");
        assert!(set.contains(Resource::Guilds) && set.contains(Resource::Members));
        assert!(!set.contains(Resource::Channels));
        assert!(Resources::parse("none").expect("valid").is_empty());
        assert!(Resources::parse("").expect("valid").is_empty());
        let default = Resources::parse("default,presences").expect("valid");
        assert!(default.contains(Resource::VoiceStates) && default.contains(Resource::Presences));
        assert!(!default.contains(Resource::Messages));
        assert!(
            Resources::parse("all")
                .expect("valid")
                .contains(Resource::Messages)
        );
        let error = Resources::parse("guilds,nope").expect_err("invalid");
        assert!(error.contains("nope"), "{error}");
        assert_eq!(
            format!("{:?}", Resources::parse("roles,guilds").expect("valid")),
            r#"{"guilds", "roles"}"#
        );
    }
}

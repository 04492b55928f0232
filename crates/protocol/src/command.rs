//! Gateway commands: what a worker asks the gateway that owns a shard to do.
//!
//! On the wire a command is a JSON [`CommandEnvelope`] published to the owning gateway's reply
//! queue (`gateway.<id>`, see [`crate::amqp::gateway_queue`]). The payloads reuse
//! twilight-model's outgoing gateway types, so what a worker sends is exactly what the gateway
//! writes to Discord.

use serde::{Deserialize, Serialize};
use twilight_model::gateway::payload::outgoing::request_guild_members::{
    RequestGuildMemberId, RequestGuildMembersInfo,
};
use twilight_model::gateway::payload::outgoing::update_presence::UpdatePresencePayload;
use twilight_model::gateway::payload::outgoing::update_voice_state::UpdateVoiceStateInfo;

/// Version of the envelope format.
pub const ENVELOPE_VERSION: u8 = 1;

/// How many times a command may be re-routed to another gateway before it is dead-lettered
/// (protects against routing loops while shard ownership moves).
pub const MAX_HOPS: u8 = 3;

/// Discord closes a connection with 4002 when a client payload is larger than this (bytes).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Longest activity `name`, `state` or `details` Discord accepts (characters).
pub const MAX_ACTIVITY_TEXT: usize = 128;

/// Most user ids one member request may name (Discord).
pub const MAX_REQUESTED_USERS: usize = 100;

/// Longest member-request `nonce` (bytes; Discord ignores longer ones, so the answer would be
/// unrecognisable).
pub const MAX_NONCE_BYTES: usize = 32;

/// A gateway command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GatewayCommand {
    /// Op 3: set the bot's presence on one shard, or on every shard of the cluster when
    /// `shard_id` is `None` (each gateway applies it to all its shards).
    UpdatePresence {
        /// The shard, or `None` for all.
        shard_id: Option<u32>,
        /// The presence.
        presence: UpdatePresencePayload,
    },
    /// Op 4: join, move or leave a voice channel in a guild.
    UpdateVoiceState(UpdateVoiceStateInfo),
    /// Op 8: request guild members (answered with `GUILD_MEMBERS_CHUNK` events).
    RequestGuildMembers(RequestGuildMembersInfo),
}

impl GatewayCommand {
    /// The guild the command is about, which decides the shard that must execute it.
    pub fn guild_id(&self) -> Option<u64> {
        match self {
            Self::UpdatePresence { .. } => None,
            Self::UpdateVoiceState(info) => Some(info.guild_id.get()),
            Self::RequestGuildMembers(info) => Some(info.guild_id.get()),
        }
    }

    /// The shard that must execute the command, given the cluster's shard count; `None` means
    /// every shard.
    pub fn target_shard(&self, shard_count: u32) -> Option<u32> {
        match self {
            Self::UpdatePresence { shard_id, .. } => *shard_id,
            _ => self
                .guild_id()
                .map(|g| crate::shard_for_guild(g, shard_count)),
        }
    }

    /// Every value [`Self::kind`] returns (metrics labels registered at zero).
    pub const KINDS: &'static [&'static str] = &[
        "update_presence",
        "update_voice_state",
        "request_guild_members",
    ];

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UpdatePresence { .. } => "update_presence",
            Self::UpdateVoiceState(_) => "update_voice_state",
            Self::RequestGuildMembers(_) => "request_guild_members",
        }
    }

    /// The gateway opcode the command is sent with.
    pub fn opcode(&self) -> u8 {
        match self {
            Self::UpdatePresence { .. } => 3,
            Self::UpdateVoiceState(_) => 4,
            Self::RequestGuildMembers(_) => 8,
        }
    }

    /// Checks what Discord would refuse by closing the shard (4002): the payload size and the
    /// documented field limits. (Unknown presence status values never get here: they fail to
    /// decode.)
    pub fn validate(&self) -> Result<(), InvalidCommand> {
        match self {
            Self::UpdatePresence { presence, .. } => {
                for activity in &presence.activities {
                    let fields = [
                        ("activity name", Some(&activity.name)),
                        ("activity state", activity.state.as_ref()),
                        ("activity details", activity.details.as_ref()),
                    ];
                    for (field, text) in fields {
                        let len = text.map_or(0, |t| t.chars().count());
                        if len > MAX_ACTIVITY_TEXT {
                            return Err(InvalidCommand::TooLong {
                                field,
                                len,
                                limit: MAX_ACTIVITY_TEXT,
                                unit: "characters",
                            });
                        }
                    }
                }
            }
            Self::RequestGuildMembers(info) => {
                if let Some(RequestGuildMemberId::Multiple(ids)) = &info.user_ids
                    && ids.len() > MAX_REQUESTED_USERS
                {
                    return Err(InvalidCommand::TooLong {
                        field: "user_ids",
                        len: ids.len(),
                        limit: MAX_REQUESTED_USERS,
                        unit: "ids",
                    });
                }
                let nonce = info.nonce.as_ref().map_or(0, String::len);
                if nonce > MAX_NONCE_BYTES {
                    return Err(InvalidCommand::TooLong {
                        field: "nonce",
                        len: nonce,
                        limit: MAX_NONCE_BYTES,
                        unit: "bytes",
                    });
                }
            }
            Self::UpdateVoiceState(_) => {}
        }
        let size = self.payload_size();
        if size > MAX_PAYLOAD_BYTES {
            return Err(InvalidCommand::TooLarge {
                kind: self.kind(),
                size,
            });
        }
        Ok(())
    }

    /// Size in bytes of the gateway payload (`{"op":…,"d":…}`) this command becomes.
    fn payload_size(&self) -> usize {
        let d = match self {
            Self::UpdatePresence { presence, .. } => serde_json::to_value(presence),
            Self::UpdateVoiceState(info) => serde_json::to_value(info),
            Self::RequestGuildMembers(info) => serde_json::to_value(info),
        };
        let payload = serde_json::json!({ "op": self.opcode(), "d": d.unwrap_or_default() });
        serde_json::to_vec(&payload).map_or(usize::MAX, |bytes| bytes.len())
    }
}

/// Why a well-formed command must not be sent to Discord.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCommand {
    /// The payload exceeds [`MAX_PAYLOAD_BYTES`].
    #[error(
        "the {kind} payload is {size} bytes, over Discord's limit of {MAX_PAYLOAD_BYTES} (it would close the shard with 4002)"
    )]
    TooLarge {
        /// [`GatewayCommand::kind`].
        kind: &'static str,
        /// Serialised size.
        size: usize,
    },
    /// A field over Discord's limit.
    #[error("{field} is {len} {unit} long, over Discord's limit of {limit}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
        /// What `len` counts.
        unit: &'static str,
    },
}

/// The JSON envelope of a command on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Envelope format version ([`ENVELOPE_VERSION`]).
    pub v: u8,
    /// Unique id (for logs and de-duplication).
    pub id: String,
    /// Unix milliseconds when it was issued.
    pub issued_at_ms: u64,
    /// How many times it was re-routed between gateways.
    #[serde(default)]
    pub hops: u8,
    /// The command.
    pub command: GatewayCommand,
}

/// Why bytes on a reply queue are not a usable command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, or not the envelope shape.
    #[error("malformed command envelope: {0}")]
    Malformed(#[from] serde_json::Error),
    /// An envelope version this build does not understand.
    #[error("unsupported command envelope version {0} (this build speaks {ENVELOPE_VERSION})")]
    UnsupportedVersion(u8),
    /// Re-routed too often.
    #[error("command re-routed {0} times (limit {MAX_HOPS})")]
    TooManyHops(u8),
}

impl CommandEnvelope {
    /// A new envelope (hops = 0).
    pub fn new(id: impl Into<String>, issued_at_ms: u64, command: GatewayCommand) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            id: id.into(),
            issued_at_ms,
            hops: 0,
            command,
        }
    }

    /// Serialises to JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising these types cannot fail: no maps with non-string keys, no custom errors.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and validates JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let envelope: Self = serde_json::from_slice(bytes)?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion(envelope.v));
        }
        if envelope.hops > MAX_HOPS {
            return Err(DecodeError::TooManyHops(envelope.hops));
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::gateway::presence::{Activity, ActivityType, MinimalActivity, Status};
    use twilight_model::id::Id;

    fn voice() -> GatewayCommand {
        GatewayCommand::UpdateVoiceState(UpdateVoiceStateInfo {
            channel_id: Some(Id::new(5)),
            guild_id: Id::new(197_038_439_483_310_086),
            self_deaf: true,
            self_mute: false,
        })
    }

    #[test]
    fn envelopes_round_trip_as_json() {
        let activity: Activity = MinimalActivity {
            kind: ActivityType::Playing,
            name: "x".into(),
            url: None,
        }
        .into();
        let presence = GatewayCommand::UpdatePresence {
            shard_id: None,
            presence: UpdatePresencePayload::new(vec![activity], false, None, Status::Online)
                .expect("valid presence"),
        };
        for command in [voice(), presence] {
            let envelope = CommandEnvelope::new("id-1", 7, command);
            let back = CommandEnvelope::from_bytes(&envelope.to_bytes()).expect("round trip");
            assert_eq!(back, envelope);
        }
        let json: serde_json::Value =
            serde_json::from_slice(&CommandEnvelope::new("i", 1, voice()).to_bytes())
                .expect("json");
        assert_eq!(json["command"]["type"], "update_voice_state");
        assert_eq!(json["command"]["data"]["guild_id"], "197038439483310086");
    }

    fn presence(name: &str) -> GatewayCommand {
        let activity: Activity = MinimalActivity {
            kind: ActivityType::Playing,
            name: name.into(),
            url: None,
        }
        .into();
        GatewayCommand::UpdatePresence {
            shard_id: None,
            presence: UpdatePresencePayload::new(vec![activity], false, None, Status::Online)
                .expect("valid presence"),
        }
    }

    #[test]
    fn commands_discord_would_refuse_are_invalid() {
        assert_eq!(presence(&"x".repeat(128)).validate(), Ok(()));
        assert_eq!(voice().validate(), Ok(()));
        assert!(matches!(
            presence(&"x".repeat(129)).validate(),
            Err(InvalidCommand::TooLong {
                field: "activity name",
                len: 129,
                ..
            })
        ));
        let mut big = presence("x");
        if let GatewayCommand::UpdatePresence { presence, .. } = &mut big {
            presence.activities[0].url = Some("u".repeat(5000));
        }
        let error = big.validate().expect_err("too large");
        assert!(
            matches!(error, InvalidCommand::TooLarge { kind: "update_presence", size } if size > 5000)
        );
        assert!(error.to_string().contains("4002"), "{error}");
        let members = |nonce: &str, ids: u64| {
            GatewayCommand::RequestGuildMembers(RequestGuildMembersInfo {
                guild_id: Id::new(1),
                limit: None,
                nonce: Some(nonce.to_owned()),
                presences: None,
                query: None,
                user_ids: Some(RequestGuildMemberId::Multiple(
                    (1..=ids).map(Id::new).collect(),
                )),
            })
        };
        assert_eq!(members("n", 100).validate(), Ok(()));
        assert!(members("n", 101).validate().is_err());
        assert!(members(&"n".repeat(33), 1).validate().is_err());
        // An unknown status is not a presence at all.
        let mut json: serde_json::Value =
            serde_json::from_slice(&CommandEnvelope::new("i", 1, presence("x")).to_bytes())
                .expect("json");
        json["command"]["data"]["presence"]["status"] = "sleepy".into();
        assert!(matches!(
            CommandEnvelope::from_bytes(json.to_string().as_bytes()),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn targets_follow_the_guild() {
        assert_eq!(voice().target_shard(1000), Some(770));
        assert_eq!(voice().guild_id(), Some(197_038_439_483_310_086));
    }

    #[test]
    fn bad_envelopes_are_clear_errors() {
        assert!(matches!(
            CommandEnvelope::from_bytes(b"{"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            CommandEnvelope::from_bytes(
                br#"{"v":1,"id":"x","issued_at_ms":1,"command":{"type":"explode","data":{}}}"#
            ),
            Err(DecodeError::Malformed(_))
        ));
        let mut envelope = CommandEnvelope::new("x", 1, voice());
        envelope.v = 9;
        assert!(matches!(
            CommandEnvelope::from_bytes(&envelope.to_bytes()),
            Err(DecodeError::UnsupportedVersion(9))
        ));
        envelope.v = ENVELOPE_VERSION;
        envelope.hops = MAX_HOPS + 1;
        assert!(matches!(
            CommandEnvelope::from_bytes(&envelope.to_bytes()),
            Err(DecodeError::TooManyHops(_))
        ));
    }
}

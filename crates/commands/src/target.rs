//! The target of a context-menu command: the user or message it was used on, with what the
//! interaction resolved about it.

use twilight_model::application::interaction::InteractionMember;
use twilight_model::application::interaction::application_command::CommandData;
use twilight_model::channel::Message;
use twilight_model::id::Id;
use twilight_model::id::marker::{MessageMarker, UserMarker};
use twilight_model::user::User;

use crate::spec::CommandKind;

/// What a context-menu command was used on.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A user (user command).
    User {
        /// The user's id.
        id: Id<UserMarker>,
        /// The user, as the interaction resolved it.
        user: Option<Box<User>>,
        /// The user as a member of the guild, when used in one.
        member: Option<Box<InteractionMember>>,
    },
    /// A message (message command).
    Message {
        /// The message's id.
        id: Id<MessageMarker>,
        /// The message, as the interaction resolved it.
        message: Option<Box<Message>>,
    },
}

impl Target {
    /// The target of a user or message command's interaction (`None` for a chat input
    /// command, or a payload without a target).
    pub fn from_interaction(kind: CommandKind, data: &CommandData) -> Option<Self> {
        let id = data.target_id?;
        let resolved = data.resolved.as_ref();
        match kind {
            CommandKind::User => {
                let id = id.cast();
                Some(Self::User {
                    id,
                    user: resolved
                        .and_then(|r| r.users.get(&id))
                        .cloned()
                        .map(Box::new),
                    member: resolved
                        .and_then(|r| r.members.get(&id))
                        .cloned()
                        .map(Box::new),
                })
            }
            CommandKind::Message => {
                let id = id.cast();
                Some(Self::Message {
                    id,
                    message: resolved
                        .and_then(|r| r.messages.get(&id))
                        .cloned()
                        .map(Box::new),
                })
            }
            CommandKind::ChatInput => None,
        }
    }

    /// The targeted user's id (user commands).
    pub fn user_id(&self) -> Option<Id<UserMarker>> {
        match self {
            Self::User { id, .. } => Some(*id),
            Self::Message { .. } => None,
        }
    }

    /// The targeted message's id (message commands).
    pub fn message_id(&self) -> Option<Id<MessageMarker>> {
        match self {
            Self::Message { id, .. } => Some(*id),
            Self::User { .. } => None,
        }
    }
}

//! [`Reply`]: what a command, a prompt answer or a component handler sends back.

use twilight_model::channel::message::{AllowedMentions, Component, Embed, MentionType};
use twilight_model::http::attachment::Attachment;
use twilight_model::id::Id;
use twilight_model::id::marker::{RoleMarker, UserMarker};

use crate::modal::Modal;
use crate::prompt::PromptState;

/// What to send back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// Message text.
    pub content: String,
    /// Embeds.
    pub embeds: Vec<Embed>,
    /// Only visible to the invoking user (slash commands; prefix replies ignore it).
    pub ephemeral: bool,
    /// A follow-up question: the dispatcher opens this prompt after the reply, and the user's
    /// next message in the channel goes to [`Command::on_answer`].
    ///
    /// [`Command::on_answer`]: crate::Command::on_answer
    pub prompt: Option<PromptState>,
    /// Message components: action rows of buttons or a select menu (see
    /// [`check_components`](crate::component::check_components) for Discord's limits).
    pub components: Vec<Component>,
    /// When answering a component interaction: edit the message the component belongs to
    /// (interaction response 7) instead of sending a new one. Ignored elsewhere.
    pub update: bool,
    /// A form to open instead of a message (only as the first answer to a slash command or a
    /// component click; prefix commands answer that the form needs the slash command).
    pub modal: Option<Modal>,
    /// Who may be pinged by this reply; `None` (the default) pings nobody, whatever the
    /// content says (see [`Reply::allow_user_mentions`] and its siblings).
    pub allowed_mentions: Option<AllowedMentions>,
    /// Files uploaded with the message (see [`Reply::with_file`]).
    pub attachments: Vec<Attachment>,
}

impl Reply {
    /// A plain text reply.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }

    /// An ephemeral text reply.
    pub fn ephemeral(content: impl Into<String>) -> Self {
        Self {
            ephemeral: true,
            ..Self::text(content)
        }
    }

    /// Asks `state.question` and waits for the answer.
    pub fn ask(state: PromptState) -> Self {
        Self {
            content: state.question.clone(),
            prompt: Some(state),
            ..Self::default()
        }
    }

    /// Adds an embed.
    #[must_use]
    pub fn with_embed(mut self, embed: Embed) -> Self {
        self.embeds.push(embed);
        self
    }
}

impl From<String> for Reply {
    fn from(content: String) -> Self {
        Self::text(content)
    }
}

impl From<&str> for Reply {
    fn from(content: &str) -> Self {
        Self::text(content)
    }
}

impl Reply {
    /// Adds message components (action rows); replaces the ones already set.
    #[must_use]
    pub fn with_components(mut self, rows: impl IntoIterator<Item = Component>) -> Self {
        self.components = rows.into_iter().collect();
        self
    }

    /// Opens `modal` (a form); its submission goes to the handler its `custom_id` names.
    pub fn modal(modal: Modal) -> Self {
        Self {
            modal: Some(modal),
            ..Self::default()
        }
    }

    /// Answers a component interaction by editing the component's message (its content,
    /// embeds and components become this reply's) instead of sending a new message.
    #[must_use]
    pub fn update_message(mut self) -> Self {
        self.update = true;
        self
    }
}

impl Reply {
    /// Checks the reply's components and modal against Discord's limits (Discord would refuse
    /// the whole answer).
    pub fn check(&self) -> Result<(), crate::component::ComponentError> {
        crate::component::check_components(&self.components)?;
        check_attachments(&self.attachments)?;
        match &self.modal {
            Some(modal) => modal.check(),
            None => Ok(()),
        }
    }
}

impl Reply {
    /// The mention policy this reply is sent with: nothing pings unless the author allowed it
    /// explicitly (user-controlled text such as a prefix or an echoed argument can never
    /// mention `@everyone`, a role or a user by accident).
    pub fn mentions(&self) -> AllowedMentions {
        self.allowed_mentions.clone().unwrap_or_default()
    }

    fn mentions_mut(&mut self) -> &mut AllowedMentions {
        self.allowed_mentions
            .get_or_insert_with(AllowedMentions::default)
    }

    /// Lets the mentions of these users in the content ping them (the others still do not).
    #[must_use]
    pub fn allow_user_mentions(mut self, users: impl IntoIterator<Item = Id<UserMarker>>) -> Self {
        let allowed = &mut self.mentions_mut().users;
        for user in users {
            if !allowed.contains(&user) {
                allowed.push(user);
            }
        }
        self
    }

    /// Lets the mentions of these roles in the content ping them (the others still do not).
    #[must_use]
    pub fn allow_role_mentions(mut self, roles: impl IntoIterator<Item = Id<RoleMarker>>) -> Self {
        let allowed = &mut self.mentions_mut().roles;
        for role in roles {
            if !allowed.contains(&role) {
                allowed.push(role);
            }
        }
        self
    }

    /// Lets `@everyone` and `@here` in the content ping (the bot also needs the permission).
    #[must_use]
    pub fn allow_everyone_mention(mut self) -> Self {
        let parse = &mut self.mentions_mut().parse;
        if !parse.contains(&MentionType::Everyone) {
            parse.push(MentionType::Everyone);
        }
        self
    }

    /// Attaches a file (uploaded with the message; `<attachment://name>` refers to it from an
    /// embed). Up to [`MAX_ATTACHMENTS`] files; see [`Reply::check`].
    #[must_use]
    pub fn with_file(mut self, filename: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        let id = u64::try_from(self.attachments.len()).unwrap_or(u64::MAX);
        self.attachments
            .push(Attachment::from_bytes(filename.into(), bytes.into(), id));
        self
    }
}

/// Most files one message carries (Discord's limit).
pub const MAX_ATTACHMENTS: usize = 10;

/// Largest upload the SDK accepts per message, in bytes (Discord's limit for bots without a
/// boosted server).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Refuses what Discord would: more than [`MAX_ATTACHMENTS`] files, more than
/// [`MAX_UPLOAD_BYTES`] in all, or an empty file name.
fn check_attachments(files: &[Attachment]) -> Result<(), crate::component::ComponentError> {
    use crate::component::ComponentError;
    if files.len() > MAX_ATTACHMENTS {
        return Err(ComponentError(format!(
            "{} attached files (at most {MAX_ATTACHMENTS})",
            files.len()
        )));
    }
    let total: usize = files.iter().map(|f| f.file.len()).sum();
    if total > MAX_UPLOAD_BYTES {
        return Err(ComponentError(format!(
            "{total} bytes of attached files (at most {MAX_UPLOAD_BYTES})"
        )));
    }
    if let Some(file) = files.iter().find(|f| f.filename.trim().is_empty()) {
        return Err(ComponentError(format!(
            "attached file {} has no name",
            file.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_ping_nobody_unless_allowed() {
        let json = |reply: &Reply| serde_json::to_value(reply.mentions()).expect("json");
        assert_eq!(
            json(&Reply::text("@everyone")),
            serde_json::json!({"parse": []})
        );
        let reply = Reply::text("<@5> <@&7> @everyone")
            .allow_user_mentions([Id::new(5), Id::new(5)])
            .allow_role_mentions([Id::new(7)])
            .allow_everyone_mention();
        assert_eq!(
            json(&reply),
            serde_json::json!({"parse": ["everyone"], "users": ["5"], "roles": ["7"]})
        );
    }

    #[test]
    fn attachments_are_numbered_and_checked() {
        let reply = Reply::text("logs")
            .with_file("a.txt", b"one".to_vec())
            .with_file("b.txt", "two");
        let ids: Vec<u64> = reply.attachments.iter().map(|a| a.id).collect();
        assert_eq!(ids, [0, 1]);
        assert!(reply.check().is_ok());
        let too_many = (0..=MAX_ATTACHMENTS).fold(Reply::text("x"), |r, i| {
            r.with_file(format!("{i}.txt"), "x")
        });
        let error = too_many.check().expect_err("11 files");
        assert!(error.to_string().contains("11 attached files"), "{error}");
        let big = Reply::text("x").with_file("big.bin", vec![0; MAX_UPLOAD_BYTES + 1]);
        assert!(big.check().is_err());
        assert!(Reply::text("x").with_file(" ", "x").check().is_err());
    }
}

//! [`Reply`]: what a command, a prompt answer or a component handler sends back.

use twilight_model::channel::message::{Component, Embed};

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
        match &self.modal {
            Some(modal) => modal.check(),
            None => Ok(()),
        }
    }
}

//! Modals: a form of text inputs opened as the first answer to a slash command or a component
//! click, and submitted back as an interaction handled by `custom_id` like a component
//! ([`crate::component`]).

use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::{ActionRow, TextInput, TextInputStyle};

use crate::component::{ComponentError, MAX_CUSTOM_ID};

/// A form to open.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Modal {
    /// Names the handler of the submission (`name` or `name:state`, as for components).
    pub custom_id: String,
    /// The title (at most 45 characters).
    pub title: String,
    /// The text inputs (1 to 5).
    pub inputs: Vec<ModalInput>,
}

/// One text input of a [`Modal`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModalInput {
    /// The key of its value in the submission.
    pub custom_id: String,
    /// The label (at most 45 characters).
    pub label: String,
    /// Several lines (`true`) or one.
    pub paragraph: bool,
    /// Whether it must be filled in.
    pub required: bool,
    /// Shortest accepted value (0 to 4000).
    pub min_length: Option<u16>,
    /// Longest accepted value (1 to 4000).
    pub max_length: Option<u16>,
    /// Shown while empty (at most 100 characters).
    pub placeholder: Option<String>,
    /// Pre-filled value.
    pub value: Option<String>,
}

impl Modal {
    /// A form `title` whose submission goes to the handler `custom_id` names.
    pub fn new(custom_id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            custom_id: custom_id.into(),
            title: title.into(),
            inputs: Vec::new(),
        }
    }

    /// Adds a required one-line input.
    #[must_use]
    pub fn short(self, custom_id: &str, label: &str) -> Self {
        self.input(ModalInput::new(custom_id, label, false))
    }

    /// Adds a required multi-line input.
    #[must_use]
    pub fn paragraph(self, custom_id: &str, label: &str) -> Self {
        self.input(ModalInput::new(custom_id, label, true))
    }

    /// Adds `input`.
    #[must_use]
    pub fn input(mut self, input: ModalInput) -> Self {
        self.inputs.push(input);
        self
    }

    /// The action rows Discord expects (one text input each).
    pub fn components(&self) -> Vec<Component> {
        self.inputs
            .iter()
            .map(|input| {
                Component::ActionRow(ActionRow {
                    components: vec![Component::TextInput(TextInput {
                        custom_id: input.custom_id.clone(),
                        id: None,
                        #[allow(
                            deprecated,
                            reason = "labels inside text inputs are what every client shows"
                        )]
                        label: Some(input.label.clone()),
                        max_length: input.max_length,
                        min_length: input.min_length,
                        placeholder: input.placeholder.clone(),
                        required: Some(input.required),
                        style: if input.paragraph {
                            TextInputStyle::Paragraph
                        } else {
                            TextInputStyle::Short
                        },
                        value: input.value.clone(),
                    })],
                    id: None,
                })
            })
            .collect()
    }

    /// Checks Discord's limits: title ≤ 45 characters, 1–5 inputs with unique `custom_id`s
    /// (≤ 100), labels ≤ 45, lengths within 0–4000 and ordered, placeholders ≤ 100.
    pub fn check(&self) -> Result<(), ComponentError> {
        let fail = |message: String| Err(ComponentError(message));
        if self.title.is_empty() || self.title.chars().count() > 45 {
            return fail("modal title must be 1 to 45 characters".to_owned());
        }
        if self.custom_id.is_empty() || self.custom_id.chars().count() > MAX_CUSTOM_ID {
            return fail("modal custom_id must be 1 to 100 characters".to_owned());
        }
        if !(1..=5).contains(&self.inputs.len()) {
            return fail(format!(
                "a modal holds 1 to 5 inputs, not {}",
                self.inputs.len()
            ));
        }
        for (i, input) in self.inputs.iter().enumerate() {
            if input.custom_id.is_empty() || input.custom_id.chars().count() > MAX_CUSTOM_ID {
                return fail(format!("input {i}: custom_id must be 1 to 100 characters"));
            }
            if self.inputs[..i]
                .iter()
                .any(|o| o.custom_id == input.custom_id)
            {
                return fail(format!(
                    "input custom_id `{}` is used twice",
                    input.custom_id
                ));
            }
            if input.label.is_empty() || input.label.chars().count() > 45 {
                return fail(format!("input {i}: label must be 1 to 45 characters"));
            }
            let (min, max) = (
                input.min_length.unwrap_or(0),
                input.max_length.unwrap_or(4000),
            );
            if min > 4000 || max == 0 || max > 4000 || min > max {
                return fail(format!("input {i}: lengths {min}..{max} outside 0..4000"));
            }
            if input
                .placeholder
                .as_ref()
                .is_some_and(|p| p.chars().count() > 100)
            {
                return fail(format!("input {i}: placeholder longer than 100 characters"));
            }
        }
        Ok(())
    }
}

impl ModalInput {
    /// A required input.
    pub fn new(custom_id: &str, label: &str, paragraph: bool) -> Self {
        Self {
            custom_id: custom_id.to_owned(),
            label: label.to_owned(),
            paragraph,
            required: true,
            min_length: None,
            max_length: None,
            placeholder: None,
            value: None,
        }
    }

    /// Makes it optional.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Bounds the value's length.
    #[must_use]
    pub fn length(mut self, min: u16, max: u16) -> Self {
        self.min_length = Some(min);
        self.max_length = Some(max);
        self
    }

    /// Sets the placeholder.
    #[must_use]
    pub fn placeholder(mut self, text: &str) -> Self {
        self.placeholder = Some(text.to_owned());
        self
    }

    /// Pre-fills the value.
    #[must_use]
    pub fn value(mut self, text: &str) -> Self {
        self.value = Some(text.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modal_limits() {
        let ok = Modal::new("feedback", "Feedback").paragraph("text", "What do you think?");
        assert!(ok.check().is_ok());
        assert_eq!(ok.components().len(), 1);
        for (modal, why) in [
            (Modal::new("f", "x".repeat(46)).short("a", "A"), "title"),
            (Modal::new("f", "F"), "1 to 5"),
            (
                Modal::new("f", "F").short("a", "A").short("a", "B"),
                "twice",
            ),
            (
                Modal::new("f", "F").input(ModalInput::new("a", "A", false).length(10, 5)),
                "lengths",
            ),
            (Modal::new("f", "F").short("a", &"l".repeat(46)), "label"),
        ] {
            let error = modal.check().expect_err(why);
            assert!(error.0.contains(why), "{error} vs {why}");
        }
    }
}

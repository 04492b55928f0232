//! The tokenizer of prefix arguments: words, and phrases in straight or typographic quotes
//! with backslash escapes.

/// A token reader over the text after the command name.
pub(super) struct Tokens<'a> {
    rest: &'a str,
}

pub(super) enum Token {
    Word(String),
    Unclosed,
}

fn closing_quote(open: char) -> Option<char> {
    match open {
        '"' => Some('"'),
        '“' => Some('”'),
        '„' => Some('“'),
        _ => None,
    }
}

impl<'a> Tokens<'a> {
    pub(super) fn new(rest: &'a str) -> Self {
        Self {
            rest: rest.trim_start(),
        }
    }

    /// The remaining raw text (trimmed).
    pub(super) fn remainder(&self) -> &'a str {
        self.rest.trim()
    }

    /// The next token: a word, or a quoted phrase with `\"` and `\\` escapes. Outside quotes,
    /// a backslash escapes a quote, a backslash or a space.
    pub(super) fn next_token(&mut self) -> Option<Token> {
        let mut chars = self.rest.char_indices().peekable();
        let (_, first) = chars.next()?;
        let mut out = String::new();
        if let Some(close) = closing_quote(first) {
            let mut escaped = false;
            for (i, c) in chars {
                if escaped {
                    if c != close && c != '\\' && c != '"' {
                        out.push('\\');
                    }
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == close {
                    self.rest = self.rest[i + c.len_utf8()..].trim_start();
                    return Some(Token::Word(out));
                } else {
                    out.push(c);
                }
            }
            return Some(Token::Unclosed);
        }
        let mut escaped = false;
        let mut end = self.rest.len();
        for (i, c) in std::iter::once((0, first)).chain(chars) {
            if escaped {
                if !(c == '"' || c == '\\' || c.is_whitespace()) {
                    out.push('\\');
                }
                out.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c.is_whitespace() {
                end = i;
                break;
            } else {
                out.push(c);
            }
        }
        if escaped {
            out.push('\\');
        }
        self.rest = self.rest[end..].trim_start();
        Some(Token::Word(out))
    }
}

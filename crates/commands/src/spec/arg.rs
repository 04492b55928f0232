//! A command's arguments: what each takes ([`ArgKind`]), its declaration ([`ArgSpec`]) and its
//! typed bounds ([`Bound`]).

use std::time::Duration;

use crate::args::ArgValue;

/// A bound of an argument, typed by what it bounds: a whole number for an integer argument,
/// any finite number for a number argument, a [`Duration`] (or seconds) for a duration
/// argument. Built with `.into()` from integers, floats and durations.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Bound {
    /// A whole number (seconds for a duration).
    Integer(i64),
    /// A decimal number (seconds for a duration).
    Number(f64),
    /// A duration.
    Duration(Duration),
}

macro_rules! integer_bounds {
    ($($t:ty),*) => {$(
        impl From<$t> for Bound {
            fn from(value: $t) -> Self {
                Self::Integer(i64::from(value))
            }
        }
    )*};
}
integer_bounds!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for Bound {
    fn from(value: f64) -> Self {
        Self::Number(value)
    }
}

impl From<f32> for Bound {
    fn from(value: f32) -> Self {
        Self::Number(f64::from(value))
    }
}

impl From<Duration> for Bound {
    fn from(value: Duration) -> Self {
        Self::Duration(value)
    }
}

/// What kind of value an argument takes, with its bounds.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgKind {
    /// A whole number (`i64`), optionally bounded (inclusive).
    Integer {
        /// Smallest accepted value.
        min: Option<i64>,
        /// Largest accepted value.
        max: Option<i64>,
    },
    /// A finite decimal number, optionally bounded (inclusive).
    Number {
        /// Smallest accepted value.
        min: Option<f64>,
        /// Largest accepted value.
        max: Option<f64>,
    },
    /// One word, or several in double quotes.
    String,
    /// Everything after the previous arguments, verbatim (must be the last argument).
    Rest,
    /// `yes`/`no`, `true`/`false`, `on`/`off`, `y`/`n`, `1`/`0`, `enable`/`disable`.
    Boolean,
    /// A user mention (`<@id>`, `<@!id>`) or a raw user id.
    User,
    /// A channel mention (`<#id>`) or a raw channel id.
    Channel,
    /// A role mention (`<@&id>`) or a raw role id.
    Role,
    /// A duration such as `90s`, `10m`, `1h30m`, `2d`, `1w`, or plain seconds; bounded
    /// (inclusive).
    Duration {
        /// Shortest accepted duration.
        min: Option<Duration>,
        /// Longest accepted duration.
        max: Option<Duration>,
    },
    /// One of a fixed list: the user picks from a menu in Discord and types a choice's value
    /// or name (any case) after a prefix. The parsed value is the choice's `value`.
    Choice(Vec<Choice>),
}

/// One entry of an [`ArgKind::Choice`] argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What Discord's menu shows (1–100 characters).
    pub name: String,
    /// What the command receives (1–100 characters, unique within the argument).
    pub value: String,
}

impl Choice {
    /// A choice shown as `name` whose value is `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl ArgKind {
    /// Sets the lower (`lower`) or upper bound, or says why `bound` does not fit this kind.
    fn set_bound(&mut self, lower: bool, bound: Bound) -> Result<(), &'static str> {
        fn slot<T>(lower: bool, min: &mut Option<T>, max: &mut Option<T>, value: T) {
            *(if lower { min } else { max }) = Some(value);
        }
        match (self, bound) {
            (Self::Integer { min, max }, Bound::Integer(value)) => slot(lower, min, max, value),
            (Self::Integer { .. }, _) => {
                return Err("an integer argument takes whole-number bounds");
            }
            (Self::Number { min, max }, Bound::Number(value)) if value.is_finite() => {
                slot(lower, min, max, value);
            }
            (Self::Number { min, max }, Bound::Integer(value)) => {
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "bounds beyond 2^53 are not meaningful for a decimal argument"
                )]
                slot(lower, min, max, value as f64);
            }
            (Self::Number { .. }, _) => return Err("a number argument takes finite number bounds"),
            (Self::Duration { min, max }, Bound::Duration(value)) => slot(lower, min, max, value),
            (Self::Duration { min, max }, Bound::Integer(seconds)) => {
                let seconds =
                    u64::try_from(seconds).map_err(|_| "a duration bound cannot be negative")?;
                slot(lower, min, max, Duration::from_secs(seconds));
            }
            (Self::Duration { min, max }, Bound::Number(seconds)) => {
                let value = Duration::try_from_secs_f64(seconds).map_err(
                    |_| "a duration bound must be a finite, non-negative number of seconds",
                )?;
                slot(lower, min, max, value);
            }
            _ => return Err("only integer, number and duration arguments have bounds"),
        }
        Ok(())
    }
}

/// One declared argument of a command.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgSpec {
    /// Name: shown in usage lines and used as the slash option name.
    pub name: String,
    /// Description shown in help and as the slash option description.
    pub description: String,
    /// Kind of value.
    pub kind: ArgKind,
    /// Whether the argument must be given.
    pub required: bool,
    /// Value used when an optional argument is absent.
    pub default: Option<ArgValue>,
    /// Whether Discord asks the command for suggestions while the user types this argument
    /// (slash commands; [`Command::autocomplete`](crate::Command::autocomplete)).
    pub autocomplete: bool,
    /// Why a bound given to [`min`](Self::min) or [`max`](Self::max) does not fit the kind.
    pub(crate) bound_error: Option<&'static str>,
}

impl ArgSpec {
    fn new(name: &str, kind: ArgKind) -> Self {
        Self {
            name: name.to_owned(),
            description: String::new(),
            kind,
            required: true,
            default: None,
            autocomplete: false,
            bound_error: None,
        }
    }

    /// An unbounded whole number.
    pub fn integer(name: &str) -> Self {
        Self::new(
            name,
            ArgKind::Integer {
                min: None,
                max: None,
            },
        )
    }

    /// A whole number between `min` and `max` (inclusive).
    pub fn integer_in(name: &str, min: i64, max: i64) -> Self {
        Self::new(
            name,
            ArgKind::Integer {
                min: Some(min),
                max: Some(max),
            },
        )
    }

    /// A decimal number.
    pub fn number(name: &str) -> Self {
        Self::new(
            name,
            ArgKind::Number {
                min: None,
                max: None,
            },
        )
    }

    /// One word (or a quoted phrase).
    pub fn string(name: &str) -> Self {
        Self::new(name, ArgKind::String)
    }

    /// The rest of the line, verbatim.
    pub fn rest(name: &str) -> Self {
        Self::new(name, ArgKind::Rest)
    }

    /// A yes/no value.
    pub fn boolean(name: &str) -> Self {
        Self::new(name, ArgKind::Boolean)
    }

    /// A user.
    pub fn user(name: &str) -> Self {
        Self::new(name, ArgKind::User)
    }

    /// A channel.
    pub fn channel(name: &str) -> Self {
        Self::new(name, ArgKind::Channel)
    }

    /// A role.
    pub fn role(name: &str) -> Self {
        Self::new(name, ArgKind::Role)
    }

    /// One of `choices` (at most 25; see [`ArgKind::Choice`]).
    pub fn choice(name: &str, choices: impl IntoIterator<Item = Choice>) -> Self {
        Self::new(name, ArgKind::Choice(choices.into_iter().collect()))
    }

    /// A duration.
    pub fn duration(name: &str) -> Self {
        Self::new(
            name,
            ArgKind::Duration {
                min: None,
                max: None,
            },
        )
    }

    /// Sets the description.
    #[must_use]
    pub fn describe(mut self, description: &str) -> Self {
        description.clone_into(&mut self.description);
        self
    }

    /// Lets the user pick from suggestions while typing the slash option (answered by
    /// [`Command::autocomplete`](crate::Command::autocomplete)).
    #[must_use]
    pub fn autocomplete(mut self) -> Self {
        self.autocomplete = true;
        self
    }

    /// Makes the argument optional (absent unless a [`default`](Self::default) is set).
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Makes the argument optional with `value` when absent.
    #[must_use]
    pub fn default(mut self, value: impl Into<ArgValue>) -> Self {
        self.required = false;
        self.default = Some(value.into());
        self
    }

    /// Sets the lower bound: whole numbers for an integer argument (`.min(1)`), any finite
    /// number for a number argument, a [`Duration`] or seconds (`.min(60)`) for a duration
    /// argument. A bound the argument cannot take (a fraction for an integer, a negative
    /// duration, any bound on another kind) makes [`CommandSpecBuilder::build`](crate::spec::CommandSpecBuilder::build)
    /// fail with [`SpecError::InvalidBound`](crate::spec::SpecError::InvalidBound).
    #[must_use]
    pub fn min(mut self, value: impl Into<Bound>) -> Self {
        if let Err(reason) = self.kind.set_bound(true, value.into()) {
            self.bound_error = Some(reason);
        }
        self
    }

    /// Sets the upper bound (see [`min`](Self::min) for the accepted values).
    #[must_use]
    pub fn max(mut self, value: impl Into<Bound>) -> Self {
        if let Err(reason) = self.kind.set_bound(false, value.into()) {
            self.bound_error = Some(reason);
        }
        self
    }

    /// The usage fragment: `<name>`, `[name]`, `<name…>` or `[name…]`.
    pub fn usage(&self) -> String {
        let dots = if self.kind == ArgKind::Rest {
            "…"
        } else {
            ""
        };
        if self.required {
            format!("<{}{dots}>", self.name)
        } else {
            format!("[{}{dots}]", self.name)
        }
    }
}

pub(crate) fn bounds_ok(arg: &ArgSpec) -> bool {
    fn ordered<T: PartialOrd>(min: Option<&T>, max: Option<&T>) -> bool {
        match (min, max) {
            (Some(a), Some(b)) => a <= b,
            _ => true,
        }
    }
    let bounds = match &arg.kind {
        ArgKind::Integer { min, max } => ordered(min.as_ref(), max.as_ref()),
        ArgKind::Number { min, max } => {
            min.is_none_or(f64::is_finite)
                && max.is_none_or(f64::is_finite)
                && ordered(min.as_ref(), max.as_ref())
        }
        ArgKind::Duration { min, max } => ordered(min.as_ref(), max.as_ref()),
        ArgKind::Choice(choices) => choices_ok(choices) && !arg.autocomplete,
        _ => true,
    };
    bounds
        && arg
            .default
            .as_ref()
            .is_none_or(|value| crate::args::check_value(arg, value.clone()).is_ok())
}

/// Discord's rules for an option's choices: 1–25 of them, names and values of 1–100
/// characters, no value twice.
fn choices_ok(choices: &[Choice]) -> bool {
    let len_ok = |text: &str| (1..=100).contains(&text.chars().count());
    (1..=super::MAX_OPTIONS).contains(&choices.len())
        && choices.iter().enumerate().all(|(i, choice)| {
            len_ok(&choice.name)
                && len_ok(&choice.value)
                && choices[..i].iter().all(|other| other.value != choice.value)
        })
}

//! Typed command arguments: the Rust types a `#[command]` parameter may have.
//!
//! | Rust type | argument | prefix form | slash option |
//! |---|---|---|---|
//! | `String` | one word, or a quoted phrase (`#[rest]`: the rest of the line) | `hello`, `"two words"` | string |
//! | `i64`, `i32`, `u32`, `u16`, `u8` | a whole number, within the type's range | `42` | integer |
//! | `f64` | a finite decimal number | `2.5` | number |
//! | `bool` | yes/no | `yes`, `off`, `1` | boolean |
//! | `Id<UserMarker>` | a user | `@user`, `<@id>`, an id | user |
//! | `Id<ChannelMarker>` | a channel | `#channel`, `<#id>`, an id | channel |
//! | `Id<RoleMarker>` | a role | `@role`, `<@&id>`, an id | role |
//! | `Duration` | a duration | `90s`, `1h30m`, `2d` | string |
//! | an enum deriving [`Choice`](crate::Choice) | one of its variants | a value or name | string with choices |
//! | `Option<T>` | an optional `T` | | not required |
//!
//! Bounds (`#[min = 1]`, `#[max = 100]`; seconds for durations) are checked before the
//! command runs, with a clear message to the user, and sent to Discord as option bounds.
//!
//! A context-menu command (`user_context = "…"`, `message_context = "…"`) has one parameter
//! instead: its target ([`ContextTarget`]) — `Id<UserMarker>` or `User` for a user command,
//! `Id<MessageMarker>` or `Message` for a message command, or [`Target`] for either.

use std::time::Duration;

use swarmcord_commands::{ArgKind, ArgSpec, Args, CommandError, Target};
use twilight_model::channel::Message;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker, RoleMarker, UserMarker};
use twilight_model::user::User;

/// A Rust type usable as a command argument (see the [module docs](self) for the list).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a command argument",
    label = "not an argument type",
    note = "arguments are `String`, `i64`, `i32`, `u32`, `u16`, `u8`, `f64`, `bool`, `Id<UserMarker>`, `Id<ChannelMarker>`, `Id<RoleMarker>`, `Duration`, an enum with `#[derive(swarmcord::Choice)]`, or an `Option` of one",
    note = "for a type of your own, implement `swarmcord::ArgType` for it"
)]
pub trait ArgType: Sized {
    /// The declaration of a required argument `name` of this type.
    fn spec(name: &str) -> ArgSpec;

    /// The value of `name` in parsed arguments. The arguments were validated against
    /// [`spec`](Self::spec) first, so an error here is a bug (reported as an internal error).
    fn extract(args: &Args, name: &str) -> Result<Self, CommandError>;
}

fn missing(name: &str) -> CommandError {
    CommandError::internal(format!(
        "argument `{name}` is missing or of another type than declared"
    ))
}

macro_rules! arg_types {
    ($($ty:ty => $spec:expr, |$args:ident, $name:ident| $read:expr;)*) => {$(
        impl ArgType for $ty {
            fn spec(name: &str) -> ArgSpec {
                ($spec)(name)
            }

            fn extract($args: &Args, $name: &str) -> Result<Self, CommandError> {
                $read.ok_or_else(|| missing($name))
            }
        }
    )*};
}

arg_types! {
    String => ArgSpec::string, |args, name| args.string(name).map(str::to_owned);
    i64 => ArgSpec::integer, |args, name| args.integer(name);
    i32 => |n| ArgSpec::integer_in(n, i32::MIN.into(), i32::MAX.into()),
        |args, name| args.integer(name).and_then(|v| v.try_into().ok());
    u32 => |n| ArgSpec::integer_in(n, 0, u32::MAX.into()),
        |args, name| args.integer(name).and_then(|v| v.try_into().ok());
    u16 => |n| ArgSpec::integer_in(n, 0, u16::MAX.into()),
        |args, name| args.integer(name).and_then(|v| v.try_into().ok());
    u8 => |n| ArgSpec::integer_in(n, 0, u8::MAX.into()),
        |args, name| args.integer(name).and_then(|v| v.try_into().ok());
    f64 => ArgSpec::number, |args, name| args.number(name);
    bool => ArgSpec::boolean, |args, name| args.boolean(name);
    Id<UserMarker> => ArgSpec::user, |args, name| args.user(name);
    Id<ChannelMarker> => ArgSpec::channel, |args, name| args.channel(name);
    Id<RoleMarker> => ArgSpec::role, |args, name| args.role(name);
    Duration => ArgSpec::duration, |args, name| args.duration(name);
}

impl<T: ArgType> ArgType for Option<T> {
    fn spec(name: &str) -> ArgSpec {
        T::spec(name).optional()
    }

    fn extract(args: &Args, name: &str) -> Result<Self, CommandError> {
        if args.get(name).is_none() {
            return Ok(None);
        }
        T::extract(args, name).map(Some)
    }
}

/// The target of a context-menu command, as the type of its parameter.
pub trait ContextTarget: Sized {
    /// The target of the invocation. The dispatcher checked that there is one of the
    /// command's kind, so an error here is a bug or a payload without the resolved object.
    fn extract(args: &Args) -> Result<Self, CommandError>;
}

fn no_target() -> CommandError {
    CommandError::internal("the interaction carries no target of the command's kind")
}

impl ContextTarget for Target {
    fn extract(args: &Args) -> Result<Self, CommandError> {
        args.target().cloned().ok_or_else(no_target)
    }
}

impl ContextTarget for Id<UserMarker> {
    fn extract(args: &Args) -> Result<Self, CommandError> {
        args.target()
            .and_then(Target::user_id)
            .ok_or_else(no_target)
    }
}

impl ContextTarget for Id<MessageMarker> {
    fn extract(args: &Args) -> Result<Self, CommandError> {
        args.target()
            .and_then(Target::message_id)
            .ok_or_else(no_target)
    }
}

impl ContextTarget for User {
    fn extract(args: &Args) -> Result<Self, CommandError> {
        match args.target() {
            Some(Target::User {
                user: Some(user), ..
            }) => Ok((**user).clone()),
            _ => Err(no_target()),
        }
    }
}

impl ContextTarget for Message {
    fn extract(args: &Args) -> Result<Self, CommandError> {
        match args.target() {
            Some(Target::Message {
                message: Some(message),
                ..
            }) => Ok((**message).clone()),
            _ => Err(no_target()),
        }
    }
}

/// `#[rest]`: a string argument that takes the rest of the line (prefix commands).
#[doc(hidden)]
pub fn rest(mut spec: ArgSpec) -> ArgSpec {
    spec.kind = ArgKind::Rest;
    spec
}

/// A `#[min]`/`#[max]` literal as the bound type of [`ArgSpec::min`].
#[doc(hidden)]
pub fn bound(value: impl Into<swarmcord_commands::spec::Bound>) -> swarmcord_commands::spec::Bound {
    value.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmcord_commands::{CommandSpec, parse_args};

    fn parse(specs: Vec<ArgSpec>, input: &str) -> Result<Args, String> {
        let mut builder = CommandSpec::builder("t").description("test");
        for spec in specs {
            builder = builder.arg(spec);
        }
        let spec = builder.build().expect("valid spec");
        parse_args(&spec, "!", input).map_err(|e| e.to_string())
    }

    #[test]
    fn typed_arguments_round_trip() {
        let args = parse(
            vec![
                u8::spec("small"),
                <Option<Duration>>::spec("wait"),
                rest(<Option<String>>::spec("reason")),
            ],
            "200 90s because I said so",
        )
        .expect("parses");
        assert_eq!(u8::extract(&args, "small").expect("u8"), 200);
        assert_eq!(
            <Option<Duration>>::extract(&args, "wait").expect("duration"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            <Option<String>>::extract(&args, "reason").expect("rest"),
            Some("because I said so".to_owned())
        );
        // The type's range is the argument's bound: the user is told, the command never runs.
        let error = parse(vec![u8::spec("small")], "300").expect_err("out of range");
        assert!(error.contains("255"), "{error}");
        // An absent optional argument is None; a value of another type is a bug, not a panic.
        let args = parse(vec![<Option<i64>>::spec("n")], "").expect("parses");
        assert_eq!(<Option<i64>>::extract(&args, "n").expect("absent"), None);
        assert!(bool::extract(&args, "n").is_err());
    }
}

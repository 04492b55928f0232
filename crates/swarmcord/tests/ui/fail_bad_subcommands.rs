use swarmcord::model::id::Id;
use swarmcord::model::id::marker::UserMarker;
use swarmcord::{Context, Reply};

/// Shows the settings.
#[swarmcord::command]
async fn show(_ctx: &Context) -> Reply {
    Reply::text("ok")
}

/// A parent cannot take arguments: Discord puts either subcommands or values in its options.
#[swarmcord::command(subcommands(show))]
async fn settings(_ctx: &Context, verbose: bool) -> Reply {
    Reply::text(verbose.to_string())
}

/// An empty list.
#[swarmcord::command(subcommands())]
async fn empty(_ctx: &Context) -> Reply {
    Reply::text("?")
}

/// A context menu without its target.
#[swarmcord::command(user_context = "Who")]
async fn who(_ctx: &Context) -> Reply {
    Reply::text("?")
}

/// A context menu with a prefix form.
#[swarmcord::command(prefix, message_context = "Quote")]
async fn quote(_ctx: &Context, _user: Id<UserMarker>) -> Reply {
    Reply::text("?")
}

/// A misspelled context.
#[swarmcord::command(contexts(guilds))]
async fn here(_ctx: &Context) -> Reply {
    Reply::text("?")
}

/// A permission list that is not one.
#[swarmcord::command(bot_permissions = "ban members")]
async fn ban(_ctx: &Context) -> Reply {
    Reply::text("?")
}

fn main() {}

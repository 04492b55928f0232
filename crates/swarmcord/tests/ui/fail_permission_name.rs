/// Named as Discord's app shows it.
#[swarmcord::command(permissions(MANAGE_SERVER))]
async fn setup(_ctx: &swarmcord::Context) -> &'static str {
    "Set up."
}

/// The same in the string form.
#[swarmcord::command(bot_permissions = "BAN_MEMBERS | TIMEOUT_MEMBERS")]
async fn mute(_ctx: &swarmcord::Context) -> &'static str {
    "Muted."
}

fn main() {}

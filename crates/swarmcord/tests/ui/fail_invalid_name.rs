use swarmcord::{Context, Reply};

/// Rolls dice.
#[swarmcord::command(name = "Roll Dice")]
async fn roll(_ctx: &Context) -> Reply {
    Reply::text("4")
}

/// Shouts.
#[swarmcord::command]
async fn shout(_ctx: &Context, #[rename = "LOUD"] text: String) -> Reply {
    Reply::text(text)
}

fn main() {}

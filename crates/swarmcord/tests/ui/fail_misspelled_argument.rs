use swarmcord::{Context, Reply};

/// Rolls dice.
#[swarmcord::command]
async fn roll(_ctx: &Context, dice: String) -> Reply {
    Reply::text(dcie)
}

fn main() {}

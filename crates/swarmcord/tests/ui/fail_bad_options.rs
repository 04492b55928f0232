use swarmcord::{Context, Reply};

/// Rolls dice.
#[swarmcord::command(cooldown = "user:0/2s")]
async fn roll(_ctx: &Context) -> Reply {
    Reply::text("4")
}

/// Flips a coin.
#[swarmcord::command(slahs)]
async fn flip(_ctx: &Context) -> Reply {
    Reply::text("heads")
}

#[swarmcord::command]
async fn undocumented(_ctx: &Context) -> Reply {
    Reply::text("?")
}

/// Not async.
#[swarmcord::command]
fn blocking(_ctx: &Context) -> Reply {
    Reply::text("!")
}

/// A typo in an argument attribute.
#[swarmcord::command]
async fn typo(_ctx: &Context, #[descripton = "x"] x: String) -> Reply {
    Reply::text(x)
}

fn main() {}

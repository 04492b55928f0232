use swarmcord::{Context, Reply};

/// Takes a vector.
#[swarmcord::command]
async fn many(_ctx: &Context, items: Vec<String>) -> Reply {
    Reply::text(items.join(","))
}

fn main() {}

/// Rolls a die; the context parameter is missing.
#[swarmcord::command]
async fn roll(sides: u32) -> String {
    format!("d{sides}")
}

fn main() {}

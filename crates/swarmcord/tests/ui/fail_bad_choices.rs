#[derive(swarmcord::Choice)]
enum WithFields {
    Small(u8),
}

#[derive(swarmcord::Choice)]
enum Twice {
    #[choice(value = "a")]
    First,
    #[choice(value = "a")]
    Second,
}

#[derive(swarmcord::Choice)]
enum Empty {}

#[derive(swarmcord::Choice)]
enum Blank {
    #[choice(name = "")]
    Nothing,
}

#[derive(swarmcord::Choice)]
enum Typo {
    #[choice(label = "x")]
    Something,
}

fn main() {}

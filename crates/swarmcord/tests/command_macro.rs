//! Compile-time checks of `#[swarmcord::command]`: what compiles, and the errors a bot author
//! gets for a misspelled argument, an invalid name, a bad cooldown or option, a non-async fn.
//! (trybuild compiles each file in `tests/ui` and compares the errors with the `.stderr` files;
//! `TRYBUILD=overwrite` regenerates them after a deliberate change.)

#[test]
fn command_macro_accepts_declarations_and_explains_mistakes() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass_*.rs");
    cases.compile_fail("tests/ui/fail_*.rs");
}

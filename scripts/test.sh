#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: install cargo-nextest if it is missing, start the
# test services, check formatting and lints, validate the deployment files, run the README's
# first command as a smoke test (the bot answers !ping and /slash ping in the sandbox), the SDK's
# compile-fail tests (cargo test), then every other test (unit, integration against real services,
# end-to-end against the simulators) with cargo-nextest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NEXTEST_VERSION=0.9.151
if ! cargo nextest --version 2>/dev/null | grep -q "$NEXTEST_VERSION"; then
    echo "[test] installing cargo-nextest $NEXTEST_VERSION" >&2
    cargo install cargo-nextest --version "$NEXTEST_VERSION" --locked --quiet
fi

scripts/services.sh up
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
scripts/validate-deploy.sh
scripts/sandbox.sh --say '!ping' --say '/slash ping'
# The SDK's compile-time errors (trybuild; excluded from nextest by .config/nextest.toml).
cargo test --locked -p swarmcord --test command_macro
cargo nextest run --workspace --locked --profile ci

#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: start the test services, check formatting and
# lints, then run every test (unit, integration against real services, end-to-end against the
# simulators) with cargo-nextest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh up
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile ci

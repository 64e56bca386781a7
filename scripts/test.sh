#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, checks formatting, unused
# dependencies (cargo-machete) and lints,
# builds once, and runs every test (unit and end-to-end, against the real binary and kubectl)
# with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  scripts/install-deps.sh
else
  sudo scripts/install-deps.sh
fi
cargo fmt --all -- --check
# No dependency entry that nothing uses.
cargo machete
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked --bins
cargo nextest run --workspace --locked --no-fail-fast

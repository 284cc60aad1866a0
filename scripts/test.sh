#!/usr/bin/env bash
# The project's test command (README, .ci/run): every test, including UI and doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features

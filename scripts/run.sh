#!/usr/bin/env bash
# THE run command: installs what the server needs if missing, builds it, runs it.
#   bash scripts/run.sh                      Janus's sample defaults (HTTP 8088, WS 8188, ...)
#   bash scripts/run.sh --config ianus.toml  a TOML configuration
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain" >&2; exit 1; }

missing=()
for p in libopus-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y "${missing[@]}"
fi

cargo build --release
exec target/release/ianus "$@"

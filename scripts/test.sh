#!/usr/bin/env bash
# THE test command: installs what is missing, builds the workspace, runs every test layer:
#   cargo test (unit, component, protocol), then real peers against target/release/ianus:
#   headless Debian Chromium + janus.js (tests/browser), aiortc (tests/aiortc).
# Env: TEST_JANUS=1 also runs the real-peer tests against Debian's Janus in a netns (reference).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

step_name=""
step() { step_name=$1; printf '\n==> %s\n' "$1"; }
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$step_name" ]; then printf '\nFAILED (exit %s) during: %s\n' "$rc" "$step_name" >&2; fi
}
trap on_exit EXIT
die() { step_name=""; printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

step "checking toolchains"
for tool in cargo node npm python3; do
  command -v "$tool" >/dev/null || die "$tool not found (this machine should have Rust, node 20 and python 3.11)"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "node >= 20 needed, found $(node --version)"

step "system packages"
APT_PKGS=(chromium chromium-driver janus janus-demos janus-tools libopus-dev pkg-config ffmpeg iproute2)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "missing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update || die "apt-get update failed"
  $SUDO apt-get install -y "${APT_PKGS[@]}" || die "apt-get install failed"
else
  echo "all present"
fi
command -v setpriv >/dev/null || die "setpriv (util-linux) not found"

step "npm packages (tests/browser)"
if [ ! -d tests/browser/node_modules ]; then
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 # we use Debian's /usr/bin/chromium, never a download
  if [ -f tests/browser/package-lock.json ]; then
    (cd tests/browser && npm ci --no-audit --no-fund) || die "npm ci failed in tests/browser"
  else
    (cd tests/browser && npm install --no-audit --no-fund) || die "npm install failed in tests/browser"
  fi
else
  echo "present"
fi

step "python packages (tests/aiortc)"
if ! python3 -c 'import aiortc, websockets' 2>/dev/null; then
  python3 -m pip install -r tests/aiortc/requirements.txt \
    || python3 -m pip install --break-system-packages -r tests/aiortc/requirements.txt \
    || die "pip install aiortc websockets failed"
else
  echo "present"
fi

step "cargo build --release --workspace"
cargo build --release --workspace

step "cargo test --release --workspace"
cargo test --release --workspace

IANUS_BIN="$ROOT/target/release/ianus"
[ -x "$IANUS_BIN" ] || die "$IANUS_BIN was not built"
export IANUS_BIN EXPECT_GCM=1

step "browser tests (headless Chromium + janus.js) against Ianus"
(cd tests/browser && npm test)

step "aiortc EchoTest against Ianus"
python3 tests/aiortc/echotest_client.py

if [ "${TEST_JANUS:-0}" = "1" ]; then
  step "reference run: browser + aiortc tests against Debian's Janus in a netns"
  (cd tests/browser && env -u IANUS_BIN -u EXPECT_GCM npm run test:janus)
  env -u IANUS_BIN -u EXPECT_GCM JANUS_NETNS=1 python3 tests/aiortc/echotest_client.py
fi

step_name=""
printf '\nall tests passed\n'

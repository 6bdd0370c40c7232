#!/usr/bin/env bash
# Installs what building and testing need, idempotently: the wasm32 target, the wasm-bindgen CLI
# matching the crate's locked wasm-bindgen version and, with --browser,
# Debian's Chromium + ChromeDriver; then the npm packages of the test harness.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
for a in "$@"; do [ "$a" = "--browser" ] && want_browser=1; done

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)" >&2; exit 1; }
command -v node >/dev/null || { echo "node not found: install Node.js 20 or newer" >&2; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must be exactly the crate's wasm-bindgen version. `--locked` fails against the registry
# here (a locked dependency of the CLI is missing), so it is pinned by version only.
[ -f Cargo.lock ] || cargo generate-lockfile
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  log "installing wasm-bindgen-cli $WB_VERSION (about 1.5 minutes)"
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "cannot install $* (need root and apt-get); install them by hand" >&2; return 1
  fi
  if [ ! -f /tmp/.sf-lead-rule-apt-updated ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch /tmp/.sf-lead-rule-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ "$want_browser" = 1 ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  log "installing Chromium and ChromeDriver from Debian"
  apt_install chromium chromium-driver
fi

if [ ! -d node_modules ] || [ package.json -nt node_modules ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
  touch node_modules
fi

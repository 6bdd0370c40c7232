#!/usr/bin/env bash
# Every test: native core tests, wasm-bindgen tests in Node, the Node harness against the local
# emulator (every host, faults, security), and the demo page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "purity: src/core names no JS binding crate and no target"
# The core is platform-free: what the platform supplies (case mapping, time, randomness, signing)
# is handed in.
impure=$(grep -rnE 'js_sys|wasm_bindgen|web_sys|cfg\(target_arch' src/core || true)
if [ -n "$impure" ]; then
  printf '%s\n' "$impure"
  echo "src/core must not name js_sys, wasm_bindgen, web_sys or cfg(target_arch): inject it instead" >&2
  exit 1
fi

if cargo fmt --version >/dev/null 2>&1; then
  step "formatting (cargo fmt --check)"
  cargo fmt --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  step "lints (cargo clippy, warnings are errors)"
  cargo clippy --quiet --all-targets -- -D warnings
  cargo clippy --quiet --lib --target wasm32-unknown-unknown -- -D warnings
  # The login module is built without the `batch` feature (scripts/build.sh): lint that build too.
  cargo clippy --quiet --lib --target wasm32-unknown-unknown --no-default-features -- -D warnings
fi

step "native core tests (cargo test)"
cargo test --quiet

step "build pkg/ and www/pkg/"
bash scripts/build.sh

step "wasm-bindgen tests in Node"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --test wasm

step "Node harness against the emulator, and the demo page in headless Chromium"
node --test --test-concurrency=2 tests/node/ tests/browser/

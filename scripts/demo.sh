#!/usr/bin/env bash
# The main job: set up (toolchain, wasm-bindgen-cli, npm packages), build pkg/, start the local
# Salesforce + Slack emulator and run a real first login through the Auth0 Action entry point.
# `--serve` then keeps the emulator up and serves the demo page (www/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec node scripts/demo.mjs "$@"

#!/usr/bin/env bash
# Prints the size and speed figures of the package next to the targets (issue 11): the one wasm
# module's size, cold start, per-call times, event reading time against the event's size,
# first-login latency against the emulator vs the Auth0 template's flow, memory over 10,000
# logins, batch backfill, and volume mode (1,000 svix-signed Clerk deliveries, batchWindowMs on
# and off). Figures, not a test: it exits 0 when a target is missed. Also
# writes target/bench.json. About 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh
exec node scripts/bench.mjs "$@"

#!/usr/bin/env bash
# Builds the npm package into pkg/ (Node/CommonJS: sf_lead_rule.js + .wasm + .d.ts, and the
# single-file sf_lead_rule.single.js with the wasm embedded) and the browser build into www/pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --release --target wasm32-unknown-unknown
WASM=target/wasm32-unknown-unknown/release/sf_lead_rule.wasm

# wasm-opt runs before wasm-bindgen: Debian's binaryen (108) predates the externref tables that
# wasm-bindgen's output uses and would corrupt them; on the plain cargo output it is safe.
if command -v wasm-opt >/dev/null; then
  wasm-opt -Oz --strip-debug --strip-producers "$WASM" -o target/sf_lead_rule.opt.wasm
  WASM=target/sf_lead_rule.opt.wasm
fi

wasm-bindgen --target nodejs --out-dir pkg --out-name sf_lead_rule "$WASM"
wasm-bindgen --target web --out-dir www/pkg --out-name sf_lead_rule "$WASM"
node scripts/single-file.mjs
rm -f pkg/.gitignore www/pkg/.gitignore
echo "built pkg/ ($(wc -c < pkg/sf_lead_rule_bg.wasm) bytes of wasm) and www/pkg/" >&2

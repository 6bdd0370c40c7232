#!/usr/bin/env bash
# Builds the npm package into pkg/ (Node/CommonJS: sf_lead_rule.js + .wasm + .d.ts, and the
# single-file sf_lead_rule.single.js with the wasm embedded) and the browser build into www/pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."

# wasm-opt runs before wasm-bindgen: Debian's binaryen (108) predates the externref tables that
# wasm-bindgen's output uses and would corrupt them; on the plain cargo output it is safe.
optimise() {
  if command -v wasm-opt >/dev/null; then
    wasm-opt -Oz --strip-debug --strip-producers "$1" -o "$2"
  else
    cp "$1" "$2"
  fi
}

cargo build --quiet --release --target wasm32-unknown-unknown
optimise target/wasm32-unknown-unknown/release/sf_lead_rule.wasm target/sf_lead_rule.opt.wasm
wasm-bindgen --target nodejs --out-dir pkg --out-name sf_lead_rule target/sf_lead_rule.opt.wasm
wasm-bindgen --target web --out-dir www/pkg --out-name sf_lead_rule target/sf_lead_rule.opt.wasm

# The single-file build: every first-login host, without createLeads and handleWebhook, which
# run where npm packages can be installed anyway.
cargo build --quiet --release --target wasm32-unknown-unknown --no-default-features --target-dir target/single
optimise target/single/wasm32-unknown-unknown/release/sf_lead_rule.wasm target/single/sf_lead_rule.opt.wasm
wasm-bindgen --target nodejs --out-dir target/single/pkg --out-name sf_lead_rule target/single/sf_lead_rule.opt.wasm
[ -d node_modules/terser ] || { echo "terser (minifies the single file) is missing: run bash scripts/setup.sh" >&2; exit 1; }
node scripts/single-file.mjs target/single/pkg
rm -f pkg/.gitignore www/pkg/.gitignore
echo "built pkg/ ($(wc -c < pkg/sf_lead_rule_bg.wasm) bytes of wasm) and www/pkg/" >&2

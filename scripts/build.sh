#!/usr/bin/env bash
# Builds the npm package into pkg/ and the browser build into www/pkg/. Every file is
# wasm-bindgen's output, used as generated:
# - pkg/sf_lead_rule.js + sf_lead_rule_bg.wasm + sf_lead_rule.d.ts: the login module, the
#   package's main entry (`require("sf-lead-rule")`): every login host, the webhooks, the helpers
#   and configure() (--no-default-features: everything but the batch backfill).
# - pkg/sf_lead_rule_backfill.js + sf_lead_rule_backfill_bg.wasm + sf_lead_rule_backfill.d.ts: the
#   full build (default features), its own entry point (`require("sf-lead-rule/backfill")`) for
#   createLeads and the CLI (pkg/bin). It exports what the login module exports, plus createLeads;
#   a login never loads it.
# - www/pkg/: the login module for the browser (--target web), for the demo page.
set -euo pipefail
cd "$(dirname "$0")/.."

# wasm-opt is binaryen's, from npm (node_modules/.bin, installed by setup.sh): Debian's (108)
# predates the externref tables wasm-bindgen emits and is ~2% larger. It runs twice: on cargo's
# output, and again on wasm-bindgen's (which adds shims and tables): ~5% smaller than one pass.
# The features are the ones rustc enables for wasm32 by default, all in Node 20 and Chromium.
WASM_OPT=node_modules/.bin/wasm-opt
[ -x "$WASM_OPT" ] || { echo "wasm-opt (npm binaryen) is missing: run bash scripts/setup.sh" >&2; exit 1; }
WASM_FEATURES=(--enable-bulk-memory --enable-multivalue --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext)
optimise() {
  "$WASM_OPT" -Oz "${WASM_FEATURES[@]}" --strip-debug --strip-producers "$1" -o "$2"
}
# Optimise wasm-bindgen's output in place.
optimise_bound() {
  optimise "$1" "$1.tmp" && mv "$1.tmp" "$1"
}

# Each feature set has its own target dir, so switching between them does not rebuild the other.
# $1: target dir, rest: cargo feature flags. Leaves $1/sf_lead_rule.opt.wasm.
build_wasm() {
  local dir=$1
  shift
  cargo build --quiet --release --target wasm32-unknown-unknown --target-dir "$dir" "$@"
  optimise "$dir/wasm32-unknown-unknown/release/sf_lead_rule.wasm" "$dir/sf_lead_rule.opt.wasm"
}
build_wasm target/login --no-default-features
build_wasm target

# Files of earlier layouts (an entry routing between three modules, a single file) must not
# linger in pkg/.
rm -f pkg/sf_lead_rule*.js pkg/sf_lead_rule*.wasm pkg/sf_lead_rule*.d.ts
# The `_bg.wasm.d.ts` files type the raw wasm exports, which the package does not expose.
bind() {
  wasm-bindgen --target "$1" --out-dir "$2" --out-name "$3" "$4"
  rm -f "$2/$3_bg.wasm.d.ts"
  optimise_bound "$2/$3_bg.wasm"
}
bind nodejs pkg sf_lead_rule target/login/sf_lead_rule.opt.wasm
bind nodejs pkg sf_lead_rule_backfill target/sf_lead_rule.opt.wasm
bind web www/pkg sf_lead_rule target/login/sf_lead_rule.opt.wasm

rm -f pkg/.gitignore www/pkg/.gitignore
# The package ships the project README (package.json "files" lists it).
cp README.md pkg/README.md
size() { echo "$(wc -c < "$1") bytes, gzip -9 $(gzip -9 -c "$1" | wc -c)"; }
echo "built pkg/ (login wasm $(size pkg/sf_lead_rule_bg.wasm); backfill wasm $(size pkg/sf_lead_rule_backfill_bg.wasm)) and www/pkg/" >&2

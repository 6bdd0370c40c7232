#!/usr/bin/env bash
# Builds the npm package into pkg/ and the browser build into www/pkg/:
# - pkg/sf_lead_rule_auth0.js + sf_lead_rule_auth0_bg.wasm: Auth0 (Actions, Rules) and generic
#   events, the helpers and configure() (--no-default-features: the single file's wasm). The
#   package entry pkg/sf_lead_rule.js (hand-written, in git) loads it at require time.
# - pkg/sf_lead_rule_hosts.js + sf_lead_rule_hosts_bg.wasm: every host and handleWebhook, without
#   the batch backfill (--no-default-features --features webhooks). The entry loads it the first
#   time another host's event or a hosts-only export needs it.
# - pkg/sf_lead_rule_batch.js + sf_lead_rule_batch_bg.wasm: the full build (default features,
#   with createLeads). The entry loads it only when createLeads is first called.
# - pkg/sf_lead_rule.d.ts: the types of the full build, i.e. of everything the entry exports.
# - pkg/sf_lead_rule.single.js: the Auth0 entry points with the wasm embedded (Auth0 and generic
#   events only: no other hosts, no backfill, no webhooks), for pasting into Auth0.
# - www/pkg/: the hosts module for the browser (--target web), for the demo page.
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

# Each feature set has its own target dir, so switching between them does not rebuild the others.
# $1: target dir, rest: cargo feature flags. Leaves $1/sf_lead_rule.opt.wasm.
build_wasm() {
  local dir=$1
  shift
  cargo build --quiet --release --target wasm32-unknown-unknown --target-dir "$dir" "$@"
  optimise "$dir/wasm32-unknown-unknown/release/sf_lead_rule.wasm" "$dir/sf_lead_rule.opt.wasm"
}

# The full build (default features: batch + webhooks): the backfill module.
build_wasm target
rm -rf target/pkg-batch
wasm-bindgen --target nodejs --out-dir target/pkg-batch --out-name sf_lead_rule_batch target/sf_lead_rule.opt.wasm
optimise_bound target/pkg-batch/sf_lead_rule_batch_bg.wasm

# The hosts module: everything but the batch backfill.
build_wasm target/login --no-default-features --features webhooks
rm -rf target/pkg-hosts
wasm-bindgen --target nodejs --no-typescript --out-dir target/pkg-hosts --out-name sf_lead_rule_hosts target/login/sf_lead_rule.opt.wasm
optimise_bound target/pkg-hosts/sf_lead_rule_hosts_bg.wasm
# The demo page tries mappings and plans for every host: the hosts module is all it needs.
wasm-bindgen --target web --out-dir www/pkg --out-name sf_lead_rule target/login/sf_lead_rule.opt.wasm
optimise_bound www/pkg/sf_lead_rule_bg.wasm

# The Auth0 + generic build (no all-hosts, batch or webhooks): the single file's wasm, and the
# module require() loads. Compiled once; wasm-bindgen runs twice on it (the names differ).
build_wasm target/single --no-default-features
rm -rf target/pkg-auth0
wasm-bindgen --target nodejs --no-typescript --out-dir target/pkg-auth0 --out-name sf_lead_rule_auth0 target/single/sf_lead_rule.opt.wasm
optimise_bound target/pkg-auth0/sf_lead_rule_auth0_bg.wasm

# Files from earlier layouts (one wasm with everything; a login module) must not linger in pkg/.
rm -f pkg/sf_lead_rule_bg.wasm pkg/sf_lead_rule_bg.wasm.d.ts pkg/sf_lead_rule_batch.d.ts pkg/sf_lead_rule_batch_bg.wasm.d.ts \
  pkg/sf_lead_rule_login.js pkg/sf_lead_rule_login_bg.wasm
cp target/pkg-auth0/sf_lead_rule_auth0.js target/pkg-auth0/sf_lead_rule_auth0_bg.wasm pkg/
cp target/pkg-hosts/sf_lead_rule_hosts.js target/pkg-hosts/sf_lead_rule_hosts_bg.wasm pkg/
cp target/pkg-batch/sf_lead_rule_batch.js target/pkg-batch/sf_lead_rule_batch_bg.wasm pkg/
# The entry (pkg/sf_lead_rule.js) exports what the full build exports, so it has the full
# build's types.
cp target/pkg-batch/sf_lead_rule_batch.d.ts pkg/sf_lead_rule.d.ts
# The generated glue names its own .d.ts, which is not shipped: the entry's is the package's.
sed -i '1{/@ts-self-types/d}' pkg/sf_lead_rule_batch.js

# The single file: the Auth0 + generic build again; the other hosts and the backfill run where
# npm packages can be installed anyway.
wasm-bindgen --target nodejs --out-dir target/single/pkg --out-name sf_lead_rule target/single/sf_lead_rule.opt.wasm
optimise_bound target/single/pkg/sf_lead_rule_bg.wasm
[ -d node_modules/terser ] || { echo "terser (minifies the single file) is missing: run bash scripts/setup.sh" >&2; exit 1; }
node scripts/single-file.mjs target/single/pkg
rm -f pkg/.gitignore www/pkg/.gitignore
# The package ships the project README (package.json "files" lists it).
cp README.md pkg/README.md
echo "built pkg/ (auth0 wasm $(wc -c < pkg/sf_lead_rule_auth0_bg.wasm) bytes, hosts wasm $(wc -c < pkg/sf_lead_rule_hosts_bg.wasm) bytes, backfill wasm $(wc -c < pkg/sf_lead_rule_batch_bg.wasm) bytes) and www/pkg/" >&2

// Writes pkg/sf_lead_rule.single.js: the Node build with the wasm embedded (brotli, base64), for
// hosts that only run code pasted into an editor (Auth0 Rules, function consoles). No other file
// is needed next to it; it only uses Node's built-in zlib.
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants } from "node:zlib";
import { pathToFileURL } from "node:url";

// Input: a wasm-bindgen nodejs build (argument, default pkg/); output: pkg/sf_lead_rule.single.js.
const src = process.argv[2] ? pathToFileURL(process.argv[2].replace(/\/?$/, "/")) : new URL("../pkg/", import.meta.url);
const dir = new URL("../pkg/", import.meta.url);
const glue = readFileSync(new URL("sf_lead_rule.js", src), "utf8");
const wasm = readFileSync(new URL("sf_lead_rule_bg.wasm", src));
const packed = brotliCompressSync(wasm, {
  params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: wasm.length },
}).toString("base64");

const loader = /const wasmPath = .*\n.*readFileSync\(wasmPath\);/;
if (!loader.test(glue)) throw new Error("wasm-bindgen glue changed: cannot find the wasm loader to replace");
const single = glue.replace(
  loader,
  `const wasmBytes = require('zlib').brotliDecompressSync(Buffer.from(${JSON.stringify(packed)}, 'base64'));`,
);
// Works both as a CommonJS module and pasted into a function body (an Auth0 Rule): the module is
// built once per process and kept on globalThis, so warm executions skip instantiation.
const wrapped = `// sf-lead-rule single-file build: wasm embedded (brotli + base64). Paste into a rule, then call sfLeadRule.rule(user, context, callback).
var sfLeadRule = (typeof globalThis !== "undefined" && globalThis.__sfLeadRule) || (function () {
var exports = {};
${single}
return exports;
})();
globalThis.__sfLeadRule = sfLeadRule;
if (typeof module !== "undefined" && module.exports) module.exports = sfLeadRule;
`;
writeFileSync(new URL("sf_lead_rule.single.js", dir), wrapped);
console.error(`single-file build: ${wrapped.length} bytes (wasm ${wasm.length} bytes, brotli+base64 ${packed.length})`);

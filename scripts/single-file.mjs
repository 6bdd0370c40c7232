// Writes pkg/sf_lead_rule.single.js: the Node build with the wasm embedded (brotli, then base93 in a
// string literal), for hosts that only run code pasted into an editor (Auth0 Rules, function
// consoles). No other file is needed next to it; it only uses Node's built-in zlib.
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants } from "node:zlib";
import { pathToFileURL } from "node:url";
import { minify } from "terser";
import { encode as base93, decoderSource } from "./base93.mjs";

// Input: a wasm-bindgen nodejs build (argument, default pkg/); output: pkg/sf_lead_rule.single.js.
const src = process.argv[2] ? pathToFileURL(process.argv[2].replace(/\/?$/, "/")) : new URL("../pkg/", import.meta.url);
const dir = new URL("../pkg/", import.meta.url);
const glue = readFileSync(new URL("sf_lead_rule.js", src), "utf8");
const wasm = readFileSync(new URL("sf_lead_rule_bg.wasm", src));
const brotli = brotliCompressSync(wasm, {
  params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: wasm.length },
});

const packed = base93(brotli);
if (!/^[ !#-[\]-~]*$/.test(packed)) throw new Error("base93 produced a character that needs escaping in a \"…\" literal");

const loader = /const wasmPath = .*\n.*readFileSync\(wasmPath\);/;
if (!loader.test(glue)) throw new Error("wasm-bindgen glue changed: cannot find the wasm loader to replace");
// The payload is spliced in after minifying, in place of a free variable: terser cannot know its
// value (a placeholder string would be constant-folded, its length included).
const PAYLOAD = "__SF_LEAD_RULE_WASM__";
const single = glue.replace(
  loader,
  `const wasmBytes = require('zlib').brotliDecompressSync(base93(${PAYLOAD}));\n${decoderSource}`,
);
// Works both as a CommonJS module and pasted into a function body (an Auth0 Rule): the module is
// built once per process and kept on globalThis, so warm executions skip instantiation. Minified
// as a script (not a module): top-level names (sfLeadRule) and property names (the exports, the
// wasm imports) are kept; only locals are renamed. unsafe_arrows (−1 kB) turns function
// expressions that use neither `this` nor `arguments` into arrows, which is only wrong for one
// that is constructed with `new` or whose prototype is read: the glue's are callbacks and the
// wasm's imports, only ever called.
const header = `// sf-lead-rule, one file for Auth0. In a Rule: sfLeadRule.rule(user, context, callback)`;
const wrapped = `var sfLeadRule = globalThis.__sfLeadRule || (function () {
var exports = {};
${single}
return exports;
})();
globalThis.__sfLeadRule = sfLeadRule;
if (typeof module !== "undefined" && module.exports) module.exports = sfLeadRule;
`;
const min = await minify(wrapped, {
  ecma: 2020,
  module: false,
  toplevel: false,
  compress: { passes: 2, unsafe_arrows: true },
  mangle: true,
  format: { comments: false, preamble: header, ascii_only: true },
});
const parts = min.code.split(PAYLOAD);
if (parts.length !== 2) throw new Error(`minified glue has ${parts.length - 1} copies of the payload placeholder, expected 1`);
const out = `${parts[0]}"${packed}"${parts[1]}\n`;
if (!/^[\x20-\x7e\n]*$/.test(out)) throw new Error("the single file is not pure printable ASCII");
writeFileSync(new URL("sf_lead_rule.single.js", dir), out);
// Sizes in bytes (the file is ASCII): the code around the literal includes the header line and the
// decoder; base64 (what it replaced) is for comparison.
console.error(
  `single-file build: ${out.length} bytes = code ${out.length - packed.length - 2} (glue ${Buffer.byteLength(glue)} ` +
    `before minifying) + "wasm" ${packed.length + 2} (wasm ${wasm.length} → brotli ${brotli.length} → base93 ${packed.length}; ` +
    `base64 would be ${Math.ceil(brotli.length / 3) * 4})`,
);

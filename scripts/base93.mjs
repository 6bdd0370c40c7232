// base93: binary as printable ASCII that goes in a "…" JavaScript literal as is, 8 % shorter than
// base64. The scheme is basE91's (each 2 characters carry 13 bits, or 14 when the 13-bit value is
// small enough) over the 93 characters from space to `~` other than `"` and `\`. Value v is the
// character 32 + v, skipping 34 (`"`) and 92 (`\`); a 13-bit value ≤ 456 leaves room in 93² = 8649
// for a 14th bit.
//
// The decoder shipped in the single file is wasm (a 250-byte module, assembled below): the same
// loop in JavaScript costs 3–6 ms per cold start on 120 kB, interpreted before V8 optimises it;
// the wasm one ~1 ms, instantiation included.
const B = 93, T = B * B - 8192 - 1;

export function encode(bytes) {
  const out = [];
  const put = (v) => out.push(32 + v + (v >= 2) + (v >= 59));
  let b = 0, n = 0;
  for (const byte of bytes) {
    b |= byte << n;
    n += 8;
    if (n > 13) {
      let v = b & 8191;
      if (v > T) {
        b >>= 13;
        n -= 13;
      } else {
        v = b & 16383;
        b >>= 14;
        n -= 14;
      }
      put(v % B);
      put(Math.floor(v / B));
    }
  }
  if (n) {
    put(b % B);
    if (n > 7 || b >= B) put(Math.floor(b / B));
  }
  return Buffer.from(out).toString("latin1");
}

// The decoder: d(l) reads l characters at address 0 of the imported memory and writes the bytes
// over them from address 0 (output never outruns input), returning their count. Locals: 0 l,
// 1 i (input), 2 p (output), 3 b (bit buffer), 4 n (bits in it), 5 v (a pair's value), 6 c.
const sym = "tee 6 const 32 sub get 6 const 34 gt_u sub get 6 const 92 gt_u sub"; // char → value
const program = `
  block loop
    get 1 const 1 add get 0 ge_u br_if 1                                ;; while i + 1 < l
    get 1 load8_u 0 0 ${sym} set 5                                      ;; v = value(in[i])
    get 1 load8_u 0 1 ${sym} const ${B} mul get 5 add set 5             ;;   + ${B} * value(in[i + 1])
    get 3 get 5 get 4 shl or set 3                                      ;; b |= v << n
    get 4 const 13 const 14 get 5 const 8191 and const ${T} gt_u select add set 4 ;; n += 13 or 14
    loop                                                                ;; do
      get 2 get 3 store8 0 0                                            ;;   out[p] = b & 255
      get 2 const 1 add set 2  get 3 const 8 shr_u set 3                ;;   p++, b >>= 8
      get 4 const 8 sub tee 4 const 7 gt_u br_if 0                      ;; while ((n -= 8) > 7)
    end
    get 1 const 2 add set 1 br 0                                        ;; i += 2
  end end
  get 1 get 0 lt_u if                                                   ;; a last lone character
    get 2 get 3 get 1 load8_u 0 0 ${sym} get 4 shl or store8 0 0        ;;   out[p] = b | value << n
    get 2 const 1 add set 2                                             ;;   p++
  end
  get 2 end`;
const opcodes = {
  block: [0x02, 0x40], loop: [0x03, 0x40], if: [0x04, 0x40], end: [0x0b], br: [0x0c], br_if: [0x0d],
  select: [0x1b], get: [0x20], set: [0x21], tee: [0x22], load8_u: [0x2d], store8: [0x3a], const: [0x41],
  lt_u: [0x49], gt_u: [0x4b], ge_u: [0x4f], add: [0x6a], sub: [0x6b], mul: [0x6c], and: [0x71],
  or: [0x72], shl: [0x74], shr_u: [0x76],
};
const uleb = (v) => { const o = []; do { const b = v & 127; v >>>= 7; o.push(v ? b | 128 : b); } while (v); return o; };
const sleb = (v) => {
  for (const o = []; ; ) {
    const b = v & 127;
    v >>= 7;
    if ((v === 0 && !(b & 64)) || (v === -1 && b & 64)) return [...o, b];
    o.push(b | 128);
  }
};
const code = program
  .replace(/;;.*$/gm, "")
  .trim()
  .split(/\s+/)
  .flatMap((t) => {
    if (/^\d+$/.test(t)) return sleb(+t); // i32.const is signed; the other immediates (< 64) read the same
    if (!opcodes[t]) throw new Error(`base93 decoder: unknown instruction ${t}`);
    return opcodes[t];
  });
const name = (s) => [s.length, ...Buffer.from(s)];
const section = (id, ...entries) => {
  const body = [...uleb(entries.length), ...entries.flat()];
  return [id, ...uleb(body.length), ...body];
};
const body = [1, 6, 0x7f, ...code]; // locals: one run of 6 i32
export const decoderWasm = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
  ...section(1, [0x60, 1, 0x7f, 1, 0x7f]), // type 0: (i32) → i32
  ...section(2, [...name("e"), ...name("m"), 0x02, 0, 1]), // import memory e.m, at least 1 page
  ...section(3, [0]), // function 0 has type 0
  ...section(7, [...name("d"), 0x00, 0]), // export it as d
  ...section(10, [...uleb(body.length), ...body]),
]);

// JavaScript source of `function base93(s)` → Uint8Array, for the single file.
export const decoderSource = `function base93(s) {
  var l = s.length, m = new WebAssembly.Memory({ initial: (l >> 16) + 1 });
  Buffer.from(m.buffer).write(s, "latin1");
  var d = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from("${decoderWasm.toString("base64")}", "base64")), { e: { m: m } }).exports.d;
  return new Uint8Array(m.buffer, 0, d(l));
}`;

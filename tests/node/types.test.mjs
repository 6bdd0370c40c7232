// The TypeScript declarations in pkg/ type real uses of the API (tests/types/usage.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

test("pkg/sf_lead_rule.d.ts types every export correctly", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "commonjs", "--lib", "es2022,dom", "tests/types/usage.ts"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

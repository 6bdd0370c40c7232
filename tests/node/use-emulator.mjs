// The emulator as a fixture of a test file (kept apart from harness.mjs, which the demo and the
// benchmark import too and which must not load node:test).
import { before, after, beforeEach } from "node:test";
import { startEmulator } from "../emulator/server.mjs";

/**
 * One emulator for a test file: started before its tests, stopped after, and reset (records,
 * requests, sessions, faults) with the package's token cache emptied before each test.
 * Returns a holder whose `emu` is the running emulator.
 */
export function useEmulator(sf, options = {}) {
  const holder = { emu: null };
  before(async () => {
    holder.emu = await startEmulator(options);
  });
  after(() => holder.emu.stop());
  beforeEach(() => {
    holder.emu.reset({ sessions: true });
    holder.emu.clearFaults();
    sf.clearTokenCache();
  });
  return holder;
}

// The main job, end to end on this machine: start the local Salesforce + Slack emulator, run a
// real first login through the Auth0 Action entry point of the built package, and show what
// Salesforce and Slack received. Then log the same user in again to show it is not recorded twice.
// `--serve` keeps the emulator running and serves the demo page (www/) on another port.
import { startEmulator } from "../tests/emulator/server.mjs";
import { startDemoServer } from "./demo-server.mjs";
import { loadPackage, fixture, auth0Api, emulatorSecrets } from "../tests/node/harness.mjs";

const serve = process.argv.includes("--serve");
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const emu = await startEmulator({ corsOrigins: serve ? ["*"] : [] });
const sf = loadPackage();

console.log(bold(`Local Salesforce + Slack emulator on ${emu.url}`));
const event = fixture("auth0-action-post-login.json");
event.secrets = emulatorSecrets(emu);
const api = auth0Api();

console.log(bold("\nFirst login of"), `${event.user.name} <${event.user.email}> through onExecutePostLogin…`);
const outcome = await sf.onExecutePostLogin(event, api);
console.log(bold("\nOutcome:"));
console.log(JSON.stringify(outcome, null, 2));
console.log(bold("\nRequests the emulator received:"));
for (const r of emu.state.requests) console.log(`  ${r.method} ${r.path}`);
console.log(bold("\nLead stored in Salesforce (emulator):"));
console.log(JSON.stringify(emu.state.records.Lead, null, 2));
console.log(bold("\nSlack message received:"));
console.log(JSON.stringify(emu.state.slackMessages, null, 2));
console.log(bold("\napi.user.setAppMetadata calls:"), JSON.stringify(api.calls.setAppMetadata));

// Second login: Auth0 would now carry the marker in app_metadata.
const again = structuredClone(event);
for (const [k, v] of api.calls.setAppMetadata) again.user.app_metadata[k] = v;
const second = await sf.onExecutePostLogin(again, api);
console.log(bold("\nSecond login:"), `${second.status} (${second.reason}); Leads in Salesforce: ${emu.state.records.Lead.length}`);

const ok = outcome.status === "created" && emu.state.records.Lead.length === 1 && emu.state.slackMessages.length === 1 && second.status === "skipped";
if (!serve) {
  await emu.stop();
  console.log(bold(ok ? "\nOK: one Lead created, one Slack message, second login skipped." : "\nFAILED: see above."));
  process.exit(ok ? 0 : 1);
}

// --serve: the demo page (www/), with /emulator.json telling it where the emulator is.
const page = await startDemoServer({ emulator: emu, port: Number(process.env.PORT ?? 0) });
console.log(bold(`\nDemo page: ${page.url}  (Ctrl-C to stop)`));
const stop = async () => {
  await page.stop();
  await emu.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

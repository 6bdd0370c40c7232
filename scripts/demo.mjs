// The main job, end to end on this machine: start the local Salesforce + Slack emulator, run a
// real first login through the Auth0 Action entry point of the built package, and show what
// Salesforce and Slack received. Then log the same user in again to show it is not recorded twice.
// `--serve` keeps the emulator running and serves the demo page (www/) on another port.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { startEmulator } from "../tests/emulator/server.mjs";
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

// --serve: the demo page, with a same-origin route that runs a first login against the emulator.
const www = new URL("../www/", import.meta.url);
const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json", ".png": "image/png" };
const page = createServer(async (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  if (path === "/emulator.json") {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end(JSON.stringify({ url: emu.url, slackWebhookUrl: emu.slackWebhookUrl, clientId: "emu-client-id", clientSecret: "emu-client-secret" }));
  }
  const file = new URL("." + (path === "/" ? "/index.html" : path), www);
  if (!file.pathname.startsWith(www.pathname)) return res.writeHead(403).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { "content-type": types[extname(file.pathname)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end("not found");
  }
});
const port = Number(process.env.PORT ?? 0);
page.listen(port, "127.0.0.1", () => {
  console.log(bold(`\nDemo page: http://127.0.0.1:${page.address().port}/  (Ctrl-C to stop)`));
});
const stop = async () => { page.close(); await emu.stop(); process.exit(0); };
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

// Compiled with `tsc --noEmit --strict` by tests/node/types.test.mjs: the .d.ts of pkg/ must type
// real uses of every export (and reject a wrong one, see the @ts-expect-error lines).
import * as sf from "../../pkg/sf_lead_rule";
import * as backfillModule from "../../pkg/sf_lead_rule_backfill";

const config: sf.Config = { clientId: "id", clientSecret: "secret", loginUrl: "https://acme.my.salesforce.com", mapping: "recommended" };

const lead: sf.Lead = sf.buildLead({ email: "a@b.co", name: "A B" }, { mapping: { LastName: "name", Company: "'C'" } });
const lastName: string | undefined = lead["LastName"];

const plan: sf.Plan = sf.planFirstLogin({ user: { user_id: "auth0|1" } }, config);
const firstRequest: sf.PlannedRequest | undefined = plan.requests[0];
const action: "create" | "skip" | "fail" = plan.action;

async function hosts(): Promise<void> {
  const outcome: sf.Outcome = await sf.onFirstLogin({ email: "a@b.co" }, config);
  const status: "created" | "duplicate" | "skipped" | "failed" = outcome.status;
  const code: string | undefined = outcome.error?.code;
  const viaAction: sf.Outcome = await sf.onExecutePostLogin({}, {});
  const hook: sf.WebhookResponse = await sf.handleWebhook("clerk", { method: "POST", headers: {}, body: "{}" }, { secrets: {} });
  const claims = await sf.onFirebaseAuthEvent({}, config);
  if (claims) {
    const marker: unknown = claims.customClaims["recordedAsLead"];
    void marker;
  }
  const stream: sf.Config = { host: "auth0-events", webhookSecret: "user:password", oktaLeadIdAttribute: false };
  const notified: sf.Config = { host: "authentik", oktaLeadIdAttribute: "crmLeadId" };
  // @ts-expect-error oktaLeadIdAttribute is a name or false
  const onlyFalse: sf.Config = { oktaLeadIdAttribute: true };
  void [stream, notified, onlyFalse];
  // @ts-expect-error an Outcome is not a Promise<Outcome> once awaited
  const wrong: Promise<sf.Outcome> = await sf.onFirstLogin({}, config);
  void [status, code, viaAction, hook, wrong];
}

// createLeads comes from the backfill module (require("sf-lead-rule/backfill")), typed by its own
// .d.ts; the login module has none.
async function backfill(): Promise<void> {
  // @ts-expect-error the login module does not export createLeads
  void sf.createLeads;
  const result = await backfillModule.createLeads([{ email: "a@b.co" }], config, { host: "auth0", mode: "collections", onState: (json: string) => void json });
  if ("dryRun" in result) {
    const requests: backfillModule.PlannedRequest[] = result.requests;
    void requests;
  } else {
    const stopped: sf.RuleErrorInfo | null = result.stopped;
    const created: number = result.stats.created;
    const state: backfillModule.BackfillState = result.state;
    void [stopped, created, state];
  }
  // @ts-expect-error mode is "collections", "bulk" or "auto"
  await backfillModule.createLeads([], config, { mode: "fast" });
}

// @ts-expect-error unknown config keys are type errors too
const typo: sf.Config = { clientID: "x" };

void [lastName, firstRequest, action, hosts, backfill, typo, sf.checkMapping({ LastName: "name" }), sf.mappingPresets(), sf.version()];

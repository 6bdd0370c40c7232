// Handlers as a user writes them, typed by each host's own package and compiled with
// `tsc --strict` by tests/node/host-types.test.mjs, which then runs the emitted JavaScript against
// the emulator: Cognito by @types/aws-lambda, the Ory identity by @ory/client.
import type { PostAuthenticationTriggerHandler, PostConfirmationTriggerHandler } from "aws-lambda";
import type { Identity } from "@ory/client";
import * as sf from "../../pkg/sf_lead_rule";

// Cognito returns the event it was given: the package resolves to it, whatever Salesforce did.
export const postConfirmation: PostConfirmationTriggerHandler = (event) => sf.onCognitoTrigger(event, { secrets: process.env });
export const postAuthentication: PostAuthenticationTriggerHandler = async (event) => {
  const returned = await sf.onCognitoTrigger(event, { secrets: process.env });
  return returned;
};

/** An Ory web hook with the Jsonnet body `function(ctx) { identity: ctx.identity }`, served by the package. */
export async function oryIdentityHook(identity: Identity, headers: Record<string, string>): Promise<sf.WebhookResponse> {
  const body = JSON.stringify({ identity });
  return sf.handleWebhook("ory", { method: "POST", headers, body }, { secrets: process.env });
}

/** What the hook's answer does to the identity when `response.parse` is true: Kratos applies a 200's `identity`. */
export function applyOryAnswer(identity: Identity, answer: sf.WebhookResponse): Identity {
  if (answer.status !== 200) return identity;
  const parsed: { identity?: Pick<Identity, "metadata_public"> } = JSON.parse(answer.body);
  return parsed.identity?.metadata_public ? { ...identity, metadata_public: parsed.identity.metadata_public } : identity;
}

/** Never called: the types have teeth, a bare id is no Ory identity (schema_id, schema_url, traits are required). */
export function notAnIdentity(): Promise<sf.WebhookResponse> {
  // @ts-expect-error
  return oryIdentityHook({ id: "i-1" }, {});
}

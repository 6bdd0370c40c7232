// The Slack incoming webhook: one hook path that keeps each accepted message in the org's
// state, Slack's plain-text answers (ok, invalid_payload, no_text, ...) and no_service elsewhere.

import { URLSearchParams } from 'node:url';
import { send, mediaType } from './wire.mjs';

export const SLACK_WEBHOOK_PATH = '/slack/services/T000/B000/emuSlackHook';

export function handleSlack(org, req, res, ctx, body) {
  if (ctx.pathname !== SLACK_WEBHOOK_PATH) return send(res, 404, 'no_service');
  if (req.method !== 'POST') return send(res, 405, 'invalid_method', { Allow: 'POST' });
  let raw = body;
  if (mediaType(req) === 'application/x-www-form-urlencoded') raw = new URLSearchParams(body).get('payload') ?? '';
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch {
    return send(res, 400, 'invalid_payload');
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return send(res, 400, 'invalid_payload');
  const hasText = typeof msg.text === 'string' && msg.text.trim() !== '';
  const hasBlocks = Array.isArray(msg.blocks) && msg.blocks.length > 0;
  if (msg.blocks !== undefined && !Array.isArray(msg.blocks)) return send(res, 400, 'invalid_blocks');
  if (!hasText && !hasBlocks) return send(res, 400, 'no_text');
  org.state.slackMessages.push(msg);
  return send(res, 200, 'ok');
}

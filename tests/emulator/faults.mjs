// Injected faults (README "Faults"): their validation, which request each one matches, how many
// times it still applies, and the answer a terminal fault gives instead of the route's own.
// Rate limits and expired sessions are faults too; the org's state keeps the active list.

import { URL } from 'node:url';
import { send, sfError, INVALID_SESSION, LIMIT_EXCEEDED } from './wire.mjs';

const FAULT_KINDS = new Set(['delay', 'status500', 'rateLimit429', 'requestLimit', 'expireSessions', 'invalidSession', 'duplicateRule', 'drop', 'malformed', 'hang', 'redirect']);
const FAULT_TARGETS = new Set(['token', 'create', 'upsert', 'query', 'collections', 'bulk', 'record', 'slack', 'salesforce', 'any']);
const TERMINAL_KINDS = new Set(['drop', 'hang', 'status500', 'rateLimit429', 'requestLimit', 'invalidSession', 'malformed', 'redirect']);
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

function normalizeFault(f) {
  if (!f || typeof f !== 'object' || Array.isArray(f)) throw new TypeError('a fault must be an object like {"kind":"delay","ms":50}');
  if (!FAULT_KINDS.has(f.kind)) throw new TypeError(`unknown fault kind: ${JSON.stringify(f.kind)}`);
  const target = f.target ?? 'any';
  if (!FAULT_TARGETS.has(target)) throw new TypeError(`unknown fault target: ${JSON.stringify(target)}`);
  let times;
  if ('times' in f && f.times !== undefined) times = f.times; // null = unlimited
  else times = f.kind === 'invalidSession' ? 1 : null;
  if (times !== null && !(Number.isInteger(times) && times > 0)) throw new TypeError('times must be a positive integer (or null for unlimited)');
  if (f.kind === 'delay' && !(Number.isFinite(f.ms) && f.ms >= 0)) throw new TypeError('delay needs ms >= 0');
  if (f.kind === 'status500' && f.status !== undefined && ![500, 502, 503].includes(f.status)) throw new TypeError('status must be 500, 502 or 503');
  if (f.kind === 'redirect') {
    if (typeof f.location !== 'string' || !URL.canParse(f.location)) throw new TypeError('redirect needs location, an absolute URL');
    if (f.status !== undefined && !REDIRECT_STATUSES.includes(f.status)) throw new TypeError(`redirect status must be one of ${REDIRECT_STATUSES.join(', ')}`);
  }
  return { ...f, target, times, remaining: times };
}

function toFaultList(faults) {
  if (faults == null) return [];
  if (Array.isArray(faults)) return faults;
  if (typeof faults === 'object' && Array.isArray(faults.faults)) return faults.faults;
  return [faults];
}

export function addFaults(org, faults) {
  const list = toFaultList(faults).map(normalizeFault); // validate all before applying any
  for (const f of list) {
    if (f.kind === 'expireSessions') {
      for (const s of org.sessions.values()) s.valid = false;
      bump(org, 'expireSessions');
    } else org.state.faults.push(f);
  }
  return org.state.faults;
}

export function setFaults(org, faults) {
  const list = toFaultList(faults).map(normalizeFault);
  org.state.faults.length = 0;
  return addFaults(org, list);
}

export function clearFaults(org) { org.state.faults.length = 0; }

function bump(org, kind) { org.state.faultsApplied[kind] = (org.state.faultsApplied[kind] ?? 0) + 1; }

function targetMatches(f, ctx) {
  return f.target === 'any' || f.target === ctx.target || (f.target === 'salesforce' && ctx.isSalesforce);
}

function consume(org, f) {
  bump(org, f.kind);
  if (f.remaining !== null) {
    f.remaining -= 1;
    if (f.remaining <= 0) {
      const i = org.state.faults.indexOf(f);
      if (i >= 0) org.state.faults.splice(i, 1);
    }
  }
}

function terminalApplies(kind, ctx) {
  if (kind === 'requestLimit' || kind === 'invalidSession') return ctx.isData;
  return TERMINAL_KINDS.has(kind);
}

/** The duplicate rule: the org option, or a fault consulted once per request by routes that write records. */
export function duplicateRuleOn(org, ctx) {
  if (org.options.duplicateRule) return true;
  if (ctx.dupRule !== undefined) return ctx.dupRule;
  const f = org.state.faults.find((x) => x.kind === 'duplicateRule' && targetMatches(x, ctx));
  if (f) consume(org, f);
  ctx.dupRule = !!f;
  return ctx.dupRule;
}

/** Milliseconds the matching delay faults add (each one consumed). */
export function takeDelay(org, ctx) {
  let wait = 0;
  for (const f of org.state.faults.filter((x) => x.kind === 'delay' && targetMatches(x, ctx))) {
    wait += f.ms;
    consume(org, f);
  }
  return wait;
}

/**
 * Answers the request as the first matching terminal fault says; true when it did (the request
 * is then not processed), false when no terminal fault matches.
 */
export function answerWithFault(org, req, res, ctx) {
  const fault = org.state.faults.find((f) => terminalApplies(f.kind, ctx) && targetMatches(f, ctx));
  if (!fault) return false;
  consume(org, fault);
  switch (fault.kind) {
    case 'drop':
      req.socket.destroy();
      break;
    case 'hang':
      break; // never answered; stop() destroys the socket
    case 'status500':
      if (ctx.isSlack) send(res, 500, 'rollup_error');
      else send(res, fault.status ?? 503, [sfError('SERVER_UNAVAILABLE', 'Server is temporarily unavailable')]);
      break;
    case 'rateLimit429': {
      const h = { 'Retry-After': String(fault.retryAfter ?? 1) };
      if (ctx.isSlack) send(res, 429, 'rate_limited', h);
      else send(res, 429, [sfError('REQUEST_LIMIT_EXCEEDED', 'Too many requests. Retry after the time in the Retry-After header.')], h);
      break;
    }
    case 'requestLimit':
      send(res, 403, LIMIT_EXCEEDED());
      break;
    case 'invalidSession':
      send(res, 401, INVALID_SESSION());
      break;
    case 'redirect':
      // What a hostile or misconfigured endpoint could answer: the client must not follow it.
      send(res, fault.status ?? 307, '', { Location: fault.location });
      break;
    case 'malformed': {
      const status = ctx.target === 'create' || (ctx.target === 'bulk' && req.method === 'PUT') ? 201 : 200;
      send(res, status, ctx.isToken ? '{not json' : '{"id": "00Q', { 'Content-Type': 'application/json;charset=UTF-8' });
      break;
    }
    default:
      return false;
  }
  return true;
}

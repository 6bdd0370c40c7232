// Local Salesforce (OAuth token endpoint, REST API, sObject Collections, Bulk API 2.0 ingest)
// + Slack incoming-webhook emulator for the sf-lead-rule tests, demo and benchmark.
// Plain Node >= 20, ESM, no dependencies. See tests/emulator/README.md.

import http from 'node:http';
import crypto from 'node:crypto';
import { URL, URLSearchParams, pathToFileURL } from 'node:url';

export const SLACK_WEBHOOK_PATH = '/slack/services/T000/B000/emuSlackHook';
export const ORG_ID = '00D5e00000EmuOrgAA';
export const USER_ID = '0055e00000EmuUsrAA';

const DEFAULTS = {
  clientId: 'emu-client-id',
  clientSecret: 'emu-client-secret',
  username: 'integration@example.com',
  password: 'emu-password',
  securityToken: '',
  refreshToken: 'emu-refresh-token',
};

const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GRANT_ALIASES = { jwt: JWT_GRANT, 'jwt-bearer': JWT_GRANT };

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

const LEAD_FIELDS = {
  FirstName: 40, MiddleName: 40, LastName: 80, Company: 255, Email: 80, Phone: 40, MobilePhone: 40,
  Title: 128, LeadSource: 40, Industry: 40, Website: 255, Street: 255, City: 40, State: 80,
  PostalCode: 20, Country: 80, Description: 32000, Status: 40,
};
const CONTACT_FIELDS = (() => {
  const f = { ...LEAD_FIELDS };
  for (const k of ['Company', 'Status', 'Industry', 'Website']) delete f[k];
  return { ...f, AccountId: 18, Department: 80 };
})();
const LABELS = {
  FirstName: 'First Name', MiddleName: 'Middle Name', LastName: 'Last Name', MobilePhone: 'Mobile Phone',
  LeadSource: 'Lead Source', State: 'State/Province', PostalCode: 'Zip/Postal Code', Status: 'Lead Status',
  AccountId: 'Account ID',
};
const REQUIRED = { Lead: ['LastName', 'Company'], Contact: ['LastName'] };
const KEY_PREFIX = { Lead: '00Q', Contact: '003' };
const READ_ONLY = ['Id', 'Name', 'CreatedDate', 'LastModifiedDate', 'IsDeleted', 'SystemModstamp'];
const DUP_RULES = {
  Lead: { rule: 'Standard_Lead_Duplicate_Rule', match: 'Standard_Lead_Match_Rule_v1_0' },
  Contact: { rule: 'Standard_Contact_Duplicate_Rule', match: 'Standard_Contact_Match_Rule_v1_1' },
};
const DEFAULT_CUSTOM_FIELDS = {
  Signup_Source__c: 255,
  Auth0_User_Id__c: { length: 255, externalId: true, unique: true },
  External_User_Id__c: { length: 255, externalId: true },
};

function buildSchema(customFields) {
  const schema = {};
  for (const [type, base] of [['Lead', LEAD_FIELDS], ['Contact', CONTACT_FIELDS]]) {
    const fields = new Map();
    for (const [name, length] of Object.entries(base)) {
      fields.set(name.toLowerCase(), { name, length, label: LABELS[name] ?? name, externalId: false, unique: false });
    }
    for (const [name, spec] of Object.entries(customFields)) {
      const s = typeof spec === 'number' ? { length: spec } : { ...spec };
      fields.set(name.toLowerCase(), {
        name,
        length: s.length ?? 255,
        label: s.label ?? name.replace(/__c$/i, '').replace(/_/g, ' '),
        externalId: !!s.externalId,
        unique: !!s.unique,
      });
    }
    schema[type] = { type, fields, required: REQUIRED[type], prefix: KEY_PREFIX[type] };
  }
  return schema;
}

function canonicalType(name) {
  if (typeof name !== 'string') return null;
  const l = name.toLowerCase();
  if (l === 'lead') return 'Lead';
  if (l === 'contact') return 'Contact';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const codePointLength = (s) => [...s].length;
const EMAIL_RE = /^[^\s@"(),:;<>[\]\\]+@[^\s@"(),:;<>[\]\\]+\.[^\s@"(),:;<>[\]\\]+$/;
const ID_RE = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/;
const sfDate = (d = new Date()) => d.toISOString().replace('Z', '+0000');
const mediaType = (req) => String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
const lower = (v) => (v == null ? v : String(v).toLowerCase());

function sfError(errorCode, message, fields) {
  const e = { message, errorCode };
  if (fields !== undefined) e.fields = fields;
  return e;
}
const NOT_FOUND = () => [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }];
const INVALID_SESSION = () => [sfError('INVALID_SESSION_ID', 'Session expired or invalid')];
const LIMIT_EXCEEDED = () => [sfError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.')];

class HttpError extends Error {
  constructor(status, body) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
    this.status = status;
    this.body = body;
  }
}

function jsonParserError(text) {
  if (text.trim() === '') return sfError('JSON_PARSER_ERROR', 'No content to map due to end-of-input');
  let pos = null;
  try {
    JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec(e.message);
    if (m) pos = Number(m[1]);
    else {
      const t = /Unexpected token '?(.)'?/.exec(e.message);
      if (t) pos = text.indexOf(t[1]);
    }
  }
  if (pos == null || pos < 0 || pos >= text.length) {
    return sfError('JSON_PARSER_ERROR', `Unexpected end-of-input: expected close marker at [line:1, column:${text.length + 1}]`);
  }
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  const ch = text[pos];
  return sfError(
    'JSON_PARSER_ERROR',
    `Unexpected character ('${ch}' (code ${ch.codePointAt(0)})): expected a valid value (number, String, array, object, 'true', 'false' or 'null') at [line:${line}, column:${col}]`,
  );
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180)
// ---------------------------------------------------------------------------------------------

export function parseCsv(text, delimiter = ',') {
  const rows = [];
  let row = [];
  let field = '';
  let touched = false; // current field started (matters for a trailing "")
  let inQuotes = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        inQuotes = false;
        i++;
        const n = text[i];
        if (n !== undefined && n !== delimiter && n !== '\n' && n !== '\r') {
          throw new Error(`Found unescaped quote at offset ${i - 1}`);
        }
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field.length > 0) throw new Error(`Found unescaped quote at offset ${i}`);
      inQuotes = true;
      touched = true;
      i++;
      continue;
    }
    if (c === delimiter) { row.push(field); field = ''; touched = true; i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') { i++; continue; }
    if (c === '\n') {
      row.push(field);
      if (!(row.length === 1 && row[0] === '' && !touched)) rows.push(row);
      row = []; field = ''; touched = false; i++;
      continue;
    }
    field += c;
    touched = true;
    i++;
  }
  if (inQuotes) throw new Error('Unterminated quoted field');
  if (touched || field.length || row.length) { row.push(field); rows.push(row); }
  return rows;
}

const csvCell = (v) => `"${String(v ?? '').replace(/"/g, '""')}"`;
const csvLine = (cells) => cells.map(csvCell).join(',');

// ---------------------------------------------------------------------------------------------
// SOQL (small real subset)
// ---------------------------------------------------------------------------------------------

const malformed = (message) => new HttpError(400, [sfError('MALFORMED_QUERY', message)]);
const SIMPLE_ESCAPES = { n: '\n', N: '\n', r: '\r', R: '\r', t: '\t', T: '\t', b: '\b', B: '\b', f: '\f', F: '\f', '"': '"', "'": "'", '\\': '\\' };

function tokenizeSoql(q) {
  const toks = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === "'") {
      const start = i;
      let s = '';
      let like = ''; // the LIKE pattern keeps \_ and \% escaped
      i++;
      for (;;) {
        if (i >= q.length) throw malformed(`unterminated string literal starting at column ${start + 1}: ${q.slice(start)}`);
        const d = q[i];
        if (d === "'") { i++; break; }
        if (d === '\\') {
          const e = q[i + 1];
          if (e === undefined) throw malformed(`unterminated string literal starting at column ${start + 1}: ${q.slice(start)}`);
          if (e in SIMPLE_ESCAPES) { s += SIMPLE_ESCAPES[e]; like += e === '\\' ? '\\\\' : SIMPLE_ESCAPES[e]; i += 2; continue; }
          if (e === '_' || e === '%') { s += '\\' + e; like += '\\' + e; i += 2; continue; }
          throw malformed(`Invalid string literal '${q.slice(start, i + 2)}...'. Illegal character sequence '\\${e}' in string literal.`);
        }
        s += d;
        like += d === '\\' ? '\\\\' : d;
        i++;
      }
      toks.push({ t: 'str', v: s, like, pos: start });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(q.slice(i));
      toks.push({ t: 'id', v: m[0], u: m[0].toUpperCase(), pos: i });
      i += m[0].length;
      continue;
    }
    const num = /^-?\d+(?:\.\d+)?/.exec(q.slice(i));
    if (num) { toks.push({ t: 'num', v: num[0], pos: i }); i += num[0].length; continue; }
    const op = /^(?:!=|<>|<=|>=|=|<|>)/.exec(q.slice(i));
    if (op) { toks.push({ t: 'op', v: op[0] === '<>' ? '!=' : op[0], pos: i }); i += op[0].length; continue; }
    if (c === ',' || c === '(' || c === ')') { toks.push({ t: c, v: c, pos: i }); i++; continue; }
    throw malformed(`unexpected token: '${c}' at column ${i + 1}`);
  }
  toks.push({ t: 'eof', v: '<EOF>', pos: q.length });
  return toks;
}

export function parseSoql(q) {
  const toks = tokenizeSoql(q);
  let p = 0;
  const peek = () => toks[p];
  const next = () => toks[p++];
  const isKw = (kw, t = peek()) => t.t === 'id' && t.u === kw;
  const expectKw = (kw) => {
    const t = next();
    if (!isKw(kw, t)) throw malformed(`unexpected token: '${t.v}' (expecting ${kw})`);
  };
  const expectId = (what) => {
    const t = next();
    if (t.t !== 'id') throw malformed(`unexpected token: '${t.v}' (expecting ${what})`);
    return t.v;
  };

  expectKw('SELECT');
  const fields = [];
  let count = false;
  if (isKw('COUNT') && toks[p + 1].t === '(') {
    p += 2;
    if (next().t !== ')') throw malformed('only COUNT() is supported');
    count = true;
  } else {
    for (;;) {
      const t = peek();
      if (t.t !== 'id' || ['FROM', 'WHERE'].includes(t.u)) throw malformed(`unexpected token: '${t.v}' (expecting a field name)`);
      fields.push(next().v);
      if (peek().t === ',') { p++; continue; }
      break;
    }
  }
  expectKw('FROM');
  const object = expectId('an sObject name');

  const parseValue = () => {
    const t = next();
    if (t.t === 'str') return { kind: 'str', v: t.v, like: t.like };
    if (t.t === 'num') return { kind: 'num', v: t.v };
    if (t.t === 'id' && t.u === 'NULL') return { kind: 'null' };
    if (t.t === 'id' && (t.u === 'TRUE' || t.u === 'FALSE')) return { kind: 'bool', v: t.u === 'TRUE' };
    throw malformed(`unexpected token: '${t.v}' (expecting a literal value)`);
  };
  const parseCond = () => {
    const field = expectId('a field name');
    let t = next();
    if (t.t === 'op') return { type: 'cmp', field, op: t.v, value: parseValue() };
    let negate = false;
    if (t.t === 'id' && t.u === 'NOT') { negate = true; t = next(); }
    if (t.t === 'id' && t.u === 'IN') {
      if (next().t !== '(') throw malformed("unexpected token (expecting '(')");
      const values = [parseValue()];
      while (peek().t === ',') { p++; values.push(parseValue()); }
      if (next().t !== ')') throw malformed("unexpected token (expecting ')')");
      return { type: 'in', field, values, negate };
    }
    if (!negate && t.t === 'id' && t.u === 'LIKE') {
      const v = parseValue();
      if (v.kind !== 'str') throw malformed('LIKE needs a string literal');
      return { type: 'like', field, value: v };
    }
    throw malformed(`unexpected token: '${t.v}' (expecting an operator)`);
  };
  const parseTerm = () => {
    if (isKw('NOT')) { p++; return { type: 'not', expr: parseTerm() }; }
    if (peek().t === '(') {
      p++;
      const e = parseExpr();
      if (next().t !== ')') throw malformed("unexpected token (expecting ')')");
      return e;
    }
    return parseCond();
  };
  function parseExpr() {
    const items = [parseTerm()];
    let conj = null;
    while (isKw('AND') || isKw('OR')) {
      const c = next().u;
      if (conj && conj !== c) throw malformed(`unexpected token: '${c}' (parentheses are required when mixing AND and OR)`);
      conj = c;
      items.push(parseTerm());
    }
    return items.length === 1 ? items[0] : { type: conj === 'AND' ? 'and' : 'or', items };
  }

  let where = null;
  if (isKw('WHERE')) { p++; where = parseExpr(); }
  const orderBy = [];
  if (isKw('ORDER')) {
    p++;
    expectKw('BY');
    for (;;) {
      const field = expectId('a field name');
      let desc = false;
      if (isKw('ASC')) p++;
      else if (isKw('DESC')) { p++; desc = true; }
      let nullsLast = desc;
      if (isKw('NULLS')) {
        p++;
        const t = next();
        if (!isKw('FIRST', t) && !isKw('LAST', t)) throw malformed(`unexpected token: '${t.v}'`);
        nullsLast = t.u === 'LAST';
      }
      orderBy.push({ field, desc, nullsLast });
      if (peek().t === ',') { p++; continue; }
      break;
    }
  }
  let limit = null;
  let offset = 0;
  if (isKw('LIMIT')) {
    p++;
    const t = next();
    if (t.t !== 'num' || !/^\d+$/.test(t.v)) throw malformed(`unexpected token: '${t.v}' (expecting an integer)`);
    limit = Number(t.v);
  }
  if (isKw('OFFSET')) {
    p++;
    const t = next();
    if (t.t !== 'num' || !/^\d+$/.test(t.v)) throw malformed(`unexpected token: '${t.v}' (expecting an integer)`);
    offset = Number(t.v);
  }
  if (peek().t !== 'eof') throw malformed(`unexpected token: '${peek().v}'`);
  return { fields, count, object, where, orderBy, limit, offset };
}

function likeToRegExp(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) { re += pattern[i + 1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); i++; }
    else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

// ---------------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------------

const FAULT_KINDS = new Set(['delay', 'status500', 'rateLimit429', 'requestLimit', 'expireSessions', 'invalidSession', 'duplicateRule', 'drop', 'malformed', 'hang', 'redirect']);
const FAULT_TARGETS = new Set(['token', 'create', 'upsert', 'query', 'collections', 'bulk', 'record', 'slack', 'salesforce', 'any']);
const TERMINAL_KINDS = new Set(['drop', 'hang', 'status500', 'rateLimit429', 'requestLimit', 'invalidSession', 'malformed', 'redirect']);
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

function generateKeyPair() {
  return new Promise((resolve, reject) => {
    crypto.generateKeyPair('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }, (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey })));
  });
}

function b64urlDecode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('bad base64url');
  return Buffer.from(s, 'base64url');
}

export async function startEmulator(options = {}) {
  const cfg = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (options[k] !== undefined) cfg[k] = options[k];
  let privateKeyPem;
  let publicKeyPem = options.jwtPublicKey;
  if (!publicKeyPem) {
    const kp = await generateKeyPair();
    publicKeyPem = kp.publicKey;
    privateKeyPem = kp.privateKey;
  }
  const publicKey = crypto.createPublicKey(publicKeyPem);
  const schema = buildSchema(options.customFields ?? DEFAULT_CUSTOM_FIELDS);
  const disabledGrants = new Set((options.disabledGrants ?? []).map((g) => GRANT_ALIASES[g] ?? g));
  const dailyApiLimit = options.dailyApiLimit ?? 15000;
  const sessionTtlMs = options.sessionTtlMs ?? null;
  const delayMs = options.delayMs ?? 0;
  const jwtSkewSec = options.jwtClockSkewSec ?? 60;
  const minApiVersion = options.minApiVersion ?? 31;
  const corsOrigins = options.corsOrigins ?? [];
  const maxApiVersion = options.maxApiVersion ?? null;

  const state = {
    records: { Lead: [], Contact: [] },
    requests: [],
    slackMessages: [],
    tokensIssued: [],
    apiCalls: 0,
    bulkJobs: [],
    faults: [],
    faultsApplied: {},
  };
  const sessions = new Map(); // access_token -> { grant, expiresAt, valid }
  const deleted = new Map(); // id -> type
  const counters = { Lead: 0, Contact: 0, job: 0 };
  const sockets = new Set();
  const timers = new Set();
  let stopped = false;
  let url = '';
  let instanceUrl = '';

  // ----- faults -----------------------------------------------------------------------------
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
  function addFaults(faults) {
    const list = toFaultList(faults).map(normalizeFault); // validate all before applying any
    for (const f of list) {
      if (f.kind === 'expireSessions') {
        for (const s of sessions.values()) s.valid = false;
        bump('expireSessions');
      } else state.faults.push(f);
    }
    return state.faults;
  }
  function setFaults(faults) {
    const list = toFaultList(faults).map(normalizeFault);
    state.faults.length = 0;
    return addFaults(list);
  }
  function clearFaults() { state.faults.length = 0; }
  function bump(kind) { state.faultsApplied[kind] = (state.faultsApplied[kind] ?? 0) + 1; }
  function targetMatches(f, ctx) {
    return f.target === 'any' || f.target === ctx.target || (f.target === 'salesforce' && ctx.isSalesforce);
  }
  function consume(f) {
    bump(f.kind);
    if (f.remaining !== null) {
      f.remaining -= 1;
      if (f.remaining <= 0) {
        const i = state.faults.indexOf(f);
        if (i >= 0) state.faults.splice(i, 1);
      }
    }
  }
  function terminalApplies(kind, ctx) {
    if (kind === 'requestLimit' || kind === 'invalidSession') return ctx.isData;
    return TERMINAL_KINDS.has(kind);
  }
  // duplicate rule: option, or a fault consulted (once per request) by routes that write records
  function duplicateRuleOn(ctx) {
    if (options.duplicateRule) return true;
    if (ctx.dupRule !== undefined) return ctx.dupRule;
    const f = state.faults.find((x) => x.kind === 'duplicateRule' && targetMatches(x, ctx));
    if (f) consume(f);
    ctx.dupRule = !!f;
    return ctx.dupRule;
  }

  function reset(opts = {}) {
    for (const t of Object.keys(state.records)) state.records[t].length = 0;
    state.requests.length = 0;
    state.slackMessages.length = 0;
    state.tokensIssued.length = 0;
    state.apiCalls = 0;
    state.bulkJobs.length = 0;
    state.faults.length = 0;
    for (const k of Object.keys(state.faultsApplied)) delete state.faultsApplied[k];
    deleted.clear();
    if (opts.sessions) sessions.clear();
  }

  // ----- responses --------------------------------------------------------------------------
  function send(res, status, body, headers = {}) {
    if (res.destroyed || res.writableEnded) return;
    let payload = '';
    const h = { ...headers };
    if (body !== undefined && body !== null) {
      if (typeof body === 'string') {
        payload = body;
        if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'text/plain; charset=utf-8';
      } else {
        payload = JSON.stringify(body).replace(/"matchConfidence":(\d+)(?=[,}])/g, '"matchConfidence":$1.0');
        if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json;charset=UTF-8';
      }
    }
    if (status === 204) payload = '';
    h['Content-Length'] = Buffer.byteLength(payload);
    res.writeHead(status, h);
    res.end(payload);
  }
  function sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { timers.delete(t); resolve(); }, ms);
      timers.add(t);
    });
  }

  // ----- request classification ---------------------------------------------------------------
  function classify(method, pathname) {
    const ctx = { method, pathname, isSalesforce: false, isData: false, isToken: false, isSlack: false, target: 'other' };
    if (pathname.startsWith('/services/oauth2/')) {
      ctx.isSalesforce = true; ctx.isToken = true; ctx.target = 'token';
    } else if (pathname === '/services/data' || pathname.startsWith('/services/data/')) {
      ctx.isSalesforce = true; ctx.isData = true; ctx.target = 'record';
      const segs = pathname.split('/').slice(3).filter((s, i, a) => s !== '' || i < a.length - 1);
      const rest = segs.slice(1);
      if (rest[0] === 'sobjects' && rest.length === 2 && method === 'POST') ctx.target = 'create';
      else if (rest[0] === 'sobjects' && rest.length === 4 && method === 'PATCH') ctx.target = 'upsert';
      else if (rest[0] === 'query' || rest[0] === 'queryAll') ctx.target = 'query';
      else if (rest[0] === 'composite' && rest[1] === 'sobjects') ctx.target = 'collections';
      else if (rest[0] === 'jobs') ctx.target = 'bulk';
    } else if (pathname === '/slack' || pathname.startsWith('/slack/')) {
      ctx.isSlack = true; ctx.target = 'slack';
    }
    return ctx;
  }

  // ----- records ----------------------------------------------------------------------------
  function newId(type) {
    counters[type] += 1;
    return schema[type].prefix + '5e000' + String(counters[type]).padStart(10, '0');
  }
  function findById(type, id) {
    // exact match only: emulator ids keep their counter in the last characters, so a 15-character
    // prefix would be ambiguous (real 15-character ids are not supported)
    return state.records[type].find((r) => r.Id === id);
  }
  function recordUrl(type, id, ver) { return `/services/data/${ver}/sobjects/${type}/${id}`; }
  function fieldValue(type, rec, name) {
    if (name === 'Name') return [rec.FirstName, rec.MiddleName, rec.LastName].filter(Boolean).join(' ') || null;
    if (name === 'IsDeleted') return false;
    if (name === 'SystemModstamp') return rec.LastModifiedDate ?? null;
    return rec[name] ?? null;
  }
  function resolveQueryField(type, name) {
    const l = name.toLowerCase();
    const f = schema[type].fields.get(l);
    if (f) return f.name;
    return READ_ONLY.find((r) => r.toLowerCase() === l) ?? null;
  }
  function fullRecord(type, rec, ver) {
    const out = { attributes: { type, url: recordUrl(type, rec.Id, ver) }, Id: rec.Id };
    for (const f of schema[type].fields.values()) out[f.name] = rec[f.name] ?? null;
    out.Name = fieldValue(type, rec, 'Name');
    out.IsDeleted = false;
    out.CreatedDate = rec.CreatedDate;
    out.LastModifiedDate = rec.LastModifiedDate ?? rec.CreatedDate;
    out.SystemModstamp = out.LastModifiedDate;
    return out;
  }

  // Validate a body against the schema. mode 'create' | 'update'. Returns { errors, fields, status }.
  function validate(type, body, mode, { selfId = null, pendingUnique = [] } = {}) {
    const sch = schema[type];
    const fields = {};
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return { status: 400, errors: [sfError('JSON_PARSER_ERROR', `Cannot deserialize instance of ${type} from ${Array.isArray(body) ? 'START_ARRAY' : 'VALUE'} token`)] };
    }
    for (const [key, raw] of Object.entries(body)) {
      if (key === 'attributes') continue;
      const f = sch.fields.get(key.toLowerCase());
      if (!f) {
        if (key.toLowerCase() === 'id' && mode === 'create') return { status: 400, errors: [sfError('INVALID_FIELD', 'cannot specify Id in an insert call', ['Id'])] };
        const ro = READ_ONLY.find((r) => r.toLowerCase() === key.toLowerCase());
        if (ro) {
          return { status: 400, errors: [sfError('INVALID_FIELD_FOR_INSERT_UPDATE', `Unable to create/update fields: ${ro}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`, [ro])] };
        }
        return { status: 400, errors: [sfError('INVALID_FIELD', `No such column '${key}' on sobject of type ${type}`)] };
      }
      let v = raw;
      if (v !== null && typeof v === 'object') {
        return { status: 400, errors: [sfError('JSON_PARSER_ERROR', `Cannot deserialize instance of string from ${Array.isArray(v) ? 'START_ARRAY' : 'START_OBJECT'} value for field ${f.name}`)] };
      }
      if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
      if (v === '') v = null;
      fields[f.name] = v;
    }
    const errors = [];
    for (const [name, v] of Object.entries(fields)) {
      if (v == null) continue;
      const f = sch.fields.get(name.toLowerCase());
      if (name === 'AccountId') {
        if (!/^001[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?$/.test(v)) errors.push(sfError('FIELD_INTEGRITY_EXCEPTION', `${f.label}: id value of incorrect type: ${v}`, [name]));
        continue;
      }
      if (codePointLength(v) > f.length) {
        errors.push(sfError('STRING_TOO_LONG', `${f.label}: data value too large: ${v} (max length=${f.length})`, [name]));
        continue;
      }
      if (name === 'Email' && !EMAIL_RE.test(v)) errors.push(sfError('INVALID_EMAIL_ADDRESS', `${f.label}: invalid email address: ${v}`, [name]));
    }
    if (errors.length) return { status: 400, errors };
    const missing = sch.required.filter((r) => (mode === 'create' ? fields[r] == null : r in fields && fields[r] == null));
    if (missing.length) return { status: 400, errors: [sfError('REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.join(', ')}]`, missing)] };
    for (const f of sch.fields.values()) {
      if (!f.unique || fields[f.name] == null) continue;
      const v = lower(fields[f.name]);
      const clash = state.records[type].find((r) => r.Id !== selfId && lower(r[f.name]) === v)
        ?? pendingUnique.find((r) => r.type === type && lower(r.fields[f.name]) === v);
      if (clash) {
        const where = clash.Id ? `record with id: ${clash.Id}` : 'batch record';
        return { status: 400, errors: [sfError('DUPLICATE_VALUE', `duplicate value found: ${f.name} duplicates value on ${where}`, [])] };
      }
    }
    return { status: 200, errors: [], fields };
  }

  function duplicateCheck(type, email, ver, pool, selfId = null) {
    if (email == null) return null;
    const e = lower(email);
    const matches = pool.filter((r) => r.Id !== selfId && lower(r.Email) === e);
    if (!matches.length) return null;
    const msg = "You're creating a duplicate record. We recommend you use an existing record instead.";
    const duplicateResult = {
      allowSave: true,
      duplicateRule: DUP_RULES[type].rule,
      duplicateRuleEntityType: type,
      errorMessage: msg,
      matchResults: [{
        entityType: type,
        errors: [],
        matchEngine: 'ExactMatchEngine',
        matchRecords: matches.map((r) => ({
          additionalInformation: [],
          fieldDiffs: [],
          matchConfidence: 100,
          record: { attributes: { type, url: recordUrl(type, r.Id, ver) }, Id: r.Id },
        })),
        rule: DUP_RULES[type].match,
        size: matches.length,
        success: true,
      }],
    };
    return { duplicateResult, errorCode: 'DUPLICATES_DETECTED', message: msg };
  }

  function allowSave(req) {
    return /(?:^|[;,\s])allowSave\s*=\s*true\b/i.test(String(req.headers['sforce-duplicate-rule-header'] ?? ''));
  }

  // Full create pipeline (validation + duplicate rule). Returns { ok, status, errors, record }.
  function prepareCreate(type, body, ctx, { pool, pendingUnique = [], extra = {} } = {}) {
    const v = validate(type, { ...body, ...extra }, 'create', { pendingUnique });
    if (v.errors.length) return { ok: false, status: v.status, errors: v.errors };
    if (duplicateRuleOn(ctx) && !allowSave(ctx.req)) {
      const dup = duplicateCheck(type, v.fields.Email, ctx.ver, pool ?? state.records[type]);
      if (dup) return { ok: false, status: 400, errors: [dup] };
    }
    const fields = { ...v.fields };
    for (const k of Object.keys(fields)) if (fields[k] == null) delete fields[k];
    if (type === 'Lead' && fields.Status == null) fields.Status = 'Open - Not Contacted';
    return { ok: true, type, fields };
  }
  function commitCreate(prep, ctx) {
    const now = sfDate();
    const rec = { Id: newId(prep.type), ...prep.fields, CreatedDate: now, LastModifiedDate: now };
    const aa = ctx.req.headers['sforce-auto-assign'];
    if (aa !== undefined) rec._autoAssign = aa;
    state.records[prep.type].push(rec);
    return rec;
  }
  function updateRecord(type, rec, body, ctx) {
    const v = validate(type, body, 'update', { selfId: rec.Id });
    if (v.errors.length) return { ok: false, status: v.status, errors: v.errors };
    if (duplicateRuleOn(ctx) && !allowSave(ctx.req)) {
      const email = 'Email' in v.fields ? v.fields.Email : rec.Email;
      const dup = duplicateCheck(type, email, ctx.ver, state.records[type], rec.Id);
      if (dup) return { ok: false, status: 400, errors: [dup] };
    }
    for (const [k, val] of Object.entries(v.fields)) {
      if (val == null) delete rec[k];
      else rec[k] = val;
    }
    rec.LastModifiedDate = sfDate();
    const aa = ctx.req.headers['sforce-auto-assign'];
    if (aa !== undefined) rec._autoAssign = aa;
    return { ok: true };
  }

  // ----- OAuth token endpoint ---------------------------------------------------------------
  function oauthError(error, description, status = 400) {
    return new HttpError(status, { error, error_description: description });
  }
  const authFailure = () => oauthError('invalid_grant', 'authentication failure');

  function issueToken(grant) {
    const access = `${ORG_ID.slice(0, 15)}!AQ${crypto.randomBytes(60).toString('base64url').replace(/[-_]/g, 'x')}`;
    const issuedAt = String(Date.now());
    const id = `${url}/id/${ORG_ID}/${USER_ID}`;
    const signature = crypto.createHmac('sha256', cfg.clientSecret).update(id + issuedAt).digest('base64');
    sessions.set(access, { grant, valid: true, expiresAt: sessionTtlMs == null ? Infinity : Date.now() + sessionTtlMs });
    state.tokensIssued.push({ grant, access_token: access });
    return { access_token: access, instance_url: instanceUrl, id, token_type: 'Bearer', issued_at: issuedAt, signature, scope: 'api' };
  }

  function verifyJwt(assertion) {
    const parts = String(assertion ?? '').split('.');
    if (parts.length !== 3) throw authFailure();
    let header;
    let claims;
    let sig;
    try {
      header = JSON.parse(b64urlDecode(parts[0]).toString('utf8'));
      claims = JSON.parse(b64urlDecode(parts[1]).toString('utf8'));
      sig = b64urlDecode(parts[2]);
    } catch {
      throw authFailure();
    }
    if (!header || header.alg !== 'RS256' || !claims || typeof claims !== 'object') throw authFailure();
    const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, sig);
    if (!ok) throw authFailure();
    if (claims.iss !== cfg.clientId) throw oauthError('invalid_client_id', 'client identifier invalid');
    if (claims.sub !== cfg.username) throw authFailure();
    const norm = (u) => String(u).replace(/\/+$/, '');
    const allowed = new Set([url, instanceUrl, 'https://login.salesforce.com', 'https://test.salesforce.com', ...(options.jwtAudiences ?? [])].map(norm));
    const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!auds.length || !auds.every((a) => typeof a === 'string' && allowed.has(norm(a)))) throw authFailure();
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + 180 + jwtSkewSec) throw authFailure();
  }

  function handleToken(req, res, ctx, body) {
    if (ctx.pathname === '/services/oauth2/revoke') {
      if (req.method !== 'POST' && req.method !== 'GET') throw oauthError('invalid_request', 'must use HTTP POST');
      const u = new URL(req.url, 'http://x');
      const tok = new URLSearchParams(body).get('token') ?? u.searchParams.get('token');
      if (tok && sessions.has(tok)) { sessions.get(tok).valid = false; return send(res, 200, ''); }
      if (tok === cfg.refreshToken) return send(res, 200, '');
      throw oauthError('unsupported_token_type', 'this token type is not supported');
    }
    if (ctx.pathname !== '/services/oauth2/token') return send(res, 404, NOT_FOUND());
    if (req.method !== 'POST') throw oauthError('invalid_request', 'must use HTTP POST');
    if (mediaType(req) !== 'application/x-www-form-urlencoded') {
      throw oauthError('invalid_request', 'the request must be application/x-www-form-urlencoded');
    }
    const p = new URLSearchParams(body);
    const grant = p.get('grant_type');
    const known = ['password', 'client_credentials', JWT_GRANT, 'refresh_token'];
    if (!grant || !known.includes(grant)) throw oauthError('unsupported_grant_type', 'grant type not supported');
    const checkClient = (secretRequired) => {
      if (p.get('client_id') !== cfg.clientId) throw oauthError('invalid_client_id', 'client identifier invalid');
      const secret = p.get('client_secret');
      if (secretRequired || secret !== null) {
        if (secret !== cfg.clientSecret) throw oauthError('invalid_client', 'invalid client credentials');
      }
    };
    switch (grant) {
      case 'password':
        checkClient(true);
        if (disabledGrants.has(grant)) throw authFailure();
        if (p.get('username') !== cfg.username || p.get('password') !== cfg.password + cfg.securityToken) throw authFailure();
        break;
      case 'client_credentials':
        checkClient(true);
        if (disabledGrants.has(grant)) throw authFailure();
        break;
      case JWT_GRANT:
        verifyJwt(p.get('assertion'));
        if (disabledGrants.has(grant)) throw authFailure();
        break;
      case 'refresh_token':
        checkClient(false);
        if (disabledGrants.has(grant)) throw authFailure();
        if (p.get('refresh_token') !== cfg.refreshToken) throw authFailure();
        break;
      default:
        break;
    }
    return send(res, 200, issueToken(grant));
  }

  // ----- REST data API ----------------------------------------------------------------------
  function readJson(ctx) {
    const mt = mediaType(ctx.req);
    if (mt && mt !== 'application/json') {
      throw new HttpError(415, [{ errorCode: 'UNSUPPORTED_MEDIA_TYPE', message: `MediaType of '${mt}' is not supported by this resource` }]);
    }
    try {
      return JSON.parse(ctx.body);
    } catch {
      throw new HttpError(400, [jsonParserError(ctx.body)]);
    }
  }
  const methodNotAllowed = (method, allowed) => new HttpError(405, [{ errorCode: 'METHOD_NOT_ALLOWED', message: `HTTP Method '${method}' not allowed. Allowed are ${allowed}` }]);

  function handleData(req, res, ctx) {
    const segs = ctx.pathname.split('/').slice(3); // after /services/data
    while (segs.length && segs[segs.length - 1] === '') segs.pop();
    if (segs.length === 0) {
      const versions = [];
      for (let v = minApiVersion; v <= (maxApiVersion ?? 66); v++) versions.push({ label: `v${v}.0`, url: `/services/data/v${v}.0`, version: `${v}.0` });
      return send(res, 200, versions);
    }
    const auth = String(req.headers.authorization ?? '');
    const am = /^(?:Bearer|OAuth)\s+(\S+)\s*$/i.exec(auth);
    const session = am ? sessions.get(am[1]) : undefined;
    if (!session || !session.valid || session.expiresAt <= Date.now()) return send(res, 401, INVALID_SESSION());
    const vm = /^v(\d+)\.0$/.exec(segs[0]);
    if (!vm || Number(vm[1]) < minApiVersion || (maxApiVersion != null && Number(vm[1]) > maxApiVersion)) return send(res, 404, NOT_FOUND());
    if (state.apiCalls > dailyApiLimit) return send(res, 403, LIMIT_EXCEEDED());
    ctx.ver = segs[0];
    let rest;
    try {
      rest = segs.slice(1).map(decodeURIComponent);
    } catch {
      return send(res, 400, [sfError('MALFORMED_URL', 'The URL is not correctly encoded')]);
    }
    const m = req.method;
    if (rest[0] === 'sobjects') return handleSobjects(req, res, ctx, rest.slice(1));
    if ((rest[0] === 'query' || rest[0] === 'queryAll') && rest.length === 1) {
      if (m !== 'GET') throw methodNotAllowed(m, 'GET,HEAD');
      return handleQuery(req, res, ctx);
    }
    if (rest[0] === 'composite' && rest[1] === 'sobjects' && rest.length === 2) {
      if (m !== 'POST') throw methodNotAllowed(m, 'POST');
      return handleCollections(req, res, ctx);
    }
    if (rest[0] === 'jobs' && rest[1] === 'ingest') return handleBulk(req, res, ctx, rest.slice(2));
    if (rest[0] === 'limits' && rest.length === 1) {
      return send(res, 200, { DailyApiRequests: { Max: dailyApiLimit, Remaining: Math.max(0, dailyApiLimit - state.apiCalls) } });
    }
    return send(res, 404, NOT_FOUND());
  }

  function handleSobjects(req, res, ctx, rest) {
    const m = req.method;
    if (rest.length === 0) {
      if (m !== 'GET') throw methodNotAllowed(m, 'GET,HEAD');
      return send(res, 200, { encoding: 'UTF-8', maxBatchSize: 200, sobjects: Object.keys(schema).map((name) => ({ name, keyPrefix: schema[name].prefix, createable: true, queryable: true })) });
    }
    const type = canonicalType(rest[0]);
    if (!type) return send(res, 404, NOT_FOUND());
    if (rest.length === 1) {
      if (m !== 'POST') {
        if (m === 'GET') return send(res, 200, { objectDescribe: { name: type, keyPrefix: schema[type].prefix, createable: true }, recentItems: [] });
        throw methodNotAllowed(m, 'GET,HEAD,POST');
      }
      const body = readJson(ctx);
      const prep = prepareCreate(type, body, ctx);
      if (!prep.ok) return send(res, prep.status, prep.errors);
      const rec = commitCreate(prep, ctx);
      return send(res, 201, { id: rec.Id, success: true, errors: [] });
    }
    if (rest.length === 2) {
      const id = rest[1];
      if (rest[1] === 'describe') {
        return send(res, 200, { name: type, keyPrefix: schema[type].prefix, fields: [...schema[type].fields.values()].map((f) => ({ name: f.name, label: f.label, length: f.length, externalId: f.externalId, unique: f.unique, nillable: !schema[type].required.includes(f.name) })) });
      }
      if (!ID_RE.test(id)) return send(res, 404, [{ errorCode: 'NOT_FOUND', message: `Provided external ID field does not exist or is not accessible: ${id}` }]);
      const rec = findById(type, id);
      if (!rec) {
        if (deleted.get(id) === type) return send(res, 404, [{ errorCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }]);
        return send(res, 404, NOT_FOUND());
      }
      if (m === 'GET') {
        const full = fullRecord(type, rec, ctx.ver);
        const want = new URL(req.url, 'http://x').searchParams.get('fields');
        if (want) {
          const out = { attributes: full.attributes };
          for (const name of want.split(',').map((s) => s.trim()).filter(Boolean)) {
            const f = resolveQueryField(type, name);
            if (!f) return send(res, 400, [sfError('INVALID_FIELD', `No such column '${name}' on entity '${type}'`)]);
            out[f] = full[f];
          }
          out.Id = rec.Id;
          return send(res, 200, out);
        }
        return send(res, 200, full);
      }
      if (m === 'DELETE') {
        state.records[type].splice(state.records[type].indexOf(rec), 1);
        deleted.set(rec.Id, type);
        return send(res, 204);
      }
      if (m === 'PATCH') {
        const body = readJson(ctx);
        const r = updateRecord(type, rec, body, ctx);
        if (!r.ok) return send(res, r.status, r.errors);
        return send(res, 204);
      }
      throw methodNotAllowed(m, 'GET,HEAD,PATCH,DELETE');
    }
    if (rest.length === 3) {
      const fieldName = rest[1];
      const value = rest[2];
      const f = schema[type].fields.get(fieldName.toLowerCase());
      if (!f || !f.externalId) {
        return send(res, 404, [{ errorCode: 'NOT_FOUND', message: `Provided external ID field does not exist or is not accessible: ${fieldName}` }]);
      }
      const matches = state.records[type].filter((r) => lower(r[f.name]) === lower(value));
      if (matches.length > 1) return send(res, 300, matches.map((r) => recordUrl(type, r.Id, ctx.ver)));
      if (m === 'GET') {
        if (!matches.length) return send(res, 404, NOT_FOUND());
        return send(res, 200, fullRecord(type, matches[0], ctx.ver));
      }
      if (m !== 'PATCH') throw methodNotAllowed(m, 'GET,HEAD,PATCH');
      const body = readJson(ctx);
      if (matches.length === 0) {
        const prep = prepareCreate(type, body, ctx, { extra: { [f.name]: value } });
        if (!prep.ok) return send(res, prep.status, prep.errors);
        const rec = commitCreate(prep, ctx);
        return send(res, 201, { id: rec.Id, success: true, errors: [], created: true });
      }
      const rec = matches[0];
      const r = updateRecord(type, rec, body, ctx);
      if (!r.ok) return send(res, r.status, r.errors);
      return send(res, 200, { id: rec.Id, success: true, errors: [], created: false });
    }
    return send(res, 404, NOT_FOUND());
  }

  function handleQuery(req, res, ctx) {
    const q = new URL(req.url, 'http://x').searchParams.get('q');
    if (q == null || q.trim() === '') throw malformed('A query string has to be specified');
    const ast = parseSoql(q);
    const type = canonicalType(ast.object);
    if (!type) {
      throw new HttpError(400, [sfError('INVALID_TYPE', `sObject type '${ast.object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`)]);
    }
    const resolve = (name) => {
      const f = resolveQueryField(type, name);
      if (!f) {
        throw new HttpError(400, [sfError('INVALID_FIELD', `No such column '${name}' on entity '${type}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`)]);
      }
      return f;
    };
    const selected = ast.fields.map(resolve);
    const seen = new Set();
    for (const f of selected) {
      if (seen.has(f)) throw malformed(`duplicate field selected: ${f}`);
      seen.add(f);
    }
    const cmpStr = (a, b) => {
      const x = lower(a);
      const y = lower(b);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const litValue = (v) => (v.kind === 'null' ? null : v.kind === 'bool' ? String(v.v) : v.v);
    const evalNode = (node, rec) => {
      switch (node.type) {
        case 'and': return node.items.every((n) => evalNode(n, rec));
        case 'or': return node.items.some((n) => evalNode(n, rec));
        case 'not': return !evalNode(node.expr, rec);
        case 'cmp': {
          const fv = fieldValue(type, rec, node.field);
          const lv = litValue(node.value);
          if (lv === null || fv === null) {
            if (node.op === '=') return fv === null && lv === null;
            if (node.op === '!=') return !(fv === null && lv === null);
            return false;
          }
          const c = cmpStr(fv, lv);
          switch (node.op) {
            case '=': return c === 0;
            case '!=': return c !== 0;
            case '<': return c < 0;
            case '<=': return c <= 0;
            case '>': return c > 0;
            default: return c >= 0;
          }
        }
        case 'in': {
          const fv = fieldValue(type, rec, node.field);
          const hit = node.values.some((v) => {
            const lv = litValue(v);
            return lv === null ? fv === null : fv !== null && cmpStr(fv, lv) === 0;
          });
          return node.negate ? !hit : hit;
        }
        case 'like': {
          const fv = fieldValue(type, rec, node.field);
          return fv !== null && likeToRegExp(node.value.like).test(String(fv));
        }
        default: return false;
      }
    };
    const resolveWhere = (node) => {
      if (!node) return;
      if (node.items) node.items.forEach(resolveWhere);
      else if (node.expr) resolveWhere(node.expr);
      else node.field = resolve(node.field);
    };
    resolveWhere(ast.where);
    const order = ast.orderBy.map((o) => ({ ...o, field: resolve(o.field) }));
    let rows = state.records[type].filter((r) => !ast.where || evalNode(ast.where, r));
    if (order.length) {
      rows = [...rows].sort((a, b) => {
        for (const o of order) {
          const x = fieldValue(type, a, o.field);
          const y = fieldValue(type, b, o.field);
          if (x === null && y === null) continue;
          if (x === null) return o.nullsLast ? 1 : -1;
          if (y === null) return o.nullsLast ? -1 : 1;
          const c = cmpStr(x, y);
          if (c) return o.desc ? -c : c;
        }
        return 0;
      });
    }
    rows = rows.slice(ast.offset, ast.limit == null ? undefined : ast.offset + ast.limit);
    if (ast.count) return send(res, 200, { totalSize: rows.length, done: true, records: [] });
    const records = rows.map((r) => {
      const out = { attributes: { type, url: recordUrl(type, r.Id, ctx.ver) } };
      for (const f of selected) out[f] = f === 'Id' ? r.Id : fieldValue(type, r, f);
      return out;
    });
    return send(res, 200, { totalSize: records.length, done: true, records });
  }

  function toCollectionErrors(errors) {
    return errors.map((e) => {
      const o = { statusCode: e.errorCode, message: e.message, fields: e.fields ?? [] };
      if (e.duplicateResult) o.duplicateResult = e.duplicateResult;
      return o;
    });
  }

  function handleCollections(req, res, ctx) {
    const body = readJson(ctx);
    if (!body || typeof body !== 'object' || !Array.isArray(body.records)) {
      throw new HttpError(400, [sfError('JSON_PARSER_ERROR', "Request body must be an object with a 'records' array")]);
    }
    if (body.records.length > 200) throw new HttpError(400, [sfError('EXCEEDED_ID_LIMIT', 'Maximum number of records exceeded: 200')]);
    const allOrNone = body.allOrNone === true;
    const pools = { Lead: [...state.records.Lead], Contact: [...state.records.Contact] };
    const preps = [];
    const pendingUnique = [];
    for (const r of body.records) {
      const type = r && typeof r === 'object' ? canonicalType(r.attributes?.type) : null;
      if (!type) {
        preps.push({ ok: false, errors: [sfError('INVALID_TYPE', 'Must send a concrete entity type.', [])] });
        continue;
      }
      const prep = prepareCreate(type, r, ctx, { pool: pools[type], pendingUnique: allOrNone ? pendingUnique : [] });
      if (prep.ok) {
        if (allOrNone) pendingUnique.push({ type, fields: prep.fields });
        else prep.record = commitCreate(prep, ctx);
      }
      preps.push(prep);
    }
    if (allOrNone && preps.some((p) => !p.ok)) {
      return send(res, 200, preps.map((p) => (p.ok
        ? { success: false, errors: [{ statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK', message: 'Record rolled back because not all records were valid and the request was using AllOrNone header', fields: [] }] }
        : { success: false, errors: toCollectionErrors(p.errors) })));
    }
    return send(res, 200, preps.map((p) => {
      if (!p.ok) return { success: false, errors: toCollectionErrors(p.errors) };
      const rec = p.record ?? commitCreate(p, ctx);
      return { id: rec.Id, success: true, errors: [] };
    }));
  }

  // ----- Bulk API 2.0 ingest ----------------------------------------------------------------
  const DELIMS = { COMMA: ',', TAB: '\t', PIPE: '|', SEMICOLON: ';', CARET: '^', BACKQUOTE: '`' };
  function jobInfo(job) {
    const out = {};
    for (const [k, v] of Object.entries(job)) if (!k.startsWith('_')) out[k] = v;
    return out;
  }
  function findJob(id) { return state.bulkJobs.find((j) => j.id === id); }
  const jobStateError = (msg) => new HttpError(400, [sfError('INVALIDJOBSTATE', msg)]);

  function processJob(job, ctx) {
    job.state = 'JobComplete';
    job._processedAt = Date.now();
    const sch = schema[job.object];
    let rows;
    try {
      rows = parseCsv(job._csv ?? '', DELIMS[job.columnDelimiter]);
    } catch (e) {
      job.state = 'Failed';
      job.errorMessage = `InvalidBatch : Failed to parse CSV. ${e.message}`;
      return;
    }
    if (!rows.length) {
      job.state = 'Failed';
      job.errorMessage = 'InvalidBatch : No content found in the uploaded data';
      return;
    }
    const header = rows[0];
    job._header = header;
    const cols = [];
    for (const h of header) {
      const f = sch.fields.get(h.trim().toLowerCase());
      if (!f) {
        job.state = 'Failed';
        job.errorMessage = `InvalidBatch : Field name not found : ${h}`;
        return;
      }
      cols.push(f.name);
    }
    if (job.operation === 'upsert' && !cols.includes(job.externalIdFieldName)) {
      job.state = 'Failed';
      job.errorMessage = `InvalidBatch : External ID field is not present in the header: ${job.externalIdFieldName}`;
      return;
    }
    const pool = [...state.records[job.object]];
    const started = Date.now();
    for (const row of rows.slice(1)) {
      const fail = (errors) => {
        const s = errors.map((e) => `${e.errorCode}:${e.message}:${(e.fields ?? []).join(',')}--`).join('');
        job._failed.push(['', s, ...row]);
      };
      if (row.length !== header.length) {
        fail([sfError('INVALID_ROW', `Row has ${row.length} columns but the header has ${header.length}`, [])]);
        continue;
      }
      const body = {};
      row.forEach((v, i) => {
        if (v === '') return;
        body[cols[i]] = v === '#N/A' ? null : v;
      });
      if (job.operation === 'upsert') {
        const key = body[job.externalIdFieldName];
        const matches = key == null ? [] : state.records[job.object].filter((r) => lower(r[job.externalIdFieldName]) === lower(key));
        if (matches.length > 1) {
          fail([sfError('DUPLICATE_EXTERNAL_ID', `${job.externalIdFieldName}: more than one record found for external id field: ${matches.map((r) => r.Id).join(', ')}`, [job.externalIdFieldName])]);
          continue;
        }
        if (matches.length === 1) {
          const r = updateRecord(job.object, matches[0], body, ctx);
          if (!r.ok) fail(r.errors);
          else job._successful.push([matches[0].Id, 'false', ...row]);
          continue;
        }
      }
      const prep = prepareCreate(job.object, body, ctx, { pool });
      if (!prep.ok) { fail(prep.errors); continue; }
      const rec = commitCreate(prep, ctx);
      job._successful.push([rec.Id, 'true', ...row]);
    }
    job.numberRecordsProcessed = rows.length - 1;
    job.numberRecordsFailed = job._failed.length;
    job.totalProcessingTime = Date.now() - started;
    job.systemModstamp = sfDate();
  }

  function handleBulk(req, res, ctx, rest) {
    const m = req.method;
    if (rest.length === 0) {
      if (m === 'GET') return send(res, 200, { done: true, records: state.bulkJobs.map(jobInfo), nextRecordsUrl: null });
      if (m !== 'POST') throw methodNotAllowed(m, 'GET,HEAD,POST');
      const body = readJson(ctx);
      const object = canonicalType(body?.object);
      if (!object) throw new HttpError(400, [sfError('INVALIDJOB', `sObject type '${body?.object}' is not supported`)]);
      const operation = body.operation;
      if (!['insert', 'upsert'].includes(operation)) throw new HttpError(400, [sfError('INVALIDJOB', `Operation '${operation}' is not supported by this emulator (insert, upsert)`)]);
      let externalIdFieldName;
      if (operation === 'upsert') {
        const f = schema[object].fields.get(String(body.externalIdFieldName ?? '').toLowerCase());
        if (!f || !f.externalId) throw new HttpError(400, [sfError('INVALIDJOB', `InvalidJob : Field name provided, ${body.externalIdFieldName} does not match an External ID for ${object}`)]);
        externalIdFieldName = f.name;
      }
      const contentType = body.contentType ?? 'CSV';
      if (contentType !== 'CSV') throw new HttpError(400, [sfError('INVALIDJOB', `contentType ${contentType} is not supported (CSV)`)]);
      const lineEnding = body.lineEnding ?? 'LF';
      if (!['LF', 'CRLF'].includes(lineEnding)) throw new HttpError(400, [sfError('INVALIDJOB', `lineEnding ${lineEnding} is not supported`)]);
      const columnDelimiter = body.columnDelimiter ?? 'COMMA';
      if (!DELIMS[columnDelimiter]) throw new HttpError(400, [sfError('INVALIDJOB', `columnDelimiter ${columnDelimiter} is not supported`)]);
      counters.job += 1;
      const id = '750' + '5e000' + String(counters.job).padStart(10, '0');
      const now = sfDate();
      const job = {
        id, operation, object, createdById: USER_ID, createdDate: now, systemModstamp: now, state: 'Open',
        ...(externalIdFieldName ? { externalIdFieldName } : {}),
        concurrencyMode: 'Parallel', contentType, apiVersion: Number(ctx.ver.slice(1)), jobType: 'V2Ingest',
        contentUrl: `services/data/${ctx.ver}/jobs/ingest/${id}/batches`, lineEnding, columnDelimiter,
        numberRecordsProcessed: 0, numberRecordsFailed: 0, retries: 0, totalProcessingTime: 0,
        apiActiveProcessingTime: 0, apexProcessingTime: 0,
        _csv: null, _polls: 0, _successful: [], _failed: [], _header: null,
      };
      state.bulkJobs.push(job);
      const info = jobInfo(job);
      for (const k of ['numberRecordsProcessed', 'numberRecordsFailed', 'retries', 'totalProcessingTime', 'apiActiveProcessingTime', 'apexProcessingTime']) delete info[k];
      return send(res, 200, info);
    }
    const job = findJob(rest[0]);
    if (!job) return send(res, 404, NOT_FOUND());
    const sub = rest[1];
    if (rest.length === 1) {
      if (m === 'GET') {
        if (job.state === 'UploadComplete') job.state = 'InProgress';
        else if (job.state === 'InProgress') processJob(job, ctx);
        return send(res, 200, jobInfo(job));
      }
      if (m === 'PATCH') {
        const body = readJson(ctx);
        const target = body?.state;
        if (target === 'UploadComplete') {
          if (job.state !== 'Open') throw jobStateError(`Job ${job.id} is not Open (state ${job.state})`);
          job.state = 'UploadComplete';
        } else if (target === 'Aborted') {
          if (!['Open', 'UploadComplete', 'InProgress'].includes(job.state)) throw jobStateError(`Job ${job.id} cannot be aborted in state ${job.state}`);
          job.state = 'Aborted';
        } else {
          throw jobStateError(`Invalid state transition requested: ${target}`);
        }
        job.systemModstamp = sfDate();
        const info = jobInfo(job);
        return send(res, 200, info);
      }
      if (m === 'DELETE') {
        if (!['JobComplete', 'Aborted', 'Failed', 'UploadComplete', 'Open'].includes(job.state)) throw jobStateError(`Job ${job.id} cannot be deleted in state ${job.state}`);
        state.bulkJobs.splice(state.bulkJobs.indexOf(job), 1);
        return send(res, 204);
      }
      throw methodNotAllowed(m, 'GET,HEAD,PATCH,DELETE');
    }
    if (rest.length === 2 && sub === 'batches') {
      if (m !== 'PUT') throw methodNotAllowed(m, 'PUT');
      const mt = mediaType(req);
      if (mt && mt !== 'text/csv') throw new HttpError(415, [{ errorCode: 'UNSUPPORTED_MEDIA_TYPE', message: `MediaType of '${mt}' is not supported by this resource` }]);
      if (job.state !== 'Open') throw new HttpError(409, [sfError('INVALIDJOBSTATE', `Job ${job.id} is not Open (state ${job.state})`)]);
      if (job._csv !== null) throw new HttpError(409, [sfError('INVALIDJOBSTATE', `Data was already uploaded for job ${job.id}; only one upload per job is allowed`)]);
      job._csv = ctx.body;
      return send(res, 201);
    }
    if (rest.length === 2 && ['successfulResults', 'failedResults', 'unprocessedrecords'].includes(sub)) {
      if (m !== 'GET') throw methodNotAllowed(m, 'GET,HEAD');
      if (!['JobComplete', 'Failed', 'Aborted'].includes(job.state)) throw jobStateError(`Job ${job.id} is not complete (state ${job.state})`);
      let header = job._header;
      if (!header) {
        try { header = parseCsv(job._csv ?? '', DELIMS[job.columnDelimiter])[0] ?? []; } catch { header = []; }
      }
      let lines;
      if (sub === 'successfulResults') lines = [csvLine(['sf__Id', 'sf__Created', ...header]), ...job._successful.map(csvLine)];
      else if (sub === 'failedResults') lines = [csvLine(['sf__Id', 'sf__Error', ...header]), ...job._failed.map(csvLine)];
      else {
        let rows = [];
        if (job.state === 'Aborted') {
          try { rows = parseCsv(job._csv ?? '', DELIMS[job.columnDelimiter]).slice(1); } catch { rows = []; }
        }
        lines = [csvLine(header), ...rows.map(csvLine)];
      }
      return send(res, 200, lines.join('\n') + '\n', { 'Content-Type': 'text/csv' });
    }
    return send(res, 404, NOT_FOUND());
  }

  // ----- Slack ------------------------------------------------------------------------------
  function handleSlack(req, res, ctx, body) {
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
    state.slackMessages.push(msg);
    return send(res, 200, 'ok');
  }

  // ----- control API ------------------------------------------------------------------------
  function handleControl(req, res, pathname, body) {
    const json = (status, obj) => send(res, status, obj);
    try {
      if (pathname === '/__emulator/state' && req.method === 'GET') return json(200, state);
      if (pathname === '/__emulator/reset' && req.method === 'POST') {
        let opts = {};
        if (body.trim()) opts = JSON.parse(body);
        reset(opts);
        return json(200, { ok: true });
      }
      if (pathname === '/__emulator/faults') {
        if (req.method === 'GET') return json(200, state.faults);
        if (req.method === 'DELETE') { clearFaults(); return json(200, { ok: true, faults: [] }); }
        if (req.method === 'POST') {
          const parsed = JSON.parse(body || 'null');
          const append = new URL(req.url, 'http://x').searchParams.get('append');
          const faults = append === '1' || append === 'true' ? addFaults(parsed) : setFaults(parsed);
          return json(200, { ok: true, faults });
        }
      }
      return json(404, { error: 'unknown control endpoint' });
    } catch (e) {
      return json(400, { error: e.message });
    }
  }

  // ----- main dispatch ----------------------------------------------------------------------
  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  async function handle(req, res) {
    const u = new URL(req.url, 'http://127.0.0.1');
    const body = await readBody(req);
    // CORS, as an org's CORS allowlist would grant it (option `corsOrigins`, e.g. ['*'] for the
    // demo page). Preflights are answered here and not logged as API calls.
    const origin = req.headers.origin;
    if (origin && corsOrigins.length && (corsOrigins.includes('*') || corsOrigins.includes(origin))) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      if (req.method === 'OPTIONS') {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PATCH, PUT, DELETE');
        res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'authorization, content-type');
        res.setHeader('Access-Control-Max-Age', '600');
        res.writeHead(204);
        return res.end();
      }
    }
    if (u.pathname.startsWith('/__emulator/')) return handleControl(req, res, u.pathname, body);
    state.requests.push({ method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), headers: { ...req.headers }, body });
    const ctx = classify(req.method, u.pathname);
    ctx.req = req;
    ctx.body = body;
    if (ctx.isData) {
      state.apiCalls += 1;
      res.setHeader('Sforce-Limit-Info', `api-usage=${state.apiCalls}/${dailyApiLimit}`);
    }
    let wait = delayMs;
    for (const f of state.faults.filter((x) => x.kind === 'delay' && targetMatches(x, ctx))) {
      wait += f.ms;
      consume(f);
    }
    if (wait > 0) await sleep(wait);
    if (stopped || res.destroyed) return undefined;
    const fault = state.faults.find((f) => terminalApplies(f.kind, ctx) && targetMatches(f, ctx));
    if (fault) {
      consume(fault);
      switch (fault.kind) {
        case 'drop':
          req.socket.destroy();
          return undefined;
        case 'hang':
          return undefined; // never answered; stop() destroys the socket
        case 'status500':
          if (ctx.isSlack) return send(res, 500, 'rollup_error');
          return send(res, fault.status ?? 503, [sfError('SERVER_UNAVAILABLE', 'Server is temporarily unavailable')]);
        case 'rateLimit429': {
          const h = { 'Retry-After': String(fault.retryAfter ?? 1) };
          if (ctx.isSlack) return send(res, 429, 'rate_limited', h);
          return send(res, 429, [sfError('REQUEST_LIMIT_EXCEEDED', 'Too many requests. Retry after the time in the Retry-After header.')], h);
        }
        case 'requestLimit':
          return send(res, 403, LIMIT_EXCEEDED());
        case 'invalidSession':
          return send(res, 401, INVALID_SESSION());
        case 'redirect':
          // What a hostile or misconfigured endpoint could answer: the client must not follow it.
          return send(res, fault.status ?? 307, '', { Location: fault.location });
        case 'malformed': {
          const status = ctx.target === 'create' || (ctx.target === 'bulk' && req.method === 'PUT') ? 201 : 200;
          return send(res, status, ctx.isToken ? '{not json' : '{"id": "00Q', { 'Content-Type': 'application/json;charset=UTF-8' });
        }
        default:
          break;
      }
    }
    if (ctx.isToken) return handleToken(req, res, ctx, body);
    if (ctx.isData) return handleData(req, res, ctx);
    if (ctx.isSlack) return handleSlack(req, res, ctx, body);
    return send(res, 404, 'not found');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof HttpError) return send(res, err.status, err.body);
      return send(res, 500, [sfError('UNKNOWN_EXCEPTION', `emulator error: ${err?.message ?? err}`)]);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (err, socket) => { socket.destroy(); });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const port = server.address().port;
  url = `http://127.0.0.1:${port}`;
  instanceUrl = options.instanceUrl ?? url;

  let stopPromise = null;
  function stop() {
    if (stopPromise) return stopPromise;
    stopped = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    stopPromise = new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
    });
    return stopPromise;
  }

  return {
    url,
    port,
    loginUrl: url,
    instanceUrl,
    slackWebhookUrl: url + SLACK_WEBHOOK_PATH,
    ...cfg,
    privateKeyPem,
    publicKeyPem,
    credentials: { ...cfg },
    state,
    setFaults,
    addFaults,
    clearFaults,
    reset,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = Number(val()); break;
      case '--delay': o.delayMs = Number(val()); break;
      case '--instance-url': o.instanceUrl = val(); break;
      case '--daily-api-limit': o.dailyApiLimit = Number(val()); break;
      case '--session-ttl': o.sessionTtlMs = Number(val()); break;
      case '--disable-grant': (o.disabledGrants ??= []).push(val()); break;
      case '--duplicate-rule': o.duplicateRule = true; break;
      case '-h':
      case '--help':
        process.stdout.write('usage: node tests/emulator/server.mjs [--port N] [--delay MS] [--instance-url URL] [--daily-api-limit N] [--session-ttl MS] [--disable-grant GRANT]... [--duplicate-rule]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument: ${a}`);
    }
  }
  return o;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  const emu = await startEmulator(opts);
  process.stdout.write(JSON.stringify({
    url: emu.url,
    port: emu.port,
    instanceUrl: emu.instanceUrl,
    slackWebhookUrl: emu.slackWebhookUrl,
    ...emu.credentials,
    privateKeyPem: emu.privateKeyPem,
  }) + '\n');
  const shutdown = () => { emu.stop().then(() => process.exit(0)); };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  });
}

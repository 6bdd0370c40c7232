// The one org every route reads and writes: its schema (fields, lengths, required fields,
// external ids, duplicate rules), records, sessions, counters and settings, and the record
// pipeline (validate -> duplicate rule -> commit) that REST, collections and Bulk share.

import { duplicateRuleOn } from './faults.mjs';
import { sfError, sfDate, lower, codePointLength } from './wire.mjs';

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

// ---- schema ---------------------------------------------------------------------------------

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
// Salesforce's "API Query Cursor Limits": since v56.0 a query locator lasts 2 days after the query.
const QUERY_LOCATOR_TTL_MS = 2 * 24 * 60 * 60 * 1000;
const EMAIL_RE = /^[^\s@"(),:;<>[\]\\]+@[^\s@"(),:;<>[\]\\]+\.[^\s@"(),:;<>[\]\\]+$/;

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

export function canonicalType(name) {
  if (typeof name !== 'string') return null;
  const l = name.toLowerCase();
  if (l === 'lead') return 'Lead';
  if (l === 'contact') return 'Contact';
  return null;
}

export const recordUrl = (type, id, ver) => `/services/data/${ver}/sobjects/${type}/${id}`;

// ---- the org --------------------------------------------------------------------------------

/** The org's state and settings for one emulator; `url` / `instanceUrl` are set once it listens. */
export function createOrg(options = {}) {
  const cfg = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (options[k] !== undefined) cfg[k] = options[k];
  const org = {
    options,
    cfg,
    schema: buildSchema(options.customFields ?? DEFAULT_CUSTOM_FIELDS),
    dailyApiLimit: options.dailyApiLimit ?? 15000,
    sessionTtlMs: options.sessionTtlMs ?? null,
    minApiVersion: options.minApiVersion ?? 31,
    maxApiVersion: options.maxApiVersion ?? null,
    queryLocatorTtlMs: options.queryLocatorTtlMs ?? QUERY_LOCATOR_TTL_MS,
    url: '',
    instanceUrl: '',
    // what GET /__emulator/state shows
    state: {
      records: { Lead: [], Contact: [] },
      requests: [],
      slackMessages: [],
      tokensIssued: [],
      apiCalls: 0,
      bulkJobs: [],
      faults: [],
      faultsApplied: {},
    },
    sessions: new Map(), // access_token -> { grant, expiresAt, valid }
    deleted: new Map(), // id -> type
    queryCursors: new Map(), // query locator -> { locator, rows, route, batchSize, expiresAt } (soql.mjs)
    counters: { Lead: 0, Contact: 0, job: 0, query: 0 },
  };
  return org;
}

/** Clears records, logs, counters, jobs, query cursors and faults; sessions too with `{ sessions: true }`. */
export function resetOrg(org, opts = {}) {
  const { state } = org;
  for (const t of Object.keys(state.records)) state.records[t].length = 0;
  state.requests.length = 0;
  state.slackMessages.length = 0;
  state.tokensIssued.length = 0;
  state.apiCalls = 0;
  state.bulkJobs.length = 0;
  state.faults.length = 0;
  for (const k of Object.keys(state.faultsApplied)) delete state.faultsApplied[k];
  org.deleted.clear();
  org.queryCursors.clear();
  if (opts.sessions) org.sessions.clear();
}

// ---- records --------------------------------------------------------------------------------

function newId(org, type) {
  org.counters[type] += 1;
  return org.schema[type].prefix + '5e000' + String(org.counters[type]).padStart(10, '0');
}

export function findById(org, type, id) {
  // exact match only: emulator ids keep their counter in the last characters, so a 15-character
  // prefix would be ambiguous (real 15-character ids are not supported)
  return org.state.records[type].find((r) => r.Id === id);
}

export function fieldValue(type, rec, name) {
  if (name === 'Name') return [rec.FirstName, rec.MiddleName, rec.LastName].filter(Boolean).join(' ') || null;
  if (name === 'IsDeleted') return false;
  if (name === 'SystemModstamp') return rec.LastModifiedDate ?? null;
  return rec[name] ?? null;
}

export function resolveQueryField(org, type, name) {
  const l = name.toLowerCase();
  const f = org.schema[type].fields.get(l);
  if (f) return f.name;
  return READ_ONLY.find((r) => r.toLowerCase() === l) ?? null;
}

export function fullRecord(org, type, rec, ver) {
  const out = { attributes: { type, url: recordUrl(type, rec.Id, ver) }, Id: rec.Id };
  for (const f of org.schema[type].fields.values()) out[f.name] = rec[f.name] ?? null;
  out.Name = fieldValue(type, rec, 'Name');
  out.IsDeleted = false;
  out.CreatedDate = rec.CreatedDate;
  out.LastModifiedDate = rec.LastModifiedDate ?? rec.CreatedDate;
  out.SystemModstamp = out.LastModifiedDate;
  return out;
}

// Validate a body against the schema. mode 'create' | 'update'. Returns { errors, fields, status }.
function validate(org, type, body, mode, { selfId = null, pendingUnique = [] } = {}) {
  const sch = org.schema[type];
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
    const clash = org.state.records[type].find((r) => r.Id !== selfId && lower(r[f.name]) === v)
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

/** Full create pipeline (validation + duplicate rule). Returns { ok, status, errors } or { ok, type, fields }. */
export function prepareCreate(org, type, body, ctx, { pool, pendingUnique = [], extra = {} } = {}) {
  const v = validate(org, type, { ...body, ...extra }, 'create', { pendingUnique });
  if (v.errors.length) return { ok: false, status: v.status, errors: v.errors };
  if (duplicateRuleOn(org, ctx) && !allowSave(ctx.req)) {
    const dup = duplicateCheck(type, v.fields.Email, ctx.ver, pool ?? org.state.records[type]);
    if (dup) return { ok: false, status: 400, errors: [dup] };
  }
  const fields = { ...v.fields };
  for (const k of Object.keys(fields)) if (fields[k] == null) delete fields[k];
  if (type === 'Lead' && fields.Status == null) fields.Status = 'Open - Not Contacted';
  return { ok: true, type, fields };
}

export function commitCreate(org, prep, ctx) {
  const now = sfDate();
  const rec = { Id: newId(org, prep.type), ...prep.fields, CreatedDate: now, LastModifiedDate: now };
  const aa = ctx.req.headers['sforce-auto-assign'];
  if (aa !== undefined) rec._autoAssign = aa;
  org.state.records[prep.type].push(rec);
  return rec;
}

export function updateRecord(org, type, rec, body, ctx) {
  const v = validate(org, type, body, 'update', { selfId: rec.Id });
  if (v.errors.length) return { ok: false, status: v.status, errors: v.errors };
  if (duplicateRuleOn(org, ctx) && !allowSave(ctx.req)) {
    const email = 'Email' in v.fields ? v.fields.Email : rec.Email;
    const dup = duplicateCheck(type, email, ctx.ver, org.state.records[type], rec.Id);
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

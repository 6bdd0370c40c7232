// Tests of the local Salesforce + Slack emulator (tests/emulator/server.mjs).
// Run: node --test tests/node/emulator.test.mjs
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEmulator, parseCsv, SLACK_WEBHOOK_PATH } from '../emulator/server.mjs';

const SERVER = fileURLToPath(new URL('../emulator/server.mjs', import.meta.url));
const V = 'v66.0';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const DUP_MSG = "You're creating a duplicate record. We recommend you use an existing record instead.";

let emu;

before(async () => { emu = await startEmulator(); });
after(async () => { await emu?.stop(); });
beforeEach(() => emu.reset());

// ---- helpers --------------------------------------------------------------------------------
async function tokenReq(params, { e = emu, headers = FORM, body } = {}) {
  const res = await fetch(`${e.url}/services/oauth2/token`, {
    method: 'POST', headers, body: body ?? new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}
const passwordParams = (e = emu, over = {}) => ({
  grant_type: 'password', client_id: e.clientId, client_secret: e.clientSecret,
  username: e.username, password: e.password + e.securityToken, ...over,
});
async function getToken(e = emu) {
  const r = await tokenReq(passwordParams(e), { e });
  assert.equal(r.status, 200, r.text);
  return r.json.access_token;
}
async function api(path, { method = 'GET', body, headers = {}, token, e = emu, raw = false, version = V } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = h.authorization ?? `Bearer ${token ?? (await getToken(e))}`;
  let payload = body;
  if (body !== undefined && typeof body !== 'string') {
    payload = JSON.stringify(body);
    h['content-type'] = h['content-type'] ?? 'application/json';
  }
  const res = await fetch(`${e.url}/services/data/${version}${path}`, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  if (!raw) { try { json = JSON.parse(text); } catch { json = undefined; } }
  return { status: res.status, json, text, headers: res.headers };
}
function signJwt(claims, pem, header = { alg: 'RS256', typ: 'JWT' }) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${enc(header)}.${enc(claims)}`;
  return `${data}.${crypto.sign('sha256', Buffer.from(data), pem).toString('base64url')}`;
}
const jwtClaims = (over = {}) => ({
  iss: emu.clientId, sub: emu.username, aud: 'https://login.salesforce.com',
  exp: Math.floor(Date.now() / 1000) + 120, ...over,
});
const jwtReq = (assertion) => tokenReq({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
async function withEmu(opts, fn) {
  const e = await startEmulator({ jwtPublicKey: emu.publicKeyPem, ...opts });
  try { return await fn(e); } finally { await e.stop(); }
}
const slack = (body, { path = SLACK_WEBHOOK_PATH, headers = { 'content-type': 'application/json' } } = {}) => fetch(`${emu.url}${path}`, {
  method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body),
}).then(async (r) => ({ status: r.status, text: await r.text(), headers: r.headers }));
const lead = (over = {}) => ({ FirstName: 'Ada', LastName: 'Lovelace', Company: 'Web channel signups', Email: 'ada@example.com', ...over });
const setFaults = (f) => fetch(`${emu.url}/__emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f) });

// ---- OAuth ------------------------------------------------------------------------------------
describe('oauth2/token', () => {
  test('password grant: 200 with the real response shape and no expires_in', async () => {
    const r = await tokenReq(passwordParams());
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['access_token', 'id', 'instance_url', 'issued_at', 'scope', 'signature', 'token_type']);
    assert.match(r.json.access_token, /^00D[A-Za-z0-9]{12}!AQ[A-Za-z0-9]+$/);
    assert.equal(r.json.instance_url, emu.url);
    assert.match(r.json.id, new RegExp(`^${emu.url}/id/00D[A-Za-z0-9]{15}/005[A-Za-z0-9]{15}$`));
    assert.equal(r.json.token_type, 'Bearer');
    assert.match(r.json.issued_at, /^\d{13}$/);
    assert.equal(r.json.scope, 'api');
    const sig = crypto.createHmac('sha256', emu.clientSecret).update(r.json.id + r.json.issued_at).digest('base64');
    assert.equal(r.json.signature, sig);
    assert.deepEqual(emu.state.tokensIssued, [{ grant: 'password', access_token: r.json.access_token }]);
  });

  test('password grant appends the security token; instanceUrl option', async () => {
    await withEmu({ securityToken: 'SECTOK', instanceUrl: 'https://acme.my.salesforce.com' }, async (e) => {
      const bad = await tokenReq(passwordParams(e, { password: e.password }), { e });
      assert.deepEqual([bad.status, bad.json], [400, { error: 'invalid_grant', error_description: 'authentication failure' }]);
      const ok = await tokenReq(passwordParams(e, { password: 'emu-passwordSECTOK' }), { e });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.instance_url, 'https://acme.my.salesforce.com');
    });
  });

  test('client_credentials grant', async () => {
    const r = await tokenReq({ grant_type: 'client_credentials', client_id: emu.clientId, client_secret: emu.clientSecret });
    assert.equal(r.status, 200);
    assert.equal(emu.state.tokensIssued[0].grant, 'client_credentials');
    const bad = await tokenReq({ grant_type: 'client_credentials', client_id: emu.clientId, client_secret: 'nope' });
    assert.deepEqual([bad.status, bad.json], [400, { error: 'invalid_client', error_description: 'invalid client credentials' }]);
  });

  test('jwt-bearer grant: valid assertions for each audience', async () => {
    for (const aud of ['https://login.salesforce.com', 'https://test.salesforce.com', emu.url]) {
      const r = await jwtReq(signJwt(jwtClaims({ aud }), emu.privateKeyPem));
      assert.equal(r.status, 200, `${aud}: ${r.text}`);
      const q = await api('/query?q=SELECT+Id+FROM+Lead', { token: r.json.access_token });
      assert.equal(q.status, 200);
    }
    assert.equal(emu.state.tokensIssued[0].grant, 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  });

  test('jwt-bearer grant: bad assertions are rejected', async () => {
    const fail = { error: 'invalid_grant', error_description: 'authentication failure' };
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ['wrong sub', signJwt(jwtClaims({ sub: 'someone@else.com' }), emu.privateKeyPem), fail],
      ['wrong aud', signJwt(jwtClaims({ aud: 'https://evil.example.com' }), emu.privateKeyPem), fail],
      ['expired', signJwt(jwtClaims({ exp: now - 5 }), emu.privateKeyPem), fail],
      ['exp too far ahead', signJwt(jwtClaims({ exp: now + 600 }), emu.privateKeyPem), fail],
      ['no exp', signJwt(jwtClaims({ exp: undefined }), emu.privateKeyPem), fail],
      ['alg none', signJwt(jwtClaims(), emu.privateKeyPem, { alg: 'none' }), fail],
      ['garbage', 'not.a.jwt', fail],
      ['missing', undefined, fail],
      ['wrong iss', signJwt(jwtClaims({ iss: 'other-client' }), emu.privateKeyPem), { error: 'invalid_client_id', error_description: 'client identifier invalid' }],
    ];
    // tampered payload: signature no longer matches
    const good = signJwt(jwtClaims(), emu.privateKeyPem).split('.');
    good[1] = Buffer.from(JSON.stringify(jwtClaims({ sub: emu.username, extra: 1 }))).toString('base64url');
    cases.push(['tampered', good.join('.'), fail]);
    for (const [name, assertion, expected] of cases) {
      const r = await tokenReq({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', ...(assertion ? { assertion } : {}) });
      assert.deepEqual([r.status, r.json], [400, expected], name);
    }
    assert.equal(emu.state.tokensIssued.length, 0);
  });

  test('refresh_token grant (with and without client_secret)', async () => {
    const a = await tokenReq({ grant_type: 'refresh_token', client_id: emu.clientId, refresh_token: emu.refreshToken });
    assert.equal(a.status, 200);
    const b = await tokenReq({ grant_type: 'refresh_token', client_id: emu.clientId, client_secret: emu.clientSecret, refresh_token: 'emu-refresh-token' });
    assert.equal(b.status, 200);
    const c = await tokenReq({ grant_type: 'refresh_token', client_id: emu.clientId, refresh_token: 'stale' });
    assert.deepEqual([c.status, c.json], [400, { error: 'invalid_grant', error_description: 'authentication failure' }]);
    const d = await tokenReq({ grant_type: 'refresh_token', client_id: emu.clientId, client_secret: 'x', refresh_token: emu.refreshToken });
    assert.deepEqual([d.status, d.json], [400, { error: 'invalid_client', error_description: 'invalid client credentials' }]);
    assert.deepEqual(emu.state.tokensIssued.map((t) => t.grant), ['refresh_token', 'refresh_token']);
  });

  test('token errors: client id, secret, user, password, grant type, content type', async () => {
    const cases = [
      [passwordParams(emu, { client_id: 'nope' }), { error: 'invalid_client_id', error_description: 'client identifier invalid' }],
      [passwordParams(emu, { client_secret: 'nope' }), { error: 'invalid_client', error_description: 'invalid client credentials' }],
      [passwordParams(emu, { username: 'nobody@example.com' }), { error: 'invalid_grant', error_description: 'authentication failure' }],
      [passwordParams(emu, { password: 'wrong' }), { error: 'invalid_grant', error_description: 'authentication failure' }],
      [passwordParams(emu, { grant_type: 'authorization_code' }), { error: 'unsupported_grant_type', error_description: 'grant type not supported' }],
      [{ client_id: emu.clientId }, { error: 'unsupported_grant_type', error_description: 'grant type not supported' }],
    ];
    for (const [params, expected] of cases) {
      const r = await tokenReq(params);
      assert.deepEqual([r.status, r.json], [400, expected], JSON.stringify(params));
    }
    const j = await tokenReq(null, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(passwordParams()) });
    assert.equal(j.status, 400);
    assert.equal(j.json.error, 'invalid_request');
    assert.equal(typeof j.json.error_description, 'string');
  });

  test('disabledGrants blocks the password grant like new orgs do', async () => {
    await withEmu({ disabledGrants: ['password'] }, async (e) => {
      const r = await tokenReq(passwordParams(e), { e });
      assert.deepEqual([r.status, r.json], [400, { error: 'invalid_grant', error_description: 'authentication failure' }]);
      const cc = await tokenReq({ grant_type: 'client_credentials', client_id: e.clientId, client_secret: e.clientSecret }, { e });
      assert.equal(cc.status, 200);
    });
  });
});

// ---- REST basics --------------------------------------------------------------------------------
describe('REST auth, versions, limits', () => {
  test('missing, unknown and OAuth-prefixed tokens', async () => {
    const none = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: null });
    assert.deepEqual([none.status, none.json], [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]]);
    const bad = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: 'bogus' });
    assert.deepEqual([bad.status, bad.json], [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]]);
    const t = await getToken();
    const oauth = await api('/sobjects/Lead', { method: 'POST', body: lead(), headers: { authorization: `OAuth ${t}` } });
    assert.equal(oauth.status, 201);
  });

  test('old or malformed API versions answer 404 NOT_FOUND', async () => {
    const t = await getToken();
    for (const version of ['v20.0', 'v30.0', 'v66', 'latest', 'v66.1']) {
      const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t, version });
      assert.deepEqual([r.status, r.json], [404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]], version);
    }
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t, version: 'v31.0' })).status, 201);
  });

  test('Sforce-Limit-Info counts API calls; over the daily limit -> 403', async () => {
    await withEmu({ dailyApiLimit: 2 }, async (e) => {
      const t = await getToken(e);
      const a = await api('/query?q=SELECT+Id+FROM+Lead', { e, token: t });
      assert.equal(a.headers.get('sforce-limit-info'), 'api-usage=1/2');
      const b = await api('/query?q=SELECT+Id+FROM+Lead', { e, token: t });
      assert.equal(b.headers.get('sforce-limit-info'), 'api-usage=2/2');
      const c = await api('/query?q=SELECT+Id+FROM+Lead', { e, token: t });
      assert.deepEqual([c.status, c.json], [403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]]);
      assert.equal(e.state.apiCalls, 3);
    });
    const t = await getToken();
    const r = await api('/query?q=SELECT+Id+FROM+Lead', { token: t });
    assert.equal(r.headers.get('sforce-limit-info'), 'api-usage=1/15000');
  });

  test('sessionTtlMs expires tokens', async () => {
    await withEmu({ sessionTtlMs: 1000 }, async (e) => {
      const t = await getToken(e);
      assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { e, token: t })).status, 200);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { e, token: t })).status, 401);
    });
  });

  test('bad JSON body -> 400 JSON_PARSER_ERROR', async () => {
    const r = await api('/sobjects/Lead/', { method: 'POST', body: '{"LastName": bad}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.length, 1);
    assert.equal(r.json[0].errorCode, 'JSON_PARSER_ERROR');
    assert.match(r.json[0].message, /^Unexpected character \('b' \(code 98\)\)/);
  });

  test('requests are logged with lower-case headers and raw body; control calls are not', async () => {
    const t = await getToken();
    await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t, headers: { 'Sforce-Auto-Assign': 'FALSE' } });
    await fetch(`${emu.url}/__emulator/state`);
    const reqs = emu.state.requests;
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].path, '/services/oauth2/token');
    assert.equal(reqs[0].method, 'POST');
    assert.match(reqs[0].body, /grant_type=password/);
    assert.equal(reqs[1].path, `/services/data/${V}/sobjects/Lead/`);
    assert.equal(reqs[1].headers['sforce-auto-assign'], 'FALSE');
    assert.equal(reqs[1].headers.authorization, `Bearer ${t}`);
    assert.deepEqual(JSON.parse(reqs[1].body), lead());
    assert.equal(emu.state.apiCalls, 1);
    await api('/query?q=SELECT+Id+FROM+Lead', { token: t });
    assert.deepEqual(emu.state.requests[2].query, { q: 'SELECT Id FROM Lead' });
  });
});

// ---- sObject create / read / delete ------------------------------------------------------------
describe('sobjects', () => {
  test('create Lead -> 201, stored with Id, CreatedDate, default Status, _autoAssign', async () => {
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), headers: { 'Sforce-Auto-Assign': 'TRUE' } });
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.json), ['id', 'success', 'errors']);
    assert.match(r.json.id, /^00Q5e000[0-9]{10}$/);
    assert.equal(r.json.id.length, 18);
    assert.deepEqual([r.json.success, r.json.errors], [true, []]);
    const [rec] = emu.state.records.Lead;
    assert.equal(rec.Id, r.json.id);
    assert.equal(rec.LastName, 'Lovelace');
    assert.equal(rec.Status, 'Open - Not Contacted');
    assert.equal(rec._autoAssign, 'TRUE');
    assert.match(rec.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    const c = await api('/sobjects/Contact', { method: 'POST', body: { LastName: 'Hopper', Department: 'Eng', Auth0_User_Id__c: 'auth0|1' } });
    assert.equal(c.status, 201);
    assert.match(c.json.id, /^0035e000[0-9]{10}$/);
    assert.equal(emu.state.records.Contact[0].Auth0_User_Id__c, 'auth0|1');
  });

  test('required fields: all missing ones listed; empty string counts as missing', async () => {
    const t = await getToken();
    const a = await api('/sobjects/Lead/', { method: 'POST', body: { FirstName: 'x' }, token: t });
    assert.deepEqual([a.status, a.json], [400, [{ message: 'Required fields are missing: [LastName, Company]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['LastName', 'Company'] }]]);
    const b = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Company: '' }), token: t });
    assert.deepEqual([b.status, b.json], [400, [{ message: 'Required fields are missing: [Company]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['Company'] }]]);
    const c = await api('/sobjects/Contact/', { method: 'POST', body: { FirstName: 'x' }, token: t });
    assert.deepEqual([c.status, c.json], [400, [{ message: 'Required fields are missing: [LastName]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['LastName'] }]]);
    assert.equal(emu.state.records.Lead.length, 0);
  });

  test('STRING_TOO_LONG counts characters (code points), not UTF-16 units', async () => {
    const t = await getToken();
    const ok = await api('/sobjects/Lead/', { method: 'POST', body: lead({ LastName: '😀'.repeat(80) }), token: t });
    assert.equal(ok.status, 201);
    const long = 'x'.repeat(81);
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead({ LastName: long }), token: t });
    assert.deepEqual([r.status, r.json], [400, [{ message: `Last Name: data value too large: ${long} (max length=80)`, errorCode: 'STRING_TOO_LONG', fields: ['LastName'] }]]);
    const pc = await api('/sobjects/Lead/', { method: 'POST', body: lead({ PostalCode: '1'.repeat(21) }), token: t });
    assert.equal(pc.json[0].message, `Zip/Postal Code: data value too large: ${'1'.repeat(21)} (max length=20)`);
  });

  test('INVALID_EMAIL_ADDRESS and INVALID_FIELD', async () => {
    const t = await getToken();
    const e = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Email: 'bad' }), token: t });
    assert.deepEqual([e.status, e.json], [400, [{ message: 'Email: invalid email address: bad', errorCode: 'INVALID_EMAIL_ADDRESS', fields: ['Email'] }]]);
    const f = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Foo: 1 }), token: t });
    assert.deepEqual([f.status, f.json], [400, [{ message: "No such column 'Foo' on sobject of type Lead", errorCode: 'INVALID_FIELD' }]]);
    const g = await api('/sobjects/Contact/', { method: 'POST', body: { LastName: 'x', Company: 'y' }, token: t });
    assert.deepEqual(g.json, [{ message: "No such column 'Company' on sobject of type Contact", errorCode: 'INVALID_FIELD' }]);
    const u = await api('/sobjects/Account/', { method: 'POST', body: { Name: 'x' }, token: t });
    assert.deepEqual([u.status, u.json], [404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]]);
  });

  test('GET record, 404, DELETE then ENTITY_IS_DELETED', async () => {
    const t = await getToken();
    const { json: { id } } = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    const g = await api(`/sobjects/Lead/${id}`, { token: t });
    assert.equal(g.status, 200);
    assert.deepEqual(g.json.attributes, { type: 'Lead', url: `/services/data/${V}/sobjects/Lead/${id}` });
    assert.equal(g.json.Id, id);
    assert.equal(g.json.Email, 'ada@example.com');
    assert.equal(g.json.Phone, null);
    const missing = await api('/sobjects/Lead/00Q5e0000099999999', { token: t });
    assert.deepEqual([missing.status, missing.json], [404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]]);
    const d = await api(`/sobjects/Lead/${id}`, { method: 'DELETE', token: t });
    assert.equal(d.status, 204);
    assert.equal(d.text, '');
    assert.equal(emu.state.records.Lead.length, 0);
    const gone = await api(`/sobjects/Lead/${id}`, { token: t });
    assert.deepEqual([gone.status, gone.json], [404, [{ errorCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }]]);
  });

  test('duplicate rule: off by default, on via option, bypassed by allowSave=true', async () => {
    const t = await getToken();
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t })).status, 201);
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t })).status, 201);
    await withEmu({ duplicateRule: true }, async (e) => {
      const tk = await getToken(e);
      const first = await api('/sobjects/Lead/', { e, method: 'POST', body: lead(), token: tk });
      const dup = await api('/sobjects/Lead/', { e, method: 'POST', body: lead({ Email: 'ADA@Example.com' }), token: tk });
      assert.equal(dup.status, 400);
      assert.match(dup.text, /"matchConfidence":100\.0/);
      assert.deepEqual(dup.json, [{
        duplicateResult: {
          allowSave: true,
          duplicateRule: 'Standard_Lead_Duplicate_Rule',
          duplicateRuleEntityType: 'Lead',
          errorMessage: DUP_MSG,
          matchResults: [{
            entityType: 'Lead',
            errors: [],
            matchEngine: 'ExactMatchEngine',
            matchRecords: [{
              additionalInformation: [],
              fieldDiffs: [],
              matchConfidence: 100,
              record: { attributes: { type: 'Lead', url: `/services/data/${V}/sobjects/Lead/${first.json.id}` }, Id: first.json.id },
            }],
            rule: 'Standard_Lead_Match_Rule_v1_0',
            size: 1,
            success: true,
          }],
        },
        errorCode: 'DUPLICATES_DETECTED',
        message: DUP_MSG,
      }]);
      const other = await api('/sobjects/Lead/', { e, method: 'POST', body: lead({ Email: 'other@example.com' }), token: tk });
      assert.equal(other.status, 201);
      const contact = await api('/sobjects/Contact/', { e, method: 'POST', body: { LastName: 'L', Email: 'ada@example.com' }, token: tk });
      assert.equal(contact.status, 201, 'a Contact does not duplicate a Lead');
      const saved = await api('/sobjects/Lead/', {
        e, method: 'POST', body: lead(), token: tk,
        headers: { 'Sforce-Duplicate-Rule-Header': 'allowSave=true; includeRecordDetails=true; runAsCurrentUser=true' },
      });
      assert.equal(saved.status, 201);
      assert.equal(e.state.records.Lead.length, 3);
    });
  });

  test('unique external id field: DUPLICATE_VALUE', async () => {
    const t = await getToken();
    const a = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Auth0_User_Id__c: 'auth0|u1' }), token: t });
    const b = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Auth0_User_Id__c: 'AUTH0|U1' }), token: t });
    assert.deepEqual([b.status, b.json], [400, [{ message: `duplicate value found: Auth0_User_Id__c duplicates value on record with id: ${a.json.id}`, errorCode: 'DUPLICATE_VALUE', fields: [] }]]);
  });
});

// ---- upsert -------------------------------------------------------------------------------------
describe('upsert by external id', () => {
  test('201 created, 200 updated, 300 multiple, 404 unknown field', async () => {
    const t = await getToken();
    const key = encodeURIComponent('auth0|abc/def');
    const c = await api(`/sobjects/Lead/Auth0_User_Id__c/${key}`, { method: 'PATCH', body: lead(), token: t });
    assert.deepEqual([c.status, Object.keys(c.json)], [201, ['id', 'success', 'errors', 'created']]);
    assert.deepEqual([c.json.success, c.json.errors, c.json.created], [true, [], true]);
    assert.equal(emu.state.records.Lead[0].Auth0_User_Id__c, 'auth0|abc/def');
    const u = await api(`/sobjects/Lead/Auth0_User_Id__c/${key}`, { method: 'PATCH', body: { Title: 'Countess' }, token: t });
    assert.deepEqual([u.status, u.json], [200, { id: c.json.id, success: true, errors: [], created: false }]);
    assert.equal(emu.state.records.Lead.length, 1);
    assert.equal(emu.state.records.Lead[0].Title, 'Countess');
    assert.equal(emu.state.records.Lead[0].LastName, 'Lovelace');
    const bad = await api(`/sobjects/Lead/Auth0_User_Id__c/${key}`, { method: 'PATCH', body: { Email: 'nope' }, token: t });
    assert.equal(bad.json[0].errorCode, 'INVALID_EMAIL_ADDRESS');
    const missing = await api('/sobjects/Lead/Auth0_User_Id__c/new-one', { method: 'PATCH', body: { LastName: 'x' }, token: t });
    assert.deepEqual([missing.status, missing.json[0].errorCode], [400, 'REQUIRED_FIELD_MISSING']);

    const x1 = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Email: 'a@x.com', External_User_Id__c: 'ext-1' }), token: t });
    const x2 = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Email: 'b@x.com', External_User_Id__c: 'ext-1' }), token: t });
    const m = await api('/sobjects/Lead/External_User_Id__c/ext-1', { method: 'PATCH', body: { Title: 'x' }, token: t });
    assert.deepEqual([m.status, m.json], [300, [`/services/data/${V}/sobjects/Lead/${x1.json.id}`, `/services/data/${V}/sobjects/Lead/${x2.json.id}`]]);

    const nf = await api('/sobjects/Lead/Email/a@x.com', { method: 'PATCH', body: { Title: 'x' }, token: t });
    assert.deepEqual([nf.status, nf.json], [404, [{ errorCode: 'NOT_FOUND', message: 'Provided external ID field does not exist or is not accessible: Email' }]]);
  });
});

// ---- SOQL ---------------------------------------------------------------------------------------
describe('query', () => {
  const q = (soql, token) => api(`/query?q=${encodeURIComponent(soql)}`, { token });
  let t;
  beforeEach(async () => {
    t = await getToken();
    for (const [Email, LastName] of [["o'brien@x.com", "O'Brien"], ['obrien@x.com', 'OBrien'], ['x@x.com', 'Ex']]) {
      const r = await api('/sobjects/Lead/', { method: 'POST', body: lead({ Email, LastName, Description: 'a\nb' }), token: t });
      assert.equal(r.status, 201);
    }
  });

  test('escaped quote literal matches exactly one record', async () => {
    const r = await q("SELECT Id, Email, LastName FROM Lead WHERE Email = 'o\\'brien@x.com'", t);
    assert.equal(r.status, 200);
    assert.equal(r.json.totalSize, 1);
    assert.equal(r.json.done, true);
    const [rec] = r.json.records;
    assert.deepEqual(Object.keys(rec), ['attributes', 'Id', 'Email', 'LastName']);
    assert.deepEqual(rec.attributes, { type: 'Lead', url: `/services/data/${V}/sobjects/Lead/${rec.Id}` });
    assert.equal(rec.Email, "o'brien@x.com");
    assert.equal(rec.Id, emu.state.records.Lead[0].Id);
  });

  test('properly escaped injection stays a literal; unescaped injection does what SOQL does', async () => {
    const attack = "x@x.com' OR Name != '";
    const escaped = attack.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    const safe = await q(`SELECT Id FROM Lead WHERE Email = '${escaped}'`, t);
    assert.deepEqual([safe.status, safe.json], [200, { totalSize: 0, done: true, records: [] }]);
    const unsafe = await q(`SELECT Id FROM Lead WHERE Email = '${attack}'`, t);
    assert.equal(unsafe.status, 200);
    assert.equal(unsafe.json.totalSize, 3);
    const orAll = await q("SELECT Id FROM Lead WHERE Email = 'x' OR Name != ''", t);
    assert.equal(orAll.json.totalSize, 3);
  });

  test('case-insensitive keywords, fields and values; escapes decoded; LIMIT; !=', async () => {
    const a = await q("select id, email from lead where EMAIL = 'X@X.COM' limit 5", t);
    assert.deepEqual(a.json.records.map((r) => r.Email), ['x@x.com']);
    assert.deepEqual(Object.keys(a.json.records[0]), ['attributes', 'Id', 'Email']);
    const nl = await q("SELECT Id FROM Lead WHERE Description = 'a\\nb' AND LastName != 'Ex'", t);
    assert.equal(nl.json.totalSize, 2);
    const lim = await q('SELECT Id FROM Lead LIMIT 2', t);
    assert.equal(lim.json.totalSize, 2);
    const paren = await q("SELECT Id FROM Lead WHERE (Email = 'x@x.com' OR Email = 'obrien@x.com') AND LastName = 'Ex'", t);
    assert.equal(paren.json.totalSize, 1);
    const esc = await q("SELECT Id FROM Lead WHERE LastName = 'O\\\\\\'Brien'", t); // literal O\'Brien: no match
    assert.equal(esc.json.totalSize, 0);
    const c = await q('SELECT Id FROM Contact', t);
    assert.deepEqual(c.json, { totalSize: 0, done: true, records: [] });
  });

  test('MALFORMED_QUERY and INVALID_FIELD', async () => {
    for (const soql of [
      'SELECT FROM Lead',
      "SELECT Id FROM Lead WHERE Email = 'unterminated",
      "SELECT Id FROM Lead WHERE Email = 'bad \\q escape'",
      "SELECT Id FROM Lead WHERE Email = 'a' AND Email = 'b' OR Email = 'c'",
      "SELECT Id FROM Lead WHERE Email = 'a' garbage",
      'SELECT Id Lead',
      'DELETE FROM Lead',
    ]) {
      const r = await q(soql, t);
      assert.equal(r.status, 400, soql);
      assert.equal(r.json.length, 1, soql);
      assert.equal(r.json[0].errorCode, 'MALFORMED_QUERY', soql);
      assert.equal(typeof r.json[0].message, 'string');
    }
    const f = await q('SELECT Id, Foo FROM Lead', t);
    assert.deepEqual([f.status, f.json[0].errorCode], [400, 'INVALID_FIELD']);
    assert.match(f.json[0].message, /No such column 'Foo' on entity 'Lead'/);
    const o = await q('SELECT Id FROM Widget', t);
    assert.deepEqual([o.status, o.json[0].errorCode], [400, 'INVALID_TYPE']);
  });

  test('parseCsv handles RFC 4180 quoting', () => {
    assert.deepEqual(parseCsv('a,b\r\n"x, y","he said ""hi"""\n"multi\nline",\n'), [['a', 'b'], ['x, y', 'he said "hi"'], ['multi\nline', '']]);
    assert.throws(() => parseCsv('"open'));
  });
});

// ---- query paging ----------------------------------------------------------------------------
// Salesforce's shapes: REST API "Execute a SOQL Query" (done:false + nextRecordsUrl
// /services/data/vXX.X/query/01g…-2000, totalSize the whole count), "Query Options Header"
// (batchSize 200..2000), INVALID_QUERY_LOCATOR for a locator that is unknown or expired.
describe('query paging', () => {
  const N = 2500;
  const names = Array.from({ length: N }, (_, i) => `L${String(i).padStart(4, '0')}`);
  const LOCATOR_URL = /^\/services\/data\/v66\.0\/query\/(01g[A-Za-z0-9]{15})-(\d+)$/;
  const BAD_LOCATOR = [{ errorCode: 'INVALID_QUERY_LOCATOR', message: 'invalid query locator' }];
  const q = (soql, token, headers = {}) => api(`/query?q=${encodeURIComponent(soql)}`, { token, headers });
  const more = (nextRecordsUrl, token, headers = {}) => api(nextRecordsUrl.replace(`/services/data/${V}`, ''), { token, headers });
  let t;
  beforeEach(async () => {
    t = await getToken();
    for (let i = 0; i < N; i += 200) {
      const records = names.slice(i, i + 200).map((LastName) => ({ attributes: { type: 'Lead' }, LastName, Company: 'Paging' }));
      const r = await api('/composite/sobjects', { method: 'POST', body: { allOrNone: true, records }, token: t });
      assert.equal(r.status, 200);
    }
    assert.equal(emu.state.records.Lead.length, N);
  });

  test('2,500 rows: a page of 2,000 with nextRecordsUrl, then the last 500 with done:true', async () => {
    const first = await q('SELECT Id, LastName FROM Lead ORDER BY LastName', t);
    assert.equal(first.status, 200);
    assert.deepEqual(Object.keys(first.json), ['totalSize', 'done', 'nextRecordsUrl', 'records']);
    assert.deepEqual([first.json.totalSize, first.json.done, first.json.records.length], [N, false, 2000]);
    const m = LOCATOR_URL.exec(first.json.nextRecordsUrl);
    assert.ok(m, first.json.nextRecordsUrl);
    assert.equal(m[2], '2000');
    assert.deepEqual(first.json.records[0], { attributes: { type: 'Lead', url: `/services/data/${V}/sobjects/Lead/${emu.state.records.Lead[0].Id}` }, Id: emu.state.records.Lead[0].Id, LastName: 'L0000' });
    const second = await more(first.json.nextRecordsUrl, t);
    assert.equal(second.status, 200);
    assert.deepEqual(Object.keys(second.json), ['totalSize', 'done', 'records']);
    assert.deepEqual([second.json.totalSize, second.json.done, second.json.records.length], [N, true, 500]);
    assert.deepEqual([...first.json.records, ...second.json.records].map((r) => r.LastName), names);
    assert.deepEqual(emu.state.requests.at(-1).path, `/services/data/${V}/query/${m[1]}-2000`);
  });

  test('Sforce-Query-Options batchSize: 1000 gives 1000/1000/500; below 200 means 200, above 2000 means 2000', async () => {
    const opts = (n) => ({ 'sforce-query-options': `batchSize=${n}` });
    const pages = [];
    let r = await q('SELECT LastName FROM Lead ORDER BY LastName', t, opts(1000));
    pages.push(r.json);
    while (!r.json.done) {
      r = await more(r.json.nextRecordsUrl, t);
      pages.push(r.json);
    }
    assert.deepEqual(pages.map((p) => [p.totalSize, p.done, p.records.length, p.nextRecordsUrl && LOCATOR_URL.exec(p.nextRecordsUrl)[2]]), [[N, false, 1000, '1000'], [N, false, 1000, '2000'], [N, true, 500, undefined]]);
    assert.deepEqual(pages.flatMap((p) => p.records.map((x) => x.LastName)), names);
    const small = await q('SELECT LastName FROM Lead', t, opts(50));
    assert.deepEqual([small.json.records.length, LOCATOR_URL.exec(small.json.nextRecordsUrl)[2]], [200, '200']);
    // the header on a next-page request sets that page's size
    const next = await more(small.json.nextRecordsUrl, t, opts(2000));
    assert.deepEqual([next.json.records.length, LOCATOR_URL.exec(next.json.nextRecordsUrl)[2]], [2000, '2200']);
    const big = await q('SELECT LastName FROM Lead', t, opts(5000));
    assert.deepEqual([big.json.done, big.json.records.length], [false, 2000]);
  });

  test('up to 2,000 rows is one page; LIMIT counts first; COUNT() is never paged', async () => {
    const exact = await q('SELECT Id FROM Lead LIMIT 2000', t);
    assert.deepEqual([exact.json.totalSize, exact.json.done, exact.json.records.length, 'nextRecordsUrl' in exact.json], [2000, true, 2000, false]);
    const over = await q('SELECT Id FROM Lead LIMIT 2001', t);
    assert.deepEqual([over.json.totalSize, over.json.done, over.json.records.length], [2001, false, 2000]);
    const last = await more(over.json.nextRecordsUrl, t);
    assert.deepEqual([last.json.totalSize, last.json.done, last.json.records.length], [2001, true, 1]);
    const count = await q('SELECT COUNT() FROM Lead', t);
    assert.deepEqual(count.json, { totalSize: N, done: true, records: [] });
  });

  test('the result set is fixed when the query runs; a page can be fetched again; queryAll pages too', async () => {
    const first = await q("SELECT LastName FROM Lead WHERE Company = 'Paging' ORDER BY LastName", t);
    const created = await api('/sobjects/Lead/', { method: 'POST', body: lead({ LastName: 'L9999', Company: 'Paging' }), token: t });
    assert.equal(created.status, 201);
    const a = await more(first.json.nextRecordsUrl, t);
    const b = await more(first.json.nextRecordsUrl, t);
    assert.deepEqual([a.json.totalSize, a.json.records.length], [N, 500]);
    assert.deepEqual(b.json, a.json);
    const all = await api(`/queryAll?q=${encodeURIComponent('SELECT Id FROM Lead')}`, { token: t });
    assert.deepEqual([all.json.totalSize, all.json.done], [N + 1, false]);
    assert.match(all.json.nextRecordsUrl, /^\/services\/data\/v66\.0\/queryAll\/01g[A-Za-z0-9]{15}-2000$/);
    const allNext = await api(all.json.nextRecordsUrl.replace(`/services/data/${V}`, ''), { token: t });
    assert.deepEqual([allNext.json.done, allNext.json.records.length], [true, 501]);
  });

  test('unknown, malformed, out-of-range, reset and expired locators: 400 INVALID_QUERY_LOCATOR', async () => {
    const first = await q('SELECT Id FROM Lead', t);
    const [, locator] = LOCATOR_URL.exec(first.json.nextRecordsUrl);
    for (const path of ['/query/01g5e0000099999999-2000', '/query/nonsense', `/query/${locator}-${N}`, `/query/${locator}-x`]) {
      const r = await api(path, { token: t });
      assert.deepEqual([r.status, r.json], [400, BAD_LOCATOR], path);
    }
    assert.equal((await api(`/query/${locator}-0`, { token: t })).json.records.length, 2000);
    const noToken = await api(`/query/${locator}-2000`, { token: null });
    assert.equal(noToken.status, 401);
    emu.reset();
    const gone = await api(`/query/${locator}-2000`, { token: t });
    assert.deepEqual([gone.status, gone.json], [400, BAD_LOCATOR]);
    await withEmu({ queryLocatorTtlMs: 50 }, async (e) => {
      const et = await getToken(e);
      const records = names.slice(0, 200).map((LastName) => ({ attributes: { type: 'Lead' }, LastName, Company: 'Paging' }));
      assert.equal((await api('/composite/sobjects', { e, method: 'POST', body: { records }, token: et })).status, 200);
      const page = await api(`/query?q=${encodeURIComponent('SELECT Id FROM Lead')}`, { e, token: et, headers: { 'sforce-query-options': 'batchSize=200' } });
      assert.deepEqual([page.json.done, page.json.records.length], [true, 200]);
      assert.equal((await api('/composite/sobjects', { e, method: 'POST', body: { records }, token: et })).status, 200);
      const paged = await api(`/query?q=${encodeURIComponent('SELECT Id FROM Lead')}`, { e, token: et, headers: { 'sforce-query-options': 'batchSize=200' } });
      assert.equal(paged.json.done, false);
      await new Promise((r) => setTimeout(r, 80));
      const expired = await api(paged.json.nextRecordsUrl.replace(`/services/data/${V}`, ''), { e, token: et });
      assert.deepEqual([expired.status, expired.json], [400, BAD_LOCATOR]);
    });
  });
});

// ---- collections --------------------------------------------------------------------------------
describe('composite/sobjects', () => {
  test('allOrNone false: one result per record, in order', async () => {
    const r = await api('/composite/sobjects', {
      method: 'POST',
      body: {
        allOrNone: false,
        records: [
          { attributes: { type: 'Lead' }, LastName: 'A', Company: 'C', Email: 'a@x.com' },
          { attributes: { type: 'Lead' }, LastName: 'B' },
          { attributes: { type: 'Contact' }, LastName: 'C' },
          { attributes: { type: 'Lead' }, LastName: 'D', Company: 'C', Email: 'bad' },
        ],
      },
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 4);
    assert.deepEqual(r.json[0], { id: emu.state.records.Lead[0].Id, success: true, errors: [] });
    assert.deepEqual(r.json[1], { success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [Company]', fields: ['Company'] }] });
    assert.match(r.json[2].id, /^003/);
    assert.deepEqual(r.json[3], { success: false, errors: [{ statusCode: 'INVALID_EMAIL_ADDRESS', message: 'Email: invalid email address: bad', fields: ['Email'] }] });
    assert.equal(emu.state.records.Lead.length, 1);
    assert.equal(emu.state.records.Contact.length, 1);
  });

  test('allOrNone true rolls back; duplicates are failures; >200 records -> EXCEEDED_ID_LIMIT', async () => {
    const t = await getToken();
    const r = await api('/composite/sobjects', {
      method: 'POST', token: t,
      body: { allOrNone: true, records: [{ attributes: { type: 'Lead' }, LastName: 'A', Company: 'C' }, { attributes: { type: 'Lead' }, LastName: 'B' }] },
    });
    assert.equal(r.status, 200);
    assert.equal(r.json[0].success, false);
    assert.equal(r.json[0].errors[0].statusCode, 'ALL_OR_NONE_OPERATION_ROLLED_BACK');
    assert.equal(r.json[1].errors[0].statusCode, 'REQUIRED_FIELD_MISSING');
    assert.equal(emu.state.records.Lead.length, 0);

    await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    emu.setFaults({ kind: 'duplicateRule', target: 'collections', times: 1 });
    const d = await api('/composite/sobjects', {
      method: 'POST', token: t,
      body: { allOrNone: false, records: [{ attributes: { type: 'Lead' }, ...lead() }, { attributes: { type: 'Lead' }, ...lead({ Email: 'new@x.com' }) }] },
    });
    assert.equal(d.json[0].success, false);
    assert.equal(d.json[0].errors[0].statusCode, 'DUPLICATES_DETECTED');
    assert.equal(d.json[0].errors[0].message, DUP_MSG);
    assert.equal(d.json[1].success, true);
    assert.equal(emu.state.faultsApplied.duplicateRule, 1);

    const many = Array.from({ length: 201 }, (_, i) => ({ attributes: { type: 'Lead' }, LastName: `L${i}`, Company: 'C' }));
    const big = await api('/composite/sobjects', { method: 'POST', token: t, body: { allOrNone: false, records: many } });
    assert.deepEqual([big.status, big.json], [400, [{ message: 'Maximum number of records exceeded: 200', errorCode: 'EXCEEDED_ID_LIMIT' }]]);
  });
});

// ---- Bulk API 2.0 ---------------------------------------------------------------------------------
describe('bulk ingest', () => {
  test('job lifecycle with one failing row', async () => {
    const t = await getToken();
    const before = emu.state.apiCalls;
    const create = await api('/jobs/ingest', { method: 'POST', token: t, body: { object: 'Lead', operation: 'insert', contentType: 'CSV', lineEnding: 'LF' } });
    assert.equal(create.status, 200);
    const job = create.json;
    assert.match(job.id, /^750/);
    assert.equal(job.id.length, 18);
    assert.deepEqual([job.state, job.object, job.operation, job.contentType], ['Open', 'Lead', 'insert', 'CSV']);
    const csv = 'LastName,Company,Email,Description\n'
      + '"Lovelace, Ada",Analytical Engines,ada@x.com,"She said ""hi""\nand left"\n'
      + 'Hopper,,grace@x.com,no company\n'
      + 'Turing,Bletchley,alan@x.com,\n';
    const up = await fetch(`${emu.url}/services/data/${V}/jobs/ingest/${job.id}/batches`, { method: 'PUT', headers: { authorization: `Bearer ${t}`, 'content-type': 'text/csv' }, body: csv });
    assert.equal(up.status, 201);
    const done = await api(`/jobs/ingest/${job.id}`, { method: 'PATCH', token: t, body: { state: 'UploadComplete' } });
    assert.deepEqual([done.status, done.json.state], [200, 'UploadComplete']);
    assert.equal(emu.state.records.Lead.length, 0);
    const p1 = await api(`/jobs/ingest/${job.id}`, { token: t });
    assert.equal(p1.json.state, 'InProgress');
    const p2 = await api(`/jobs/ingest/${job.id}`, { token: t });
    assert.equal(p2.json.state, 'JobComplete');
    assert.equal(p2.json.numberRecordsProcessed, 3);
    assert.equal(p2.json.numberRecordsFailed, 1);
    assert.equal(emu.state.records.Lead.length, 2);
    const ada = emu.state.records.Lead[0];
    assert.equal(ada.LastName, 'Lovelace, Ada');
    assert.equal(ada.Description, 'She said "hi"\nand left');

    const ok = await api(`/jobs/ingest/${job.id}/successfulResults/`, { token: t, raw: true });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type'), /^text\/csv/);
    const okRows = parseCsv(ok.text);
    assert.deepEqual(okRows[0], ['sf__Id', 'sf__Created', 'LastName', 'Company', 'Email', 'Description']);
    assert.deepEqual(okRows.slice(1), [
      [ada.Id, 'true', 'Lovelace, Ada', 'Analytical Engines', 'ada@x.com', 'She said "hi"\nand left'],
      [emu.state.records.Lead[1].Id, 'true', 'Turing', 'Bletchley', 'alan@x.com', ''],
    ]);
    assert.ok(ok.text.startsWith('"sf__Id","sf__Created",'));
    const bad = await api(`/jobs/ingest/${job.id}/failedResults/`, { token: t, raw: true });
    const badRows = parseCsv(bad.text);
    assert.deepEqual(badRows, [
      ['sf__Id', 'sf__Error', 'LastName', 'Company', 'Email', 'Description'],
      ['', 'REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company--', 'Hopper', '', 'grace@x.com', 'no company'],
    ]);
    assert.equal(emu.state.apiCalls - before, 7);
    assert.equal(emu.state.bulkJobs.length, 1);
  });

  test('abort, unknown job, bad column', async () => {
    const t = await getToken();
    const { json: job } = await api('/jobs/ingest', { method: 'POST', token: t, body: { object: 'Contact', operation: 'insert' } });
    const ab = await api(`/jobs/ingest/${job.id}`, { method: 'PATCH', token: t, body: { state: 'Aborted' } });
    assert.deepEqual([ab.status, ab.json.state], [200, 'Aborted']);
    const again = await api(`/jobs/ingest/${job.id}`, { method: 'PATCH', token: t, body: { state: 'UploadComplete' } });
    assert.equal(again.status, 400);
    const nf = await api('/jobs/ingest/7505e0000099999999', { token: t });
    assert.deepEqual([nf.status, nf.json], [404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]]);

    const { json: j2 } = await api('/jobs/ingest', { method: 'POST', token: t, body: { object: 'Lead', operation: 'insert' } });
    await fetch(`${emu.url}/services/data/${V}/jobs/ingest/${j2.id}/batches`, { method: 'PUT', headers: { authorization: `Bearer ${t}`, 'content-type': 'text/csv' }, body: 'LastName,Foo\nx,y\n' });
    await api(`/jobs/ingest/${j2.id}`, { method: 'PATCH', token: t, body: { state: 'UploadComplete' } });
    await api(`/jobs/ingest/${j2.id}`, { token: t });
    const f = await api(`/jobs/ingest/${j2.id}`, { token: t });
    assert.equal(f.json.state, 'Failed');
    assert.equal(f.json.errorMessage, 'InvalidBatch : Field name not found : Foo');
  });

  test('an Id column is accepted; an Id on a row that creates a record fails that row', async () => {
    const t = await getToken();
    const { json: job } = await api('/jobs/ingest', { method: 'POST', token: t, body: { object: 'Lead', operation: 'insert' } });
    await fetch(`${emu.url}/services/data/${V}/jobs/ingest/${job.id}/batches`, { method: 'PUT', headers: { authorization: `Bearer ${t}`, 'content-type': 'text/csv' }, body: 'Id,LastName,Company\n,Ada,C\n00Q5e0000099999999,Bob,C\n' });
    await api(`/jobs/ingest/${job.id}`, { method: 'PATCH', token: t, body: { state: 'UploadComplete' } });
    await api(`/jobs/ingest/${job.id}`, { token: t });
    const done = await api(`/jobs/ingest/${job.id}`, { token: t });
    assert.deepEqual([done.json.state, done.json.numberRecordsProcessed, done.json.numberRecordsFailed], ['JobComplete', 2, 1]);
    assert.deepEqual(emu.state.records.Lead.map((r) => r.LastName), ['Ada']);
    const bad = await api(`/jobs/ingest/${job.id}/failedResults/`, { token: t, raw: true });
    assert.deepEqual(parseCsv(bad.text), [
      ['sf__Id', 'sf__Error', 'Id', 'LastName', 'Company'],
      ['', 'INVALID_FIELD:cannot specify Id in an insert call:Id--', '00Q5e0000099999999', 'Bob', 'C'],
    ]);
  });
});

// ---- Slack --------------------------------------------------------------------------------------
describe('slack webhook', () => {
  test('ok, no_text, invalid_payload, no_service', async () => {
    const ok = await slack({ text: 'New lead: *Ada*' });
    assert.deepEqual([ok.status, ok.text], [200, 'ok']);
    assert.match(ok.headers.get('content-type'), /^text\/plain/);
    const blocks = await slack({ blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }] });
    assert.deepEqual([blocks.status, blocks.text], [200, 'ok']);
    assert.deepEqual(emu.state.slackMessages, [{ text: 'New lead: *Ada*' }, { blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }] }]);
    assert.deepEqual(Object.values(await slack({ username: 'x' })).slice(0, 2), [400, 'no_text']);
    assert.deepEqual(Object.values(await slack({ text: '' })).slice(0, 2), [400, 'no_text']);
    assert.deepEqual(Object.values(await slack('{oops')).slice(0, 2), [400, 'invalid_payload']);
    assert.deepEqual(Object.values(await slack({ text: 'x' }, { path: '/slack/services/T000/B000/wrong' })).slice(0, 2), [404, 'no_service']);
    assert.equal(emu.state.slackMessages.length, 2);
    assert.equal(emu.slackWebhookUrl, `${emu.url}/slack/services/T000/B000/emuSlackHook`);
    assert.equal(emu.state.apiCalls, 0);
  });
});

// ---- faults -------------------------------------------------------------------------------------
describe('faults', () => {
  test('delay (fault with times, and the delayMs option)', async () => {
    // A delay well above what a loaded machine adds, so the second (undelayed) call is told apart.
    emu.setFaults({ kind: 'delay', ms: 600, target: 'slack', times: 1 });
    let t0 = Date.now();
    assert.equal((await slack({ text: 'a' })).status, 200);
    assert.ok(Date.now() - t0 >= 590, `took ${Date.now() - t0} ms`);
    t0 = Date.now();
    await slack({ text: 'b' });
    assert.ok(Date.now() - t0 < 400, `took ${Date.now() - t0} ms: delayed again?`);
    assert.equal(emu.state.faultsApplied.delay, 1);
    assert.equal(emu.state.faults.length, 0);
    await withEmu({ delayMs: 80 }, async (e) => {
      const t1 = Date.now();
      await tokenReq(passwordParams(e), { e });
      assert.ok(Date.now() - t1 >= 75);
    });
  });

  test('status500: 503 SERVER_UNAVAILABLE by default, status option, Slack rollup_error, times', async () => {
    const t = await getToken();
    emu.setFaults([{ kind: 'status500', target: 'create', times: 1 }, { kind: 'status500', target: 'slack', times: 1 }, { kind: 'status500', status: 500, target: 'query', times: 1 }]);
    const a = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    assert.deepEqual([a.status, a.json], [503, [{ message: 'Server is temporarily unavailable', errorCode: 'SERVER_UNAVAILABLE' }]]);
    assert.equal(emu.state.records.Lead.length, 0);
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t })).status, 201);
    assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { token: t })).status, 500);
    assert.deepEqual(Object.values(await slack({ text: 'x' })).slice(0, 2), [500, 'rollup_error']);
    assert.deepEqual(Object.values(await slack({ text: 'x' })).slice(0, 2), [200, 'ok']);
    assert.equal(emu.state.faultsApplied.status500, 3);
  });

  test('rateLimit429 with Retry-After (Salesforce and Slack)', async () => {
    emu.setFaults([{ kind: 'rateLimit429', retryAfter: 7, target: 'slack', times: 1 }, { kind: 'rateLimit429', retryAfter: 3, target: 'token', times: 1 }]);
    const s = await slack({ text: 'x' });
    assert.deepEqual([s.status, s.text, s.headers.get('retry-after')], [429, 'rate_limited', '7']);
    const tk = await tokenReq(passwordParams());
    assert.deepEqual([tk.status, tk.headers.get('retry-after')], [429, '3']);
    assert.equal((await tokenReq(passwordParams())).status, 200);
  });

  test('requestLimit: 403 REQUEST_LIMIT_EXCEEDED on data routes only', async () => {
    emu.setFaults({ kind: 'requestLimit', times: 1 });
    const t = await getToken();
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    assert.deepEqual([r.status, r.json], [403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]]);
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t })).status, 201);
  });

  test('expireSessions: old tokens 401, new token works', async () => {
    const t = await getToken();
    emu.setFaults({ kind: 'expireSessions' });
    assert.equal(emu.state.faults.length, 0, 'one-shot, not kept');
    assert.equal(emu.state.faultsApplied.expireSessions, 1);
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    assert.deepEqual([r.status, r.json], [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]]);
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead() })).status, 201);
  });

  test('invalidSession: next data request 401 even with a valid token (default once)', async () => {
    const t = await getToken();
    emu.setFaults({ kind: 'invalidSession' });
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    assert.deepEqual([r.status, r.json], [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]]);
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t })).status, 201);
    emu.setFaults({ kind: 'invalidSession', times: 2 });
    assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { token: t })).status, 401);
    assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { token: t })).status, 401);
    assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { token: t })).status, 200);
    assert.equal(emu.state.faultsApplied.invalidSession, 3);
  });

  test('duplicateRule fault turns the rule on for matching requests', async () => {
    const t = await getToken();
    await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    emu.setFaults({ kind: 'duplicateRule', target: 'create', times: 1 });
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t });
    assert.deepEqual([r.status, r.json[0].errorCode], [400, 'DUPLICATES_DETECTED']);
    assert.equal((await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t })).status, 201);
    emu.setFaults({ kind: 'duplicateRule' });
    const up = await api('/sobjects/Lead/Auth0_User_Id__c/zz', { method: 'PATCH', body: lead(), token: t });
    assert.equal(up.json[0].errorCode, 'DUPLICATES_DETECTED');
  });

  test('drop: the client sees a network error; times', async () => {
    emu.setFaults({ kind: 'drop', target: 'token', times: 1 });
    await assert.rejects(tokenReq(passwordParams()), TypeError);
    assert.equal((await tokenReq(passwordParams())).status, 200);
    assert.equal(emu.state.faultsApplied.drop, 1);
    assert.equal(emu.state.requests.length, 2, 'dropped requests are still logged');
  });

  test('malformed: success status with truncated JSON, nothing created', async () => {
    const t = await getToken();
    emu.setFaults([{ kind: 'malformed', target: 'create', times: 1 }, { kind: 'malformed', target: 'token', times: 1 }]);
    const r = await api('/sobjects/Lead/', { method: 'POST', body: lead(), token: t, raw: true });
    assert.deepEqual([r.status, r.text], [201, '{"id": "00Q']);
    const tk = await tokenReq(passwordParams());
    assert.deepEqual([tk.status, tk.text], [200, '{not json']);
    assert.equal(emu.state.records.Lead.length, 0);
    assert.equal(emu.state.faultsApplied.malformed, 2);
  });

  test('hang: the client times out; stop() still closes promptly', async () => {
    await withEmu({}, async (e) => {
      e.setFaults({ kind: 'hang', target: 'slack' });
      const pending = fetch(e.slackWebhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}', signal: AbortSignal.timeout(150) });
      await assert.rejects(pending, (err) => err.name === 'TimeoutError');
      const hanging = fetch(e.slackWebhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"y"}' });
      const settled = hanging.then(() => 'resolved', () => 'rejected');
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await e.stop();
      assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`);
      assert.equal(await settled, 'rejected');
      assert.equal(e.state.faultsApplied.hang, 2);
    });
  });

  test('targets: a Slack fault leaves Salesforce alone; salesforce target spares Slack', async () => {
    emu.setFaults({ kind: 'status500', target: 'slack' });
    assert.equal((await tokenReq(passwordParams())).status, 200);
    assert.equal((await slack({ text: 'x' })).status, 500);
    emu.setFaults({ kind: 'status500', target: 'salesforce' });
    assert.equal((await slack({ text: 'x' })).status, 200);
    assert.equal((await tokenReq(passwordParams())).status, 503);
    emu.clearFaults();
    assert.equal((await tokenReq(passwordParams())).status, 200);
    assert.throws(() => emu.setFaults({ kind: 'nope' }), TypeError);
    assert.throws(() => emu.setFaults({ kind: 'delay', ms: 1, target: 'mars' }), TypeError);
  });

  test('redirect: the status with Location, once; location and status are checked', async () => {
    emu.setFaults({ kind: 'redirect', target: 'token', location: 'http://localhost:1/x', times: 1 });
    const r = await fetch(`${emu.url}/services/oauth2/token`, { method: 'POST', body: passwordParams(), redirect: 'manual' });
    assert.equal(r.status, 307);
    assert.equal(r.headers.get('location'), 'http://localhost:1/x');
    assert.equal(await r.text(), '');
    assert.equal(emu.state.faultsApplied.redirect, 1);
    assert.equal((await tokenReq(passwordParams())).status, 200);
    emu.setFaults({ kind: 'redirect', target: 'slack', status: 302, location: 'https://example.com/' });
    const s = await fetch(`${emu.url}${SLACK_WEBHOOK_PATH}`, { method: 'POST', body: '{"text":"x"}', redirect: 'manual' });
    assert.equal(s.status, 302);
    await s.text();
    assert.deepEqual(emu.state.slackMessages, []);
    emu.clearFaults();
    assert.throws(() => emu.setFaults({ kind: 'redirect' }), TypeError);
    assert.throws(() => emu.setFaults({ kind: 'redirect', location: '/relative' }), TypeError);
    assert.throws(() => emu.setFaults({ kind: 'redirect', location: 'http://x/', status: 300 }), TypeError);
  });
});

// ---- control API ----------------------------------------------------------------------------------
describe('control API over HTTP', () => {
  test('faults, state, reset; control calls are neither logged nor counted', async () => {
    const f = await setFaults({ kind: 'status500', target: 'slack', times: 1 });
    assert.equal(f.status, 200);
    const fj = await f.json();
    assert.equal(fj.faults.length, 1);
    assert.equal((await slack({ text: 'x' })).status, 500);
    await setFaults([{ kind: 'status500', target: 'slack' }]);
    const del = await fetch(`${emu.url}/__emulator/faults`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    await del.text();
    assert.equal((await slack({ text: 'ok now' })).status, 200);
    await api('/sobjects/Lead/', { method: 'POST', body: lead() });

    const s = await fetch(`${emu.url}/__emulator/state`);
    assert.equal(s.status, 200);
    const st = await s.json();
    assert.equal(st.records.Lead.length, 1);
    assert.equal(st.records.Lead[0].LastName, 'Lovelace');
    assert.deepEqual(st.slackMessages, [{ text: 'ok now' }]);
    assert.equal(st.apiCalls, 1);
    assert.equal(st.tokensIssued.length, 1);
    assert.deepEqual(st.requests.map((r) => r.path), [SLACK_WEBHOOK_PATH, SLACK_WEBHOOK_PATH, '/services/oauth2/token', `/services/data/${V}/sobjects/Lead/`]);
    assert.equal(st.faultsApplied.status500, 1);
    assert.deepEqual(st.bulkJobs, []);

    const bad = await setFaults({ kind: 'meteor' });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /unknown fault kind/);

    const r = await fetch(`${emu.url}/__emulator/reset`, { method: 'POST' });
    assert.equal(r.status, 200);
    await r.text();
    assert.equal(emu.state.records.Lead.length, 0);
    assert.equal(emu.state.requests.length, 0);
    assert.equal(emu.state.apiCalls, 0);
    assert.deepEqual(emu.state.faultsApplied, {});
  });

  test('faults posted over HTTP apply (expireSessions, delay with times)', async () => {
    const t = await getToken();
    await (await setFaults({ kind: 'expireSessions' })).text();
    assert.equal((await api('/query?q=SELECT+Id+FROM+Lead', { token: t })).status, 401);
    await (await setFaults({ kind: 'delay', ms: 60, times: 1 })).text();
    const t0 = Date.now();
    await slack({ text: 'x' });
    assert.ok(Date.now() - t0 >= 55);
  });
});

// ---- CLI --------------------------------------------------------------------------------------------
test('CLI prints one JSON line with url and credentials, stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--delay', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`exited early: ${code}`)));
  });
  const info = JSON.parse(line);
  assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(info.clientId, 'emu-client-id');
  assert.equal(info.slackWebhookUrl, `${info.url}${SLACK_WEBHOOK_PATH}`);
  assert.match(info.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  const now = Math.floor(Date.now() / 1000);
  const assertion = signJwt({ iss: info.clientId, sub: info.username, aud: info.url, exp: now + 60 }, info.privateKeyPem);
  const r = await fetch(`${info.url}/services/oauth2/token`, { method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }) });
  assert.equal(r.status, 200);
  await r.text();
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
});

// The REST data API under /services/data: session and version checks, sObjects (create,
// get/update/delete by id, upsert and get by external id, describe), sObject Collections and
// limits; queries go to soql.mjs and Bulk API 2.0 to bulk.mjs.

import { URL } from 'node:url';
import { handleBulk } from './bulk.mjs';
import { canonicalType, commitCreate, findById, fullRecord, prepareCreate, recordUrl, resolveQueryField, updateRecord } from './org.mjs';
import { handleQuery, handleQueryMore } from './soql.mjs';
import { HttpError, INVALID_SESSION, LIMIT_EXCEEDED, NOT_FOUND, lower, methodNotAllowed, readJson, send, sfError } from './wire.mjs';

const ID_RE = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/;

/** Everything under /services/data: version list, session and version checks, then the route. */
export function handleData(org, req, res, ctx) {
  const { state } = org;
  const segs = ctx.pathname.split('/').slice(3); // after /services/data
  while (segs.length && segs[segs.length - 1] === '') segs.pop();
  if (segs.length === 0) {
    const versions = [];
    for (let v = org.minApiVersion; v <= (org.maxApiVersion ?? 66); v++) versions.push({ label: `v${v}.0`, url: `/services/data/v${v}.0`, version: `${v}.0` });
    return send(res, 200, versions);
  }
  const auth = String(req.headers.authorization ?? '');
  const am = /^(?:Bearer|OAuth)\s+(\S+)\s*$/i.exec(auth);
  const session = am ? org.sessions.get(am[1]) : undefined;
  if (!session || !session.valid || session.expiresAt <= Date.now()) return send(res, 401, INVALID_SESSION());
  const vm = /^v(\d+)\.0$/.exec(segs[0]);
  if (!vm || Number(vm[1]) < org.minApiVersion || (org.maxApiVersion != null && Number(vm[1]) > org.maxApiVersion)) return send(res, 404, NOT_FOUND());
  if (state.apiCalls > org.dailyApiLimit) return send(res, 403, LIMIT_EXCEEDED());
  ctx.ver = segs[0];
  let rest;
  try {
    rest = segs.slice(1).map(decodeURIComponent);
  } catch {
    return send(res, 400, [sfError('MALFORMED_URL', 'The URL is not correctly encoded')]);
  }
  const m = req.method;
  if (rest[0] === 'sobjects') return handleSobjects(org, req, res, ctx, rest.slice(1));
  if ((rest[0] === 'query' || rest[0] === 'queryAll') && rest.length <= 2) {
    if (m !== 'GET') throw methodNotAllowed(m, 'GET,HEAD');
    if (rest.length === 2) return handleQueryMore(org, req, res, ctx, rest[1]);
    return handleQuery(org, req, res, ctx, rest[0]);
  }
  if (rest[0] === 'composite' && rest[1] === 'sobjects' && rest.length === 2) {
    if (m !== 'POST') throw methodNotAllowed(m, 'POST');
    return handleCollections(org, req, res, ctx);
  }
  if (rest[0] === 'jobs' && rest[1] === 'ingest') return handleBulk(org, req, res, ctx, rest.slice(2));
  if (rest[0] === 'limits' && rest.length === 1) {
    return send(res, 200, { DailyApiRequests: { Max: org.dailyApiLimit, Remaining: Math.max(0, org.dailyApiLimit - state.apiCalls) } });
  }
  return send(res, 404, NOT_FOUND());
}

function handleSobjects(org, req, res, ctx, rest) {
  const { schema, state } = org;
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
    const prep = prepareCreate(org, type, body, ctx);
    if (!prep.ok) return send(res, prep.status, prep.errors);
    const rec = commitCreate(org, prep, ctx);
    return send(res, 201, { id: rec.Id, success: true, errors: [] });
  }
  if (rest.length === 2) {
    const id = rest[1];
    if (rest[1] === 'describe') {
      return send(res, 200, { name: type, keyPrefix: schema[type].prefix, fields: [...schema[type].fields.values()].map((f) => ({ name: f.name, label: f.label, length: f.length, externalId: f.externalId, unique: f.unique, nillable: !schema[type].required.includes(f.name) })) });
    }
    if (!ID_RE.test(id)) return send(res, 404, [{ errorCode: 'NOT_FOUND', message: `Provided external ID field does not exist or is not accessible: ${id}` }]);
    const rec = findById(org, type, id);
    if (!rec) {
      if (org.deleted.get(id) === type) return send(res, 404, [{ errorCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }]);
      return send(res, 404, NOT_FOUND());
    }
    if (m === 'GET') {
      const full = fullRecord(org, type, rec, ctx.ver);
      const want = new URL(req.url, 'http://x').searchParams.get('fields');
      if (want) {
        const out = { attributes: full.attributes };
        for (const name of want.split(',').map((s) => s.trim()).filter(Boolean)) {
          const f = resolveQueryField(org, type, name);
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
      org.deleted.set(rec.Id, type);
      return send(res, 204);
    }
    if (m === 'PATCH') {
      const body = readJson(ctx);
      const r = updateRecord(org, type, rec, body, ctx);
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
      return send(res, 200, fullRecord(org, type, matches[0], ctx.ver));
    }
    if (m !== 'PATCH') throw methodNotAllowed(m, 'GET,HEAD,PATCH');
    const body = readJson(ctx);
    if (matches.length === 0) {
      const prep = prepareCreate(org, type, body, ctx, { extra: { [f.name]: value } });
      if (!prep.ok) return send(res, prep.status, prep.errors);
      const rec = commitCreate(org, prep, ctx);
      return send(res, 201, { id: rec.Id, success: true, errors: [], created: true });
    }
    const rec = matches[0];
    const r = updateRecord(org, type, rec, body, ctx);
    if (!r.ok) return send(res, r.status, r.errors);
    return send(res, 200, { id: rec.Id, success: true, errors: [], created: false });
  }
  return send(res, 404, NOT_FOUND());
}

function toCollectionErrors(errors) {
  return errors.map((e) => {
    const o = { statusCode: e.errorCode, message: e.message, fields: e.fields ?? [] };
    if (e.duplicateResult) o.duplicateResult = e.duplicateResult;
    return o;
  });
}

function handleCollections(org, req, res, ctx) {
  const { state } = org;
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
    const prep = prepareCreate(org, type, r, ctx, { pool: pools[type], pendingUnique: allOrNone ? pendingUnique : [] });
    if (prep.ok) {
      if (allOrNone) pendingUnique.push({ type, fields: prep.fields });
      else prep.record = commitCreate(org, prep, ctx);
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
    const rec = p.record ?? commitCreate(org, p, ctx);
    return { id: rec.Id, success: true, errors: [] };
  }));
}

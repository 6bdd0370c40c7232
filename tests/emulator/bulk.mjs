// Bulk API 2.0 ingest (jobs/ingest): a job goes Open -> one CSV upload -> UploadComplete ->
// InProgress (first GET) -> processed on the next GET through the org's record pipeline, with
// successful/failed/unprocessed result files. Also the RFC 4180 CSV reader and writer it uses.

import { canonicalType, commitCreate, prepareCreate, updateRecord, USER_ID } from './org.mjs';
import { HttpError, NOT_FOUND, sfError, sfDate, send, lower, mediaType, readJson, methodNotAllowed } from './wire.mjs';

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

const DELIMS = { COMMA: ',', TAB: '\t', PIPE: '|', SEMICOLON: ';', CARET: '^', BACKQUOTE: '`' };
function jobInfo(job) {
  const out = {};
  for (const [k, v] of Object.entries(job)) if (!k.startsWith('_')) out[k] = v;
  return out;
}
function findJob(org, id) { return org.state.bulkJobs.find((j) => j.id === id); }
const jobStateError = (msg) => new HttpError(400, [sfError('INVALIDJOBSTATE', msg)]);

function processJob(org, job, ctx) {
  job.state = 'JobComplete';
  job._processedAt = Date.now();
  const sch = org.schema[job.object];
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
    // Id is a field of every object: Salesforce takes an Id column (jsforce sends one, empty, in
    // upsert jobs); an Id value on a row that creates a record fails that row, as in REST
    if (h.trim().toLowerCase() === 'id') { cols.push('Id'); continue; }
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
  const pool = [...org.state.records[job.object]];
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
      const matches = key == null ? [] : org.state.records[job.object].filter((r) => lower(r[job.externalIdFieldName]) === lower(key));
      if (matches.length > 1) {
        fail([sfError('DUPLICATE_EXTERNAL_ID', `${job.externalIdFieldName}: more than one record found for external id field: ${matches.map((r) => r.Id).join(', ')}`, [job.externalIdFieldName])]);
        continue;
      }
      if (matches.length === 1) {
        const r = updateRecord(org, job.object, matches[0], body, ctx);
        if (!r.ok) fail(r.errors);
        else job._successful.push([matches[0].Id, 'false', ...row]);
        continue;
      }
    }
    const prep = prepareCreate(org, job.object, body, ctx, { pool });
    if (!prep.ok) { fail(prep.errors); continue; }
    const rec = commitCreate(org, prep, ctx);
    job._successful.push([rec.Id, 'true', ...row]);
  }
  job.numberRecordsProcessed = rows.length - 1;
  job.numberRecordsFailed = job._failed.length;
  job.totalProcessingTime = Date.now() - started;
  job.systemModstamp = sfDate();
}

/** /services/data/vNN.0/jobs/ingest[/…]: `rest` is the path after `ingest`. */
export function handleBulk(org, req, res, ctx, rest) {
  const { state } = org;
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
      const f = org.schema[object].fields.get(String(body.externalIdFieldName ?? '').toLowerCase());
      if (!f || !f.externalId) throw new HttpError(400, [sfError('INVALIDJOB', `InvalidJob : Field name provided, ${body.externalIdFieldName} does not match an External ID for ${object}`)]);
      externalIdFieldName = f.name;
    }
    const contentType = body.contentType ?? 'CSV';
    if (contentType !== 'CSV') throw new HttpError(400, [sfError('INVALIDJOB', `contentType ${contentType} is not supported (CSV)`)]);
    const lineEnding = body.lineEnding ?? 'LF';
    if (!['LF', 'CRLF'].includes(lineEnding)) throw new HttpError(400, [sfError('INVALIDJOB', `lineEnding ${lineEnding} is not supported`)]);
    const columnDelimiter = body.columnDelimiter ?? 'COMMA';
    if (!DELIMS[columnDelimiter]) throw new HttpError(400, [sfError('INVALIDJOB', `columnDelimiter ${columnDelimiter} is not supported`)]);
    org.counters.job += 1;
    const id = '750' + '5e000' + String(org.counters.job).padStart(10, '0');
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
  const job = findJob(org, rest[0]);
  if (!job) return send(res, 404, NOT_FOUND());
  const sub = rest[1];
  if (rest.length === 1) {
    if (m === 'GET') {
      if (job.state === 'UploadComplete') job.state = 'InProgress';
      else if (job.state === 'InProgress') processJob(org, job, ctx);
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

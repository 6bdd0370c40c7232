// What every route answers with: Salesforce's error shapes, the HttpError a handler throws to
// answer one of them, and `send`, the one place a response is written. Knows no org state.

export const codePointLength = (s) => [...s].length;
export const sfDate = (d = new Date()) => d.toISOString().replace('Z', '+0000');
export const mediaType = (req) => String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
export const lower = (v) => (v == null ? v : String(v).toLowerCase());

export function sfError(errorCode, message, fields) {
  const e = { message, errorCode };
  if (fields !== undefined) e.fields = fields;
  return e;
}
export const NOT_FOUND = () => [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }];
export const INVALID_SESSION = () => [sfError('INVALID_SESSION_ID', 'Session expired or invalid')];
export const LIMIT_EXCEEDED = () => [sfError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.')];

export class HttpError extends Error {
  constructor(status, body) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
    this.status = status;
    this.body = body;
  }
}

export const methodNotAllowed = (method, allowed) => new HttpError(405, [{ errorCode: 'METHOD_NOT_ALLOWED', message: `HTTP Method '${method}' not allowed. Allowed are ${allowed}` }]);

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

/** The JSON body of a data request, or the 415 / 400 Salesforce answers instead. */
export function readJson(ctx) {
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

export function send(res, status, body, headers = {}) {
  if (res.destroyed || res.writableEnded) return;
  let payload = '';
  const h = { ...headers };
  if (body !== undefined && body !== null) {
    if (typeof body === 'string') {
      payload = body;
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'text/plain; charset=utf-8';
    } else {
      // Salesforce writes matchConfidence as a double (100.0); JSON.stringify would drop the .0
      payload = JSON.stringify(body).replace(/"matchConfidence":(\d+)(?=[,}])/g, '"matchConfidence":$1.0');
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json;charset=UTF-8';
    }
  }
  if (status === 204) payload = '';
  h['Content-Length'] = Buffer.byteLength(payload);
  res.writeHead(status, h);
  res.end(payload);
}

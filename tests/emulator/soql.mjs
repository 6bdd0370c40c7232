// SOQL: a small real subset (README "SOQL") parsed and run against the org's records, and the
// query cursors behind Salesforce's paging: pages of up to 2,000 records (Sforce-Query-Options:
// batchSize=200..2000), `done: false` + `nextRecordsUrl` /services/data/vNN.0/query/01g…-N, and
// INVALID_QUERY_LOCATOR for a locator that is unknown, out of range or expired.

import { URL } from 'node:url';
import { canonicalType, fieldValue, recordUrl, resolveQueryField } from './org.mjs';
import { HttpError, sfError, send, lower } from './wire.mjs';

// Salesforce's numbers (REST API "Query Options Header"): default and maximum 2,000, minimum 200.
const DEFAULT_BATCH_SIZE = 2000;
const MIN_BATCH_SIZE = 200;
const LOCATOR_RE = /^(01g[A-Za-z0-9]{15})-(\d+)$/;

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

/** The batch size the `Sforce-Query-Options` header asks for, clamped to 200..2000; null when absent. */
function requestedBatchSize(req) {
  const m = /(?:^|[;,\s])batchSize\s*=\s*(\d+)/i.exec(String(req.headers['sforce-query-options'] ?? ''));
  if (!m) return null;
  return Math.min(DEFAULT_BATCH_SIZE, Math.max(MIN_BATCH_SIZE, Number(m[1])));
}

/** One page of a cursor's rows from `offset`, with `nextRecordsUrl` while rows remain. */
function page(cursor, offset, batchSize, ctx) {
  const records = cursor.rows.slice(offset, offset + batchSize);
  const next = offset + records.length;
  const out = { totalSize: cursor.rows.length, done: next >= cursor.rows.length };
  if (!out.done) out.nextRecordsUrl = `/services/data/${ctx.ver}/${cursor.route}/${cursor.locator}-${next}`;
  out.records = records;
  return out;
}

function openCursor(org, rows, route, batchSize) {
  const now = Date.now();
  // a long-running emulator (demo, benchmark) keeps no expired result sets
  for (const [locator, c] of org.queryCursors) if (c.expiresAt <= now) org.queryCursors.delete(locator);
  org.counters.query += 1;
  const locator = '01g' + '5e000' + String(org.counters.query).padStart(10, '0');
  const cursor = { locator, rows, route, batchSize, expiresAt: now + org.queryLocatorTtlMs };
  org.queryCursors.set(locator, cursor);
  return cursor;
}

/** GET …/query?q= (and queryAll): the first page; a cursor is kept when more pages remain. */
export function handleQuery(org, req, res, ctx, route) {
  const q = new URL(req.url, 'http://x').searchParams.get('q');
  if (q == null || q.trim() === '') throw malformed('A query string has to be specified');
  const ast = parseSoql(q);
  const type = canonicalType(ast.object);
  if (!type) {
    throw new HttpError(400, [sfError('INVALID_TYPE', `sObject type '${ast.object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`)]);
  }
  const resolve = (name) => {
    const f = resolveQueryField(org, type, name);
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
  let rows = org.state.records[type].filter((r) => !ast.where || evalNode(ast.where, r));
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
  // the result set is fixed when the query runs, as a Salesforce cursor's is
  const records = rows.map((r) => {
    const out = { attributes: { type, url: recordUrl(type, r.Id, ctx.ver) } };
    for (const f of selected) out[f] = f === 'Id' ? r.Id : fieldValue(type, r, f);
    return out;
  });
  const batchSize = requestedBatchSize(req) ?? DEFAULT_BATCH_SIZE;
  if (records.length <= batchSize) return send(res, 200, { totalSize: records.length, done: true, records });
  const cursor = openCursor(org, records, route, batchSize);
  return send(res, 200, page(cursor, 0, batchSize, ctx));
}

/** GET …/query/{locator}-{offset}: the page of an open cursor that starts at offset. */
export function handleQueryMore(org, req, res, ctx, locatorAndOffset) {
  const m = LOCATOR_RE.exec(locatorAndOffset);
  const cursor = m ? org.queryCursors.get(m[1]) : undefined;
  const offset = m ? Number(m[2]) : NaN;
  if (cursor && cursor.expiresAt <= Date.now()) org.queryCursors.delete(cursor.locator);
  if (!cursor || !org.queryCursors.has(cursor.locator) || !(offset < cursor.rows.length)) {
    throw new HttpError(400, [sfError('INVALID_QUERY_LOCATOR', 'invalid query locator')]);
  }
  return send(res, 200, page(cursor, offset, requestedBatchSize(req) ?? cursor.batchSize, ctx));
}

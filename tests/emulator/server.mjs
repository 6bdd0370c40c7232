// Local Salesforce (OAuth token endpoint, REST API, sObject Collections, Bulk API 2.0 ingest)
// + Slack incoming-webhook emulator for the sf-lead-rule tests, demo and benchmark.
// Plain Node >= 20, ESM, no dependencies. See tests/emulator/README.md.
// This file owns the HTTP server, the request log, CORS, the control API and the CLI; the org
// state is org.mjs and each API is its own module (oauth, rest, soql, bulk, faults, slack).

import http from 'node:http';
import crypto from 'node:crypto';
import { URL, pathToFileURL } from 'node:url';
import { addFaults, answerWithFault, clearFaults, setFaults, takeDelay } from './faults.mjs';
import { generateKeyPair, grantName, handleToken } from './oauth.mjs';
import { createOrg, resetOrg } from './org.mjs';
import { handleData } from './rest.mjs';
import { handleSlack, SLACK_WEBHOOK_PATH } from './slack.mjs';
import { HttpError, send, sfError } from './wire.mjs';

export { parseCsv } from './bulk.mjs';
export { ORG_ID, USER_ID } from './org.mjs';
export { SLACK_WEBHOOK_PATH } from './slack.mjs';
export { parseSoql } from './soql.mjs';

// Which API a request is for, and the fault target it counts as (README "Faults").
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

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startEmulator(options = {}) {
  const org = createOrg(options);
  const { state } = org;
  let privateKeyPem;
  let publicKeyPem = options.jwtPublicKey;
  if (!publicKeyPem) {
    const kp = await generateKeyPair();
    publicKeyPem = kp.publicKey;
    privateKeyPem = kp.privateKey;
  }
  org.jwtPublicKey = crypto.createPublicKey(publicKeyPem);
  org.disabledGrants = new Set((options.disabledGrants ?? []).map(grantName));
  const delayMs = options.delayMs ?? 0;
  const corsOrigins = options.corsOrigins ?? [];
  const sockets = new Set();
  const timers = new Set();
  let stopped = false;

  function sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { timers.delete(t); resolve(); }, ms);
      timers.add(t);
    });
  }

  // ----- control API ------------------------------------------------------------------------
  function handleControl(req, res, pathname, body) {
    const json = (status, obj) => send(res, status, obj);
    try {
      if (pathname === '/__emulator/state' && req.method === 'GET') return json(200, state);
      if (pathname === '/__emulator/reset' && req.method === 'POST') {
        let opts = {};
        if (body.trim()) opts = JSON.parse(body);
        resetOrg(org, opts);
        return json(200, { ok: true });
      }
      if (pathname === '/__emulator/faults') {
        if (req.method === 'GET') return json(200, state.faults);
        if (req.method === 'DELETE') { clearFaults(org); return json(200, { ok: true, faults: [] }); }
        if (req.method === 'POST') {
          const parsed = JSON.parse(body || 'null');
          const append = new URL(req.url, 'http://x').searchParams.get('append');
          const faults = append === '1' || append === 'true' ? addFaults(org, parsed) : setFaults(org, parsed);
          return json(200, { ok: true, faults });
        }
      }
      return json(404, { error: 'unknown control endpoint' });
    } catch (e) {
      return json(400, { error: e.message });
    }
  }

  // ----- main dispatch ----------------------------------------------------------------------
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
      res.setHeader('Sforce-Limit-Info', `api-usage=${state.apiCalls}/${org.dailyApiLimit}`);
    }
    const wait = delayMs + takeDelay(org, ctx);
    if (wait > 0) await sleep(wait);
    if (stopped || res.destroyed) return undefined;
    if (answerWithFault(org, req, res, ctx)) return undefined;
    if (ctx.isToken) return handleToken(org, req, res, ctx, body);
    if (ctx.isData) return handleData(org, req, res, ctx);
    if (ctx.isSlack) return handleSlack(org, req, res, ctx, body);
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
  const url = `http://127.0.0.1:${port}`;
  org.url = url;
  org.instanceUrl = options.instanceUrl ?? url;

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
    instanceUrl: org.instanceUrl,
    slackWebhookUrl: url + SLACK_WEBHOOK_PATH,
    ...org.cfg,
    privateKeyPem,
    publicKeyPem,
    credentials: { ...org.cfg },
    state,
    setFaults: (f) => setFaults(org, f),
    addFaults: (f) => addFaults(org, f),
    clearFaults: () => clearFaults(org),
    reset: (opts) => resetOrg(org, opts),
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

#!/usr/bin/env node
// sf-lead-rule CLI: `sf-lead-rule backfill users.ndjson` creates a Salesforce Lead for every user
// of an identity provider export, through the package's createLeads (sObject Collections, or a
// Bulk API 2.0 job for large exports), with a resume file so a rerun never makes duplicates.
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE = `usage: sf-lead-rule backfill <users.ndjson | users.json> [options]

Creates a Salesforce Lead (or Contact) for every user of an identity provider export: an Auth0
user export (NDJSON, one user per line) or a JSON array of users or events from another host.
Users already recorded (app_metadata.recordedAsLead) are skipped.

options:
  --host <name>     shape of each user: auth0 (default for NDJSON), ory, firebase, cognito,
                    clerk, okta, generic (default for JSON)
  --dry-run         print the plan (every request, secrets shown as ***) and send nothing
  --resume <file>   resume state: read when it exists, rewritten after every request; a rerun
                    skips done users and never creates duplicates
                    (default: <input>.state.json, which must not exist yet)
  --mode <mode>     auto (default: Bulk API 2.0 above SALESFORCE_BULK_THRESHOLD records,
                    50000 unless set), collections or bulk
  --mapping <file>  mapping as JSON ({"LastName": "family_name ?? 'Unknown'", ...}),
                    or a preset name (recommended, auth0-template)
  -h, --help        this text

Salesforce settings come from the environment, under the rule's secret names:
  SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, SALESFORCE_LOGIN_URL (My Domain URL),
  SALESFORCE_USERNAME, SALESFORCE_PASSWORD, SALESFORCE_PRIVATE_KEY, SALESFORCE_GRANT,
  SALESFORCE_API_VERSION, SALESFORCE_OBJECT, SALESFORCE_MAPPING, SALESFORCE_EXTERNAL_ID_FIELD,
  SALESFORCE_BULK_THRESHOLD, ...

exit status:
  0  every user processed (the summary on stdout lists failed and invalid ones)
  1  bad arguments, input file, configuration or credentials
  2  stopped by Salesforce's REQUEST_LIMIT_EXCEEDED: rerun with --resume after the limit resets
  3  stopped for another reason (Salesforce unavailable, a bulk job still running, ...):
     rerun with --resume
`;

const HOSTS = ['auth0', 'auth0-action', 'auth0-rule', 'ory', 'firebase', 'cognito', 'clerk', 'okta', 'generic'];
const CONFIG_CODES = new Set(['CONFIG_INVALID', 'CONFIG_MISSING', 'MAPPING_INVALID', 'INSECURE_URL', 'HEADER_INVALID',
  'TOKEN_REJECTED', 'INSTANCE_URL_NOT_ALLOWED', 'SESSION_EXPIRED']);

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { dryRun: false };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '-h': case '--help': opts.help = true; break;
      case '--dry-run': opts.dryRun = true; break;
      case '--host': opts.host = value(); break;
      case '--resume': opts.resume = value(); break;
      case '--mode': opts.mode = value(); break;
      case '--mapping': opts.mapping = value(); break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        rest.push(a);
    }
  }
  if (opts.help) return opts;
  if (rest[0] !== 'backfill') throw new UsageError(rest.length ? `unknown command ${rest[0]}` : 'missing command: backfill');
  if (!rest[1]) throw new UsageError('missing input file');
  if (rest.length > 2) throw new UsageError(`unexpected argument ${rest[2]}`);
  opts.input = rest[1];
  if (opts.host && !HOSTS.includes(opts.host)) throw new UsageError(`--host must be one of ${HOSTS.join(', ')}`);
  if (opts.mode && !['auto', 'collections', 'bulk'].includes(opts.mode)) throw new UsageError('--mode must be auto, collections or bulk');
  return opts;
}

/**
 * The users in `text`: a JSON array, an object holding one (`users`, `Users`, `identities`,
 * `data`), one JSON object, or NDJSON (blank lines skipped, bad lines reported and skipped).
 * `lines[i]` is the line number of item i (NDJSON only).
 */
function readUsers(text) {
  const trimmed = text.trim();
  if (trimmed === '') return { items: [], lines: null, bad: [], format: 'empty' };
  try {
    const v = JSON.parse(trimmed);
    if (Array.isArray(v)) return { items: v, lines: null, bad: [], format: 'json' };
    if (v && typeof v === 'object') {
      for (const k of ['users', 'Users', 'identities', 'data']) {
        if (Array.isArray(v[k])) return { items: v[k], lines: null, bad: [], format: 'json' };
      }
      return { items: [v], lines: [1], bad: [], format: 'ndjson' };
    }
  } catch {
    // not one JSON document: NDJSON
  }
  const items = [];
  const lines = [];
  const bad = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const v = JSON.parse(line);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      items.push(v);
      lines.push(i + 1);
    } catch (e) {
      bad.push({ line: i + 1, error: e.message });
    }
  });
  return { items, lines, bad, format: 'ndjson' };
}

/** Write `text` to `file` so that a crash leaves either the old or the new file, never half. */
function writeAtomically(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function progressReporter(stream) {
  const started = Date.now();
  let last = 0;
  let lastStep = -1;
  const tty = Boolean(stream.isTTY);
  return {
    update(done, total) {
      const now = Date.now();
      if (tty) {
        if (done !== total && now - last < 100) return;
        last = now;
        const width = 30;
        const filled = total ? Math.round((done / total) * width) : width;
        const pct = total ? Math.floor((done / total) * 100) : 100;
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${pct}% ${((now - started) / 1000).toFixed(1)}s`);
      } else {
        // Plain lines at every 10% (and the end), for logs.
        const step = total ? Math.floor((done / total) * 10) : 10;
        if (step === lastStep) return;
        lastStep = step;
        stream.write(`progress: ${done}/${total} users (${step * 10}%)\n`);
      }
    },
    end() {
      if (tty) stream.write('\n');
    },
  };
}

function readMapping(arg) {
  if (!fs.existsSync(arg)) return arg; // a preset name
  const text = fs.readFileSync(arg, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--mapping ${arg} is not valid JSON: ${e.message}`);
  }
}

async function backfill(opts) {
  let text;
  try {
    text = fs.readFileSync(opts.input, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${opts.input}: ${e.code || e.message}`);
  }
  const { items, lines, bad, format } = readUsers(text);
  for (const b of bad) process.stderr.write(`${opts.input}:${b.line}: skipped, not a JSON object (${b.error})\n`);
  const host = opts.host || (format === 'ndjson' ? 'auth0' : 'generic');

  const config = { secrets: process.env };
  if (opts.mapping) config.mapping = readMapping(opts.mapping);

  // The backfill module (createLeads): the package's own entry point for it, never loaded by a login.
  const sf = require('../sf_lead_rule_backfill.js');
  if (opts.dryRun) {
    const plan = await sf.createLeads(items, config, { host, mode: opts.mode, dryRun: true, state: readState(opts.resume) });
    process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    return 0;
  }

  let stateFile = opts.resume;
  if (!stateFile) {
    stateFile = `${opts.input}.state.json`;
    if (fs.existsSync(stateFile)) {
      throw new UsageError(`${stateFile} exists from an earlier run: rerun with --resume ${stateFile} to continue, or delete it to start over`);
    }
  }
  const state = readState(stateFile);
  // A run that recorded nothing (rejected credentials, say) leaves no new state file behind.
  const save = (json) => {
    if (!state && json.length < 400 && isEmptyState(JSON.parse(json))) return;
    writeAtomically(stateFile, json + '\n');
  };
  const progress = progressReporter(process.stderr);
  const started = Date.now();
  const report = await sf.createLeads(items, config, {
    host,
    mode: opts.mode,
    state,
    onProgress: (done, total) => progress.update(done, total),
    onState: save,
  });
  progress.end();
  save(JSON.stringify(report.state));

  const where = (r) => (lines ? { line: lines[r.input] } : { index: r.input });
  const problems = report.results
    .filter((r) => r.status === 'failed' || r.status === 'invalid' || r.status === 'pending')
    .map((r) => ({ userKey: r.userKey, status: r.status, ...where(r), ...(r.error ? { error: r.error } : {}), ...(r.reason ? { reason: r.reason } : {}) }));
  const summary = {
    stats: { ...report.stats, unreadable: bad.length, seconds: (Date.now() - started) / 1000 },
    mode: report.mode,
    stopped: report.stopped,
    resumeFile: fs.existsSync(stateFile) ? stateFile : null,
    problems,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');

  const s = report.stats;
  process.stderr.write(`created ${s.created}, duplicate ${s.duplicate}, failed ${s.failed}, skipped ${s.skipped}, invalid ${s.invalid}, pending ${s.pending}` +
    ` — ${s.apiCalls} API calls (${s.requests} requests) via ${report.mode} in ${summary.stats.seconds.toFixed(1)} s\n`);
  if (!report.stopped) return 0;
  const e = report.stopped;
  if (e.code === 'RATE_LIMITED') {
    process.stderr.write(`stopped: Salesforce's API request limit is used up (REQUEST_LIMIT_EXCEEDED). ` +
      `Rerun with --resume ${stateFile} after the limit resets; done users are skipped.\n`);
    return 2;
  }
  process.stderr.write(`stopped: ${e.code}: ${e.message}\n`);
  if (CONFIG_CODES.has(e.code) && e.field !== 'options.onState') return 1;
  process.stderr.write(`Rerun with --resume ${stateFile} to continue; done users are skipped.\n`);
  return 3;
}

function isEmptyState(state) {
  return Object.keys(state.users || {}).length === 0 && !state.bulkJob;
}

function readState(file) {
  if (!file || !fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8');
  if (text.trim() === '') return null;
  return text;
}

async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`sf-lead-rule: ${e.message}\n\n${USAGE}`);
    return 1;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await backfill(opts);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sf-lead-rule: ${e.message}\n`);
      return 1;
    }
    if (e && e.code) {
      // Configuration errors from the package: code + a message that says what to change.
      process.stderr.write(`sf-lead-rule: ${e.code}: ${e.message}${e.field ? ` (${e.field})` : ''}\n`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`sf-lead-rule: unexpected error: ${e && e.stack ? e.stack : e}\n`); process.exitCode = 1; },
);

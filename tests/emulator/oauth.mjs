// The OAuth endpoints (/services/oauth2/token and /revoke): the password, client_credentials,
// JWT bearer and refresh_token grants against the org's connected app, and the sessions they open.

import crypto from 'node:crypto';
import { URL, URLSearchParams } from 'node:url';
import { ORG_ID, USER_ID } from './org.mjs';
import { HttpError, NOT_FOUND, send, mediaType } from './wire.mjs';

const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GRANT_ALIASES = { jwt: JWT_GRANT, 'jwt-bearer': JWT_GRANT };

/** The grant names the `disabledGrants` option may use, as the token endpoint's `grant_type`. */
export const grantName = (g) => GRANT_ALIASES[g] ?? g;

export function generateKeyPair() {
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

function oauthError(error, description, status = 400) {
  return new HttpError(status, { error, error_description: description });
}
const authFailure = () => oauthError('invalid_grant', 'authentication failure');

function issueToken(org, grant) {
  const access = `${ORG_ID.slice(0, 15)}!AQ${crypto.randomBytes(60).toString('base64url').replace(/[-_]/g, 'x')}`;
  const issuedAt = String(Date.now());
  const id = `${org.url}/id/${ORG_ID}/${USER_ID}`;
  const signature = crypto.createHmac('sha256', org.cfg.clientSecret).update(id + issuedAt).digest('base64');
  org.sessions.set(access, { grant, valid: true, expiresAt: org.sessionTtlMs == null ? Infinity : Date.now() + org.sessionTtlMs });
  org.state.tokensIssued.push({ grant, access_token: access });
  return { access_token: access, instance_url: org.instanceUrl, id, token_type: 'Bearer', issued_at: issuedAt, signature, scope: 'api' };
}

function verifyJwt(org, assertion) {
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
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), org.jwtPublicKey, sig);
  if (!ok) throw authFailure();
  if (claims.iss !== org.cfg.clientId) throw oauthError('invalid_client_id', 'client identifier invalid');
  if (claims.sub !== org.cfg.username) throw authFailure();
  const norm = (u) => String(u).replace(/\/+$/, '');
  const allowed = new Set([org.url, org.instanceUrl, 'https://login.salesforce.com', 'https://test.salesforce.com', ...(org.options.jwtAudiences ?? [])].map(norm));
  const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!auds.length || !auds.every((a) => typeof a === 'string' && allowed.has(norm(a)))) throw authFailure();
  const now = Date.now() / 1000;
  const skew = org.options.jwtClockSkewSec ?? 60;
  if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + 180 + skew) throw authFailure();
}

export function handleToken(org, req, res, ctx, body) {
  const { cfg } = org;
  if (ctx.pathname === '/services/oauth2/revoke') {
    if (req.method !== 'POST' && req.method !== 'GET') throw oauthError('invalid_request', 'must use HTTP POST');
    const u = new URL(req.url, 'http://x');
    const tok = new URLSearchParams(body).get('token') ?? u.searchParams.get('token');
    if (tok && org.sessions.has(tok)) { org.sessions.get(tok).valid = false; return send(res, 200, ''); }
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
  const disabled = org.disabledGrants.has(grant);
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
      if (disabled) throw authFailure();
      if (p.get('username') !== cfg.username || p.get('password') !== cfg.password + cfg.securityToken) throw authFailure();
      break;
    case 'client_credentials':
      checkClient(true);
      if (disabled) throw authFailure();
      break;
    case JWT_GRANT:
      verifyJwt(org, p.get('assertion'));
      if (disabled) throw authFailure();
      break;
    case 'refresh_token':
      checkClient(false);
      if (disabled) throw authFailure();
      if (p.get('refresh_token') !== cfg.refreshToken) throw authFailure();
      break;
    default:
      break;
  }
  return send(res, 200, issueToken(org, grant));
}

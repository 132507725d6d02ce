// A local OpenID Connect provider for `make run` and the tests (never deployed).
//
// It is the npm package oidc-provider (a certified OpenID Provider implementation),
// configured with one confidential client (the app), PKCE required for it, a fresh RSA
// signing key per start, and a minimal sign-in page that lists the test users:
//   alice@example.com   email_verified: true   (the user a browser or a test signs in as)
//   bob@example.com     email_verified: true   (a second user)
//   eve@example.com     email_verified: false  (to see the app refuse an unverified address)
// The page is a plain HTML form (no script): pick a user and "Sign in", or "Cancel", which
// answers the app with error=access_denied. Consent is implied for the app (first party).
//
// Usage:
//   node devtools/oidc_provider.mjs --port 7073 --client-id local-app \
//        --client-secret S --redirect-uri http://localhost:7071/api/auth/local/callback
// (--redirect-uri may be repeated; the client secret may come from OIDC_CLIENT_SECRET).
// Once it listens it prints one JSON line: {"issuer": "http://127.0.0.1:<port>", ...}.
// Only 127.0.0.1 is listened on.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const USERS = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example' },
  bob: { email: 'bob@example.com', email_verified: true, name: 'Bob Example' },
  eve: { email: 'eve@example.com', email_verified: false, name: 'Eve Unverified' },
};

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string', default: 'local-app' },
    'client-secret': { type: 'string', default: process.env.OIDC_CLIENT_SECRET ?? '' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
  },
});
if (!args['client-secret'] || args['redirect-uri'].length === 0) {
  console.error('oidc_provider: --client-secret (or OIDC_CLIENT_SECRET) and --redirect-uri are required');
  process.exit(2);
}

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(args.port), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: args['redirect-uri'],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The e-mail claims go into the ID token itself (as Google puts them there); the app
  // also reads the userinfo endpoint when an ID token lacks them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...user }) };
  },
  async loadExistingGrant(ctx) {
    // The app is first party: consent is implied (the grant is made on the fly).
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  ttl: { Session: 600, Interaction: 600, AuthorizationCode: 60, AccessToken: 300, IdToken: 300, Grant: 600 },
});
provider.proxy = false;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid, clientId) {
  const options = Object.entries(USERS)
    .map(([id, u]) => `<option value="${id}">${escape(u.email)}${u.email_verified ? '' : ' (unverified)'}</option>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Local sign-in</title></head>
<body><main><h1>Local OpenID Connect provider</h1>
<p>Sign in to <strong>${escape(clientId)}</strong> as a test user (development only).</p>
<form method="post" action="/interaction/${escape(uid)}">
<label for="user">User</label> <select id="user" name="user">${options}</select>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form></main></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page(uid, details.params.client_id));
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  const form = await readForm(req);
  let result;
  if (form.get('action') === 'cancel') {
    result = { error: 'access_denied', error_description: 'The user cancelled the sign-in' };
  } else if (USERS[form.get('user')]) {
    result = { login: { accountId: form.get('user') } };
  } else {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown user');
    return;
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(req.url.split('?')[0]);
  if (!match) {
    callback(req, res);
    return;
  }
  interaction(req, res, match[1]).catch((err) => {
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  });
});

console.log(JSON.stringify({ issuer, client_id: args['client-id'], redirect_uris: args['redirect-uri'] }));

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// A real OpenID Provider for the end-to-end tests: two issuers (the trusted one and a rogue one
// the gateway does not trust), client-credentials grants, RS256 JWT access tokens with custom
// claims (groups, tenant), discovery and JWKS. Prints one JSON line with the ports when ready.
// For the console: people (USERS) who sign in through an interactive login page with the
// authorization-code flow and PKCE, as public and confidential native clients whose loopback
// redirect URI may use any port (RFC 8252 7.3; oidc-provider strips the port for native apps).
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

const CLIENTS = {
  'alice-tool': { groups: ['analysts'], tenant: 'acme' },
  'bob-tool': { groups: ['analysts'], tenant: 'acme' },
  'carol-tool': { groups: ['analysts'], tenant: 'globex' },
  'dan-tool': { groups: ['analysts'], tenant: 'initech' },
  'erin-tool': { groups: ['analysts'], tenant: 'umbrella' },
  'steward-tool': { groups: ['data-stewards'], tenant: 'acme' },
  'auditor-tool': { groups: ['airlock-auditors'], tenant: 'acme' },
  'acme-auditor-tool': { groups: ['tenant-auditors'], tenant: 'acme' },
  'lone-auditor-tool': { groups: ['tenant-auditors'] },
  'rita-tool': { groups: ['reviewers'], tenant: 'acme' },
  'rex-tool': { groups: ['reviewers'], tenant: 'acme' },
  'gina-tool': { groups: ['reviewers'], tenant: 'globex' },
};

// People who sign in to the console; the password is the name reversed (test data only).
const USERS = {
  alice: { groups: ['analysts'], tenant: 'acme' },
  carol: { groups: ['analysts'], tenant: 'globex' },
  rita: { groups: ['reviewers'], tenant: 'acme' },
  gina: { groups: ['reviewers'], tenant: 'globex' },
  audrey: { groups: ['airlock-auditors'], tenant: 'acme' },
};

const CONSOLE_CLIENTS = [
  { client_id: 'airlock-console', token_endpoint_auth_method: 'none' },
  { client_id: 'airlock-console-confidential', client_secret: 'console-secret', token_endpoint_auth_method: 'client_secret_basic' },
].map((c) => ({
  ...c,
  application_type: 'native',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/console/callback'],
  post_logout_redirect_uris: ['http://127.0.0.1/console/signed-out'],
}));

// Resource indicators -> the access token's audience and lifetime.
const RESOURCES = {
  'urn:airlock': { audience: 'airlock', ttl: 600 },
  'urn:airlock:short': { audience: 'airlock', ttl: 1 },
  'urn:other': { audience: 'some-other-api', ttl: 600 },
};

function makeProvider(issuer) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = `k-${Math.random().toString(36).slice(2, 10)}`;
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  const provider = new Provider(issuer, {
    clients: Object.keys(CLIENTS).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })).concat(CONSOLE_CLIENTS),
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, id) => (USERS[id] ? {
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@example.test`, groups: USERS[id].groups, tenant: USERS[id].tenant }),
    } : undefined),
    claims: { openid: ['sub'], email: ['email'] },
    jwks: { keys: [jwk] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:airlock',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          const r = RESOURCES[resource];
          if (!r) throw new Error(`unknown resource ${resource}`);
          return { scope: 'execute', audience: r.audience, accessTokenTTL: r.ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    extraTokenClaims: async (ctx, token) => {
      if (token.accountId) {
        const u = USERS[token.accountId] || {};
        return { groups: u.groups || [], tenant: u.tenant || null, email: `${token.accountId}@example.test` };
      }
      const c = CLIENTS[token.clientId] || {};
      return { groups: c.groups || [], tenant: c.tenant || null, email: `${token.clientId}@example.test` };
    },
  });
  provider.proxy = false;
  return provider;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main>${body}</main></body></html>`;
}

async function formOf(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return new URLSearchParams(data);
}

// The interactive login: a username and password form, then consent granted at once for the
// scopes and resource asked (a first-party console needs no consent screen).
async function interaction(provider, req, res) {
  const [, , uid, step] = req.url.split('?')[0].split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const { prompt, params, session } = details;
  if (req.method === 'POST' && step === 'login') {
    const form = await formOf(req);
    const user = form.get('username') || '';
    if (!USERS[user] || form.get('password') !== [...user].reverse().join('')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page('Sign in', `<p role="alert">Wrong username or password.</p>${loginForm(uid)}`));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page('Sign in', `<h1>Test identity provider</h1>${loginForm(uid)}`));
    return;
  }
  const accountId = session?.accountId;
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || 'openid'));
  grant.addResourceScope(String(params.resource || 'urn:airlock'), 'execute');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

function loginForm(uid) {
  return `<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="sign-in" type="submit">Sign in</button></form>`;
}

async function listen(makeIssuer) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const provider = makeProvider(makeIssuer(port));
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (!req.url.startsWith('/interaction/')) return callback(req, res);
    interaction(provider, req, res).catch((e) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(e && e.message));
    });
  });
  return port;
}

const port = await listen((p) => `http://127.0.0.1:${p}`);
const roguePort = await listen((p) => `http://127.0.0.1:${p}`);
console.log(JSON.stringify({ issuer: `http://127.0.0.1:${port}`, rogue: `http://127.0.0.1:${roguePort}` }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));

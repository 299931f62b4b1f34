// A real OpenID Provider for the end-to-end tests: two issuers (the trusted one and a rogue one
// the gateway does not trust), client-credentials grants, RS256 JWT access tokens with custom
// claims (groups, tenant), discovery and JWKS. Prints one JSON line with the ports when ready.
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
    })),
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
      const c = CLIENTS[token.clientId] || {};
      return { groups: c.groups || [], tenant: c.tenant || null, email: `${token.clientId}@example.test` };
    },
  });
  provider.proxy = false;
  return provider;
}

async function listen(makeIssuer) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const provider = makeProvider(makeIssuer(port));
  server.on('request', provider.callback());
  return port;
}

const port = await listen((p) => `http://127.0.0.1:${p}`);
const roguePort = await listen((p) => `http://127.0.0.1:${p}`);
console.log(JSON.stringify({ issuer: `http://127.0.0.1:${port}`, rogue: `http://127.0.0.1:${roguePort}` }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));

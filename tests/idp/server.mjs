// A real external OpenID provider for the token-exchange tests: node-oidc-provider
// (npm `oidc-provider`, the bench peer's dependency) on 127.0.0.1, serving its
// own discovery document and JWKS. It issues
//   - RFC 9068 JWT access tokens by client_credentials (resource indicators,
//     accessTokenFormat 'jwt'): `sub` is the client id;
//   - OIDC id_tokens for any subject by a test-only grant,
//     `urn:tollgate:test:id-token` (params sub, name, email, and optionally
//     expires_at / nbf to mint stale or not-yet-valid tokens), signed by the
//     provider's own IdToken model with its own keys.
// Keys live in IDP_KEYS (a JSON file): created on first start; IDP_ROTATE=1
// prepends a new signing key (the old one stays published), so restarting on
// the same port rotates the issuer's keys. GET /test/stats counts JWKS fetches
// and refresh_token grants (answered, refused).
//
// With IDP_REDIRECT_URIS (comma-separated), it is also an upstream for the token
// vault's `oidc` preset (tests/integration/vault_oidc.rs): the confidential
// client `tollgate-connector` (authorization_code + refresh_token, Basic auth,
// PKCE S256 required, scopes `openid offline_access`) is added and the built-in
// dev login and consent pages are enabled (any login, any password). Its access
// tokens are opaque (userinfo at /me takes them) and live IDP_AT_TTL seconds
// (default 600); it always gets a refresh token, single-use: each refresh
// rotates it, and a second use of a spent one revokes the grant.
//
//   IDP_PORT=... IDP_KEYS=/path/keys.json [IDP_ROTATE=1]
//     [IDP_REDIRECT_URIS=https://…,… IDP_AT_TTL=30] node server.mjs
// Prints "ready <port>" on stdout once it listens on 127.0.0.1.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT || 0);
const keysFile = process.env.IDP_KEYS;
const audience = process.env.IDP_AUDIENCE || 'https://api.partner.example';
const redirectUris = (process.env.IDP_REDIRECT_URIS || '').split(',').filter(Boolean);
const accessTokenTtl = Number(process.env.IDP_AT_TTL || 600);
const CONNECTOR = 'tollgate-connector';

function newKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: `es-${randomBytes(6).toString('hex')}` };
}
function rsaKey(alg) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}` };
}
let keys;
if (keysFile && existsSync(keysFile)) {
  keys = JSON.parse(readFileSync(keysFile, 'utf8'));
  if (process.env.IDP_ROTATE === '1') keys = [newKey(), ...keys];
} else {
  keys = [newKey(), rsaKey('RS256'), rsaKey('PS256')];
}
if (keysFile) writeFileSync(keysFile, JSON.stringify(keys));

const secret = 'idp-secret-idp-secret-idp-secret-idp-secret-0000';
const client = (id, alg) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials', 'urn:tollgate:test:id-token'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: alg,
  scope: 'openid profile email api',
});
const clients = [client('partner-app', 'ES256'), client('partner-rs', 'RS256'), client('partner-ps', 'PS256'), client('other-app', 'ES256')];
if (redirectUris.length) {
  clients.push({
    client_id: CONNECTOR,
    client_secret: secret,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid offline_access',
  });
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients,
  jwks: { keys },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  ttl: { IdToken: 3600, AccessToken: accessTokenTtl, ClientCredentials: 600 },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  // Only the connector has the refresh_token grant: it always gets one (it asks
  // offline_access, which node-oidc-provider drops without prompt=consent) …
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // … single-use.
  rotateRefreshToken: true,
  pkce: { required: (ctx, client) => client.clientId === CONNECTOR || client.clientAuthMethod === 'none' },
  features: {
    devInteractions: { enabled: redirectUris.length > 0 },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The connector's access tokens are for userinfo (opaque, no resource).
      defaultResource: (ctx, client) => (client.clientId === CONNECTOR ? undefined : audience),
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.proxy = false;

provider.registerGrantType('urn:tollgate:test:id-token', async (ctx) => {
  const { params } = ctx.oidc;
  const available = { sub: params.sub };
  if (params.name) available.name = params.name;
  if (params.email) {
    available.email = params.email;
    available.email_verified = true;
  }
  const token = new provider.IdToken(available, { ctx });
  token.scope = 'openid profile email';
  if (params.nbf) token.set('nbf', Number(params.nbf));
  const idToken = await token.issue({ use: 'idtoken', expiresAt: params.expires_at ? Number(params.expires_at) : null });
  ctx.body = { id_token: idToken, token_type: 'Bearer', expires_in: 3600 };
}, ['sub', 'name', 'email', 'expires_at', 'nbf']);

let jwksFetches = 0;
const refreshes = { answered: 0, refused: 0 };
provider.on('grant.success', (ctx) => {
  if (ctx.oidc.params.grant_type === 'refresh_token') refreshes.answered += 1;
});
provider.on('grant.error', (ctx) => {
  if (ctx.oidc?.params?.grant_type === 'refresh_token') refreshes.refused += 1;
});
provider.use(async (ctx, next) => {
  if (ctx.path === '/test/stats') {
    ctx.body = { jwks_fetches: jwksFetches, refreshes };
    return;
  }
  if (ctx.path === '/jwks') jwksFetches += 1;
  await next();
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// node-oidc-provider configured like our authorization server for the refresh grant: a public client,
// RS256 JWT access tokens for one resource (resourceIndicators), refresh tokens rotated on every use,
// the default in-memory adapter. Refresh tokens for the run are created here, before listening, and
// written to TOKENS_FILE (one per line).
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const resource = process.env.RESOURCE!;
const count = Number(process.env.TOKEN_COUNT ?? '100');
const CLIENT_ID = 'bench-public';
const SCOPE = 'db:read db:write';

const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'bench' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:7777/callback'],
  }],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'offline_access', 'db:read', 'db:write'],
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  rotateRefreshToken: true,
  ttl: { AccessToken: 600, RefreshToken: 30 * 86400, Grant: 30 * 86400 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: SCOPE,
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
// Its default in-memory adapter warns once at start; nothing else is logged per request.

const client = await provider.Client.find(CLIENT_ID);
if (!client) throw new Error('client not found');
const tokens: string[] = [];
for (let i = 0; i < count; i++) {
  const accountId = `user-${i % 20}`;
  const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
  grant.addResourceScope(resource, SCOPE);
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({ accountId, client, grantId, scope: SCOPE, resource, gty: 'authorization_code' });
  tokens.push(await rt.save());
}
writeFileSync(process.env.TOKENS_FILE!, `${tokens.join('\n')}\n`);

const handle = provider.callback();
// Koa's handler settles every request itself (errors become responses), so its promise is not awaited.
const server = createServer((req, res) => void handle(req, res));
server.listen(port, '127.0.0.1');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close(() => process.exit(0)));

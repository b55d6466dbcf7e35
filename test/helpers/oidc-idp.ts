import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import { freePort } from './ports.ts';

/**
 * A real OpenID Connect provider (panva's oidc-provider) on 127.0.0.1, standing in for a
 * corporate identity provider: discovery, authorization code with PKCE, `iss` in the authorization
 * response (RFC 9207), signed ID tokens, UserInfo. Its people and their claims (email,
 * email_verified, groups) are whatever the test puts in `accounts`, read at each sign-in, so a
 * test can change a group between two sign-ins. The `amr` a sign-in reports (login result → session →
 * ID token) is likewise whatever the test puts in `amr`. Its sign-in page is one form: the account name
 * (no password) and "Sign in", which also consents; then a page with a "Continue" link back.
 */

export interface IdpAccountClaims {
  email?: string;
  email_verified?: boolean;
  name?: string;
  groups?: string[];
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** account id (the `sub`) → claims; change freely between sign-ins. */
  accounts: Map<string, IdpAccountClaims>;
  /** account id → the authentication methods its next sign-in reports (the ID token's `amr`, RFC 8176); none: no amr. */
  amr: Map<string, string[]>;
  close(): Promise<void>;
}

const page = (uid: string) => `<!doctype html><html lang="en"><head><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1>
<form method="post" action="/interaction/${uid}">
<label for="login">Account</label> <input id="login" name="login" autocomplete="off" required>
<button type="submit">Sign in</button>
</form></body></html>`;

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

/** Starts the provider for a client whose redirect URIs are `redirectUris`. */
export async function startTestIdp(redirectUris: string[], o: { clientId?: string; clientSecret?: string } = {}): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = o.clientId ?? 'mcp-stack';
  const clientSecret = o.clientSecret ?? 'test-idp-client-secret-0123456789';
  const accounts = new Map<string, IdpAccountClaims>();
  const amr = new Map<string, string[]>();
  const config: Configuration = {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, grant_types: ['authorization_code'], response_types: ['code'] }],
    async findAccount(_ctx, id) {
      if (!accounts.has(id)) return undefined;
      return { accountId: id, claims: () => ({ sub: id, ...accounts.get(id) }) };
    },
    // amr under openid: oidc-provider puts in the ID token only the claims of a granted scope.
    claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['test-idp-cookie-key'] },
    jwks: { keys: [{ ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }] },
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code'], response_types: ['code'] },
    ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    renderError(ctx, out) {
      ctx.type = 'text/plain';
      ctx.body = `${out.error}: ${out.error_description ?? ''}`;
    },
  };
  const provider = new Provider(issuer, config);
  provider.on('server_error', () => {});
  const handler = provider.callback();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const m = /^\/interaction\/([\w-]+)$/.exec(req.url ?? '');
      if (!m) return handler(req, res);
      if (req.method === 'GET') {
        await provider.interactionDetails(req, res);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(m[1]!));
        return;
      }
      const details = await provider.interactionDetails(req, res);
      const accountId = (await readForm(req)).get('login') ?? '';
      if (!accounts.has(accountId)) {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown account' });
        return;
      }
      const grant = new provider.Grant({ accountId, clientId: details.params.client_id as string });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      // A page with a link back (not a redirect): the step from here to our callback is a navigation of its own, which a browser test can intercept.
      const resume = await provider.interactionResult(req, res, { login: { accountId, amr: amr.get(accountId) }, consent: { grantId } }, { mergeWithLastSubmission: false });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html lang="en"><head><title>Signed in</title></head><body>
<h1>Signed in at Test IdP</h1><p><a id="continue" href="${resume}">Continue</a></p></body></html>`);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer, clientId, clientSecret, accounts, amr,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

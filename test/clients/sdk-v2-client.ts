/**
 * A desktop-style MCP client on the official SDK v2 (`@modelcontextprotocol/client`), run as its own
 * process: it listens on a loopback redirect URI (RFC 8252 §7.3), opens the authorization URL with
 * the program in $BROWSER, and on the callback finishes with finishAuth(URLSearchParams), which
 * checks RFC 9207 `iss` before exchanging the code. Then tools/list, tools/call `query`, and a
 * forced refresh (the stored access token is replaced by garbage) before calling again.
 *
 * Usage: node --import tsx sdk-v2-client.ts <mcp-url>
 * Env:   BROWSER (required), SDK_V2_TAMPER_ISS=<url> (replace `iss` in the callback, to see the
 *        client refuse it), SDK_V2_CALLS=<JSON [{name, arguments}, …]> (the tools to call instead of
 *        the demo `query`s: the first before the refresh, the rest after it), SDK_V2_EMIT_TOKEN=1
 *        (emit access tokens, for a test to present elsewhere), SDK_V2_FIRST_SCOPE=<scope> (ask
 *        for this scope the first time; a later 403 insufficient_scope is then stepped up through the
 *        browser again), SDK_V2_DPOP=1 (the provider implements dpop(): tokens are DPoP-bound, RFC 9449;
 *        every HTTP exchange is then emitted as an `http` event, without credentials). Progress is
 *        one JSON object per line on stdout; exit code 1 on failure.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import {
  Client, DpopSession, StreamableHTTPClientTransport, UnauthorizedError,
  type FetchLike, type OAuthClientInformationContext, type OAuthClientMetadata, type OAuthClientProvider, type OAuthDiscoveryState,
  type StoredOAuthClientInformation, type StoredOAuthTokens,
} from '@modelcontextprotocol/client';

const CALLBACK_TIMEOUT_MS = 30_000;
const serverUrl = new URL(process.argv[2] ?? '');
const browser = process.env.BROWSER;
if (!browser) throw new Error('BROWSER must name the program that opens the authorization URL');

function emit(event: string, data: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
}

/** A tool result's first text block, and its JSON payload when it is one (apps/mcp-server/src/tools/tool-result.ts). */
function textOf(result: { content?: unknown; isError?: boolean }): { isError: boolean; text?: string; data?: unknown } {
  const first = (result.content as { type: string; text?: string }[] | undefined)?.[0];
  const text = first?.type === 'text' ? first.text : undefined;
  let data: unknown;
  try { data = text === undefined ? undefined : JSON.parse(text); } catch { /* plain text (an upstream server's) */ }
  return { isError: result.isError ?? false, text, data };
}

interface ToolCall { name: string; arguments: Record<string, unknown> }
const CALLS: ToolCall[] = process.env.SDK_V2_CALLS
  ? JSON.parse(process.env.SDK_V2_CALLS) as ToolCall[]
  : [{ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } }, { name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM orders' } }];

/** The loopback listener that receives authorization responses; next() resolves with the next one's query. */
async function listenForCallback(): Promise<{ redirectUrl: string; next: () => Promise<URLSearchParams>; close: () => void }> {
  const arrived: URLSearchParams[] = [];
  let waiting: ((p: URLSearchParams) => void) | undefined;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('You can close this window.');
    if (waiting) waiting(url.searchParams);
    else arrived.push(url.searchParams);
    waiting = undefined;
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  const next = async () => {
    const ready = arrived.shift();
    if (ready) return ready;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      new Promise<URLSearchParams>((ok) => { waiting = ok; }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no authorization callback in time')), CALLBACK_TIMEOUT_MS); }),
    ]).finally(() => clearTimeout(timer));
  };
  return { redirectUrl: `http://127.0.0.1:${port}/callback`, next, close: () => { server.closeAllConnections(); server.close(); } };
}

/** In-memory credentials, keyed by issuer as v2 asks (credentials are bound to their AS). */
class DesktopProvider implements OAuthClientProvider {
  readonly clients = new Map<string, StoredOAuthClientInformation>();
  readonly tokenSets = new Map<string, StoredOAuthTokens>();
  discovery: OAuthDiscoveryState | undefined;
  lastState = '';
  private verifier = '';
  constructor(readonly redirectUrl: string) {}
  /**
   * Set only with SDK_V2_DPOP (the SDK goes DPoP when the method exists): one session, key pair and
   * nonces, for the life of the registration, as the SDK asks.
   */
  declare dpop?: () => Promise<DpopSession>;

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'SDK v2 desktop client',
      redirect_uris: [this.redirectUrl],
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state(): string {
    this.lastState = crypto.randomUUID();
    return this.lastState;
  }
  clientInformation(ctx?: OAuthClientInformationContext) { return ctx ? this.clients.get(ctx.issuer) : undefined; }
  saveClientInformation(info: StoredOAuthClientInformation, ctx?: OAuthClientInformationContext) {
    if (ctx) this.clients.set(ctx.issuer, info);
    emit('registered', { client_id: info.client_id, issuer: ctx?.issuer });
  }
  tokens(ctx?: OAuthClientInformationContext) { return ctx ? this.tokenSets.get(ctx.issuer) : [...this.tokenSets.values()][0]; }
  saveTokens(t: StoredOAuthTokens, ctx?: OAuthClientInformationContext) {
    this.tokenSets.set(ctx?.issuer ?? '', t);
    emit('tokens', {
      issuer: ctx?.issuer, scope: t.scope, token_type: t.token_type, has_refresh_token: Boolean(t.refresh_token), refresh_token_tail: t.refresh_token?.slice(-6),
      ...(process.env.SDK_V2_EMIT_TOKEN === '1' ? { access_token: t.access_token } : {}),
    });
  }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  saveDiscoveryState(s: OAuthDiscoveryState) {
    this.discovery = s;
    emit('discovered', {
      resource_metadata_url: s.resourceMetadataUrl,
      authorization_server: s.authorizationServerUrl,
      iss_parameter_supported: (s.authorizationServerMetadata as Record<string, unknown> | undefined)?.authorization_response_iss_parameter_supported,
    });
  }
  discoveryState() { return this.discovery; }
  /** SDK_V2_FIRST_SCOPE: the scope of the first authorization request, as a user granting less at first. */
  private firstScope = process.env.SDK_V2_FIRST_SCOPE;
  redirectToAuthorization(url: URL): void {
    if (this.firstScope) url.searchParams.set('scope', this.firstScope);
    this.firstScope = undefined;
    emit('authorization_url', { url: url.toString() });
    // As a desktop client does: hand the URL to the user's browser and wait for the loopback callback.
    spawn(browser!, [url.toString()], { stdio: ['ignore', 'inherit', 'inherit'] })
      .on('exit', (code) => emit('browser_exited', { code }));
  }
  /** Forces the next request to fail with 401 so the SDK must use the refresh token. */
  expireAccessTokens(): void {
    for (const [k, t] of this.tokenSets) this.tokenSets.set(k, { ...t, access_token: 'expired-access-token' });
  }
}

/** The claims of a compact JWS, unverified: the test reads what the client sent. */
function jwtClaims(jwt: string | null): Record<string, unknown> | undefined {
  if (!jwt) return undefined;
  try { return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>; } catch { return undefined; }
}

/**
 * The transport's fetch (under the SDK's DPoP wrapper, and the one its token requests use): emits
 * each exchange — scheme, whether a proof and a proof nonce were sent, the challenge or OAuth error
 * that came back and whether a DPoP-Nonce came with it — never a token, proof or nonce value.
 */
const loggingFetch: FetchLike = async (input, init) => {
  const url = new URL(input.toString());
  const headers = new Headers(init?.headers);
  const res = await fetch(input, init);
  let error: unknown;
  if (res.status === 400 && url.pathname.endsWith('/token')) error = ((await res.clone().json().catch(() => ({}))) as { error?: unknown }).error;
  const challenge = res.headers.get('www-authenticate') ?? undefined;
  emit('http', {
    method: (init?.method ?? 'GET').toUpperCase(), origin: url.origin, path: url.pathname, status: res.status,
    scheme: headers.get('authorization')?.split(' ')[0], proof: headers.has('dpop'), proof_nonce: jwtClaims(headers.get('dpop'))?.nonce !== undefined,
    challenge_schemes: challenge ? [...challenge.matchAll(/(?:^|,\s*)(Bearer|DPoP)(?= |,|$)/gi)].map((m) => m[1]) : undefined,
    challenge_error: challenge ? /error="([^"]+)"/.exec(challenge)?.[1] : undefined, error, dpop_nonce: res.headers.has('dpop-nonce'),
    grant_type: init?.body instanceof URLSearchParams ? init.body.get('grant_type') : undefined,
  });
  return res;
};

// The client speaks 2026-07-28 (SDK 2.x defaults to the 2025 handshake); SDK_V2_MODE=legacy speaks 2025-11-25.
const newClient = () => new Client({ name: 'sdk-v2-e2e', version: '1.0.0' }, {
  versionNegotiation: { mode: process.env.SDK_V2_MODE === 'legacy' ? 'legacy' : { pin: '2026-07-28' } },
});

async function run(): Promise<void> {
  const callback = await listenForCallback();
  const provider = new DesktopProvider(callback.redirectUrl);
  const dpop = process.env.SDK_V2_DPOP === '1';
  if (dpop) {
    const session = DpopSession.create();
    provider.dpop = () => session;
    emit('dpop_key', { thumbprint: (await session).thumbprint, alg: (await session).alg });
  }
  const transport = () => new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, ...(dpop ? { fetch: loggingFetch } : {}) });
  try {
    let client = newClient();
    try {
      await client.connect(transport());
      throw new Error('the server accepted a connection without a token');
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
    }
    const finish = async () => {
      const params = await callback.next();
      emit('callback', { keys: [...params.keys()], iss: params.get('iss'), error: params.get('error') });
      // The SDK leaves state to the caller (RFC 6749 §10.12).
      if (params.get('state') !== provider.lastState) throw new Error('state mismatch');
      if (process.env.SDK_V2_TAMPER_ISS) params.set('iss', process.env.SDK_V2_TAMPER_ISS);
      await transport().finishAuth(params);
    };
    await finish();

    client = newClient();
    await client.connect(transport());
    emit('tools', { names: (await client.listTools()).tools.map((t) => t.name), era: client.getProtocolEra() });
    emit('call', textOf(await client.callTool(CALLS[0]!)));
    await client.close();

    provider.expireAccessTokens();
    client = newClient();
    await client.connect(transport());
    for (const call of CALLS.slice(1)) {
      let result;
      try {
        result = await client.callTool(call);
      } catch (err) {
        // A 403 insufficient_scope: the SDK sent the browser to authorize the wider scope (step-up)
        // and gives up on this request; finish that authorization and call again.
        if (!(err instanceof UnauthorizedError)) throw err;
        emit('step_up', { name: call.name });
        await client.close();
        await finish();
        client = newClient();
        await client.connect(transport());
        result = await client.callTool(call);
      }
      emit('call_after_refresh', { name: call.name, ...textOf(result) });
    }
    await client.close();
    emit('done');
  } finally {
    callback.close();
  }
}

try {
  await run();
} catch (err) {
  const e = err as Error & { code?: unknown };
  emit('error', { name: e.constructor?.name ?? e.name, code: e.code, message: e.message });
  process.exitCode = 1;
}

/**
 * A desktop-style MCP client on the official SDK v2 (`@modelcontextprotocol/client`), run as its own
 * process: it listens on a loopback redirect URI (RFC 8252 §7.3), opens the authorization URL with
 * the program in $BROWSER, and on the callback finishes with finishAuth(URLSearchParams), which
 * checks RFC 9207 `iss` before exchanging the code. Then tools/list, tools/call `query`, and a
 * forced refresh (the stored access token is replaced by garbage) before calling again.
 *
 * Usage: node --import tsx sdk-v2-client.ts <mcp-url>
 * Env:   BROWSER (required), SDK_V2_TAMPER_ISS=<url> (replace `iss` in the callback, to see the
 *        client refuse it). Progress is one JSON object per line on stdout; exit code 1 on failure.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import {
  Client, StreamableHTTPClientTransport, UnauthorizedError,
  type OAuthClientInformationContext, type OAuthClientMetadata, type OAuthClientProvider, type OAuthDiscoveryState,
  type StoredOAuthClientInformation, type StoredOAuthTokens,
} from '@modelcontextprotocol/client';

const CALLBACK_TIMEOUT_MS = 30_000;
const serverUrl = new URL(process.argv[2] ?? '');
const browser = process.env.BROWSER;
if (!browser) throw new Error('BROWSER must name the program that opens the authorization URL');

function emit(event: string, data: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
}

/** A tool result's payload: one JSON text block (apps/mcp-server/src/tools/tool-result.ts). */
function textJson(result: { content?: unknown }): unknown {
  const first = (result.content as { type: string; text?: string }[] | undefined)?.[0];
  return first?.type === 'text' && first.text !== undefined ? JSON.parse(first.text) : undefined;
}

/** The loopback listener that receives the authorization response; resolves with its query once. */
async function listenForCallback(): Promise<{ redirectUrl: string; params: Promise<URLSearchParams>; close: () => void }> {
  let resolve!: (p: URLSearchParams) => void;
  const params = new Promise<URLSearchParams>((ok) => { resolve = ok; });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('You can close this window.');
    resolve(url.searchParams);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  return { redirectUrl: `http://127.0.0.1:${port}/callback`, params, close: () => { server.closeAllConnections(); server.close(); } };
}

/** In-memory credentials, keyed by issuer as v2 asks (credentials are bound to their AS). */
class DesktopProvider implements OAuthClientProvider {
  readonly clients = new Map<string, StoredOAuthClientInformation>();
  readonly tokenSets = new Map<string, StoredOAuthTokens>();
  discovery: OAuthDiscoveryState | undefined;
  lastState = '';
  private verifier = '';
  constructor(readonly redirectUrl: string) {}

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
    emit('tokens', { issuer: ctx?.issuer, scope: t.scope, token_type: t.token_type, has_refresh_token: Boolean(t.refresh_token), refresh_token_tail: t.refresh_token?.slice(-6) });
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
  redirectToAuthorization(url: URL): void {
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

// The client speaks 2026-07-28 (SDK 2.x defaults to the 2025 handshake); SDK_V2_MODE=legacy speaks 2025-11-25.
const newClient = () => new Client({ name: 'sdk-v2-e2e', version: '1.0.0' }, {
  versionNegotiation: { mode: process.env.SDK_V2_MODE === 'legacy' ? 'legacy' : { pin: '2026-07-28' } },
});

async function run(): Promise<void> {
  const callback = await listenForCallback();
  const provider = new DesktopProvider(callback.redirectUrl);
  const transport = () => new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  try {
    let client = newClient();
    try {
      await client.connect(transport());
      throw new Error('the server accepted a connection without a token');
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
    }
    let timer: NodeJS.Timeout | undefined;
    const params = await Promise.race([
      callback.params,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no authorization callback in time')), CALLBACK_TIMEOUT_MS); }),
    ]).finally(() => clearTimeout(timer));
    emit('callback', { keys: [...params.keys()], iss: params.get('iss'), error: params.get('error') });
    // The SDK leaves state to the caller (RFC 6749 §10.12).
    if (params.get('state') !== provider.lastState) throw new Error('state mismatch');
    if (process.env.SDK_V2_TAMPER_ISS) params.set('iss', process.env.SDK_V2_TAMPER_ISS);
    await transport().finishAuth(params);

    client = newClient();
    await client.connect(transport());
    emit('tools', { names: (await client.listTools()).tools.map((t) => t.name), era: client.getProtocolEra() });
    const first = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } });
    emit('call', { isError: first.isError ?? false, data: textJson(first) });
    await client.close();

    provider.expireAccessTokens();
    client = newClient();
    await client.connect(transport());
    const again = await client.callTool({ name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM orders' } });
    emit('call_after_refresh', { isError: again.isError ?? false, data: textJson(again) });
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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { errorHandler } from '@stack/fastify-kit';
import { crossOriginRoutes } from '../src/http/cors.ts';
import { checkOrigin } from '../src/http/check-origin.ts';
import { mcpErrorResponses } from '../src/http/error-responses.ts';
import type { McpAppContext } from '../src/context.ts';
import { bearer, listTools, rpc, startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from './helpers.ts';

const ALLOWED = 'https://app.example';
const OTHER = 'https://evil.example';

function preflightHeaders(origin: string, requestHeaders = 'authorization, content-type, mcp-protocol-version'): Record<string, string> {
  return { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': requestHeaders };
}

function expectNoCors(res: Response): void {
  for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-expose-headers']) {
    expect(res.headers.get(h), h).toBeNull();
  }
}

function expectReadable(res: Response, origin = ALLOWED): void {
  expect(res.headers.get('access-control-allow-origin')).toBe(origin);
  expect(res.headers.get('vary')).toMatch(/\borigin\b/i);
  // DPoP-Nonce: a browser DPoP client must read the nonce to retry with (RFC 9449 §9).
  expect(res.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate, Mcp-Session-Id, Retry-After, DPoP-Nonce');
}

describe('CORS on the MCP endpoint and the protected resource metadata', () => {
  let issuer: TestIssuer;
  let s: TestMcpServer;
  const token = () => issuer.sign({ aud: s.url, role: 'viewer', scope: 'db:read' });

  beforeAll(async () => {
    issuer = await startIssuer();
    s = await startMcpServer({ AUTH_ISSUER: issuer.url, MCP_ALLOWED_ORIGINS: ALLOWED });
  });
  afterAll(async () => {
    await s?.close();
    await issuer?.close();
  });

  it('[GW-CORS-PREFLIGHT] answers a preflight from an allowed origin with 204 and the CORS headers, unauthenticated and unaudited', async () => {
    const before = s.audit().length;
    for (const origin of [ALLOWED, s.base]) {
      const res = await fetch(s.url, { method: 'OPTIONS', headers: preflightHeaders(origin) });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-methods')).toBe('POST, GET, DELETE');
      const allowHeaders = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
      for (const h of ['authorization', 'content-type', 'accept', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'mcp-session-id', 'last-event-id', 'x-api-key', 'dpop']) {
        expect(allowHeaders).toContain(h);
      }
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(res.headers.get('vary')).toMatch(/\borigin\b/i);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(await res.text()).toBe('');
    }
    // A preflight calls nothing: no authentication failure, no gate decision in the audit log.
    expect(s.audit().length).toBe(before);
  });

  it('[GW-CORS-DISALLOWED-ORIGIN] refuses a preflight from an origin that is not allowed with 403 and no CORS headers', async () => {
    const before = s.audit().length;
    const res = await fetch(s.url, { method: 'OPTIONS', headers: preflightHeaders(OTHER) });
    expect(res.status).toBe(403);
    expectNoCors(res);
    expect(res.headers.get('access-control-max-age')).toBeNull();
    expect(s.audit().length).toBe(before);
  });

  it('[GW-CORS-DISALLOWED-ORIGIN] [MCP-RS-ORIGIN] still refuses a request from an origin that is not allowed, without CORS headers, token or not', async () => {
    for (const headers of [{ origin: OTHER }, { ...bearer(await token()), origin: OTHER }]) {
      const res = await rpc(s.url, listTools(), headers);
      expect(res.status).toBe(403);
      expectNoCors(res);
      expect(res.headers.get('www-authenticate')).toBeNull();
      expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', reason: `origin not allowed: ${OTHER}` });
    }
    const res = await fetch(s.url, { headers: { origin: OTHER } });
    expect(res.status).toBe(403);
    expectNoCors(res);
  });

  it('[GW-CORS-CHALLENGE-READABLE] answers a request without a token from an allowed origin with a 401 whose challenge the page may read', async () => {
    const res = await rpc(s.url, listTools(), { origin: ALLOWED });
    expect(res.status).toBe(401);
    expectReadable(res);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="/);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'AUTH_FAILED' });
  });

  it('[GW-CORS-CHALLENGE-READABLE] puts the CORS headers on the error handler\'s other answers too (invalid token, 415, parse error, 405)', async () => {
    let res = await rpc(s.url, listTools(), { origin: ALLOWED, authorization: 'Bearer not-a-jwt' });
    expect(res.status).toBe(401);
    expectReadable(res);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    const auth = bearer(await token());
    res = await fetch(s.url, { method: 'POST', headers: { ...auth, origin: ALLOWED, 'content-type': 'text/plain' }, body: 'x' });
    expect(res.status).toBe(415);
    expectReadable(res);

    res = await fetch(s.url, { method: 'POST', headers: { ...auth, origin: ALLOWED, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe(-32700);
    expectReadable(res);

    for (const method of ['GET', 'DELETE']) {
      res = await fetch(s.url, { method, headers: { origin: ALLOWED } });
      expect(res.status).toBe(405);
      expectReadable(res);
    }
  });

  it('[GW-CORS-PREFLIGHT] serves tools/list to an allowed origin with the CORS headers; no Origin (not a browser) gets none', async () => {
    const auth = bearer(await token());
    let res = await rpc(s.url, listTools(), { ...auth, origin: ALLOWED });
    expect(res.status).toBe(200);
    expectReadable(res);
    const body = (await res.json()) as { result: { tools: { name: string }[] } };
    expect(body.result.tools.map((t) => t.name)).toContain('list_tables');

    res = await rpc(s.url, listTools(), auth);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/\borigin\b/i);
  });

  it('[GW-CORS-PREFLIGHT] [MCP-RS-PRM-DISCOVERY] lets a page from any origin read the protected resource metadata, preflight included', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      let res = await fetch(`${s.base}${path}`, { headers: { origin: OTHER, 'mcp-protocol-version': '2025-11-25' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect((await res.json()).resource).toBe(s.url);

      res = await fetch(`${s.base}${path}`, { method: 'OPTIONS', headers: { origin: OTHER, 'access-control-request-method': 'GET', 'access-control-request-headers': 'mcp-protocol-version' } });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-methods')).toBe('GET');
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('mcp-protocol-version');
    }
  });
});

describe('CORS route option', () => {
  it('[GW-CORS-PREFLIGHT] [GW-CORS-DISALLOWED-ORIGIN] applies to every route that asks for it, whatever its path, with one preflight per path', async () => {
    const app = Fastify({ logger: false });
    // Only what the CORS steps, the origin check and the error handler read of the app context.
    const audited: unknown[] = [];
    app.decorate('mcp', { config: { allowedOrigins: [ALLOWED], authMode: 'apikey' }, audit: { record: (e: unknown) => audited.push(e) } } as unknown as McpAppContext);
    await app.register(errorHandler, mcpErrorResponses);
    crossOriginRoutes(app);
    for (const url of ['/a/mcp', '/b/mcp']) {
      app.post(url, { config: { crossOrigin: 'allowed-origins' }, onRequest: [checkOrigin] }, async () => ({ ok: url }));
      app.get(url, { config: { crossOrigin: 'allowed-origins' }, onRequest: [checkOrigin] }, async () => ({ ok: url }));
    }
    app.post('/plain', async () => ({ ok: true }));
    try {
      for (const url of ['/a/mcp', '/b/mcp']) {
        let res = await app.inject({ method: 'OPTIONS', url, headers: preflightHeaders(ALLOWED) });
        expect(res.statusCode).toBe(204);
        expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
        expect(res.headers['access-control-allow-methods']).toBe('POST, GET');
        res = await app.inject({ method: 'POST', url, headers: { origin: ALLOWED }, payload: {} });
        expect(res.statusCode).toBe(200);
        expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
        res = await app.inject({ method: 'OPTIONS', url, headers: preflightHeaders(OTHER) });
        expect(res.statusCode).toBe(403);
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
        res = await app.inject({ method: 'POST', url, headers: { origin: OTHER }, payload: {} });
        expect(res.statusCode).toBe(403);
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
      }
      expect(audited).toHaveLength(2);
      // A route without the option has no preflight and no CORS headers.
      expect((await app.inject({ method: 'OPTIONS', url: '/plain', headers: preflightHeaders(ALLOWED) })).statusCode).toBe(404);
      expect((await app.inject({ method: 'POST', url: '/plain', headers: { origin: ALLOWED }, payload: {} })).headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});

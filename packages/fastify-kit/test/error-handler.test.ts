import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { invalidClient, invalidDpopProof, invalidToken, rateLimited, useDpopNonce } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';
import { errorHandler, securityHeaders, type ErrorHandlerOptions, type SecurityHeadersOptions } from '../src/index.ts';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(errors: ErrorHandlerOptions, headers: SecurityHeadersOptions): Promise<FastifyInstance> {
  app = Fastify({ logger: false });
  await app.register(errorHandler, errors);
  await app.register(securityHeaders, headers);
  app.get('/store-down', async () => {
    throw new StoreUnavailableError(5);
  });
  app.get('/basic', async () => {
    throw invalidClient('client authentication failed');
  });
  app.get('/bearer', async () => {
    throw invalidToken('token has expired');
  });
  app.get('/limited', async () => {
    throw rateLimited(2.2);
  });
  app.get('/dpop-nonce', async () => {
    throw useDpopNonce('nonce-value');
  });
  app.get('/dpop-proof', async () => {
    throw invalidDpopProof('DPoP proof has already been used');
  });
  app.get('/crash', async () => {
    throw new Error('secret detail');
  });
  app.get('/page', async (_request, reply) => reply.header('content-security-policy', "default-src 'self'").send('ok'));
  return app;
}

describe('the shared error handler', () => {
  it('[RFC9449-NONCE] sends the DPoP-Nonce header of a use_dpop_nonce error, and none with other errors', async () => {
    const a = await serve({}, { hook: 'onSend', hsts: false });
    const nonce = await a.inject({ url: '/dpop-nonce' });
    expect(nonce.statusCode).toBe(400);
    expect(nonce.headers['dpop-nonce']).toBe('nonce-value');
    expect(nonce.json().error).toBe('use_dpop_nonce');
    const proof = await a.inject({ url: '/dpop-proof' });
    expect(proof.statusCode).toBe(400);
    expect(proof.headers['dpop-nonce']).toBeUndefined();
    expect(proof.json().error).toBe('invalid_dpop_proof');
  });

  it('[SCALE-FAIL-CLOSED] answers a store that did not answer with 503 temporarily_unavailable and its Retry-After', async () => {
    const res = await (await serve({}, { hook: 'onSend', hsts: false })).inject({ url: '/store-down' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'a shared store is unavailable, retry later' });
  });

  it('[OAUTH21-ERROR-RESPONSE] writes OAuth bodies with the default challenges, Retry-After rounded up, and hides internals', async () => {
    const a = await serve({ pragmaNoCache: true }, { hook: 'onSend', hsts: false });
    const basic = await a.inject({ url: '/basic' });
    expect([basic.statusCode, basic.headers['www-authenticate'], basic.headers.pragma]).toEqual([401, 'Basic realm="token"', 'no-cache']);
    const bearer = await a.inject({ url: '/bearer' });
    expect(bearer.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="token has expired"');
    const limited = await a.inject({ url: '/limited' });
    expect([limited.statusCode, limited.headers['retry-after'], limited.json().error]).toEqual([429, '3', 'rate_limited']);
    const crash = await a.inject({ url: '/crash' });
    expect([crash.statusCode, crash.body.includes('secret')]).toEqual([500, false]);
    const missing = await a.inject({ url: '/nowhere' });
    expect([missing.statusCode, missing.json().error]).toEqual([404, 'not_found']);
  });

  it('[OAUTH21-ERROR-RESPONSE] takes the app\'s challenge and its own answer for errors in another shape', async () => {
    const a = await serve(
      {
        challenge: (_request, err) => (err.status === 401 ? 'Bearer realm="mcp"' : undefined),
        answer: (err, _request, reply) => (err.message === 'secret detail' ? reply.status(400).send({ shaped: true }) : undefined),
      },
      { hook: 'onRequest', hsts: false },
    );
    const bearer = await a.inject({ url: '/bearer' });
    expect([bearer.headers['www-authenticate'], bearer.headers.pragma]).toEqual(['Bearer realm="mcp"', undefined]);
    const shaped = await a.inject({ url: '/crash' });
    expect([shaped.statusCode, shaped.json()]).toEqual([400, { shaped: true }]);
  });
});

describe('the shared security headers', () => {
  it('[RFC9700-CLICKJACKING] set no framing, nosniff and the API policy on every response, errors included; HSTS and CORP when asked', async () => {
    const a = await serve({}, { hook: 'onRequest', hsts: true, sameOriginResources: true });
    for (const url of ['/store-down', '/nowhere']) {
      const res = await a.inject({ url });
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
    }
  });

  it('[RFC9700-CLICKJACKING] keep a page\'s own Content-Security-Policy and leave out HSTS and CORP unless asked', async () => {
    const res = await (await serve({}, { hook: 'onSend', hsts: false })).inject({ url: '/page' });
    expect(res.headers['content-security-policy']).toBe("default-src 'self'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['strict-transport-security']).toBeUndefined();
    expect(res.headers['cross-origin-resource-policy']).toBeUndefined();
  });
});

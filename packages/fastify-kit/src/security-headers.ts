import fp from 'fastify-plugin';
import type { FastifyReply } from 'fastify';

// JSON endpoints need no content at all; a page sets its own (stricter-than-default) policy.
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export interface SecurityHeadersOptions {
  /**
   * When they are set. 'onRequest': before the route runs, so a reply the route hijacks (and writes
   * to the raw response) carries them too. 'onSend': last, over whatever the route set, except a
   * Content-Security-Policy of its own.
   */
  hook: 'onRequest' | 'onSend';
  /** Strict-Transport-Security, for a server reached over HTTPS. */
  hsts: boolean;
  /** Cross-Origin-Resource-Policy: same-origin (no other site may load responses as no-cors subresources). */
  sameOriginResources?: boolean;
}

/** Security headers on every response, errors included (RFC 9700 §4.16: no framing). */
export const securityHeaders = fp<SecurityHeadersOptions>(
  async (app, opts) => {
    const set = (reply: FastifyReply) => {
      if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', API_CSP);
      reply.header('x-frame-options', 'DENY');
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      if (opts.sameOriginResources) reply.header('cross-origin-resource-policy', 'same-origin');
      reply.header('cross-origin-opener-policy', 'same-origin');
      reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
      if (opts.hsts) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    };
    if (opts.hook === 'onRequest') {
      app.addHook('onRequest', async (_request, reply) => set(reply));
    } else {
      app.addHook('onSend', async (_request, reply, payload) => {
        set(reply);
        return payload;
      });
    }
  },
  { name: 'security-headers' },
);

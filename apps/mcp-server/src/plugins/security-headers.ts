import fp from 'fastify-plugin';

// The MCP server serves JSON only: nothing may load, frame or run anything from it.
const CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Security headers on every response, including errors and hijacked MCP responses (set in onRequest). */
export const securityHeaders = fp(
  async (app) => {
    const https = app.mcp.config.publicUrl.startsWith('https://');
    // onRequest rather than onSend: the MCP route hijacks the reply, and headers set on it earlier survive.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('content-security-policy', CSP);
      reply.header('x-frame-options', 'DENY');
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('cross-origin-resource-policy', 'same-origin');
      reply.header('cross-origin-opener-policy', 'same-origin');
      reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
      if (https) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    });
  },
  { name: 'security-headers' },
);

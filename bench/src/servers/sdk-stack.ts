// What users would otherwise pick: the official SDK's stateless Streamable HTTP server with JSON
// responses, Express via createMcpExpressApp, and requireBearerAuth with a jose verifier checking
// issuer and audience, set up as the SDK's examples and docs show (a new McpServer per request).
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { Request, Response } from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { TOOL_DESCRIPTION, TOOL_NAME, TOOL_RESULT, TOOL_TITLE } from './trivial-tool.ts';

const port = Number(process.env.PORT);
const issuer = process.env.ISSUER!;
const resource = process.env.RESOURCE!;
const jwks = createRemoteJWKSet(new URL(process.env.JWKS_URL!));

const verifier: OAuthTokenVerifier = {
  async verifyAccessToken(token) {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer, audience: resource, algorithms: ['RS256'] });
      return {
        token,
        clientId: String(payload.client_id),
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
        expiresAt: payload.exp,
        resource: new URL(resource),
      };
    } catch (err) {
      // Without this mapping the SDK answers a bad token with a 500 instead of a 401.
      if (err instanceof joseErrors.JOSEError) throw new InvalidTokenError(err.message);
      throw err;
    }
  },
};

function getServer(): McpServer {
  const server = new McpServer({ name: 'sdk-stack', version: '1.0.0' });
  server.registerTool(TOOL_NAME, { title: TOOL_TITLE, description: TOOL_DESCRIPTION, inputSchema: {} }, async () => TOOL_RESULT);
  return server;
}

const app = createMcpExpressApp();
app.get('/health', (_req: Request, res: Response) => void res.json({ status: 'ok' }));
app.post('/mcp', requireBearerAuth({ verifier, requiredScopes: ['db:read'], expectedResource: new URL(resource) }), async (req: Request, res: Response) => {
  const server = getServer();
  try {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
  } catch {
    if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
  }
});
const listener = app.listen(port, '127.0.0.1');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => listener.close(() => process.exit(0)));

import type { FastifyPluginAsync } from 'fastify';

/** Liveness (/health) and readiness (/ready: a valid policy with at least one tool is loaded, and Redis answers when configured). */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    const tools = [...app.mcp.gate.tools.keys()].filter((t) => Object.hasOwn(app.mcp.policy.current().tools, t));
    if (tools.length === 0 || (app.mcp.sharedStore && !app.mcp.sharedStore.isReady())) {
      reply.header('retry-after', '5');
      return reply.status(503).send({ status: 'unavailable' });
    }
    return { status: 'ready' };
  });
};

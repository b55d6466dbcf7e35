import type { FastifyPluginAsync } from 'fastify';
import { StoreUnavailableError } from '@stack/redis';

/**
 * Liveness (/health) and readiness (/ready: a valid policy with at least one tool is loaded, Redis
 * answers when configured, and so does PostgreSQL when the app's state is there: an instance whose
 * database is down would refuse every API key and secret lookup, so a load balancer should send
 * its traffic elsewhere). The SQLite file is local to the process and opened on first use.
 */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    const unavailable = () => {
      reply.header('retry-after', '5');
      return reply.status(503).send({ status: 'unavailable' });
    };
    const tools = [...app.mcp.gate.tools.keys()].filter((t) => Object.hasOwn(app.mcp.policy.current().tools, t));
    if (tools.length === 0 || (app.mcp.sharedStore && !app.mcp.sharedStore.isReady())) return unavailable();
    if (app.mcp.config.postgres) {
      try {
        await (await app.mcp.store()).ping();
      } catch (err) {
        // An outage is logged by the store, once per interval, not once per probe.
        if (!(err instanceof StoreUnavailableError)) app.log.error({ err }, 'readiness check failed');
        return unavailable();
      }
    }
    return { status: 'ready' };
  });
};

import type { FastifyPluginAsync } from 'fastify';
import { StoreUnavailableError } from '@stack/redis';

/** Liveness (/health) and readiness (/ready: the database answers and a signing key is usable). */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    try {
      await app.ctx.store.ping();
      await app.ctx.keys.active();
      return { status: 'ready' };
    } catch (err) {
      // A database outage is logged by the store, once per interval, not once per probe.
      if (!(err instanceof StoreUnavailableError)) app.log.error({ err }, 'readiness check failed');
      reply.header('retry-after', '5');
      return reply.status(503).send({ status: 'unavailable' });
    }
  });
};

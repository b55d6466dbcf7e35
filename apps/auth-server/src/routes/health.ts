import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'drizzle-orm';

/** Liveness (/health) and readiness (/ready: the database answers and a signing key is usable). */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    try {
      app.ctx.db.get(sql`select 1`);
      await app.ctx.keys.active();
      return { status: 'ready' };
    } catch (err) {
      app.log.error({ err }, 'readiness check failed');
      reply.header('retry-after', '5');
      return reply.status(503).send({ status: 'unavailable' });
    }
  });
};

import type { FastifyPluginAsync } from 'fastify';
import { adminKeys } from '../services/admin-keys.ts';
import { adminOf, doneNotice, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { shownTime } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { PUBLISH_LEAD_MS } from '../services/keys.ts';
import { formParams } from '../plugins/form-body.ts';
import { redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

const NOTICES = {
  rotated: 'The next signing key is published in the JWKS. It signs from the time shown; the current key signs until then.',
} as const;

/**
 * GET /admin/keys: the signing keys (kid, state, created, signs from, retires, published) and the
 * scheduled rotation; POST /admin/keys (CSRF): rotates as `keys rotate` does (the next key is
 * published first and signs PUBLISH_LEAD_MS later), audited admin.key_rotated with the acting admin.
 * The emergency rotation (`keys rotate --now`, which withdraws every other key at once) stays a CLI
 * command: one click in a browser should never invalidate every token.
 */
export const adminKeysRoutes: FastifyPluginAsync = async (app) => {
  useAdminGuard(app);

  app.get('/admin/keys', async (request, reply) => {
    const s = adminOf(request);
    const k = await adminKeys(app.ctx);
    return sendAdminPage(reply, 'admin-keys', '/admin/keys', s, {
      title: 'Signing keys',
      notice: doneNotice(NOTICES, (request.query as Record<string, unknown>).done),
      keys: k.keys.map((key) => ({
        ...key,
        created: shownTime(key.createdAt),
        signsFrom: key.signsFrom === null ? (key.state === 'current' ? 'now' : '-') : shownTime(key.signsFrom),
        retires: key.retiredAt === null ? 'when a next key takes over' : shownTime(key.retiredAt),
      })),
      nextWaiting: k.nextWaiting,
      rotationDays: k.rotationDays,
      nextScheduled: k.nextScheduled === undefined ? undefined : shownTime(k.nextScheduled),
      leadSeconds: PUBLISH_LEAD_MS / 1000,
      retainedSeconds: app.ctx.config.accessTokenTtl + 60,
    });
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/admin/keys', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = adminOf(request);
    if (formParams(request).action !== 'rotate') throw new PageError(400, 'Invalid request', 'Choose Rotate.');
    const before = await app.ctx.keys.list();
    // A second rotation while a next key waits would retire that key before it ever signed.
    if (before.some((k) => k.state === 'next')) {
      throw new PageError(409, 'Not now', 'A next signing key is already published and waiting to sign. Rotate again after it has taken over.');
    }
    const previous = before.filter((k) => k.state !== 'retired').map((k) => k.kid);
    const r = await app.ctx.keys.rotate();
    // The CLI's event and fields (cli/keys.ts), with the admin who acted.
    auditFlow(app, request, 'admin.key_rotated', {
      kid: r.kid, previous_kid: previous.join(' ') || undefined, signs_from: new Date(r.signsFrom).toISOString(), by: s.user.id, decision: 'allow',
    });
    return redirectToOwnPage(request, reply, '/admin/keys?done=rotated');
  });
};

import type { FastifyPluginAsync } from 'fastify';
import { ADMIN_PAGES, ADMIN_ROLE, adminOf, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import { OVERVIEW_TTL_MS, type AdminAudit } from '../services/admin-audit.ts';
import { hourlyChart } from '../services/admin-charts.ts';
import { mfaRequiredFor } from '../services/second-factor.ts';

const SIGN_IN_SERIES = [
  { key: 'success', label: 'Successes', cls: 'chart-s0' },
  { key: 'failure', label: 'Failures', cls: 'chart-s1' },
] as const;
const TOOL_CALL_SERIES = [
  { key: 'allowed', label: 'Allowed', cls: 'chart-s0' },
  { key: 'denied', label: 'Denied', cls: 'chart-s1' },
  { key: 'rateLimited', label: 'Rate-limited', cls: 'chart-s2' },
] as const;

/**
 * GET /admin: the admin console's overview (admins only, services/admin-console.ts): sign-ins and
 * tool calls per hour over the last 24 h and the most denied tools, counted from the audit logs
 * (services/admin-audit.ts), then the console's sections.
 */
export const adminRoutes: FastifyPluginAsync<{ audit: AdminAudit }> = async (app, opts) => {
  useAdminGuard(app);

  app.get('/admin', async (request, reply) => {
    const s = adminOf(request);
    const o = opts.audit.overview();
    return sendAdminPage(reply, 'admin-overview', '/admin', s, {
      title: 'Admin console',
      sections: ADMIN_PAGES.filter((p) => p.path !== '/admin').map((p) => ({ href: p.path.slice(1), label: p.label })),
      mfaRequired: mfaRequiredFor(app.ctx, ADMIN_ROLE),
      countedAt: new Date(o.at).toISOString().slice(11, 19),
      keptSeconds: OVERVIEW_TTL_MS / 1000,
      signIns: o.signIns.ok
        ? { chart: hourlyChart('sign-ins', 'Sign-ins', o.signIns.data, SIGN_IN_SERIES), partial: o.signIns.partial }
        : { reason: o.signIns.reason },
      toolCalls: o.toolCalls.ok
        ? { chart: hourlyChart('tool-calls', 'Tool calls', o.toolCalls.data.hours, TOOL_CALL_SERIES), partial: o.toolCalls.partial, topDenied: o.toolCalls.data.topDenied }
        : { reason: o.toolCalls.reason },
    });
  });
};

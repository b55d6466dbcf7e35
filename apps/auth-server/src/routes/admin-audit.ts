import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { adminOf, sendAdminPage, useAdminGuard } from '../services/admin-console.ts';
import type { AdminAudit, AuditSource } from '../services/admin-audit.ts';
import { DECISIONS, type AuditFilter } from '../services/audit-search.ts';
import { shownTime } from '../services/account-page.ts';
import { auditFlow } from '../services/authorization-flow.ts';
import { findUserByEmail } from '../services/users.ts';
import { formParams, queryParams } from '../plugins/form-body.ts';
import { redirectToOwnPage } from '../views/pages.ts';
import { PageError } from '../views/render.ts';

/** Lines per page of the audit page. */
const AUDIT_PAGE_SIZE = 50;
const SOURCES = { auth: 'Authorization server', mcp: 'MCP decisions' } as const satisfies Record<AuditSource, string>;
const DECISION_LABELS = { allow: 'Allowed', deny: 'Denied', rate_limited: 'Rate-limited', error: 'Error' } as const satisfies Record<(typeof DECISIONS)[number], string>;

// An <input type="datetime-local"> value, read as UTC.
const localTime = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/, 'a date and time').refine((v) => Number.isFinite(Date.parse(`${v}Z`)), 'a valid date and time');
const optional = <T extends z.ZodType>(t: T) => z.union([z.literal(''), t]).optional();

/** The filters (GET query): each bounded; anything else is refused, never guessed. */
const filters = z.strictObject({
  source: z.enum(['auth', 'mcp']).default('auth'),
  // An email is at most 254 characters (RFC 5321 §4.5.3.1).
  who: optional(z.string().max(254)),
  tool: optional(z.string().max(64)),
  decision: optional(z.enum(DECISIONS)),
  from: optional(localTime),
  to: optional(localTime),
  before: optional(z.string().regex(/^\d{1,15}$/)),
  done: optional(z.literal('verified')),
});

/** GET /admin/audit: a page of an audit log, filtered, newest first, with the chain's check; POST /admin/audit/verify (CSRF) checks it now. */
export const adminAuditRoutes: FastifyPluginAsync<{ audit: AdminAudit }> = async (app, opts) => {
  useAdminGuard(app);

  app.get('/admin/audit', async (request, reply) => {
    const s = adminOf(request);
    const parsed = filters.safeParse(queryParams(request));
    if (!parsed.success) {
      const field = parsed.error.issues[0]?.path.join('.') || 'filter';
      throw new PageError(400, 'Invalid filter', `The ${field} filter is not valid. Change it and try again.`);
    }
    const q = parsed.data;
    const who = q.who?.trim().toLowerCase();
    const terms = who ? [who] : undefined;
    // An email also finds the lines that name the person by id (most lines do).
    if (who && who.includes('@')) {
      const user = await findUserByEmail(app.ctx.store, who);
      if (user) terms!.push(user.id.toLowerCase());
    }
    const filter: AuditFilter = {
      who: terms,
      tool: q.tool?.trim().toLowerCase() || undefined,
      decision: q.decision || undefined,
      from: q.from ? Date.parse(`${q.from}Z`) : undefined,
      to: q.to ? Date.parse(`${q.to}Z`) : undefined,
      before: q.before ? Number(q.before) : undefined,
    };
    const result = opts.audit.page(q.source, filter, AUDIT_PAGE_SIZE);
    const check = opts.audit.check(q.source)?.last();
    const params = new URLSearchParams(Object.entries({ source: q.source, who: q.who, tool: q.tool, decision: q.decision, from: q.from, to: q.to })
      .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''));
    const older = result.ok && result.data.next !== undefined ? `admin/audit?${new URLSearchParams([...params, ['before', String(result.data.next)]]).toString()}` : undefined;
    return sendAdminPage(reply, 'admin-audit', '/admin/audit', s, {
      title: 'Audit log',
      notice: q.done === 'verified' ? 'The chain was checked: see its status below.' : undefined,
      source: q.source,
      sources: Object.entries(SOURCES).map(([key, label]) => ({ label, current: key === q.source, href: `admin/audit?source=${key}` })),
      sourceLabel: SOURCES[q.source],
      decisions: Object.entries(DECISION_LABELS).map(([value, label]) => ({ value, label, selected: value === q.decision })),
      q: { who: q.who ?? '', tool: q.tool ?? '', from: q.from ?? '', to: q.to ?? '' },
      filtered: params.size > 1,
      first: q.before === undefined || q.before === '',
      newest: `admin/audit?${params.toString()}`,
      older,
      rows: result.ok ? result.data.rows : [],
      partial: result.ok && result.partial,
      reason: result.ok ? undefined : result.reason,
      checkable: opts.audit.check(q.source) !== undefined,
      check: check && {
        ...check,
        checkedAt: shownTime(check.checkedAt),
        // What is wrong is shown as an error; what could not be checked here, as a warning.
        tone: check.state === 'ok' ? 'notice' : check.state === 'unverifiable' || check.state === 'too_large' ? 'warning' : 'error',
      },
      mcpAnchors: q.source === 'mcp',
    });
  });

  // eslint-disable-next-line @typescript-eslint/unbound-method -- @fastify/csrf-protection's hook is a closure, it never reads this
  app.post('/admin/audit/verify', { preHandler: app.csrfProtection }, async (request, reply) => {
    const s = adminOf(request);
    const source = formParams(request).source;
    if (source !== 'auth' && source !== 'mcp') throw new PageError(400, 'Invalid request', 'Choose which log to verify.');
    const check = opts.audit.check(source);
    if (!check) throw new PageError(404, 'No log', 'That audit log is off.');
    const status = await check.run();
    auditFlow(app, request, 'admin.audit_verified', { by: s.user.id, log: source, result: status.state, decision: 'allow' });
    return redirectToOwnPage(request, reply, `/admin/audit?source=${source}&done=verified`);
  });
};

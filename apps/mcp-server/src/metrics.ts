import { boundedLabel, createAppMetrics, type AppMetrics } from '@stack/metrics';
import type { AuditRecord } from './pipeline/audit.ts';

/**
 * The MCP app's Prometheus metrics: every decision the pipeline audits (by server, tool and
 * decision), and the fetches it depends on (the authorization server's JWKS and revocation feed:
 * failures, and how old the revocation list is). Tool names come from the stack file and the
 * upstreams' catalogues; a name a caller made up is never a label value.
 */
export interface McpMetrics {
  app: AppMetrics;
  decision: (r: AuditRecord) => void;
  /** `fetch` for JWKS and revocation requests, counting failures and remembering the feed's last success. */
  countingFetch(fetchFn: typeof fetch, urls: { jwks: string; revocations: string }): typeof fetch;
}

export function createMcpMetrics(now: () => number = Date.now): McpMetrics {
  const app = createAppMetrics('mcp-server');
  // Bounds on what a stack file and its upstreams can create, far above any real catalogue.
  const serverLabel = boundedLabel(100);
  const toolLabel = boundedLabel(1000);
  const decisions = app.counter('mcp_decisions_total', 'MCP requests decided by the pipeline, by server, tool (or method) and decision.', ['server', 'tool', 'decision'] as const);
  const fetchErrors = app.counter('mcp_auth_fetch_errors_total', 'Failed fetches of the authorization server\'s JWKS or revocation feed.', ['kind'] as const);
  let lastFeed: number | undefined;
  app.gauge('mcp_revocation_feed_age_seconds', 'Seconds since the revocation feed was last read successfully (absent before the first read).', [] as const, (g) => {
    if (lastFeed !== undefined) g.set((now() - lastFeed) / 1000);
  });

  return {
    app,
    decision: (r) => {
      // Only a name the gate found in the catalogue: an unknown tool, a missing name or a refused
      // request before any tool was looked up is counted under what the caller asked for (method).
      const known = r.tool !== undefined && r.reason !== 'unknown tool';
      const what = known ? toolLabel(r.tool) : r.method ? `(${toolLabel(r.method)})` : '(none)';
      decisions.inc({ server: serverLabel(r.server ?? 'database'), tool: what, decision: r.decision });
    },
    countingFetch(fetchFn, urls) {
      return async (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const kind = url.startsWith(urls.revocations) ? 'revocations' : url.startsWith(urls.jwks) ? 'jwks' : undefined;
        try {
          const res = await fetchFn(input, init);
          if (kind && !res.ok) fetchErrors.inc({ kind });
          else if (kind === 'revocations') lastFeed = now();
          return res;
        } catch (err) {
          if (kind) fetchErrors.inc({ kind });
          throw err;
        }
      };
    },
  };
}

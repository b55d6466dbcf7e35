import { measure } from '../lib/load.ts';
import type { SeedSpec } from '../seed/auth-db.ts';
import { record, wanted, type BenchContext } from './context.ts';
import { startAuthServer, startOidcProvider, type AuthServer } from './servers.ts';
import { codeGrants, introspections, refreshChains } from './targets.ts';

/** Chains per refresh run: more than connections, so a connection never finds the pool empty. */
export const chainsPerRun = (c: BenchContext) => c.load.connections * 4;

/** Scenario 4 on an already seeded server: the refresh and the authorization_code grant. */
export async function tokenScenarios(c: BenchContext, as: AuthServer, engine: string, keySuffix = ''): Promise<void> {
  record(c, {
    key: `4-refresh${keySuffix}`, scenario: `token endpoint, refresh_token grant (rotating), ${engine}`,
    result: await measure(refreshChains(`${as.url}/token`, as.seeded.chainSets[0]!, c.resource), c.load, as.proc),
  });
  record(c, {
    key: `4-code${keySuffix}`, scenario: `token endpoint, authorization_code grant (PKCE), ${engine}`,
    result: await measure(codeGrants(`${as.url}/token`, as.seeded.codes.slice(2), c.resource), c.load, as.proc),
  });
}

/** Scenario 5: the same refresh grant on node-oidc-provider. */
export async function oidcScenario(c: BenchContext): Promise<void> {
  if (!wanted(c, 5)) return;
  const op = await startOidcProvider(c, chainsPerRun(c));
  try {
    record(c, {
      key: '5', scenario: 'oidc-provider 9, refresh_token grant (rotating, JWT AT, in-memory)',
      result: await measure(refreshChains(`${op.url}/token`, op.tokens, c.resource), c.load, op.proc),
    });
  } finally {
    await op.proc.stop();
  }
}

/** Scenario 6: the refresh grant and introspection (a stored-token lookup) on a small and a large database. */
export async function growthScenarios(c: BenchContext, small: SeedSpec): Promise<void> {
  if (!wanted(c, 6)) return;
  const large: SeedSpec = { ...small, backgroundTokens: c.opts.largeTokens, clients: c.opts.largeClients, codes: 1, sampleSize: 10_000 };
  const sizes: [string, SeedSpec][] = [
    [`${small.backgroundTokens.toLocaleString('en-US')} tokens, ${small.clients.toLocaleString('en-US')} clients`, { ...small, codes: 1 }],
    [`${large.backgroundTokens.toLocaleString('en-US')} tokens, ${large.clients.toLocaleString('en-US')} clients`, large],
  ];
  for (const [i, [label, spec]] of sizes.entries()) {
    const as = await startAuthServer(c, `auth-growth-${i}`, spec);
    try {
      const tag = i === 0 ? 'small' : 'large';
      record(c, { key: `6-refresh-${tag}`, scenario: `refresh_token grant, ${label}`, result: await measure(refreshChains(`${as.url}/token`, as.seeded.chainSets[0]!, c.resource), c.load, as.proc) });
      record(c, { key: `6-verify-${tag}`, scenario: `introspection of stored refresh tokens, ${label}`, result: await measure(introspections(`${as.url}/introspect`, as.seeded.sample, as.seeded.confidentialSecret), c.load, as.proc) });
    } finally {
      await as.proc.stop();
    }
  }
}

import { and, isNotNull, lt, sql } from 'drizzle-orm';
import { availabilityGuard, guarded, openAuthPg, pgAuthSchema, type AvailabilityLog, type PgOptions } from '@stack/db/pg';
import { pgFederatedIdentities } from './federated.ts';
import type { AuthStore } from '../types.ts';
import { pgConsents, pgSessions, pgUsers } from './accounts.ts';
import { pgClients, pgPending, pgSigningKeys } from './clients.ts';
import { pgCodes, pgTokens } from './grants.ts';
import { pgAuditAnchors } from './audit-anchors.ts';
import { pgMfa } from './mfa.ts';
import { pgPasswordResets } from './password-resets.ts';

const { refreshTokens, authorizationCodes, issuedAccessTokens, revokedAccessTokens, sessions, pendingAuthorizations, webauthnChallenges } = pgAuthSchema;

export interface PgStoreOptions extends PgOptions {
  log: AvailabilityLog;
  /** At most one "database unavailable" log line per this many ms. */
  logIntervalMs: number;
}

/**
 * The shared store for several instances: PostgreSQL through a node-postgres pool. Atomic steps are
 * single transactions built on conditional updates and row locks, never read-then-write, so they
 * hold across processes (READ COMMITTED is enough for each of them).
 */
export async function openPgStore(o: PgStoreOptions): Promise<AuthStore> {
  const db = await openAuthPg(o);
  const run = availabilityGuard(o.log, o.logIntervalMs);
  return {
    engine: 'postgres',
    users: guarded(pgUsers(db), run),
    clients: guarded(pgClients(db), run),
    signingKeys: guarded(pgSigningKeys(db), run),
    sessions: guarded(pgSessions(db), run),
    pending: guarded(pgPending(db), run),
    codes: guarded(pgCodes(db), run),
    tokens: guarded(pgTokens(db), run),
    consents: guarded(pgConsents(db), run),
    mfa: guarded(pgMfa(db), run),
    federatedIdentities: guarded(pgFederatedIdentities(db), run),
    passwordResets: guarded(pgPasswordResets(db), run),
    auditAnchors: guarded(pgAuditAnchors(db), run),
    sweep: (c) => run(() => db.transaction(async (tx) => {
      await tx.update(refreshTokens).set({ successorSealed: null })
        .where(and(isNotNull(refreshTokens.successorSealed), lt(refreshTokens.rotatedAt, c.sealedBefore)));
      await tx.delete(refreshTokens).where(lt(refreshTokens.expiresAt, c.now));
      await tx.delete(authorizationCodes).where(lt(authorizationCodes.expiresAt, c.codesBefore));
      await tx.delete(issuedAccessTokens).where(lt(issuedAccessTokens.expiresAt, c.now));
      await tx.delete(revokedAccessTokens).where(lt(revokedAccessTokens.expiresAt, c.revokedBefore));
      await tx.delete(sessions).where(lt(sessions.expiresAt, c.now));
      await tx.delete(pendingAuthorizations).where(lt(pendingAuthorizations.expiresAt, c.now));
      await tx.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, c.now));
    })),
    ping: () => run(async () => {
      await db.execute(sql`select 1`);
    }),
    close: () => db.$client.end(),
  };
}

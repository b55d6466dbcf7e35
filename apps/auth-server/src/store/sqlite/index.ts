import { and, isNotNull, lt, sql } from 'drizzle-orm';
import { authSchema, openAuthDb, sqliteAuditAnchors } from '@stack/db';
import { sqliteFederatedIdentities } from './federated.ts';
import type { AuthStore } from '../types.ts';
import { sqliteConsents, sqliteSessions, sqliteUsers } from './accounts.ts';
import { sqliteClients, sqlitePending, sqliteSigningKeys } from './clients.ts';
import { sqliteCodes, sqliteTokens } from './grants.ts';
import { hotStatements } from './hot-statements.ts';
import { sqliteMfa } from './mfa.ts';
import { sqlitePasswordResets } from './password-resets.ts';

const { refreshTokens, authorizationCodes, issuedAccessTokens, revokedAccessTokens, sessions, pendingAuthorizations, webauthnChallenges } = authSchema;

/**
 * The embedded store: one SQLite file (WAL) through better-sqlite3. Its calls are synchronous and
 * each transaction runs to completion without yielding, so atomic steps need no row locks; the
 * conditional updates still make them safe for the admin CLI writing to the same file.
 */
export function openSqliteStore(path: string): AuthStore {
  const db = openAuthDb(path);
  const hot = hotStatements(db);
  return {
    engine: 'sqlite',
    users: sqliteUsers(db, hot),
    clients: sqliteClients(db, hot),
    signingKeys: sqliteSigningKeys(db),
    sessions: sqliteSessions(db),
    pending: sqlitePending(db),
    codes: sqliteCodes(db, hot),
    tokens: sqliteTokens(db, hot),
    consents: sqliteConsents(db),
    mfa: sqliteMfa(db),
    federatedIdentities: sqliteFederatedIdentities(db),
    passwordResets: sqlitePasswordResets(db),
    auditAnchors: sqliteAuditAnchors(db),
    async sweep(c) {
      db.transaction((tx) => {
        tx.update(refreshTokens).set({ successorSealed: null })
          .where(and(isNotNull(refreshTokens.successorSealed), lt(refreshTokens.rotatedAt, c.sealedBefore))).run();
        tx.delete(refreshTokens).where(lt(refreshTokens.expiresAt, c.now)).run();
        tx.delete(authorizationCodes).where(lt(authorizationCodes.expiresAt, c.codesBefore)).run();
        tx.delete(issuedAccessTokens).where(lt(issuedAccessTokens.expiresAt, c.now)).run();
        tx.delete(revokedAccessTokens).where(lt(revokedAccessTokens.expiresAt, c.revokedBefore)).run();
        tx.delete(sessions).where(lt(sessions.expiresAt, c.now)).run();
        tx.delete(pendingAuthorizations).where(lt(pendingAuthorizations.expiresAt, c.now)).run();
        tx.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, c.now)).run();
      });
    },
    async ping() {
      db.get(sql`select 1`);
    },
    async close() {
      db.$client.close();
    },
  };
}

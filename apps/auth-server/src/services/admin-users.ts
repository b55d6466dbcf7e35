import type { AppContext } from '../context.ts';
import { ADMIN_PAGE_SIZE } from './admin-console.ts';
import { hasSecondFactor } from './second-factor.ts';
import type { UserSummary } from './user-admin.ts';

/** A user as the admin console lists them. */
export interface AdminUserRow extends UserSummary {
  /** A confirmed TOTP authenticator or a passkey (recovery codes alone are no second factor). */
  secondFactor: boolean;
}

/** One page (1-based) of users, oldest first, and whether another page follows. */
export async function adminUsersPage(ctx: AppContext, page: number): Promise<{ users: AdminUserRow[]; more: boolean }> {
  // One row beyond the page tells whether there is a next one.
  const rows = await ctx.store.users.listPage(ADMIN_PAGE_SIZE + 1, (page - 1) * ADMIN_PAGE_SIZE);
  const users = await Promise.all(rows.slice(0, ADMIN_PAGE_SIZE).map(async (u) => {
    const [totp, passkeys] = await Promise.all([ctx.store.mfa.totp(u.id), ctx.store.mfa.passkeys(u.id)]);
    return { ...u, secondFactor: hasSecondFactor({ totp: totp?.confirmedAt != null, passkeys, recoveryCodes: 0 }) };
  }));
  return { users, more: rows.length > ADMIN_PAGE_SIZE };
}

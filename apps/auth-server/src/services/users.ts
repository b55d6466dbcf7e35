import { count } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';

/** Number of users (used at start to tell the operator to create the first admin). */
export function countUsers(db: AuthDb): number {
  return db.select({ n: count() }).from(authSchema.users).get()?.n ?? 0;
}

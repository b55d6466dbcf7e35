import type { AuthDb } from '@stack/db';

/** The database or a transaction on it; data-access functions take either so callers choose the atomic unit. */
export type AuthWriter = Pick<AuthDb, 'select' | 'selectDistinct' | 'insert' | 'update' | 'delete'>;

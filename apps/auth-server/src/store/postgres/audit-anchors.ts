import { pgAuditAnchors as pgAnchors, pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import type { AuditAnchorStore } from '@stack/audit';

export const pgAuditAnchors = (db: PgAuthDb): AuditAnchorStore => pgAnchors(db, pgAuthSchema.auditAnchors);

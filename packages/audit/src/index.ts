// The audit log: keyed hash chain (chain.ts), writer with anchors and rotation (audit-log.ts),
// verification (verify.ts), value cleaning (clean.ts), failure aggregation (failure-aggregator.ts).
export { escapeControl, cleanEvent, MAX_VALUE_CHARS, type AuditEvent } from './clean.ts';
export { deriveAuditKeys, GENESIS, type AuditKey } from './chain.ts';
export { memoryAnchorStore, type AuditAnchor, type AuditAnchorStore } from './anchors.ts';
export { AuditChainError, AuditLog, type AuditLogOptions, type AuditSink, type BrokenChainPolicy } from './audit-log.ts';
export { findAuditSets, verifyAuditPath, verifyAuditSet, type AuditFileSet, type AuditProblem, type AuditProblemKind, type AuditSetReport, type VerifyOptions } from './verify.ts';
export { FailureAggregator, type FailureAggregatorOptions } from './failure-aggregator.ts';
export { withTraceId } from './trace-id.ts';
export { linesBackwards } from './file-lines.ts';

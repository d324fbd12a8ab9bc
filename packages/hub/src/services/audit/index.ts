export { AuditLog, type AuditLogOptions, type AuditPageOptions, type AuditQueryPage, type AuditExportOptions, type AuditPruneOptions, type AuditPruneResult } from './audit-log.ts';
export type { AuditQueryFilter, AuditTime } from './audit-query.ts';
export type { AuditOrder } from './audit-cursor.ts';

export { createHub, type Hub, type HubDependencies } from './hub.ts';
export { openHub, type OpenHubOptions, type OpenedHub } from './open-hub.ts';
export { openDatabase, bundledMigrations } from './store/database.ts';
export { HubStore } from './store/hub-store.ts';
export type { AuditSink, AuditInput } from './services/audit-sink.ts';

// The hub's side of the air-gap exchange (docs/air-gap.md): the service behind
// `flotilla offline …`, its routes and store, and the file writers and readers it uses.
export { exportTransferFile, type ExportedTransfer } from './export-transfer.ts';
export { ociLayoutImages } from './oci-layout-images.ts';
export {
  importReportsFile,
  writeReceiptFile,
  type ImportedReports,
  type ImportReportsOptions,
} from './import-reports.ts';
export { OfflineService, type OfflineServiceDeps, type ReportsImport } from './offline-service.ts';
export { OfflineStore } from './offline-store.ts';
export { offlineRoutes } from './offline-routes.ts';

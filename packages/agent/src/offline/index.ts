// The agent's side of the air-gap exchange: importing transfer files into a directory only
// once they verified, OCI image layouts, pushing images into a site registry, exporting the
// reports file and settling receipts; the offline site that runs a file through the sync pass,
// the inbox the running agent watches and the outbox it writes reports files into.
export {
  importedImages,
  importTransferFile,
  readImportedDocuments,
  removeStaleStaging,
  verifyImportedTransfer,
  type ImportedTransfer,
  type ImportTransferOptions,
} from './import-transfer.ts';
export { blobPath, OciLayoutWriter, readOciLayout, verifyOciLayout, type OciLayout } from './oci-layout.ts';
export {
  parseChallenge,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryManifest,
} from './registry-client.ts';
export {
  credentialsFromDockerConfig,
  credentialsFromSecret,
  DockerConfig,
  loadRegistryCredentials,
  type RegistryCredentials,
} from './registry-credentials.ts';
export { pushOciImages, siteDestination, type ImageDestination, type PushedImage } from './push-images.ts';
export { exportReportsFile, type ExportedReports, type ExportReportsOptions } from './export-reports.ts';
export { importReceiptFile, readReceiptFile } from './import-receipt.ts';
export { OfflineSite, type OfflineSiteOptions, type SiteRegistry, type TransferImport } from './offline-site.ts';
export { OfflineInbox, type OfflineInboxOptions } from './offline-inbox.ts';
export { ReportsOutbox, type ReportsOutboxOptions } from './reports-outbox.ts';

// The hub's side of the air-gap exchange: writing transfer files, reading OCI layouts for
// them, importing reports files and answering receipts. Not wired into the hub's routes or
// CLI yet; the offline feature's service will be built from these.
export { exportTransferFile, type ExportedTransfer } from './export-transfer.ts';
export { ociLayoutImages } from './oci-layout-images.ts';
export {
  importReportsFile,
  writeReceiptFile,
  type ImportedReports,
  type ImportReportsOptions,
} from './import-reports.ts';

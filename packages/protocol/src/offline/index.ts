/**
 * `@flotilla/protocol/offline`: the air-gap exchange's pure parts. The transfer file (a
 * signed manifest, then trust roots, envelopes, releases and an OCI image layout, in a POSIX
 * tar stream) with its writer and its strict reader; the reports file (the agent's signed
 * reports chained by hash) with its reader and the hub's ingest plan; the hub-signed receipt;
 * and the OCI documents. No I/O: everything reads and writes async streams of bytes.
 */
export {
  TRANSFER_MANIFEST_MAX_BYTES,
  TRANSFER_MANIFEST_PATH,
  TRANSFER_MAX_ENTRIES,
  SignedTransferManifest,
  TransferEntry,
  TransferEntryKind,
  TransferManifest,
  TransferTarget,
  checkTransferLayout,
  transferEntryPath,
} from './transfer-manifest.ts';
export { signTransferManifest, verifyTransferManifest } from './manifest-signature.ts';
export {
  planTransfer,
  planTransferManifest,
  writeSignedTransfer,
  writeTransfer,
  type BlobSource,
  type TransferContents,
  type TransferImages,
} from './write-transfer.ts';
export { readTransfer, type ReadTransferOptions, type TransferItem } from './read-transfer.ts';
export { verifiedBlob, type BlobClaim } from './verified-blob.ts';
export {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_TAR,
  OCI_LAYER_TAR_GZIP,
  OCI_LAYOUT_VERSION,
  OCI_MANIFEST,
  OCI_MANIFEST_MAX_BYTES,
  OCI_REF_NAME,
  OciDescriptor,
  OciImageIndex,
  OciImageManifest,
  OciLayoutFile,
  isIndexMediaType,
  isManifestMediaType,
} from './oci.ts';
export {
  parseTransferDocuments,
  verifyTransferDocuments,
  type SiteState,
  type TransferDocuments,
  type VerifiedTransfer,
} from './verify-transfer-documents.ts';
export { ChainPoint, linkReport, REPORT_CHAIN_GENESIS } from '../report-chain.ts';
export {
  REPORTS_FILE_MAX_LINE_BYTES,
  ReportLink,
  ReportsFileHeader,
  ReportsFileSeal,
  ReportsFileSealBody,
  ReportsFileWriter,
} from './reports-file.ts';
export {
  KEY_RETIREMENT_SKEW_MS,
  readReportsFile,
  summarizeReportsFile,
  type AgentKey,
  type ReadReportsFileOptions,
  type ReportsFileEntry,
  type ReportsFileItem,
  type ReportsFileSummary,
} from './read-reports-file.ts';
export { planReportsIngest, type ReportHistory, type ReportsIngestPlan } from './plan-reports-ingest.ts';
export {
  OfflineReceipt,
  SignedOfflineReceipt,
  settleReceipt,
  signReceipt,
  verifyReceipt,
  type ReceiptSettlement,
} from './receipt.ts';
export { inSeqRanges, SeqRange, SeqRanges, toSeqRanges, unionSeqRanges } from './seq-ranges.ts';
export { walkOciIndex, type OciNode } from './walk-oci-index.ts';

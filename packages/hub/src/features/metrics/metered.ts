import { performance } from 'node:perf_hooks';
import { FlotillaError, type SignedReport } from '@flotilla/protocol';
import type { ReportReceipt } from '@flotilla/protocol/api';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { AuditMetrics, ReportMetrics, StoreMetrics } from './hub-metrics.ts';

/**
 * Transactions that time each outermost one; a nested `run` is a savepoint inside a
 * transaction already being timed, so it is not counted twice.
 */
export function meteredTransactions(tx: Transactions, metrics: StoreMetrics): Transactions {
  return {
    run(work) {
      if (tx.open) return tx.run(work);
      const start = performance.now();
      try {
        return tx.run(work);
      } finally {
        metrics.transactionDone((performance.now() - start) / 1000);
      }
    },
    // A grouped piece commits with others inside the store's own transaction, below this
    // wrapper; it is timed as its caller waits for it, queueing for the group included.
    group(work) {
      const start = performance.now();
      const done = () => metrics.transactionDone((performance.now() - start) / 1000);
      return tx.group(work).finally(done);
    },
    get open() {
      return tx.open;
    },
  };
}

interface ReportAccepter {
  accept(targetId: string, signed: SignedReport, via?: 'online' | 'file'): ReportReceipt;
}

/** Counts the reports a service accepts, and those it refuses by their error code. */
export function meterReports<S extends ReportAccepter>(service: S, metrics: ReportMetrics): S {
  const accept = service.accept.bind(service);
  return Object.assign(service, {
    // `via` passes through: a report from a reports file must not count as contact.
    accept: (targetId: string, signed: SignedReport, via?: 'online' | 'file') => {
      try {
        const receipt = accept(targetId, signed, via);
        metrics.reportAccepted();
        return receipt;
      } catch (error) {
        metrics.reportRefused(error instanceof FlotillaError ? error.code : 'INTERNAL');
        throw error;
      }
    },
  });
}

/** Counts the entries an audit log appends. */
export function meterAudit(audit: AuditLog, metrics: AuditMetrics): AuditLog {
  const appendMany = audit.appendMany.bind(audit);
  // append goes through appendMany, so counting there counts both.
  return Object.assign(audit, {
    appendMany: (inputs: Parameters<AuditLog['appendMany']>[0]) => {
      const entries = appendMany(inputs);
      metrics.auditAppended(entries.length);
      return entries;
    },
  });
}

// One hub replica's audit log, as its own process, for the test of replicas appending at the
// same time: connects to the PostgreSQL database named on the command line, says "ready", and
// on "go" appends the given number of entries, each in its own transaction, as fast as it can.
import { createInterface } from 'node:readline';
import { generateKeyPair } from '@flotilla/protocol';
import { AuditLog } from '../../../src/features/audit/audit-log.ts';
import { PostgresDatabase } from '../../../src/store/postgres/postgres-database.ts';

const [url, replica, count] = process.argv.slice(2) as [string, string, string];
const db = PostgresDatabase.connect(url, replica);
const audit = new AuditLog({ db, clock: () => Date.now(), signer: generateKeyPair() });
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'go') continue;
  for (let i = 0; i < Number(count); i++)
    audit.append({ actor: { kind: 'system', id: replica }, action: 'test.append', details: { i } });
  db.close();
  process.stdout.write('done\n');
  process.exit(0);
}

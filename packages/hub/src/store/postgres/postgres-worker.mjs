// The PostgreSQL connections of the hub's synchronous store (postgres-database.ts): the hub's
// services call the store synchronously, as they call SQLite, and this worker runs each call
// on node-postgres while the calling thread waits (synckit). Plain JavaScript, so that the
// worker starts the same from src/ under the tests and from dist/ in production.
import pg from 'pg';
import { runAsWorker } from 'synckit';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Integers as numbers, as SQLite answers them; a value past 2^53 would lose digits, so it fails. */
function parseInteger(text) {
  const value = BigInt(text);
  if (value > MAX_SAFE || value < -MAX_SAFE) throw new RangeError(`integer ${text} does not fit a JavaScript number`);
  return Number(value);
}

const types = {
  getTypeParser(oid, format) {
    // int8 (count(*), bigint columns) and numeric (sum of integers) read as numbers.
    if (oid === 20) return parseInteger;
    if (oid === 1700) return (text) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
};

const connections = new Map();
let nextId = 1;

function failure(error) {
  return {
    ok: false,
    error: {
      message: error?.message ?? String(error),
      code: typeof error?.code === 'string' ? error.code : 'PG_CLIENT',
      detail: error?.detail,
      constraint: error?.constraint,
    },
  };
}

function connection(id) {
  const found = connections.get(id);
  if (found === undefined) throw Object.assign(new Error('the store connection is closed'), { code: '08003' });
  if (found.broken !== undefined) throw found.broken;
  return found;
}

async function open(url, applicationName) {
  const client = new pg.Client({ connectionString: url, types, application_name: applicationName });
  const id = nextId++;
  const entry = { client, broken: undefined };
  // A connection that dies between calls fails the next call with its own error, never the worker.
  client.on('error', (error) => {
    entry.broken = error;
  });
  await client.connect();
  connections.set(id, entry);
  return id;
}

async function query(id, text, values, name, arrays) {
  const { client } = connection(id);
  const result = await client.query({
    text,
    values,
    ...(name === undefined ? {} : { name }),
    ...(arrays ? { rowMode: 'array' } : {}),
  });
  // A multi-statement text answers one result per statement: the last one is what was asked.
  const last = Array.isArray(result) ? result.at(-1) : result;
  return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
}

async function close(id) {
  const entry = connections.get(id);
  connections.delete(id);
  if (entry !== undefined) await entry.client.end().catch(() => undefined);
  return null;
}

runAsWorker(async (op, ...args) => {
  try {
    switch (op) {
      case 'open':
        return { ok: true, value: await open(args[0], args[1]) };
      case 'query':
        return { ok: true, value: await query(args[0], args[1], args[2], args[3], args[4]) };
      case 'close':
        return { ok: true, value: await close(args[0]) };
      default:
        return failure(new Error(`unknown store operation ${String(op)}`));
    }
  } catch (error) {
    return failure(error);
  }
});

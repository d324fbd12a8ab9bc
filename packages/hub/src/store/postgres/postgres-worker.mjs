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

/** How long a connection attempt may take before it fails as the store being unavailable. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * After a failed attempt to connect again, statements fail at once with its error for this
 * long: the hub's thread waits on each attempt, so a server that does not answer is tried
 * about once a second (by the store's probe), not by every request.
 */
const RECONNECT_BACKOFF_MS = 1_000;

// SQLSTATE classes and socket errors that mean the connection itself is gone (a server that
// shut down or restarted, a terminated backend, a network failure): the connection cannot be
// used again and is replaced before the next statement outside a transaction.
const CONNECTION_LOST =
  /^(08|57P0[1-3])|^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/;

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

/** node-postgres reports a dropped socket without a code; it is a connection failure (SQLSTATE 08006). */
function asConnectionFailure(error) {
  if (typeof error?.code === 'string') return error;
  return Object.assign(error instanceof Error ? error : new Error(String(error)), { code: '08006' });
}

function entryOf(id) {
  const found = connections.get(id);
  if (found === undefined) throw Object.assign(new Error('the store connection is closed'), { code: '08003' });
  return found;
}

async function connect(entry) {
  const { lockTimeoutMs, statementTimeoutMs, idleInTransactionMs } = entry.limits;
  const client = new pg.Client({
    connectionString: entry.url,
    types,
    application_name: entry.applicationName,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // The hub's thread waits on every statement: nothing may wait without bound. A lock another
    // replica holds, a statement that runs away and a server that stops answering each end in
    // an error the hub reports as the store being unavailable; a replica that stops with a
    // transaction open (paused, partitioned) loses it, and with it the write lock.
    lock_timeout: lockTimeoutMs,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 5_000,
    idle_in_transaction_session_timeout: idleInTransactionMs,
    keepAlive: true,
  });
  // A connection that dies between calls fails the next call with its own error, never the worker.
  client.on('error', (error) => {
    if (entry.client === client) entry.broken = asConnectionFailure(error);
  });
  try {
    await client.connect();
  } catch (error) {
    client.end().catch(() => undefined);
    throw asConnectionFailure(error);
  }
  entry.client = client;
  entry.broken = undefined;
}

async function open(url, applicationName, limits) {
  const entry = { url, applicationName, limits, client: undefined, broken: undefined, retryAt: 0 };
  await connect(entry);
  const id = nextId++;
  connections.set(id, entry);
  return id;
}

/**
 * Runs one statement. A connection found broken is replaced first when `fresh` (the caller
 * has no transaction open, so nothing is lost with the old session); inside a transaction the
 * statement fails instead, and so does the transaction, as it must.
 */
async function query(id, text, values, name, arrays, fresh) {
  const entry = entryOf(id);
  if (entry.broken !== undefined) {
    if (!fresh || Date.now() < entry.retryAt) throw entry.broken;
    entry.client?.end().catch(() => undefined);
    try {
      await connect(entry);
    } catch (error) {
      entry.broken = error;
      entry.retryAt = Date.now() + RECONNECT_BACKOFF_MS;
      throw error;
    }
  }
  try {
    const result = await entry.client.query({
      text,
      values,
      ...(name === undefined ? {} : { name }),
      ...(arrays ? { rowMode: 'array' } : {}),
    });
    // A multi-statement text answers one result per statement: the last one is what was asked.
    const last = Array.isArray(result) ? result.at(-1) : result;
    return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0, command: last?.command ?? '' };
  } catch (error) {
    // node-postgres says a socket dropped mid-query without a code (or through the 'error' event).
    const dropped =
      typeof error?.code !== 'string' &&
      (entry.broken !== undefined || /^Connection terminated|not queryable/.test(error?.message ?? ''));
    const failed = dropped ? asConnectionFailure(error) : error;
    if (typeof failed?.code === 'string' && CONNECTION_LOST.test(failed.code)) entry.broken = failed;
    throw failed;
  }
}

async function close(id) {
  const entry = connections.get(id);
  connections.delete(id);
  if (entry?.client !== undefined) await entry.client.end().catch(() => undefined);
  return null;
}

runAsWorker(async (op, ...args) => {
  try {
    switch (op) {
      case 'open':
        return { ok: true, value: await open(args[0], args[1], args[2]) };
      case 'query':
        return { ok: true, value: await query(args[0], args[1], args[2], args[3], args[4], args[5]) };
      case 'close':
        return { ok: true, value: await close(args[0]) };
      default:
        return failure(new Error(`unknown store operation ${String(op)}`));
    }
  } catch (error) {
    return failure(error);
  }
});

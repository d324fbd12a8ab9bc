import { open } from 'node:fs/promises';
import { FlotillaError, parseJson, type TrustRoot } from '@flotilla/protocol';
import {
  SignedOfflineReceipt,
  settleReceipt,
  verifyReceipt,
  type OfflineReceipt,
  type ReceiptSettlement,
} from '@flotilla/protocol/offline';

/** A receipt lists ranges; even a large one is far below this. */
const RECEIPT_MAX_BYTES = 8 * 1024 * 1024;

/** Reads a receipt file as the hub wrote it; anything else is RECEIPT_INVALID. */
export async function readReceiptFile(path: string): Promise<SignedOfflineReceipt> {
  const handle = await open(path, 'r');
  let text: string;
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > RECEIPT_MAX_BYTES)
      throw new FlotillaError(
        'RECEIPT_INVALID',
        `receipt file ${path} is not a regular file of at most ${RECEIPT_MAX_BYTES} bytes`,
        { file: path },
      );
    text = (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
  let value: unknown;
  try {
    value = parseJson(text, `receipt file ${path}`);
  } catch {
    throw new FlotillaError('RECEIPT_INVALID', `receipt file ${path} is not JSON`, { file: path });
  }
  const parsed = SignedOfflineReceipt.safeParse(value);
  if (!parsed.success)
    throw new FlotillaError(
      'RECEIPT_INVALID',
      `receipt file ${path} is not a signed receipt: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trimEnd(),
      { file: path },
    );
  return parsed.data;
}

/**
 * Reads, verifies (hub signature, this target) and settles a receipt file against the agent's
 * own chain (`linkAt`: the link of a report the agent still holds): what the agent may prune.
 */
export async function importReceiptFile(
  path: string,
  site: { readonly trustRoot: TrustRoot; readonly targetId: string },
  linkAt: (seq: number) => string | undefined,
): Promise<{ readonly receipt: OfflineReceipt; readonly settlement: ReceiptSettlement }> {
  const receipt = verifyReceipt(await readReceiptFile(path), site);
  return { receipt, settlement: settleReceipt(receipt, linkAt) };
}

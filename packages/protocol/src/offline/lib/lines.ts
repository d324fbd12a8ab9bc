import { FlotillaError, type ErrorCode } from '../../errors.ts';

export interface Line {
  /** 1 for the first line. */
  readonly number: number;
  readonly text: string;
}

/**
 * Splits a byte stream into `\n`-terminated UTF-8 lines without holding more than one line.
 * A line longer than `maxBytes`, bytes that are not UTF-8, or a last line without its `\n`
 * (a file cut short) are refused with `code`.
 */
export async function* readLines(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number,
  code: ErrorCode,
): AsyncGenerator<Line> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  let number = 0;
  const decode = (parts: Uint8Array[]): string => {
    try {
      return decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    } catch {
      throw new FlotillaError(code, `line ${number} is not UTF-8`, { line: number });
    }
  };
  for await (const chunk of source) {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      pendingLength += end - start;
      if (pendingLength > maxBytes)
        throw new FlotillaError(code, `line ${number + 1} is longer than ${maxBytes} bytes`, { line: number + 1 });
      if (end > start) pending.push(chunk.subarray(start, end));
      if (newline === -1) break;
      number++;
      const text = decode(pending);
      pending = [];
      pendingLength = 0;
      yield { number, text };
      start = newline + 1;
    }
    // The unfinished line's part from this chunk is copied: a producer may reuse its buffer.
    const last = pending.at(-1);
    if (last !== undefined && last.buffer === chunk.buffer) pending[pending.length - 1] = Uint8Array.from(last);
  }
  if (pendingLength > 0)
    throw new FlotillaError(code, `the last line (${number + 1}) has no line end: the file was cut short`, {
      line: number + 1,
    });
}

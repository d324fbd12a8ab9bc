const EMPTY = new Uint8Array(0);

/**
 * Reads an async stream of byte chunks by exact counts. It pulls a chunk only when the bytes
 * it holds do not cover the request, so a reader that stops at a declared length never pulls
 * what lies beyond the chunk holding that length; and it hands out views into the chunks it
 * received instead of copies, except where a request spans chunks.
 */
export class ByteSource {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = EMPTY;
  private done = false;
  /** Bytes handed out so far: the position in the stream. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** True when the stream has no byte left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /**
   * Exactly `length` bytes, or fewer only when the stream ends first. The result may be a
   * view into a chunk of the source, which a source may reuse: use it before the next read.
   */
  async read(length: number): Promise<Uint8Array> {
    if (!(await this.fill())) return EMPTY;
    if (this.chunk.length >= length) return this.take(length);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length && (await this.fill())) {
      const part = this.take(Math.min(length - filled, this.chunk.length));
      out.set(part, filled);
      filled += part.length;
    }
    return filled === length ? out : out.subarray(0, filled);
  }

  /**
   * Between 1 and `max` bytes, as much as the chunk at hand holds (pulling one if none is),
   * as a view; empty only at the end of the stream.
   */
  async readSome(max: number): Promise<Uint8Array> {
    if (!(await this.fill())) return EMPTY;
    return this.take(Math.min(max, this.chunk.length));
  }

  /** Ends the source early (closes a file it reads, for example). */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.chunk = EMPTY;
    await this.iterator.return?.();
  }

  private take(length: number): Uint8Array {
    const part = this.chunk.subarray(0, length);
    this.chunk = this.chunk.subarray(length);
    this.position += length;
    return part;
  }

  private async fill(): Promise<boolean> {
    while (this.chunk.length === 0) {
      if (this.done) return false;
      const next = await this.iterator.next();
      if (next.done === true) {
        this.done = true;
        return false;
      }
      if (!(next.value instanceof Uint8Array))
        throw new TypeError(`a byte stream must yield Uint8Array chunks, received ${typeof next.value}`);
      this.chunk = next.value;
    }
    return true;
  }
}

/**
 * Runs one sync pass at a time. The pull loop and the offline inbox both apply envelopes and
 * write the sync state; taking turns keeps each pass's read of the applied generation and its
 * write of the next one together, so mixing online envelopes and transfer files can never
 * lower the generation or apply one twice.
 */
export class PassLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.tail.then(work);
    this.tail = turn.catch(() => undefined);
    return turn;
  }
}

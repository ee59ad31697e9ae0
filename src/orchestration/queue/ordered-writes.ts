/** Writes (checkpoints, events) in the order they were made, one at a time. */
export class OrderedWrites {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  /** A write whose failure is reported at the next flush. */
  push(write: () => Promise<unknown>): Promise<void> {
    this.tail = this.tail.then(async () => {
      try {
        await write();
      } catch (error) {
        this.failure ??= error;
      }
    });
    return this.tail;
  }

  /** A write whose failure rejects the returned promise (the caller handles it). */
  pushChecked(write: () => Promise<unknown>): Promise<void> {
    const result = this.tail.then(write).then(() => undefined);
    this.tail = result.catch(() => undefined);
    return result;
  }

  async flush(): Promise<void> {
    await this.tail;
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
  }
}

/**
 * Tells the running chunks of a batch when the batch must stop (cancel, expiry): one status read per
 * batch every `everyMs` in this process, however many of its chunks run here, instead of one per chunk.
 */
export class BatchStopWatch {
  private readonly watched = new Map<string, { listeners: Set<() => void>; timer: NodeJS.Timeout }>();

  constructor(
    private readonly isRunning: (batchId: string) => Promise<boolean>,
    private readonly everyMs: number,
  ) {}

  /** Calls `onStop` once when the batch stops running; the returned function stops watching. */
  watch(batchId: string, onStop: () => void): () => void {
    let entry = this.watched.get(batchId);
    if (!entry) {
      const listeners = new Set<() => void>();
      const timer = setInterval(() => this.check(batchId, listeners), this.everyMs);
      entry = { listeners, timer };
      this.watched.set(batchId, entry);
    }
    const { listeners } = entry;
    listeners.add(onStop);
    return () => {
      listeners.delete(onStop);
      if (listeners.size === 0) this.forget(batchId, listeners);
    };
  }

  private check(batchId: string, listeners: Set<() => void>): void {
    this.isRunning(batchId).then(
      (running) => {
        if (running || this.watched.get(batchId)?.listeners !== listeners) return;
        this.forget(batchId, listeners);
        for (const onStop of listeners) onStop();
      },
      () => undefined, // a failed read is tried again at the next tick
    );
  }

  private forget(batchId: string, listeners: Set<() => void>): void {
    const entry = this.watched.get(batchId);
    if (entry?.listeners !== listeners) return;
    clearInterval(entry.timer);
    this.watched.delete(batchId);
  }
}

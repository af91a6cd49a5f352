/**
 * A counting semaphore: at most `limit` holders at once, waiters served in order before anyone who
 * only tries. `onFree` hears of every slot that frees up with no waiter to take it, so a dispatcher can
 * start new work exactly when there is room (retries waiting for a slot go first).
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  private freed: () => void = () => undefined;

  constructor(private limit: number) {}

  get inUse(): number {
    return this.active;
  }

  /** Free slots nobody waits for. */
  get available(): number {
    return this.waiters.length > 0 ? 0 : Math.max(0, this.limit - this.active);
  }

  setLimit(limit: number): void {
    const grew = limit > this.limit;
    this.limit = limit;
    this.wake();
    if (grew && this.available > 0) this.freed();
  }

  onFree(listener: () => void): void {
    this.freed = listener;
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit || this.waiters.length > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.active += 1;
    return this.releaser();
  }

  /** A slot now, or null when none is free (or someone waits for one). */
  tryAcquire(): (() => void) | null {
    if (this.available === 0) return null;
    this.active += 1;
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.wake();
      if (this.available > 0) this.freed();
    };
  }

  private wake(): void {
    while (this.active < this.limit && this.waiters.length > 0) {
      this.active += 1;
      this.waiters.shift()!();
    }
  }
}

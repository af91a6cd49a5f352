import { setTimeout as sleep } from 'node:timers/promises';

/** A token bucket: `perMinute` requests a minute on average, bursts of up to one second's worth. */
export class TokenBucket {
  private tokens: number;
  private updated = performance.now();

  constructor(private perMinute: number) {
    this.tokens = this.capacity();
  }

  setRate(perMinute: number): void {
    this.refill();
    this.perMinute = perMinute;
    this.tokens = Math.min(this.tokens, this.capacity());
  }

  /** Waits until a request may go; resolves at once when a token is there. */
  async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil((1 - this.tokens) / this.perMs()), undefined, { signal });
    }
  }

  /** Takes a token if one is there; otherwise says how many ms until one will be. */
  tryTake(): { taken: true } | { taken: false; waitMs: number } {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { taken: true };
    }
    return { taken: false, waitMs: Math.ceil((1 - this.tokens) / this.perMs()) };
  }

  private perMs(): number {
    return this.perMinute / 60_000;
  }

  private capacity(): number {
    return Math.max(1, this.perMinute / 60);
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.capacity(), this.tokens + (now - this.updated) * this.perMs());
    this.updated = now;
  }
}

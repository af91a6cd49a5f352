import { Injectable } from '@nestjs/common';

/** The time source; tests replace it to drive expiry and backoff without waiting. */
@Injectable()
export class Clock {
  nowMs(): number {
    return Date.now();
  }

  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

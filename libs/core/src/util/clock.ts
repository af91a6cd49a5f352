import { Injectable } from '@nestjs/common';

/**
 * The application's time: everything that stamps, expires or schedules by the calendar reads it here, so
 * tests move it instead of rewriting rows (the medium tests swap in a settable clock; the end-to-end tests
 * create batches with it set back, so their completion window has passed). Timers and backoff waits use
 * real time.
 */
@Injectable()
export class Clock {
  nowMs(): number {
    return Date.now();
  }

  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

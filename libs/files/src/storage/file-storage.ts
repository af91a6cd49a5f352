import type { Readable } from 'node:stream';

/**
 * Where file bytes live. The first implementation is the local disk under DATA_DIR (or a shared
 * directory for several processes); an object store would implement the same four calls.
 */
export abstract class FileStorage {
  /** Streams `source` into `key`; the object appears whole or not at all. Resolves with the byte count. */
  abstract write(key: string, source: Readable): Promise<number>;
  /** Reads `key`, optionally the inclusive byte range [start, end]. */
  abstract read(key: string, range?: { start: number; end: number }): Readable;
  /** Reads `length` bytes at `offset` (one request line). */
  abstract readAt(key: string, offset: number, length: number): Promise<Buffer>;
  abstract exists(key: string): Promise<boolean>;
  abstract remove(key: string): Promise<void>;
  /** Throws when nothing can be written (readiness). */
  abstract checkWritable(): Promise<void>;
}

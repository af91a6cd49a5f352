/** Messages between `TokenCounter` and its worker thread. A job is a run of chunks, then one message without a chunk (the end). */
export interface CountRequest {
  id: number;
  chunk?: Uint8Array;
}

export type CountReply = { id: number; ack: true } | { id: number; tokens: number; lines: number } | { id: number; error: string };

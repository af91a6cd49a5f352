/** Storage keys of a file's bytes and of its line index. */
export const dataKey = (fileId: string) => `${fileId}.jsonl`;
export const indexKey = (fileId: string) => `${fileId}.index`;

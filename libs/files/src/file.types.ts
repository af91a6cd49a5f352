/** The OpenAI file object. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: string;
  expires_at: number | null;
  status_details: string | null;
  /** Extension: the input tokens of a `purpose=batch` file, counted just after the upload (null until then, and for generated files). */
  input_tokens_estimate: number | null;
}

/** What batch creation needs to know about an input file. */
export interface BatchInputFile {
  id: string;
  accountId: string;
  lineCount: number;
  models: string[];
  /** The endpoints its lines name, each with the first line naming it. */
  endpoints: { url: string; line: number }[];
  errors: { line: number; message: string }[];
  /** Its input tokens, once counted (null while the count runs: FilesService.tokenEstimate waits for it). */
  inputTokensEstimate: number | null;
}

export interface DeletedFile {
  id: string;
  object: 'file';
  deleted: true;
}

/** Answers whether something (an unfinished batch) still needs the file; used to refuse deletes with 409. */
export type FileInUseCheck = (fileId: string) => Promise<string | null>;

/** A batch's output or error file, stored and about to be recorded in the finishing transaction. */
export interface GeneratedFile {
  fileId: string;
  accountId: string;
  filename: string;
  bytes: number;
  /** From the batch's `output_expires_after`. */
  expiresAfterSeconds: number;
}

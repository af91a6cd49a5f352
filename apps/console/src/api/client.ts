import type { TypedDocumentString } from '../gql/graphql';
import { currentToken, signOut } from './session';

/**
 * An answer of the admin API that is not data, in words: `code` is the gateway's error code
 * (`invalid_request_error`, `batch_not_cancellable`…), `param` the field it is about, when it names one.
 */
export class ApiProblem extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiProblem';
  }
}

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; param?: string | null } }[];
}

const REFUSED = 'The gateway did not accept this admin token. Use the ADMIN_TOKEN it printed at its first start, or the one you set.';

/** Messages for codes whose own message is not meant for an operator. */
function inWords(code: string, message: string): string {
  switch (code) {
    case 'internal_error':
      return 'The gateway failed with an internal error; its log has the details.';
    case 'GRAPHQL_VALIDATION_FAILED':
    case 'GRAPHQL_PARSE_FAILED':
      return `This console does not match the gateway's API (${message}). Reload the page; if it persists, rebuild the console.`;
    default:
      return message;
  }
}

/** Sends one operation as `token` (the signed-in one by default); resolves with its data or rejects with an ApiProblem. */
export async function request<R, V>(document: TypedDocumentString<R, V>, variables: V, token = currentToken()): Promise<R> {
  if (!token) throw new ApiProblem('Sign in first.', 'invalid_admin_token');
  const operationName = /(?:query|mutation)\s+(\w+)/.exec(document.toString())?.[1];
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: document.toString(), variables, operationName }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiProblem('The gateway cannot be reached. Check that it is running and that this page is served by it, then try again.', 'network_error');
  }
  let answer: GraphQLAnswer<R>;
  try {
    answer = (await res.json()) as GraphQLAnswer<R>;
  } catch {
    throw new ApiProblem(`The gateway answered HTTP ${res.status} without a GraphQL answer.`, 'bad_answer');
  }
  if (res.status === 401) {
    if (token === currentToken()) signOut('token-refused');
    throw new ApiProblem(REFUSED, 'invalid_admin_token');
  }
  const error = answer.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? 'error';
    throw new ApiProblem(inWords(code, error.message), code, error.extensions?.param ?? null);
  }
  if (answer.data == null) throw new ApiProblem(`The gateway answered HTTP ${res.status} with no data.`, 'bad_answer');
  return answer.data;
}

/** The words to show for anything thrown while talking to the API. */
export function problemText(error: unknown): string {
  if (error instanceof ApiProblem) return error.message;
  return error instanceof Error ? `Something went wrong in the console: ${error.message}` : 'Something went wrong in the console.';
}

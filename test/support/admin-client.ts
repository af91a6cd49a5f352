/** A tiny GraphQL client for the admin API at /graphql: what an operator's script would send. */
export interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; status?: number; param?: string | null };
}

export interface GraphQLResponse<T> {
  /** The HTTP status of the answer. */
  status: number;
  data?: T | null;
  errors?: GraphQLError[];
}

export interface AdminClient {
  /** Sends one operation and returns the HTTP status with the parsed body, errors included. */
  request<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** Sends one operation and returns `data`; throws with the errors when there are any. */
  query<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

/** A client for `${baseUrl}/graphql`; `token` goes out as `Authorization: Bearer …`, none when null. */
export function adminClient(baseUrl: string, token: string | null): AdminClient {
  const request = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<T>> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const text = await res.text();
    let body: { data?: T | null; errors?: GraphQLError[] };
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`/graphql answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
    }
    return { status: res.status, ...body };
  };
  return {
    request,
    async query<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const res = await request<T>(query, variables);
      if (res.errors?.length || res.data == null) {
        throw new Error(`GraphQL operation failed (HTTP ${res.status}): ${JSON.stringify(res.errors)}`);
      }
      return res.data;
    },
  };
}

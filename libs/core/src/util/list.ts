/** The OpenAI list object, shared by every list endpoint. */
export interface ListObject<T extends { id: string }> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** Builds a list page from rows fetched with `limit + 1`, so `has_more` needs no second query. */
export function toListPage<T extends { id: string }>(rowsPlusOne: T[], limit: number): ListObject<T> {
  const data = rowsPlusOne.slice(0, limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: rowsPlusOne.length > limit,
  };
}

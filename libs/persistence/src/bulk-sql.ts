import type { DataSource, EntityManager, QueryResult } from 'typeorm';

/**
 * The two SQL dialects the gateway runs on. Hot paths that write or read thousands of rows use
 * hand-written multi-row statements (one statement per page instead of one per row, no query
 * building); this module holds what differs between the dialects, so those statements are written
 * once.
 */
export type SqlDialect = 'sqlite' | 'postgres';

export function dialectOf(dataSource: DataSource): SqlDialect {
  return dataSource.options.type === 'postgres' ? 'postgres' : 'sqlite';
}

/**
 * Numbered placeholders for `$1`-style (PostgreSQL) or `?` (SQLite) parameters. `next(cast)` returns
 * the next one; on PostgreSQL a cast (`integer`, `text`) is added, since values in a VALUES list have
 * no column to take their type from.
 */
export class Placeholders {
  private n = 0;

  constructor(private readonly dialect: SqlDialect) {}

  next(cast?: string): string {
    this.n += 1;
    if (this.dialect === 'sqlite') return '?';
    return cast ? `$${this.n}::${cast}` : `$${this.n}`;
  }

  /** A parenthesised VALUES row of one placeholder per cast. */
  row(casts: readonly string[]): string {
    return `(${casts.map((cast) => this.next(cast)).join(',')})`;
  }
}

/** Runs a statement and returns the rows it produced (a SELECT, or a RETURNING clause) on either driver. */
export async function queryRows<T>(manager: EntityManager, sql: string, parameters: unknown[]): Promise<T[]> {
  return ((await run(manager, sql, parameters)).records ?? []) as T[];
}

/** Runs a statement that produces no rows and returns how many rows it changed. */
export async function execute(manager: EntityManager, sql: string, parameters: unknown[]): Promise<number> {
  return (await run(manager, sql, parameters)).affected ?? 0;
}

/** On the manager's query runner inside a transaction, otherwise on a pooled one for this statement. */
async function run(manager: EntityManager, sql: string, parameters: unknown[]): Promise<QueryResult> {
  const runner = manager.queryRunner ?? manager.connection.createQueryRunner();
  try {
    return await runner.query(sql, parameters, true);
  } finally {
    if (!manager.queryRunner) await runner.release();
  }
}

/**
 * A list of values for `IN (…)` in a `named` statement: the placeholders (`:p0, :p1, …`) and their values.
 */
export function namedList(prefix: string, items: readonly unknown[]): { sql: string; values: Record<string, unknown> } {
  const values: Record<string, unknown> = {};
  items.forEach((item, i) => (values[`${prefix}${i}`] = item));
  return { sql: items.map((_, i) => `:${prefix}${i}`).join(', '), values };
}

/**
 * A statement written with named parameters (`:name`) in the dialect's own form: `$n` on PostgreSQL
 * (a name used twice binds one value), `?` on SQLite (the value repeated for each use).
 */
export function named(dialect: SqlDialect, sql: string, values: Record<string, unknown>): [string, unknown[]] {
  const params: unknown[] = [];
  const numbers = new Map<string, number>();
  const text = sql.replace(/:([a-zA-Z_]\w*)/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`No value for :${name}`);
    if (dialect === 'sqlite') {
      params.push(values[name]);
      return '?';
    }
    let n = numbers.get(name);
    if (n === undefined) {
      params.push(values[name]);
      n = params.length;
      numbers.set(name, n);
    }
    return `$${n}`;
  });
  return [text, params];
}

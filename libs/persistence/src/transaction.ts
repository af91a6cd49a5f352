import { Injectable } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { DataSource, EntityManager } from 'typeorm';

declare const opaque: unique symbol;

/**
 * An open database transaction, as services pass it between libs: a handle they cannot query through.
 * Only a repository (the class that owns a table) opens it, with `managerOf`, to write in it; so work
 * that must commit together (a line's result and the batch's counters, a status change and its webhook
 * event) spans libs without any of them handing another its EntityManager.
 */
export type Transaction = { readonly [opaque]: 'Transaction' };

/** For repositories: the EntityManager behind a transaction handle. */
export function managerOf(tx: Transaction): EntityManager {
  return tx as unknown as EntityManager;
}

/**
 * Runs work in one transaction: committed when it resolves, rolled back when it throws. Work started
 * inside another unit joins it (it commits or rolls back with the outer one).
 *
 * On SQLite every TypeORM transaction shares the one connection's query runner: two transactions begun
 * together fail ("cannot start a transaction within a transaction"), and one begun while another waits
 * becomes a savepoint inside it, committed or lost with the other. So there units take turns.
 */
@Injectable()
export class UnitOfWork {
  private readonly open = new AsyncLocalStorage<Transaction>();
  private readonly takeTurns: boolean;
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    this.takeTurns = dataSource.options.type === 'better-sqlite3';
  }

  run<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const outer = this.open.getStore();
    if (outer) return work(outer);
    if (!this.takeTurns) return this.begin(work);
    const turn = this.last.then(() => this.begin(work));
    this.last = turn.catch(() => undefined);
    return turn;
  }

  private begin<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((manager) => {
      const tx = manager as unknown as Transaction;
      return this.open.run(tx, () => work(tx));
    });
  }
}

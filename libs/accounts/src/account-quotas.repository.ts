import { managerOf, Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { AccountEntity } from './entities/account.entity';

/** The account row read under a lock, for checks that must not interleave between processes. */
@Injectable()
export class AccountQuotasRepository {
  /**
   * The account inside the caller's transaction, its row locked until the transaction ends on PostgreSQL
   * (`FOR UPDATE`): two creates by one account, in any processes, take turns. SQLite has one writer, and
   * the units of work of its one process take turns already. Null when there is no such account.
   */
  async lockIn(tx: Transaction, accountId: string): Promise<AccountEntity | null> {
    const manager = managerOf(tx);
    const qb = manager.getRepository(AccountEntity).createQueryBuilder('a').where('a.id = :accountId', { accountId });
    if (manager.connection.options.type === 'postgres') qb.setLock('pessimistic_write');
    return qb.getOne();
  }
}

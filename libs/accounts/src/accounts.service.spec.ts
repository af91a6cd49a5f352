import { Clock, IdGenerator } from '@app/core';
import type { Repository } from 'typeorm';
import { AccountsService } from './accounts.service';
import type { AccountEntity } from './entities/account.entity';
import type { ApiKeyEntity } from './entities/api-key.entity';
import type { KeyRevocations } from './key-revocations';
import { hashSecret } from './secrets';

/** The key cache of AccountsService against an in-memory key table and a revocation channel driven by the test. */
function setup() {
  const secret = 'sk-test-key-0123456789abcdef';
  const row = { id: 'key_1', accountId: 'acct_1', keyHash: hashSecret(secret), prefix: 'sk-test', createdAt: 0, revokedAt: null as number | null };
  let lookups = 0;
  let beforeAnswer: () => void = () => {};
  const keys = {
    findOneBy: async () => {
      lookups += 1;
      const answer = row.revokedAt === null ? { ...row } : null;
      beforeAnswer();
      return answer;
    },
  } as unknown as Repository<ApiKeyEntity>;
  let announced: (keyHash: string) => void = () => {};
  const revocations = {
    onRevoked: (listener: (keyHash: string) => void) => (announced = listener),
  } as unknown as KeyRevocations;
  const sut = new AccountsService({} as Repository<AccountEntity>, keys, new IdGenerator(), new Clock(), revocations);
  return {
    sut,
    secret,
    lookups: () => lookups,
    /** Another process revokes the key: the row changes and the announcement arrives. */
    revokeElsewhere: () => {
      row.revokedAt = 1;
      announced(row.keyHash);
    },
    /** Runs `f` after the next lookup has read the row and before it answers. */
    duringNextLookup: (f: () => void) => (beforeAnswer = () => ((beforeAnswer = () => {}), f())),
  };
}

describe(AccountsService.name, () => {
  it('answers a known key from its cache', async () => {
    const { sut, secret, lookups } = setup();
    expect(await sut.accountIdForKey(secret)).toBe('acct_1');
    expect(await sut.accountIdForKey(secret)).toBe('acct_1');
    expect(lookups()).toBe(1);
  });

  it('forgets a key at once when another process announces its revocation', async () => {
    const { sut, secret, revokeElsewhere } = setup();
    expect(await sut.accountIdForKey(secret)).toBe('acct_1');
    revokeElsewhere();
    expect(await sut.accountIdForKey(secret)).toBeNull();
  });

  it('does not cache what a lookup read before a revocation overtook it', async () => {
    const { sut, secret, revokeElsewhere, duringNextLookup, lookups } = setup();
    duringNextLookup(revokeElsewhere);
    expect(await sut.accountIdForKey(secret)).toBe('acct_1'); // read before the revocation committed
    expect(await sut.accountIdForKey(secret)).toBeNull();
    expect(lookups()).toBe(2);
  });
});

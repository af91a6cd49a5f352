interface Member<T> {
  item: T;
  pass: number;
}

interface Tenant<T> {
  weight: number;
  pass: number;
  members: Map<string, Member<T>>;
}

/**
 * Stride scheduling in two levels: accounts share in proportion to their weights, and one account's
 * batches share its part equally. `next` picks the account with the lowest pass among those with a
 * ready batch, then that account's ready batch with the lowest pass, and advances both (the account by
 * 1/weight, the batch by 1). An account or batch that was idle or new starts at the current virtual
 * time, so waiting earns no credit to spend in a burst later. Pure and synchronous: the dispatcher calls
 * it once per request it starts.
 */
export class FairShare<T> {
  private readonly tenants = new Map<string, Tenant<T>>();
  /** The pass of the last account picked: where an idle account comes back in. */
  private virtualTime = 0;

  /** Every item, in no particular order. */
  *items(): IterableIterator<T> {
    for (const tenant of this.tenants.values()) for (const member of tenant.members.values()) yield member.item;
  }

  has(key: string, accountId: string): boolean {
    return this.tenants.get(accountId)?.members.has(key) ?? false;
  }

  add(key: string, accountId: string, weight: number, item: T): void {
    let tenant = this.tenants.get(accountId);
    if (!tenant) {
      tenant = { weight, pass: this.virtualTime, members: new Map() };
      this.tenants.set(accountId, tenant);
    }
    tenant.weight = weight;
    if (tenant.members.has(key)) return;
    let pass = Infinity;
    for (const member of tenant.members.values()) pass = Math.min(pass, member.pass);
    tenant.members.set(key, { item, pass: Number.isFinite(pass) ? pass : 0 });
  }

  remove(key: string, accountId: string): void {
    const tenant = this.tenants.get(accountId);
    if (!tenant) return;
    tenant.members.delete(key);
    if (tenant.members.size === 0) this.tenants.delete(accountId);
  }

  setWeight(accountId: string, weight: number): void {
    const tenant = this.tenants.get(accountId);
    if (tenant) tenant.weight = weight;
  }

  /** The next item whose `ready` is true, charged one request; null when none is ready. */
  next(ready: (item: T) => boolean): T | null {
    let best: Tenant<T> | null = null;
    let bestPass = Infinity;
    let bestMember: Member<T> | null = null;
    for (const tenant of this.tenants.values()) {
      const pass = Math.max(tenant.pass, this.virtualTime);
      if (pass >= bestPass) continue;
      const member = this.readyMember(tenant, ready);
      if (!member) continue;
      best = tenant;
      bestPass = pass;
      bestMember = member;
    }
    if (!best || !bestMember) return null;
    this.virtualTime = bestPass;
    best.pass = bestPass + 1 / best.weight;
    bestMember.pass += 1;
    return bestMember.item;
  }

  private readyMember(tenant: Tenant<T>, ready: (item: T) => boolean): Member<T> | null {
    let chosen: Member<T> | null = null;
    let low = Infinity;
    for (const member of tenant.members.values()) {
      if (member.pass < low && ready(member.item)) {
        chosen = member;
        low = member.pass;
      }
    }
    if (chosen) {
      // A batch that waited (not ready) comes back at its account's lowest ready pass, not below it.
      for (const member of tenant.members.values()) if (member.pass < low) member.pass = low;
    }
    return chosen;
  }
}

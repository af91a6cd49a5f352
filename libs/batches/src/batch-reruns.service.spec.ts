import { rerunMetadata } from './batch-reruns.service';

describe(rerunMetadata.name, () => {
  it('links back to the original, keeping its metadata', () => {
    expect(rerunMetadata({ team: 'research' }, 'batch_a')).toEqual({ team: 'research', rerun_of: 'batch_a' });
    expect(rerunMetadata(null, 'batch_a')).toEqual({ rerun_of: 'batch_a' });
  });

  it('names the batch it reran when the original was itself a rerun', () => {
    expect(rerunMetadata({ rerun_of: 'batch_a', team: 'x' }, 'batch_b')).toEqual({ team: 'x', rerun_of: 'batch_b' });
  });

  it("stays within 16 keys: the original's last keys give way to the link", () => {
    const full = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, `v${i}`]));
    const metadata = rerunMetadata(full, 'batch_a');
    expect(Object.keys(metadata)).toHaveLength(16);
    expect(metadata).toMatchObject({ k0: 'v0', k14: 'v14', rerun_of: 'batch_a' });
    expect(metadata).not.toHaveProperty('k15');
  });
});

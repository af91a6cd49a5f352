import { checkTargetSyntax, isPublicAddress, resolveSafeTarget, UnsafeTargetError } from './ssrf-guard';

const strict = { allowHttp: false, allowPrivate: false };

describe('SSRF guard', () => {
  it.each([
    '127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1',
    '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'ff02::1',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it('requires https unless plain HTTP is allowed', () => {
    expect(() => checkTargetSyntax(new URL('http://example.com/hook'), strict)).toThrow(UnsafeTargetError);
    expect(() => checkTargetSyntax(new URL('http://example.com/hook'), { ...strict, allowHttp: true })).not.toThrow();
    expect(() => checkTargetSyntax(new URL('https://example.com/hook'), strict)).not.toThrow();
  });

  it('refuses literal private hosts at once, including bracketed IPv6 and localhost', () => {
    for (const url of ['https://127.0.0.1/x', 'https://[::1]/x', 'https://[::ffff:7f00:1]/x', 'https://localhost/x', 'https://localhost./x', 'https://a.localhost/x']) {
      expect(() => checkTargetSyntax(new URL(url), strict)).toThrow(UnsafeTargetError);
    }
    expect(() => checkTargetSyntax(new URL('https://127.0.0.1/x'), { ...strict, allowPrivate: true })).not.toThrow();
  });

  it('resolves a name and refuses it when it points at a private address', async () => {
    await expect(resolveSafeTarget(new URL('https://localhost/x'), strict)).rejects.toThrow(UnsafeTargetError);
    await expect(resolveSafeTarget(new URL('http://localhost:9/x'), { allowHttp: true, allowPrivate: true })).resolves.toMatchObject({
      address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
    });
  });
});

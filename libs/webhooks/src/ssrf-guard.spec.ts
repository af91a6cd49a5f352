import { checkTargetSyntax, isPublicAddress, resolveSafeTarget, UnsafeTargetError } from './ssrf-guard';

const strict = { allowHttp: false, allowPrivate: false };

describe('SSRF guard', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    'ff02::1',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    ['::7f00:1', 'IPv4-compatible 127.0.0.1, as the URL parser writes [::127.0.0.1]'],
    ['::a00:1', 'IPv4-compatible 10.0.0.1'],
    ['::a9fe:a9fe', 'IPv4-compatible 169.254.169.254 (cloud metadata)'],
    ['::ffff:7f00:1', 'IPv4-mapped 127.0.0.1 in hex'],
    ['::ffff:0:7f00:1', 'IPv4-translated (SIIT) 127.0.0.1'],
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of 169.254.169.254'],
    ['64:ff9b:1::a00:1', 'local-use NAT64 (RFC 8215)'],
    ['2002:7f00:1::1', '6to4 of 127.0.0.1'],
    ['2002:c0a8:101::', '6to4 of 192.168.1.1'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo whose client is 127.0.0.1'],
    ['2001:0:a00:1:0:0:f7f7:f7f7', 'Teredo whose server is 10.0.0.1'],
  ])('refuses %s (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation (RFC 9637)'],
    ['2001:2::1', 'benchmarking'],
    ['100::1', 'discard'],
    ['fec0::1', 'deprecated site-local'],
    ['5f00::1', 'segment routing'],
    ['4000::1', 'outside 2000::/3, unallocated'],
    ['::1:0:0:1', 'in ::/8 but not an IPv4 form'],
    ['192.0.2.1', 'IPv4 documentation'],
    ['198.18.0.1', 'IPv4 benchmarking'],
    ['240.0.0.1', 'IPv4 reserved'],
  ])('refuses %s (%s): only global unicast passes', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['0177.0.0.1', '127.1', '2130706433', '0x7f000001', 'not an address', ''])('refuses the non-canonical or invalid form %p', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '::808:808',
    '64:ff9b::808:808',
    '2002:808:808::1',
    '2001:0:808:808:0:0:f7f7:f7f7',
  ])('allows the public address %s (an embedded IPv4 address judged as itself)', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it('requires https unless plain HTTP is allowed', () => {
    expect(() => checkTargetSyntax(new URL('http://example.com/hook'), strict)).toThrow(UnsafeTargetError);
    expect(() => checkTargetSyntax(new URL('http://example.com/hook'), { ...strict, allowHttp: true })).not.toThrow();
    expect(() => checkTargetSyntax(new URL('https://example.com/hook'), strict)).not.toThrow();
  });

  it('refuses literal private hosts at once, including bracketed IPv6 and localhost', () => {
    for (const url of [
      'https://127.0.0.1/x',
      'https://[::1]/x',
      'https://[::ffff:7f00:1]/x',
      'https://localhost/x',
      'https://localhost./x',
      'https://a.localhost/x',
    ]) {
      expect(() => checkTargetSyntax(new URL(url), strict)).toThrow(UnsafeTargetError);
    }
    expect(() => checkTargetSyntax(new URL('https://127.0.0.1/x'), { ...strict, allowPrivate: true })).not.toThrow();
  });

  it.each([
    'https://[::127.0.0.1]/x',
    'https://[::169.254.169.254]/x',
    'https://[::ffff:0:127.0.0.1]/x',
    'https://[64:ff9b::127.0.0.1]/x',
    'https://[64:ff9b::10.0.0.1]:8443/x',
    'https://[2002:7f00:1::]/x',
    'https://[::ffff:169.254.169.254]/x',
    'https://0177.0.0.1/x',
    'https://2130706433/x',
    'https://0x7f.1/x',
  ])('refuses %s at create, whatever form the URL parser gives it', (url) => {
    expect(() => checkTargetSyntax(new URL(url), strict)).toThrow(UnsafeTargetError);
  });

  it('refuses an IPv4-compatible literal at delivery too, before any connection', async () => {
    await expect(resolveSafeTarget(new URL('https://[::127.0.0.1]/x'), strict)).rejects.toThrow('the address ::7f00:1 is not public');
    await expect(resolveSafeTarget(new URL('http://[64:ff9b::127.0.0.1]:9/x'), { ...strict, allowHttp: true })).rejects.toThrow(UnsafeTargetError);
  });

  it('resolves a name and refuses it when it points at a private address', async () => {
    await expect(resolveSafeTarget(new URL('https://localhost/x'), strict)).rejects.toThrow(UnsafeTargetError);
    await expect(resolveSafeTarget(new URL('http://localhost:9/x'), { allowHttp: true, allowPrivate: true })).resolves.toMatchObject({
      address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
    });
  });
});

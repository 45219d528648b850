import { describe, expect, it } from 'vitest';
import { found, values } from './find.js';

describe('ipv4 detector', () => {
  it('finds dotted quads with octets 0–255', () => {
    expect(values('hosts 192.168.1.1, 10.0.0.255:8080 and 8.8.8.8. Also 0.0.0.0/0 and 255.255.255.255', 'ipv4')).toEqual([
      '192.168.1.1',
      '10.0.0.255',
      '8.8.8.8',
      '0.0.0.0',
      '255.255.255.255',
    ]);
  });

  it('rejects out-of-range octets, leading zeros and longer dotted runs', () => {
    for (const text of ['999.1.1.1', '256.1.1.1', '1.2.3.256', '01.2.3.4', '1.2.3.4.5', 'v1.2.3.4', '1.2.3', '1.2.3.4a', 'a1.2.3.4']) {
      expect(values(text, 'ipv4'), text).toEqual([]);
    }
  });
});

describe('ipv6 detector', () => {
  it('finds full, compressed and IPv4-embedded forms', () => {
    expect(
      values('a 2001:0db8:85a3:0000:0000:8a2e:0370:7334, b 2001:db8::1, c ::1, d fe80::1%eth0, e ::ffff:192.0.2.128, f [2001:db8::8]:443.', 'ipv6'),
    ).toEqual(['2001:0db8:85a3:0000:0000:8a2e:0370:7334', '2001:db8::1', '::1', 'fe80::1', '::ffff:192.0.2.128', '2001:db8::8']);
    expect(values('Note:fe80::1 and 2001:DB8:0:0:8:800:200C:417A', 'ipv6')).toEqual(['fe80::1', '2001:DB8:0:0:8:800:200C:417A']);
  });

  it('does not take times, MAC addresses, ratios or code', () => {
    for (const text of [
      'at 12:30:45',
      'at 12:30',
      '2024-01-15T12:30:45.123Z',
      'mac 00:1A:2B:3C:4D:5E',
      'ratio 16:9',
      'std::vector and Foo::bar',
      'dead::beef and a::b',
      '1:2:3:4:5:6:7', // 7 groups, no ::
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '12345::1',
      'fe80::1g',
    ]) {
      expect(values(text, 'ipv6'), text).toEqual([]);
    }
  });

  it('an embedded IPv4 address is reported once, as ipv6', () => {
    expect(found('x ::ffff:10.1.2.3 y', ['ipv4', 'ipv6'])).toEqual(['ipv6:::ffff:10.1.2.3']);
    expect(found('x 10.1.2.3 y', ['ipv4', 'ipv6'])).toEqual(['ipv4:10.1.2.3']);
  });
});

import { describe, expect, it } from 'vitest';
import { MAX_PRIVATE_KEY_CHARS } from '../../../../src/safety/pii/secret-detectors.js';
import { values } from './find.js';

// Fixtures are assembled at run time so that no secret scanner mistakes this file for a leak.
const B62_48 = '3OkF5QNCrC82SF70AVWC7UcZX7WM7cbRkbuEi3McBqVxPKhI';
const B62_36 = 'p5v4oXdmcwA8FYoDvtG4ezCbM6fS9tT0KDVw';
const sk = (rest: string) => ['sk', rest].join('-');
const b64url = (s: string) => Buffer.from(s).toString('base64url');

describe('openai_key detector', () => {
  it('finds legacy, project, service-account and admin keys', () => {
    const keys = [sk(B62_48), sk(`proj-${B62_48}_x-Y${B62_36}`), sk(`svcacct-${B62_48}`), sk(`admin-${B62_36}`)];
    expect(values(`OPENAI_API_KEY=${keys[0]}\n"${keys[1]}" '${keys[2]}' (${keys[3]})`, 'openai_key')).toEqual(keys);
  });

  it('does not take short, uniform or prefixed look-alikes', () => {
    for (const text of [sk('learn'), sk('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'), sk('your-api-key-goes-here-please'), sk('proj-...'), `task-${B62_48}`, `ask-${B62_48}`]) {
      expect(values(text, 'openai_key'), text).toEqual([]);
    }
  });
});

describe('aws_access_key detector', () => {
  it('finds AKIA and ASIA key ids', () => {
    const a = ['AKIA', 'A7SG74WTLS4WRK3Z'].join('');
    const b = ['ASIA', 'Y3ZQ2N5L7K4M6P8R'].join('');
    expect(values(`aws_access_key_id = ${a}\nid: ${b}.`, 'aws_access_key')).toEqual([a, b]);
  });

  it('rejects other prefixes, lower case, wrong lengths and longer words', () => {
    for (const text of ['AIDAA7SG74WTLS4WRK3Z', 'AKIAa7sg74wtls4wrk3z', 'AKIAA7SG74WTLS4WRK3', 'AKIAA7SG74WTLS4WRK3ZQ', 'XAKIAA7SG74WTLS4WRK3Z']) {
      expect(values(text, 'aws_access_key'), text).toEqual([]);
    }
  });
});

describe('github_token detector', () => {
  it('finds classic and fine-grained tokens', () => {
    const classic = ['ghp', 'gho', 'ghu', 'ghs', 'ghr'].map((p) => `${p}_${B62_36}`);
    const pat = ['github', 'pat', `11ABCDEFG0123456789abc_${B62_48}${B62_36}`.slice(0, 82)].join('_');
    expect(values(`${classic.join(' ')} ${pat}`, 'github_token')).toEqual([...classic, pat]);
  });

  it('rejects short bodies, other prefixes and longer words', () => {
    for (const text of [`ghp_${B62_36.slice(1)}`, `ghx_${B62_36}`, `xghp_${B62_36}`, `ghp_${B62_36}_`, 'github_pat_short']) {
      expect(values(text, 'github_token'), text).toEqual([]);
    }
  });
});

describe('jwt detector', () => {
  const header = b64url('{"alg":"HS256","typ":"JWT"}');
  const payload = b64url('{"sub":"1234567890","name":"Jane Doe","iat":1516239022}');
  const jwt = `${header}.${payload}.s_pzIAKkFDF96bWlo6hiAERA2uqy3hTYvu7jc1D6SWE`;

  it('finds signed and unsigned tokens', () => {
    const unsigned = `${b64url('{"alg":"none"}')}.${payload}.`;
    expect(values(`Authorization: Bearer ${jwt}\nand ${unsigned} end`, 'jwt')).toEqual([jwt, unsigned]);
  });

  it('rejects headers that are not a JOSE header, two segments, and partial tokens', () => {
    const notJose = `${b64url('{"hello":"world","x":1}')}.${payload}.abc`;
    for (const text of [notJose, `${header}.${payload}`, `x.${jwt}`, `${header}..x`]) {
      expect(values(text, 'jwt'), text).toEqual([]);
    }
  });
});

describe('private_key detector', () => {
  const body = Array.from({ length: 5 }, (_, i) => `MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC${i}${B62_36}`.slice(0, 64));
  const last = 'AbCdEf0123==';

  it('takes a whole block, whatever the key type', () => {
    for (const label of ['', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ', 'DSA ']) {
      const block = [`-----BEGIN ${label}PRIVATE KEY-----`, ...body, last, `-----END ${label}PRIVATE KEY-----`].join('\n');
      expect(values(`key:\n${block}\nthanks`, 'private_key')).toEqual([block]);
    }
    const pgp = ['-----BEGIN PGP PRIVATE KEY BLOCK-----', '', ...body, '-----END PGP PRIVATE KEY BLOCK-----'].join('\r\n');
    expect(values(pgp, 'private_key')).toEqual([pgp]);
    const escaped = ['-----BEGIN PRIVATE KEY-----', ...body, '-----END PRIVATE KEY-----'].join('\\n');
    expect(values(`{"key":"${escaped}"}`, 'private_key')).toEqual([escaped]);
  });

  it('takes a truncated block up to the end of its body, with PEM headers', () => {
    const head = ['-----BEGIN RSA PRIVATE KEY-----', 'Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,3F17F5316E2BAC89', '', ...body, last].join('\n');
    expect(values(`${head}\nplease fix this key, it stops here`, 'private_key')).toEqual([head]);
    const cut = ['-----BEGIN PRIVATE KEY-----', ...body.slice(0, 2)].join('\n');
    expect(values(`${cut}\n\nWhat is wrong?`, 'private_key')).toEqual([cut]);
    expect(values('the line -----BEGIN OPENSSH PRIVATE KEY----- alone', 'private_key')).toEqual(['-----BEGIN OPENSSH PRIVATE KEY-----']);
  });

  it('bounds a block: an END too far away does not swallow the text between', () => {
    const filler = `${'prose, '.repeat(10)}\n`.repeat(Math.ceil(MAX_PRIVATE_KEY_CHARS / 71) + 1);
    const text = `-----BEGIN PRIVATE KEY-----\n${body[0]}\n${filler}-----END PRIVATE KEY-----`;
    expect(values(text, 'private_key')).toEqual([`-----BEGIN PRIVATE KEY-----\n${body[0]}`]);
  });

  it('leaves public keys and certificates alone', () => {
    const text = ['-----BEGIN PUBLIC KEY-----', ...body, '-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----', ...body, '-----END CERTIFICATE-----'].join('\n');
    expect(values(text, 'private_key')).toEqual([]);
  });
});

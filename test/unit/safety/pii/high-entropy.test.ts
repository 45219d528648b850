import { describe, expect, it } from 'vitest';
import { classChangeRate, shannonEntropy } from '../../../../src/safety/pii/entropy.js';
import { values } from './find.js';

const B62_40 = '66cwaxHWY7KoOOb4XRuDYAWjBA7RRv4IwcibGZPQ';
const B64_40 = '9hIZqKKvo3ubbO/ytkKbLWRpxVswrZKy9fKxmbgM';
const B64URL_43 = 's_pzIAKkFDF96bWlo6hiAERA2uqy3hTYvu7jc1D6SWE';
const HEX_40 = '71885667ab96837291c65485f63364f5ea4b032f';
const HEX_64 = '33986ca81023d77fa7c414fd9d1e09ad7ce87162868d354ca7c63953b6fee12c';

describe('shannonEntropy', () => {
  it('is log2 of the alphabet for uniform strings and 0 for one repeated char', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abab')).toBeCloseTo(1);
    expect(shannonEntropy('0123456789abcdef')).toBeCloseTo(4);
  });
});

describe('high_entropy detector', () => {
  it('finds random base64, base64url, base62 and hex tokens', () => {
    for (const token of [B62_40, B64_40, `${B64_40}==`, B64URL_43, HEX_40, HEX_64, HEX_40.toUpperCase()]) {
      expect(values(`token: ${token}.`, 'high_entropy'), token).toEqual([token]);
    }
  });

  it('finds secrets assigned, quoted, or in a URL path, without the punctuation around them', () => {
    expect(values(`password="${B62_40}"`, 'high_entropy')).toEqual([B62_40]);
    expect(values(`--token=${B64URL_43} --verbose`, 'high_entropy')).toEqual([B64URL_43]);
    expect(values(`https://hooks.example.com/services/v1/hooks/${B62_40}/run`, 'high_entropy')).toEqual([B62_40]);
  });

  it('leaves words, identifiers, paths, numbers and UUIDs alone', () => {
    for (const text of [
      'internationalization Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious',
      'getUserProfileById2024Handler XMLHttpRequestV2OAuthTokenID Windows10ProfessionalEdition2024 compressedTexSubImage3D',
      'HTTP_REQUEST_TIMEOUT_MS_2000 my-long-kebab-case-name-v2-final snake_case_identifier_v22_final',
      '/usr/local/lib/node_modules/typescript/lib/tsc.js and /home/User1/Projects/MyApp2/src/index.ts',
      'build/x86_64-linux-gnu/Release/v8 and C:\\Users\\Alice\\AppData\\Local\\Temp\\file1234567890.tmp',
      'https://developer.mozilla.org/docs/Web/API/WebGL2RenderingContext/compressedTexSubImage3D',
      '550e8400-e29b-41d4-a716-446655440000 and 550E8400-E29B-41D4-A716-446655440000',
      '12345678901234567890123 and 2024-01-15T12:30:45.123456Z and DE89370400440532013001',
      'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa abababababababababababababab 0000000000000000000000000000000a',
    ]) {
      expect(values(text, 'high_entropy'), text).toEqual([]);
    }
  });

  it('never flags the vault placeholders', () => {
    const text = '<EMAIL_1> <PHONE_12> <CN_ID_3> <SECRET_9999999> <SECRET> <IP_1><IP_2><IP_3><IP_4><IP_5><IP_6><IP_7><IP_8>';
    expect(values(text, 'high_entropy')).toEqual([]);
  });

  it('follows its options', () => {
    expect(values(B62_40, 'high_entropy', { minEntropyLength: 41 })).toEqual([]);
    expect(values(B62_40.slice(0, 16), 'high_entropy', { minEntropyLength: 16, entropyThreshold: 3.5 })).toEqual([B62_40.slice(0, 16)]);
    expect(values(B62_40, 'high_entropy', { entropyThreshold: 6 })).toEqual([]);
    expect(values(HEX_40, 'high_entropy', { hexEntropyThreshold: 4.5 })).toEqual([]);
    expect(values(HEX_40, 'high_entropy', { entropyThreshold: 6 })).toEqual([HEX_40]);
  });
});

describe('classChangeRate', () => {
  it('is low for joined words and high for random text', () => {
    expect(classChangeRate('getUserProfileById2024Handler')).toBeLessThan(0.25);
    expect(classChangeRate('snake_case_v2')).toBeLessThan(0.25);
    expect(classChangeRate(B62_40)).toBeGreaterThan(0.3);
  });
});

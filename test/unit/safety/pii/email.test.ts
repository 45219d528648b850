import { describe, expect, it } from 'vitest';
import { values } from './find.js';

describe('email detector', () => {
  it('finds addresses in prose, without the sentence end', () => {
    expect(values('Write to alice.smith+tag@example.co.uk. Thanks', 'email')).toEqual(['alice.smith+tag@example.co.uk']);
    expect(values('<bob_o-neil@mail.example-corp.com>, "x%y@sub.b.io"', 'email')).toEqual(['bob_o-neil@mail.example-corp.com', 'x%y@sub.b.io']);
    expect(values('key=ana@example.com;', 'email')).toEqual(['ana@example.com']);
    expect(values('邮箱：zhang.san@example.cn。', 'email')).toEqual(['zhang.san@example.cn']);
    expect(values('IDN: user@xn--bcher-kva.example and user@example.xn--p1ai', 'email')).toEqual(['user@xn--bcher-kva.example', 'user@example.xn--p1ai']);
  });

  it('does not take what only looks like one', () => {
    for (const text of [
      'user@localhost',
      'npm i @types/node',
      'icon@2x.png and logo@3x.webp',
      'a@b.c',
      'me@-bad.com',
      'me@bad-.com',
      'twitter handle @alice and price 5@3.50',
      `${'a'.repeat(65)}@example.com`,
    ]) {
      expect(values(text, 'email'), text).toEqual([]);
    }
  });

  it('stops a domain at a double dot and handles neighbours sharing an @', () => {
    expect(values('x@example.com..evil', 'email')).toEqual(['x@example.com']);
    expect(values('a@b.io@c.io', 'email')).toEqual(['a@b.io']);
  });
});

import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/chat-request.js';
import { dataUrlImageSize } from '../../../src/accounting/image-size.js';
import { imageScheme, imageTokens, patchCount, tileCount } from '../../../src/accounting/image-tokens.js';
import { countRequestTokens } from '../../../src/accounting/token-accounting.js';

const dataUrl = (mime: string, bytes: Buffer) => `data:${mime};base64,${bytes.toString('base64')}`;

function png(width: number, height: number): Buffer {
  const b = Buffer.alloc(33 + 64);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

function gif(width: number, height: number): Buffer {
  const b = Buffer.alloc(32);
  b.write('GIF89a', 0, 'latin1');
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  return b;
}

/** A JPEG whose frame header comes after a large EXIF segment and a fill byte. */
function jpeg(width: number, height: number): Buffer {
  const exif = Buffer.alloc(4 + 60_000);
  exif.writeUInt16BE(0xffe1, 0);
  exif.writeUInt16BE(60_002, 2);
  const sof = Buffer.alloc(19);
  sof.writeUInt16BE(0xffc2, 0); // progressive
  sof.writeUInt16BE(17, 2);
  sof[4] = 8;
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0, 0]), exif, Buffer.from([0xff]), sof, Buffer.alloc(100)]);
}

function webp(chunk: 'VP8X' | 'VP8 ' | 'VP8L', width: number, height: number): Buffer {
  const b = Buffer.alloc(40);
  b.write('RIFF', 0, 'latin1');
  b.write('WEBP', 8, 'latin1');
  b.write(chunk, 12, 'latin1');
  if (chunk === 'VP8X') {
    b.writeUIntLE(width - 1, 24, 3);
    b.writeUIntLE(height - 1, 27, 3);
  } else if (chunk === 'VP8 ') {
    b.writeUInt16LE(width, 26);
    b.writeUInt16LE(height, 28);
  } else {
    b[20] = 0x2f;
    const bits = (width - 1) | ((height - 1) << 14);
    b.writeUInt32LE(bits >>> 0, 21);
  }
  return b;
}

describe('image size from data URLs', () => {
  it('reads PNG, GIF, JPEG and WebP headers', () => {
    expect(dataUrlImageSize(dataUrl('image/png', png(1024, 768)))).toEqual({ width: 1024, height: 768 });
    expect(dataUrlImageSize(dataUrl('image/gif', gif(300, 200)))).toEqual({ width: 300, height: 200 });
    expect(dataUrlImageSize(dataUrl('image/jpeg', jpeg(4032, 3024)))).toEqual({ width: 4032, height: 3024 });
    expect(dataUrlImageSize(dataUrl('image/webp', webp('VP8X', 1920, 1080)))).toEqual({ width: 1920, height: 1080 });
    expect(dataUrlImageSize(dataUrl('image/webp', webp('VP8 ', 640, 480)))).toEqual({ width: 640, height: 480 });
    expect(dataUrlImageSize(dataUrl('image/webp', webp('VP8L', 800, 600)))).toEqual({ width: 800, height: 600 });
  });

  it('gives up on what it cannot read, without fetching or decoding it all', () => {
    expect(dataUrlImageSize('https://example.com/cat.png')).toBeUndefined();
    expect(dataUrlImageSize('data:image/png,not-base64')).toBeUndefined();
    expect(dataUrlImageSize(dataUrl('image/png', Buffer.alloc(10)))).toBeUndefined();
    expect(dataUrlImageSize(`data:image/jpeg;base64,${'A'.repeat(4 * 1024 * 1024)}`)).toBeUndefined();
    // A JPEG cut before its frame header.
    expect(dataUrlImageSize(dataUrl('image/jpeg', jpeg(100, 100).subarray(0, 30_000)))).toBeUndefined();
  });
});

describe("OpenAI's image formulas", () => {
  it('tiles: the guide examples on gpt-4o', () => {
    expect(imageTokens('gpt-4o', { width: 1024, height: 1024 }, 'high')).toBe(765);
    expect(imageTokens('gpt-4o', { width: 2048, height: 4096 }, 'high')).toBe(1105);
    expect(imageTokens('gpt-4o', { width: 4096, height: 8192 }, 'low')).toBe(85);
    // auto and absent detail are counted as high.
    expect(imageTokens('gpt-4o', { width: 1024, height: 1024 }, 'auto')).toBe(765);
    expect(imageTokens('gpt-4o', { width: 1024, height: 1024 }, undefined)).toBe(765);
    // Small images are not enlarged: one tile.
    expect(imageTokens('gpt-4.1', { width: 128, height: 64 }, 'high')).toBe(255);
  });

  it('tiles: scaled sides round to the nearest pixel (measured bills)', () => {
    expect(tileCount({ width: 2049, height: 513 })).toBe(8);
    expect(tileCount({ width: 2050, height: 513 })).toBe(4);
  });

  it('tiles: per-model base and tile tokens', () => {
    const square = { width: 1024, height: 1024 }; // 4 tiles
    expect(imageTokens('gpt-4o-mini-2024-07-18', square, 'high')).toBe(2833 + 4 * 5667);
    expect(imageTokens('gpt-4o-mini', square, 'low')).toBe(2833);
    expect(imageTokens('o1', square, 'high')).toBe(75 + 4 * 150);
    expect(imageTokens('o3-2025-04-16', square, 'low')).toBe(75);
    expect(imageTokens('gpt-5', square, 'high')).toBe(70 + 4 * 140);
    expect(imageTokens('gpt-5-chat-latest', square, 'low')).toBe(70);
    expect(imageTokens('computer-use-preview', square, 'high')).toBe(65 + 4 * 129);
    expect(imageTokens('some-local-model', square, 'high')).toBe(765);
  });

  it('patches: the guide examples, then the model multiplier', () => {
    expect(patchCount({ width: 1024, height: 1024 })).toBe(1024);
    expect(patchCount({ width: 1800, height: 2400 })).toBe(1452);
    expect(patchCount({ width: 2048, height: 768 })).toBe(1536);
    expect(patchCount({ width: 10_000, height: 10_000 })).toBeLessThanOrEqual(1536);
    expect(imageTokens('gpt-4.1-mini', { width: 1024, height: 1024 }, 'high')).toBe(Math.round(1024 * 1.62));
    expect(imageTokens('gpt-4.1-nano', { width: 1800, height: 2400 }, 'low')).toBe(Math.round(1452 * 2.46));
    expect(imageTokens('o4-mini', { width: 128, height: 64 }, 'high')).toBe(14); // 8 patches × 1.72
    expect(imageScheme('gpt-5-mini')).toEqual({ kind: 'patches', multiplier: 1.62 });
    expect(imageScheme('gpt-5-nano-2025-08-07')).toEqual({ kind: 'patches', multiplier: 2.46 });
  });
});

describe('images in a request', () => {
  const req = (url: string, detail?: string): ChatRequest => ({
    model: 'chat',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } }] }],
    params: {},
    stream: false,
    includeUsage: false,
    passthrough: {},
    meta: { requestId: 't', receivedAt: 0 },
  });

  it('adds each image to the text count, by its real size when inline', async () => {
    const textOnly = await countRequestTokens({ ...req('x'), messages: [{ role: 'user', content: 'What is this?' }] }, 'gpt-4o');
    expect(await countRequestTokens(req(dataUrl('image/png', png(1024, 1024))), 'gpt-4o')).toBe(textOnly + 765);
    expect(await countRequestTokens(req(dataUrl('image/png', png(1024, 1024)), 'low'), 'gpt-4o')).toBe(textOnly + 85);
  });

  it('assumes the largest billable image for a URL it must not fetch (or a documented override)', async () => {
    const textOnly = await countRequestTokens({ ...req('x'), messages: [{ role: 'user', content: 'What is this?' }] }, 'gpt-4o');
    expect(await countRequestTokens(req('https://example.com/cat.jpg'), 'gpt-4o')).toBe(textOnly + 85 + 8 * 170);
    expect(await countRequestTokens(req('https://example.com/cat.jpg'), 'gpt-4.1-mini')).toBe(textOnly + Math.round(1536 * 1.62));
    expect(await countRequestTokens(req('https://example.com/cat.jpg'), 'gpt-4o', { unknownImageSize: { width: 512, height: 512 } })).toBe(textOnly + 255);
  });
});

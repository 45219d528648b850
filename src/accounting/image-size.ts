/**
 * Pixel size of an image sent inline (`data:image/…;base64,…`), read from its header without
 * decoding the image or the whole base64 text: only the few bytes each header field needs
 * are decoded, so the work is the same for a 1 KB and a 20 MB image. URLs are never fetched.
 */

/** Width and height in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

/** Header reads allowed while walking JPEG segments (EXIF, ICC…) before giving up. */
const MAX_JPEG_SEGMENTS = 64;
/** A side beyond this is a misread header, not an image OpenAI would accept. */
const MAX_SIDE = 65_535;

/** Random access to the bytes behind base64 text, decoding only the 4-character groups asked for. */
class Base64Bytes {
  private readonly byteLength: number;

  constructor(
    private readonly text: string,
    private readonly start: number,
  ) {
    this.byteLength = Math.floor(((text.length - start) * 3) / 4);
  }

  /** `n` bytes from `offset`, or undefined past the end. */
  read(offset: number, n: number): Buffer | undefined {
    if (offset < 0 || offset + n > this.byteLength) return undefined;
    const from = this.start + Math.floor(offset / 3) * 4;
    const to = this.start + Math.ceil((offset + n) / 3) * 4;
    const bytes = Buffer.from(this.text.slice(from, to), 'base64');
    const skip = offset % 3;
    return bytes.length >= skip + n ? bytes.subarray(skip, skip + n) : undefined;
  }
}

const valid = (width: number, height: number): ImageSize | undefined =>
  width > 0 && height > 0 && width <= MAX_SIDE && height <= MAX_SIDE ? { width, height } : undefined;

function png(b: Base64Bytes): ImageSize | undefined {
  const h = b.read(12, 12); // chunk type "IHDR", then width and height, big-endian
  return h && h.toString('latin1', 0, 4) === 'IHDR' ? valid(h.readUInt32BE(4), h.readUInt32BE(8)) : undefined;
}

function gif(b: Base64Bytes): ImageSize | undefined {
  const h = b.read(6, 4);
  return h && valid(h.readUInt16LE(0), h.readUInt16LE(2));
}

function webp(b: Base64Bytes): ImageSize | undefined {
  const h = b.read(12, 18);
  if (!h) return undefined;
  const chunk = h.toString('latin1', 0, 4);
  if (chunk === 'VP8X') return valid(1 + h.readUIntLE(12, 3), 1 + h.readUIntLE(15, 3));
  if (chunk === 'VP8 ') return valid(h.readUInt16LE(14) & 0x3fff, h.readUInt16LE(16) & 0x3fff);
  if (chunk === 'VP8L') {
    const [b0, b1, b2, b3] = [h[9]!, h[10]!, h[11]!, h[12]!];
    return valid(1 + (((b1 & 0x3f) << 8) | b0), 1 + (((b3 & 0x0f) << 10) | (b2 << 2) | ((b1 & 0xc0) >> 6)));
  }
  return undefined;
}

/** Start-of-frame markers (C0–CF except DHT C4, JPG C8, DAC CC) hold the frame size. */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpeg(b: Base64Bytes): ImageSize | undefined {
  let at = 2;
  for (let i = 0; i < MAX_JPEG_SEGMENTS; i++) {
    const h = b.read(at, 9) ?? b.read(at, 4);
    if (!h || h[0] !== 0xff) return undefined;
    const marker = h[1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (isSof(marker)) return h.length >= 9 ? valid(h.readUInt16BE(7), h.readUInt16BE(5)) : undefined;
    // Markers without a length field: restart markers, TEM.
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image, or entropy data before any frame
    at += 2 + h.readUInt16BE(2);
  }
  return undefined;
}

/**
 * The size of a base64 PNG, JPEG, GIF or WebP data URL (the formats OpenAI accepts), or
 * undefined: any other URL, another format, or a header that does not parse.
 */
export function dataUrlImageSize(url: string): ImageSize | undefined {
  if (!url.startsWith('data:')) return undefined;
  // The media type and parameters are short; a comma far away is not a data URL's header.
  const comma = url.indexOf(',', 5);
  if (comma < 0 || comma > 256 || !url.slice(5, comma).toLowerCase().endsWith(';base64')) return undefined;
  const b = new Base64Bytes(url, comma + 1);
  const magic = b.read(0, 12);
  if (!magic) return undefined;
  if (magic.readUInt32BE(0) === 0x89504e47) return png(b);
  if (magic.toString('latin1', 0, 4) === 'GIF8') return gif(b);
  if (magic.toString('latin1', 0, 4) === 'RIFF' && magic.toString('latin1', 8, 12) === 'WEBP') return webp(b);
  if (magic[0] === 0xff && magic[1] === 0xd8) return jpeg(b);
  return undefined;
}

/**
 * Prompt tokens of an image input, by OpenAI's published formulas ("Images and vision" guide,
 * section "Calculating costs", platform.openai.com/docs/guides/images-vision). Two schemes:
 *
 * - Tiles (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, gpt-4o-mini…): `detail: low` costs the
 *   base tokens. `high` (and `auto`, counted as high: the upper bound of what the model may
 *   choose) scales the image to fit 2048×2048, then its shortest side down to 768, and costs
 *   base + tiles × tile tokens, tiles being the 512-px squares covering it. Base/tile:
 *   gpt-4o, gpt-4.1, gpt-4.5 and unknown models 85/170; gpt-5 70/140; o1, o3 75/150;
 *   computer-use-preview 65/129; gpt-4o-mini 2833/5667 (it is priced per token ~33× lower,
 *   so an image costs about the same in dollars as on gpt-4o).
 * - Patches (gpt-4.1-mini, gpt-4.1-nano, o4-mini, gpt-5-mini, gpt-5-nano): the 32-px patches
 *   covering the image, the image scaled down first when more than 1536 would be needed,
 *   capped at 1536, times a multiplier: 1.62 (gpt-4.1-mini, gpt-5-mini), 2.46 (gpt-4.1-nano,
 *   gpt-5-nano), 1.72 (o4-mini). The guide gives no `detail: low` rule for these models, so
 *   detail is ignored (an upper bound). Community measurements (community.openai.com, 2025)
 *   report gpt-5-mini/nano billing ~1.2/1.5 per patch, below the documented 1.62/2.46: the
 *   documented values are kept, they over-estimate, which is the safe side for budgets.
 *
 * Scaled sides are rounded to the nearest pixel before tiling: measured bills (2049×513 → 8
 * tiles, 2050×513 → 4 tiles on gpt-4.1, community.openai.com) match that, not truncation.
 */
import { bareModelName } from './model-family.js';
import type { ImageSize } from './image-size.js';

/** How a model bills images. */
export type ImageScheme = { kind: 'tiles'; base: number; tile: number } | { kind: 'patches'; multiplier: number };

/** Most specific prefix first: gpt-4o-mini before gpt-4o, gpt-5-mini before gpt-5. */
const SCHEMES: Array<[RegExp, ImageScheme]> = [
  [/^gpt-4o-mini/, { kind: 'tiles', base: 2833, tile: 5667 }],
  [/^gpt-4\.1-mini/, { kind: 'patches', multiplier: 1.62 }],
  [/^gpt-4\.1-nano/, { kind: 'patches', multiplier: 2.46 }],
  [/^gpt-5-mini/, { kind: 'patches', multiplier: 1.62 }],
  [/^gpt-5-nano/, { kind: 'patches', multiplier: 2.46 }],
  [/^o4-mini/, { kind: 'patches', multiplier: 1.72 }],
  [/^gpt-5/, { kind: 'tiles', base: 70, tile: 140 }],
  [/^o[13](?:-|$)/, { kind: 'tiles', base: 75, tile: 150 }],
  [/^computer-use/, { kind: 'tiles', base: 65, tile: 129 }],
];
/** gpt-4o, gpt-4.1, gpt-4.5, gpt-4-turbo, chatgpt-4o and, by default, any other model. */
const DEFAULT_SCHEME: ImageScheme = { kind: 'tiles', base: 85, tile: 170 };

/** How `model` bills images (see the module comment). */
export function imageScheme(model: string): ImageScheme {
  const m = bareModelName(model);
  return SCHEMES.find(([re]) => re.test(m))?.[1] ?? DEFAULT_SCHEME;
}

/** 512-px tiles covering the image after the 2048 fit and the 768 shortest-side scaling. */
export function tileCount({ width, height }: ImageSize): number {
  let w = width;
  let h = height;
  if (Math.max(w, h) > 2048) {
    const s = 2048 / Math.max(w, h);
    [w, h] = [Math.round(w * s), Math.round(h * s)];
  }
  // Only ever scaled down: a small image is not enlarged to 768.
  if (Math.min(w, h) > 768) {
    const s = 768 / Math.min(w, h);
    [w, h] = [Math.round(w * s), Math.round(h * s)];
  }
  return Math.ceil(w / 512) * Math.ceil(h / 512);
}

const PATCH = 32;
const MAX_PATCHES = 1536;
/** Float slack so that a side scaled to exactly k patches is not counted as k + 1. */
const EPS = 1e-9;

/** 32-px patches covering the image, after scaling it to fit 1536 of them (the guide's steps B–C). */
export function patchCount({ width, height }: ImageSize): number {
  const raw = Math.ceil(width / PATCH) * Math.ceil(height / PATCH);
  if (raw <= MAX_PATCHES) return raw;
  let r = Math.sqrt((PATCH * PATCH * MAX_PATCHES) / (width * height));
  // Shrink further so that one side fits a whole number of patches.
  r *= Math.min(Math.floor((width * r) / PATCH) / ((width * r) / PATCH), Math.floor((height * r) / PATCH) / ((height * r) / PATCH));
  const patches = Math.ceil((width * r) / PATCH - EPS) * Math.ceil((height * r) / PATCH - EPS);
  return Math.min(patches, MAX_PATCHES);
}

/**
 * The largest image a model bills (used when the size is unknown, e.g. an http URL the router
 * must not fetch): 2048×768 is 8 tiles after scaling (no size costs more) and covers all
 * 1536 patches.
 */
export const LARGEST_IMAGE: ImageSize = { width: 2048, height: 768 };

/**
 * Prompt tokens of one image on `model`. `size` undefined means unknown: `LARGEST_IMAGE` is
 * assumed, so a budget reservation is never short (the upstream's usage bills the real size).
 * `detail` as in the request: `low`, `high`, `auto` or absent (= auto).
 */
export function imageTokens(model: string, size: ImageSize | undefined, detail: string | undefined): number {
  const scheme = imageScheme(model);
  const s = size ?? LARGEST_IMAGE;
  if (scheme.kind === 'patches') return Math.round(patchCount(s) * scheme.multiplier);
  if (detail === 'low') return scheme.base;
  return scheme.base + tileCount(s) * scheme.tile;
}

/** Pieces every direction of the OpenAI wire mapping shares. */

export type Obj = Record<string, unknown>;

/** A plain JSON object (not null, not an array). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class WireValidationError extends Error {
  constructor(message: string, readonly param: string | null) {
    super(message);
    this.name = 'WireValidationError';
  }
}

/** `messages[0].content` style path, as OpenAI reports `param`. */
export function formatParam(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

/**
 * Model prices: the dated table (config/prices.yaml, or an operator's file), per-provider
 * overrides from the router config, and the lookup that gives a target its price. A model
 * without a known price is `null` (cost unknown), never 0: a free guess would let unpriced
 * traffic through any budget. Local models (llama-cpp) and rules answers cost 0.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../../models/paths.js';
import type { ConfigProblem } from '../config/load-config.js';
import { formatParam } from '../wire/wire-common.js';
import { bareModelName } from './model-family.js';

/** One model's price, USD per 1M tokens. */
export const priceSchema = z
  .strictObject({
    input: z.number().nonnegative().describe('USD per 1M prompt tokens not served from the prompt cache.'),
    cachedInput: z.number().nonnegative().optional().describe('USD per 1M cached prompt tokens (prompt_tokens_details.cached_tokens); absent: billed at input.'),
    output: z.number().nonnegative().describe('USD per 1M completion tokens, reasoning tokens included.'),
  })
  .describe('USD per 1M tokens. Prices are exact to 1e-6 USD per 1M tokens.');
export type Price = z.infer<typeof priceSchema>;

/** The price table file. */
export const priceTableSchema = z.strictObject({
  updated: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD')
    .describe('When the prices were last checked (YYYY-MM-DD).'),
  source: z.string().min(1).describe('Where the prices come from, and any caveat.'),
  models: z.record(z.string().min(1), priceSchema).describe('Price per model name (lower case). A date-suffixed name resolves to its base entry.'),
});
export type PriceTable = z.infer<typeof priceTableSchema>;

/** Per-provider price overrides: `{ [provider id]: { [model]: price } }`. */
export const priceOverridesSchema = z
  .record(z.string().min(1), z.record(z.string().min(1), priceSchema))
  .describe('Prices per provider id and model, taking precedence over the table (e.g. an Azure contract price, or a price for a local model).');
export type PriceOverrides = z.infer<typeof priceOverridesSchema>;

/** A `pricing` section for the router config (to be mounted by src/config/schema.ts). */
export const pricingConfigSchema = z.strictObject({
  file: z.string().min(1).optional().describe('Price table replacing the built-in config/prices.yaml; relative to the config file.'),
  overrides: priceOverridesSchema.default({}),
});
export type PricingConfig = z.infer<typeof pricingConfigSchema>;

/**
 * An invalid price table, one problem per line in the config loader's format
 * (`file:line:col: field: message`). Its own class, not the loader's ConfigError, so that
 * src/config can import this module (to mount `pricingConfigSchema`) without an import cycle.
 */
export class PriceTableError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.line ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file}: ${p.path || '(root)'}: ${p.message}`).join('\n'));
    this.name = 'PriceTableError';
  }
}

/** The table shipped with the router. */
export const DEFAULT_PRICES_PATH = path.join(PACKAGE_ROOT, 'config', 'prices.yaml');

/** Parses and validates price table text; throws PriceTableError naming the file, line and field. */
export function parsePriceTable(text: string, file: string): PriceTable {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new PriceTableError([{ file, line: pos?.line, column: pos?.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` }]);
  }
  const parsed = priceTableSchema.safeParse(doc.toJS() ?? {});
  if (parsed.success) return parsed.data;
  throw new PriceTableError(
    parsed.error.issues.map((issue): ConfigProblem => {
      const p = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
      const node = doc.getIn(p as Array<string | number>, true);
      const pos = isNode(node) && node.range ? lines.linePos(node.range[0]) : undefined;
      return { file, line: pos?.line, column: pos?.col, path: formatParam(p), message: issue.message };
    }),
  );
}

/**
 * Reads a price table: `file` (an operator's, relative to `baseDir`, e.g. the config file's
 * folder) or the router's own config/prices.yaml. An operator file replaces the built-in table
 * (it is not merged: a model it leaves out is unpriced).
 */
export function loadPriceTable(file?: string, baseDir: string = PACKAGE_ROOT): PriceTable {
  const resolved = file ? path.resolve(baseDir, file) : DEFAULT_PRICES_PATH;
  return parsePriceTable(readFileSync(resolved, 'utf8'), resolved);
}

/** A date (-YYYY-MM-DD) or four-digit version (-0613, -0125) snapshot suffix. */
const SNAPSHOT_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;

/** Prices keyed by lower-case model name. */
type PriceMap = ReadonlyMap<string, Price>;

const toMap = (models: Record<string, Price>): PriceMap =>
  new Map(Object.entries(models).map(([name, price]) => [name.toLowerCase(), Object.freeze({ ...price })]));

/**
 * `model`'s entry in `map`: the exact (case-insensitive, routing prefix `openai/` dropped)
 * name, else the name without a snapshot suffix (`gpt-4o-2024-08-06` → `gpt-4o`,
 * `gpt-4o-mini-2024-07-18` → `gpt-4o-mini`: the longest entry the name extends by just that
 * suffix). Any other suffix is not guessed: `o3-pro` is not priced as `o3`, nor
 * `gpt-4o-realtime-preview` as `gpt-4o`, since their real prices differ (10× for o3-pro).
 */
function resolve(map: PriceMap, model: string): Price | null {
  const name = bareModelName(model);
  const exact = map.get(name);
  if (exact) return exact;
  const base = name.replace(SNAPSHOT_SUFFIX, '');
  return base !== name ? (map.get(base) ?? null) : null;
}

/** A target to price: where it runs and what model it is. */
export interface PricedTarget {
  /** Provider id from the config (key of `providers`), as overrides are keyed. */
  provider: string;
  /** Provider kind (`openai`, `azure-openai`, `llama-cpp`…). */
  providerKind: string;
  /** Model as the provider knows it (the target's `model`). */
  model: string;
  /** The public model behind it when `model` is not one (an Azure deployment's base model). */
  baseModel?: string;
}

/** Kinds that run in-process: no per-token bill. */
const LOCAL_KINDS: ReadonlySet<string> = new Set(['llama-cpp', 'rules']);
const FREE: Price = Object.freeze({ input: 0, cachedInput: 0, output: 0 });

/** Prices for targets: see `createPriceBook`. */
export interface PriceBook {
  /** When the table's prices were last checked. */
  readonly updated: string;
  /**
   * The price of a target, first found of: an override for its provider (by `model`, then
   * `baseModel`); 0 for a local kind; the table (by `baseModel ?? model`); else null (unknown).
   */
  priceFor(target: PricedTarget): Price | null;
  /** The table's price of a public model name, or null. */
  lookup(model: string): Price | null;
}

/** A price book over `table` with per-provider `overrides` (from the router config). */
export function createPriceBook({ table, overrides = {} }: { table: PriceTable; overrides?: PriceOverrides }): PriceBook {
  const models = toMap(table.models);
  const byProvider = new Map(Object.entries(overrides).map(([provider, prices]) => [provider, toMap(prices)]));
  const lookup = (model: string) => resolve(models, model);
  return {
    updated: table.updated,
    lookup,
    priceFor({ provider, providerKind, model, baseModel }) {
      const own = byProvider.get(provider);
      const overridden = own && (resolve(own, model) ?? (baseModel ? resolve(own, baseModel) : null));
      if (overridden) return overridden;
      if (LOCAL_KINDS.has(providerKind)) return FREE;
      return lookup(baseModel ?? model);
    },
  };
}

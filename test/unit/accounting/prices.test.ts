import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPriceBook, loadPriceTable, parsePriceTable, PriceTableError, pricingConfigSchema, type PriceTable } from '../../../src/accounting/prices.js';

const table: PriceTable = {
  updated: '2026-01-01',
  source: 'test',
  models: {
    'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
    'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
    'gpt-4o-2024-05-13': { input: 5, output: 15 },
    'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
    o3: { input: 2, cachedInput: 0.5, output: 8 },
  },
};

describe('the shipped price table', () => {
  it('parses, is dated, and prices the common OpenAI models', () => {
    const t = loadPriceTable();
    expect(t.updated).toMatch(/^2026-\d{2}-\d{2}$/);
    expect(t.source).toBeTruthy();
    const wanted = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano', 'o1', 'o3', 'o3-mini', 'o4-mini', 'gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-3.5-turbo', 'text-embedding-3-small', 'text-embedding-3-large'];
    for (const m of wanted) expect(t.models[m], m).toBeDefined();
    expect(t.models['gpt-4o']).toEqual({ input: 2.5, cachedInput: 1.25, output: 10 });
  });
});

describe('price lookup', () => {
  const book = createPriceBook({ table });

  it('resolves snapshot-suffixed names to their base entry, the longest that fits', () => {
    expect(book.lookup('gpt-4o-2024-08-06')).toEqual(table.models['gpt-4o']);
    expect(book.lookup('gpt-4o-mini-2024-07-18')).toEqual(table.models['gpt-4o-mini']);
    expect(book.lookup('gpt-3.5-turbo-0125')).toEqual(table.models['gpt-3.5-turbo']);
    expect(book.lookup('GPT-4o')).toEqual(table.models['gpt-4o']);
    expect(book.lookup('openai/gpt-4o')).toEqual(table.models['gpt-4o']);
    // An exact entry wins over the suffix rule.
    expect(book.lookup('gpt-4o-2024-05-13')).toEqual({ input: 5, output: 15 });
  });

  it('never guesses other suffixes, nor gives an unknown model a price', () => {
    expect(book.lookup('o3-pro')).toBeNull();
    expect(book.lookup('gpt-4o-realtime-preview')).toBeNull();
    expect(book.lookup('gpt-4o-realtime-preview-2024-12-17')).toBeNull();
    expect(book.lookup('ft:gpt-4o-mini-2024-07-18:acme::x1')).toBeNull();
    expect(book.lookup('claude-sonnet')).toBeNull();
    expect(book.priceFor({ provider: 'openai', providerKind: 'openai', model: 'mystery' })).toBeNull();
  });
});

describe('priceFor', () => {
  const book = createPriceBook({
    table,
    overrides: {
      azure: { 'gpt-4o': { input: 2.75, output: 11 } },
      local: { 'qwen-7b': { input: 0.01, output: 0.02 } },
    },
  });

  it('prices a provider model from the table', () => {
    expect(book.priceFor({ provider: 'openai', providerKind: 'openai', model: 'gpt-4o-mini-2024-07-18' })).toEqual(table.models['gpt-4o-mini']);
  });

  it('prices an Azure deployment as its base model, unless overridden for that provider', () => {
    expect(book.priceFor({ provider: 'azure2', providerKind: 'azure-openai', model: 'chat-mini', baseModel: 'gpt-4o-mini' })).toEqual(table.models['gpt-4o-mini']);
    expect(book.priceFor({ provider: 'azure2', providerKind: 'azure-openai', model: 'chat-mini' })).toBeNull();
    expect(book.priceFor({ provider: 'azure', providerKind: 'azure-openai', model: 'my-deployment', baseModel: 'gpt-4o-2024-11-20' })).toEqual({ input: 2.75, output: 11 });
    // Overrides are per provider: another provider keeps the table price.
    expect(book.priceFor({ provider: 'openai', providerKind: 'openai', model: 'gpt-4o' })).toEqual(table.models['gpt-4o']);
  });

  it('makes local models free unless the operator prices them', () => {
    expect(book.priceFor({ provider: 'tiny', providerKind: 'llama-cpp', model: 'tiny' })).toEqual({ input: 0, cachedInput: 0, output: 0 });
    expect(book.priceFor({ provider: 'local', providerKind: 'llama-cpp', model: 'qwen-7b' })).toEqual({ input: 0.01, output: 0.02 });
  });

  it('returns prices callers cannot corrupt', () => {
    const p = book.priceFor({ provider: 'openai', providerKind: 'openai', model: 'gpt-4o' })!;
    expect(() => {
      (p as { input: number }).input = 0;
    }).toThrow();
  });
});

describe('price table files', () => {
  it('rejects unknown fields, missing prices and negative values with file, line and field', () => {
    const text = 'updated: 2026-01-01\nsource: x\nmodels:\n  gpt-4o: { input: 2.5, ouput: 10 }\n  o3: { input: -1, output: 8 }\n';
    let err: unknown;
    try {
      parsePriceTable(text, 'prices.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PriceTableError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/prices\.yaml:4:\d+: models\.gpt-4o\.ouput: /);
    expect(msg).toMatch(/models\.gpt-4o\.output: /);
    expect(msg).toMatch(/prices\.yaml:5:\d+: models\.o3\.input: /);
  });

  it('requires a date and a source', () => {
    expect(() => parsePriceTable('updated: soon\nmodels: {}\n', 'p.yaml')).toThrow(/updated: expected a date YYYY-MM-DD[\s\S]*source/);
  });

  it("loads an operator's file relative to the given folder", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prices-'));
    writeFileSync(path.join(dir, 'mine.yaml'), 'updated: 2026-02-03\nsource: contract\nmodels:\n  gpt-4o: { input: 2, output: 8 }\n');
    const t = loadPriceTable('mine.yaml', dir);
    expect(t.updated).toBe('2026-02-03');
    expect(createPriceBook({ table: t }).lookup('gpt-4o-mini')).toBeNull(); // replaces, not merges
  });

  it('offers a strict pricing section for the router config', () => {
    expect(pricingConfigSchema.parse({})).toEqual({ overrides: {} });
    expect(pricingConfigSchema.safeParse({ overrides: { azure: { 'gpt-4o': { input: 1 } } } }).success).toBe(false);
    expect(pricingConfigSchema.safeParse({ fiel: 'x' }).success).toBe(false);
  });
});

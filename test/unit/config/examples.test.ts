import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../src/config/load-config.js';
import { loadLexicon } from '../../../src/safety/lexicon/lexicon.js';

const dir = 'config/examples';

describe('config/examples', () => {
  it.each(readdirSync(dir).filter((f) => f.endsWith('.yaml')))('%s loads, with its word lists', async (file) => {
    const loaded = loadConfigFile(path.join(dir, file));
    const lists = Object.entries(loaded.config.safety.lexicons).map(([id, l]) => ({ id, category: l.category, file: path.resolve(loaded.baseDir, l.file), wordBoundary: l.wordBoundary, separators: l.separators }));
    const lexicon = await loadLexicon(lists);
    if (!lists.length) return;
    expect(lexicon.termCount).toBeGreaterThan(0);
    expect(lexicon.scan('a FORBIDDENWORD here').hits.map((h) => h.category)).toContain('politics');
  });
});

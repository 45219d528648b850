import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistry, parseRegistry, RegistryError } from '../../../providers/llama-cpp/registry.js';

describe('llama-cpp model registry', () => {
  it('parses entries, applies defaults and resolves files against the registry folder', () => {
    const reg = parseRegistry(
      ['models:', '  tiny:', '    file: tiny.gguf', '    sha256: null', '  big:', '    file: /models/big.gguf', '    contextSize: 8192', '    parallel: 4', '    threads: 2', '    tools: true', '    chatTemplate: chatML'].join('\n'),
      '/srv/router/models/registry.yaml',
    );
    expect(reg.models.get('tiny')).toEqual({ id: 'tiny', file: 'tiny.gguf', path: '/srv/router/models/tiny.gguf', contextSize: 2048, threads: 1, parallel: 1, tools: false, sha256: undefined, chatTemplate: undefined, description: undefined });
    expect(reg.models.get('big')).toMatchObject({ path: '/models/big.gguf', contextSize: 8192, parallel: 4, threads: 2, tools: true, chatTemplate: 'chatML' });
  });

  it('rejects unknown fields and bad values, naming file, line and field', () => {
    const bad = (text: string): string => {
      try {
        parseRegistry(text, '/r/registry.yaml');
      } catch (err) {
        expect(err).toBeInstanceOf(RegistryError);
        return (err as Error).message;
      }
      throw new Error('expected a RegistryError');
    };
    expect(bad('models:\n  tiny:\n    file: tiny.gguf\n    contextsize: 10\n')).toMatch(/^\/r\/registry\.yaml:3: models\.tiny: .*contextsize/);
    expect(bad('models:\n  tiny:\n    file: tiny.gguf\n    parallel: 0\n')).toMatch(/^\/r\/registry\.yaml:4: models\.tiny\.parallel/);
    expect(bad('models:\n  tiny:\n    file: tiny.gguf\n    sha256: abc\n')).toMatch(/:4: models\.tiny\.sha256: 64 hex digits/);
    expect(bad('models:\n  tiny: [\n')).toMatch(/^\/r\/registry\.yaml:\d+: invalid YAML/);
    expect(bad('modelz: {}\n')).toMatch(/registry\.yaml/);
  });

  describe('loadRegistry', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'llama-registry-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('caches by mtime and size and re-reads a changed file', async () => {
      const path = join(dir, 'registry.yaml');
      await writeFile(path, 'models:\n  a:\n    file: a.gguf\n');
      const first = loadRegistry(path);
      expect(loadRegistry(path)).toBe(first);
      await writeFile(path, 'models:\n  b:\n    file: b.gguf\n');
      await utimes(path, new Date(), new Date(Date.now() + 5_000));
      expect([...loadRegistry(path).models.keys()]).toEqual(['b']);
    });

    it('reports a missing file as RegistryError', () => {
      expect(() => loadRegistry(join(dir, 'nope.yaml'))).toThrow(/not readable: ENOENT/);
    });
  });
});

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { FileKeyStore, KeysFileError } from '../../../src/state/memory/file-key-store.js';
import { keyRecord } from './state-fixtures.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-keys-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `t${n++}`);

describe('FileKeyStore', () => {
  it('keeps keys across a restart, hashes only, and leaves no temp files', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'keys.json');
    const store = await FileKeyStore.open(file);
    await store.put(keyRecord('key_1', ['h1'], { team: 'red' }));
    await Promise.all([store.put(keyRecord('key_2', ['h2'])), store.put(keyRecord('key_3', ['h3']))]);
    await store.put({ ...keyRecord('key_1', ['h1b'], { team: 'red' }), revokedAt: '2026-02-01T00:00:00.000Z' });
    await store.close();

    const text = await readFile(file, 'utf8');
    expect(JSON.parse(text)).toMatchObject({ version: 1 });
    expect(await readdir(dir)).toEqual(['keys.json']);

    const again = await FileKeyStore.open(file);
    expect((await again.list()).map((r) => r.id).sort()).toEqual(['key_1', 'key_2', 'key_3']);
    expect((await again.findByHash('h1b'))?.revokedAt).toBe('2026-02-01T00:00:00.000Z');
    expect(await again.findByHash('h1')).toBeUndefined();
    expect((await again.findByHash('h3'))?.id).toBe('key_3');
  });

  it('refuses to start over a corrupt file and leaves it untouched', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'keys.json');
    await FileKeyStore.open(file).then((s) => s.put(keyRecord('key_1', ['h1'])));
    const good = await readFile(file, 'utf8');
    const torn = good.slice(0, good.length / 2);
    await writeFile(file, torn);
    await expect(FileKeyStore.open(file)).rejects.toThrow(KeysFileError);
    await expect(FileKeyStore.open(file)).rejects.toThrow(new RegExp(`keys file ${file.replaceAll('\\', '\\\\')} is unreadable \\(not JSON`));
    expect(await readFile(file, 'utf8')).toBe(torn);

    await writeFile(file, JSON.stringify({ version: 1, keys: [{ id: 'key_1', secrets: 'nope' }] }));
    await expect(FileKeyStore.open(file)).rejects.toThrow(/record 0/);
    await writeFile(file, JSON.stringify([]));
    await expect(FileKeyStore.open(file)).rejects.toThrow(/expected \{"version": 1/);
  });

  it('a failed write rejects the put and changes nothing', async () => {
    const dir = freshDir();
    const store = await FileKeyStore.open(path.join(dir, 'blocker', 'keys.json')); // folder absent: empty store
    await mkdir(dir);
    await writeFile(path.join(dir, 'blocker'), 'a file where the folder should be');
    const seen: string[] = [];
    store.onChange((id) => seen.push(id));
    await expect(store.put(keyRecord('key_x', ['hx']))).rejects.toThrow();
    expect(await store.get('key_x')).toBeUndefined();
    expect(await store.findByHash('hx')).toBeUndefined();
    expect(seen).toEqual([]);
  });

  it('judges grace periods by the injected clock', async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = await FileKeyStore.open(path.join(freshDir(), 'keys.json'), { now: () => now });
    await store.put({
      ...keyRecord('key_g', ['cur']),
      secrets: [
        { hash: 'cur', prefix: 'sk-rt-c', createdAt: '2026-01-01T00:00:00.000Z' },
        { hash: 'old', prefix: 'sk-rt-o', createdAt: '2025-01-01T00:00:00.000Z', expiresAt: '2026-01-02T00:00:00.000Z' },
      ],
    });
    expect((await store.findByHash('old'))?.id).toBe('key_g');
    now = Date.UTC(2026, 0, 2);
    expect(await store.findByHash('old')).toBeUndefined();
    expect((await store.findByHash('cur'))?.id).toBe('key_g');
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_ASSET_DIR, findAssetDir } from '../../../src/cockpit/asset-dir.js';

describe('dashboard asset folder', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is found from the sources (src/cockpit) and from the build (dist/src/cockpit) alike', () => {
    const root = mkdtempSync(join(tmpdir(), 'dash-assets-'));
    dirs.push(root);
    writeFileSync(join(root, 'package.json'), '{}');
    mkdirSync(join(root, 'assets', 'dashboard'), { recursive: true });
    writeFileSync(join(root, 'assets', 'dashboard', 'index.html'), '<!doctype html>');
    for (const sub of ['src/cockpit', 'dist/src/cockpit']) mkdirSync(join(root, sub), { recursive: true });
    expect(findAssetDir(join(root, 'src', 'cockpit'))).toBe(join(root, 'assets', 'dashboard'));
    expect(findAssetDir(join(root, 'dist', 'src', 'cockpit'))).toBe(join(root, 'assets', 'dashboard'));
  });

  it('is undefined when the package has no assets (an image built without them)', () => {
    const root = mkdtempSync(join(tmpdir(), 'dash-noassets-'));
    dirs.push(root);
    writeFileSync(join(root, 'package.json'), '{}');
    mkdirSync(join(root, 'dist', 'src', 'cockpit'), { recursive: true });
    expect(findAssetDir(join(root, 'dist', 'src', 'cockpit'))).toBeUndefined();
  });

  it('is this repository’s assets/dashboard', () => {
    expect(DASHBOARD_ASSET_DIR).toBe(resolve(import.meta.dirname, '../../../assets/dashboard'));
  });
});

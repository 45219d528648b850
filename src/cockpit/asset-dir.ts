import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the dashboard's static files (HTML, CSS, JS), found from a module's own
 * location. tsc does not copy non-TypeScript files, so the assets stay in the package root
 * (`assets/dashboard/`) and both layouts must find them there: from the sources
 * (`src/cockpit/…`, tsx and vitest) and compiled (`dist/src/cockpit/…`, `npm start`). As in
 * models/paths.ts, the root is the nearest folder above that holds package.json (dist/ has
 * none), not a fixed number of "..".
 */
export function findAssetDir(fromDir: string): string | undefined {
  for (let dir = fromDir; ; ) {
    if (existsSync(join(dir, 'package.json'))) {
      const assets = join(dir, 'assets', 'dashboard');
      return existsSync(join(assets, 'index.html')) ? assets : undefined;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The dashboard assets of this package, or undefined when they are missing (an image built without them). */
export const DASHBOARD_ASSET_DIR = findAssetDir(dirname(fileURLToPath(import.meta.url)));

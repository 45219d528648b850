#!/usr/bin/env node
// The `llm-router` command (package.json "bin"). Runs the compiled CLI, dist/src/cli/main.js
// (`npm run build`); in a source checkout that has not been built yet, the TypeScript sources
// through tsx (a dev dependency), so `npx llm-router` works right after `npm ci` too.
// Plain JavaScript on purpose: it must run before anything is compiled.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(fileURLToPath(compiled))) {
  await import(compiled.href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('llm-router: not built: run `npm run build` first (dist/src/cli/main.js is missing, and tsx is not installed to run the sources)\n');
    process.exit(1);
  }
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

/** Validates router config files and prints every problem: `npm run config:check -- [FILE...]`. */
import path from 'node:path';
import { ConfigError, loadConfigFile } from '../src/config/load-config.js';
import { loadLexicon } from '../src/safety/lexicon/lexicon.js';

const files = process.argv.slice(2).filter((a) => a !== '--');
if (!files.length) files.push(process.env.ROUTER_CONFIG ?? 'config/router.yaml');
let failed = false;
for (const file of files) {
  try {
    const loaded = loadConfigFile(file);
    const routes = Object.keys(loaded.config.routes);
    console.log(`${file}: ok (${routes.length} route(s): ${routes.join(', ')})`);
    for (const [id, why] of loaded.disabled) console.log(`  provider ${id} disabled: ${why}`);
    for (const w of loaded.warnings) console.log(`  warning: ${w}`);
    // The word lists are read as the router reads them at start (a bad line names file and line).
    const lists = Object.entries(loaded.config.safety.lexicons).map(([id, l]) => ({ id, category: l.category, file: path.resolve(loaded.baseDir, l.file), wordBoundary: l.wordBoundary, separators: l.separators }));
    if (lists.length) {
      const lexicon = await loadLexicon(lists, { maxTerms: loaded.config.safety.maxTerms });
      console.log(`  lexicon: ${lists.length} list(s), ${lexicon.termCount} term(s)`);
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      if (!(err instanceof Error)) throw err;
      failed = true;
      console.error(`${file}: ${err.message}`);
      continue;
    }
    failed = true;
    console.error(`${file}: ${err.problems.length} problem(s)`);
    console.error(err.message.replace(/^/gm, '  '));
  }
}
process.exit(failed ? 1 : 0);

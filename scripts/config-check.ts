/** Validates router config files and prints every problem: `npm run config:check -- [FILE...]`. */
import { ConfigError, loadConfigFile } from '../src/config/load-config.js';

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
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    failed = true;
    console.error(`${file}: ${err.problems.length} problem(s)`);
    console.error(err.message.replace(/^/gm, '  '));
  }
}
process.exit(failed ? 1 : 0);

/** Assembles the `rules` provider: options.ts (config), rules-file.ts (the file), rules-provider.ts (the Provider). */
import path from 'node:path';
import type { Provider } from '../../src/core/provider.js';
import type { ProviderFactoryContext } from '../registry.js';
import type { RulesProviderConfig } from './options.js';
import { createRulesFileProvider, type RulesProviderOptions } from './rules-provider.js';

export { createRulesFileProvider, NO_RULE_MATCHED, RULE_HEADER, type RulesProviderOptions } from './rules-provider.js';
export { loadRulesFile, parseRulesFile, RulesFileError, type RuleSet } from './rules-file.js';

/** The registry's factory: the file resolves against the config file's folder. */
export function createRulesProvider(
  id: string,
  config: RulesProviderConfig,
  ctx: ProviderFactoryContext,
  opts: Omit<RulesProviderOptions, 'logger'> = {},
): Provider {
  return createRulesFileProvider(id, path.resolve(ctx.baseDir, config.file), { ...opts, logger: ctx.logger });
}

/** `llm-router model make`: the built-in tiny model, by models/make-tiny-model.ts itself. */
import { printHelp, type CliContext } from '../cli-context.js';
import { UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';
import { HELP_OPTION, parseCommandLine } from '../parse-options.js';

const HELP = `Usage: llm-router model make [--out FILE] [--force] [--seed N] [--corpus FILE]

Generates the built-in tiny GGUF model (a word-bigram model in llama weights, fitted on
models/corpus.txt). An existing file is kept unless --force. Prints the path, size and sha256.
The llama-cpp provider also generates it when missing.

  --out FILE      where to write it (default models/tiny.gguf in the router's folder)
  --force         regenerate even when the file exists
  --seed N        generator seed (default 42: the same bytes every time)
  --corpus FILE   the text to fit (default models/corpus.txt)`;

export const modelCommand: Command = {
  name: 'model',
  summary: 'model make: generate the built-in tiny model',
  help: HELP,
  async run(argv: string[], ctx: CliContext) {
    const [verb, ...rest] = argv;
    if (verb === '--help' || verb === '-h' || verb === 'help') return printHelp(ctx, HELP);
    if (verb !== 'make') throw new UsageError(verb === undefined ? 'model needs a command: make' : `unknown model command "${verb}" (make)`, 'model');
    // The same flags as the generator, checked here so a mistake shows this help.
    const { values } = parseCommandLine('model', rest, { ...HELP_OPTION, out: { type: 'string' }, force: { type: 'boolean' }, seed: { type: 'string' }, corpus: { type: 'string' } });
    if (values.help) return printHelp(ctx, HELP);
    // Loaded on use: the generator pulls in the GGUF writer, which no other command needs.
    const { main } = await import('../../../models/make-tiny-model.js');
    return main(rest);
  },
};

/**
 * Generates the built-in tiny GGUF model (a word-bigram model in llama weights).
 *
 *   npm run model:tiny -- [--out models/tiny.gguf] [--force] [--seed 42] [--corpus models/corpus.txt]
 *   (= tsx models/make-tiny-model.ts …; compiled: node dist/models/make-tiny-model.js …)
 *
 * Without --force an existing file is kept. Prints the path, size and sha256.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_CORPUS_PATH,
  DEFAULT_TINY_MODEL_PATH,
  DEFAULT_TINY_MODEL_SEED,
  makeTinyModelFile,
} from './gguf/ensure-tiny-model.js';

const USAGE = 'usage: npm run model:tiny -- [--out models/tiny.gguf] [--force] [--seed N] [--corpus FILE]';

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string', default: DEFAULT_TINY_MODEL_PATH },
        force: { type: 'boolean', default: false },
        seed: { type: 'string', default: String(DEFAULT_TINY_MODEL_SEED) },
        corpus: { type: 'string', default: DEFAULT_CORPUS_PATH },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    console.error(`--seed must be a non-negative integer\n${USAGE}`);
    return 2;
  }
  const result = await makeTinyModelFile(values.out, { force: values.force, seed, corpusPath: values.corpus });
  console.log(result.generated ? 'generated' : 'exists (use --force to regenerate)');
  console.log(`path:   ${result.path}`);
  console.log(`size:   ${result.size} bytes`);
  console.log(`sha256: ${result.sha256}`);
  return 0;
}

const invokedPath = process.argv[1] ? pathToFileURL(process.argv[1]).href : '';
if (import.meta.url === invokedPath) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
